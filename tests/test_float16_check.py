"""bench/float16_check.py, the check behind the shipped weights: identical copies must
come out identical, and a changed generator must show its difference."""

import json
import shutil
import sys

import pytest

from models import paths
from models.checkpoint import load_generator
from models.config import UserError
from models.record import fingerprint

from conftest import REPO

sys.path.insert(0, str(REPO / "bench"))
import float16_check  # noqa: E402

pytestmark = pytest.mark.slow  # a benchmark's JSON line: .ci/run runs them after the rest

SHIPPED = paths.resolve(paths.PRETRAINED_WEIGHTS)


def test_identical_copies_agree_and_a_changed_generator_does_not(tmp_path, capsys):
    shutil.copytree(SHIPPED / "class_gans", tmp_path / "class_gans")
    shutil.copy(paths.independent_classifier(SHIPPED), paths.independent_classifier(tmp_path))
    float16_check.main(PARTS="class_gans", JUDGE="float16", FLOAT32_DIR=str(tmp_path))
    same = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert same["class_gans"]["max_pixel_diff"] == 0
    assert same["class_gans"]["fidelity_float32"] == same["class_gans"]["fidelity_float16"]
    assert min(same["class_gans"]["fidelity_float16"]) > 0.95, "the shipped generators draw their digits"
    shipped = paths.class_gan_generator(SHIPPED / "class_gans", 0)
    assert same["class_gans"]["sha256_16"]["float16"]["class_gans/generator_0"] == fingerprint(shipped)[:16]

    path = paths.class_gan_generator(tmp_path / "class_gans", 3)
    generator = load_generator(path, "")
    generator.set_weights([w * 0.5 if w.ndim > 1 else w for w in generator.get_weights()])
    generator.save_weights(path)
    float16_check.generator_at.cache_clear()
    float16_check.main(PARTS="class_gans", JUDGE="float16", FLOAT32_DIR=str(tmp_path))
    changed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["class_gans"]
    assert changed["max_pixel_diff"] > 10
    before, after = (line["sha256_16"]["float32"]["class_gans/generator_3"] for line in (same["class_gans"], changed))
    assert before != after, "the line names the files it compared"
    assert changed["fidelity_float32"][:3] == changed["fidelity_float16"][:3]
    assert changed["fidelity_float32"][3] != changed["fidelity_float16"][3]


def test_unknown_part_is_refused():
    with pytest.raises(UserError, match="PARTS must name some of classifiers, class_gans, acgan"):
        float16_check.main(PARTS="generators")
