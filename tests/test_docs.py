"""The README and docs cannot rot: their commands name real constants, their links and images exist."""

import re
import subprocess

import pytest

from models.config import knob_names

from conftest import REPO

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
COMMAND = re.compile(r"python (?:bench/)?(\w+\.py)((?:[ \t]+(?:\\\n\s*)?--\w+=\S+)+)")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_command_names_constants_the_script_has(doc):
    for match in COMMAND.finditer(doc.read_text()):
        script = REPO / match.group(1) if (REPO / match.group(1)).is_file() else REPO / "bench" / match.group(1)
        assert script.is_file(), f"{doc.name}: {match.group(0)!r} names no script"
        names = set(re.findall(r"--(\w+)=", match.group(2)))
        unknown = names - knob_names(script)
        assert not unknown, f"{doc.name}: {match.group(0)!r} sets {sorted(unknown)}, not constants of {script.name}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_relative_link_and_image_exists(doc):
    for target in LINK.findall(doc.read_text()):
        if "://" in target or target.startswith("mailto:"):
            continue
        assert (doc.parent / target).exists(), f"{doc.name} links to {target}, which does not exist"


def test_the_readme_stays_short():
    assert (REPO / "README.md").stat().st_size <= 15_000


@pytest.mark.parametrize("script", sorted((REPO / "bench").glob("*.sh")) + [REPO / ".ci" / "run"], ids=lambda p: p.name)
def test_every_shell_script_the_docs_run_parses(script):
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, f"{script.name} does not parse: {result.stderr.strip()}"
