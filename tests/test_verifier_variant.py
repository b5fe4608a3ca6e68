"""bench/train_verifier_variant.py: research variants of the verifier stay runnable, and a script
judges with one only when it is named (--VERIFIER_FILE), never in place of the default."""

import json
import sys

import numpy as np
import pytest

from models.config import ConfigError, UserError
from models.record import read_record

from conftest import REPO, TINY_VERIFIER, load_script

sys.path.insert(0, str(REPO / "bench"))
import train_verifier_variant  # noqa: E402

RECIPE = {name: value for name, value in TINY_VERIFIER.items() if name.startswith("VERIFIER_")}


@pytest.fixture(scope="module")
def exposed(tmp_path_factory):
    """A tiny verifier trained with outlier exposure (14-pixel squares)."""
    folder = tmp_path_factory.mktemp("variant")
    path = train_verifier_variant.main(VERIFIER_OUTLIERS=0.5, VERIFIER_OUTLIER_TILE=14, WEIGHTS_DIR=str(folder),
                                       VERBOSE=0, **RECIPE)
    return folder, path


@pytest.mark.slow  # a verifier trained: .ci/run runs it after the rest
def test_the_variant_records_its_constants_and_draws_its_non_digits(exposed):
    folder, path = exposed
    constants = read_record(path)["constants"]
    assert constants["VERIFIER_OUTLIERS"] == 0.5 and constants["VERIFIER_OUTLIER_TILE"] == 14
    assert (folder / "log" / "outliers.png").stat().st_size > 1000
    stamp = path.stat().st_mtime_ns
    assert train_verifier_variant.main(VERIFIER_OUTLIERS=0.5, VERIFIER_OUTLIER_TILE=14, WEIGHTS_DIR=str(folder),
                                       VERBOSE=0, **RECIPE) == path
    assert path.stat().st_mtime_ns == stamp, "made with these constants: kept, not trained again"


@pytest.mark.slow  # a verifier trained: .ci/run runs it after the rest
def test_a_script_judges_with_it_only_when_named(exposed, mnist, tmp_path):
    folder, path = exposed
    script = load_script("07_verify_your_images.py")
    images = tmp_path / "ten.npz"
    np.savez(images, x=mnist[1][0][:10])
    settings = dict(IMAGES=str(images), GALLERY_SIZE=2, VERBOSE=0, **TINY_VERIFIER)
    with pytest.raises(UserError, match=r"VERIFIER_OUTLIERS=0.5 \(now 'unset'\).*--RETRAIN=1"):
        script.main(**settings, WEIGHTS_DIR=str(folder), OUTPUT_DIR=str(tmp_path / "refused"))
    script.main(**settings, VERIFIER_FILE=str(path), OUTPUT_DIR=str(tmp_path / "out"))
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["verifier"]["record"]["constants"]["VERIFIER_OUTLIERS"] == 0.5 and summary["n"] == 10


@pytest.mark.parametrize("bad, problem", [
    ({"VERIFIER_OUTLIERS": -1.0}, r"VERIFIER_OUTLIERS must be 0 \(none\) or a positive weight, got -1"),
    ({"VERIFIER_OUTLIER_TILE": 5}, r"VERIFIER_OUTLIER_TILE must divide 28 \(1, 2, 4, 7 or 14\), got 5"),
    ({"VERIFIER": "huge"}, "VERIFIER must be one of default, reference, spectral"),
])
def test_bad_constants_are_refused_before_work(bad, problem, tmp_path):
    with pytest.raises(ConfigError, match=problem):
        train_verifier_variant.main(WEIGHTS_DIR=str(tmp_path), **bad)
