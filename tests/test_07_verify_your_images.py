"""07: the verdict on a user's own images, with a tiny verifier."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from models.config import ConfigError, UserError

from conftest import load_script


@pytest.fixture(scope="module")
def script():
    return load_script("07_verify_your_images.py")


def run(script, tiny_verifier, images, output_dir, **overrides):
    """07 with a copy of the tiny verifier (its floor under other settings is written beside it)."""
    weights = output_dir.parent / f"{output_dir.name}_weights"
    if Path(tiny_verifier["WEIGHTS_DIR"]).is_dir() and not weights.exists():
        shutil.copytree(tiny_verifier["WEIGHTS_DIR"], weights)
    return script.main(**{**tiny_verifier, "WEIGHTS_DIR": str(weights), "IMAGES": str(images),
                          "OUTPUT_DIR": str(output_dir), "GALLERY_SIZE": 4, "VERBOSE": 0, **overrides})


def test_your_own_images_get_verdicts_with_an_ood_flag(script, tiny_verifier, mnist, tmp_path):
    digits, labels = mnist[1][0][:30], mnist[1][1][:30]
    noise = np.random.default_rng(0).integers(0, 256, (10, 28, 28), dtype=np.uint8)
    path = tmp_path / "mine.npz"
    y = np.concatenate([labels, np.zeros(10, np.uint8)])
    np.savez(path, x=np.concatenate([digits, noise]), y=y)
    run(script, tiny_verifier, path, tmp_path / "mine")
    with np.load(tmp_path / "mine" / "verdicts.npz") as f:
        assert f["top"].shape == f["passes"].shape == f["atypicality"].shape == (40,)
        assert f["mean"].shape == f["sd"].shape == (40, 10)
        assert f["out_of_distribution"][30:].all(), "noise is unlike any training digit"
        assert f["out_of_distribution"][:30].sum() <= 2
        np.testing.assert_array_equal(f["accepted"], (f["top"] == y) & ~f["out_of_distribution"])
        assert f["accepted"][:30].mean() > 0.5, "a tiny verifier, but better than chance"
        flagged = int(f["out_of_distribution"].sum())
    summary = (tmp_path / "mine" / "summary.md").read_text()
    assert f"| out of distribution (unlike any training digit) | {flagged} | {flagged / 40:.2%} |" in summary
    floor = json.loads((tmp_path / "mine" / "summary.json").read_text())["verifier"]
    assert floor["test_images"] == 2000, "the verifier's floor on real test digits, beside the verdicts"
    assert (tmp_path / "mine" / "atypical.png").stat().st_size > 1000


def test_the_one_pass_rule_flags_by_confidence(script, tiny_verifier, mnist, tmp_path):
    path = tmp_path / "ten.npz"
    np.savez(path, x=mnist[1][0][:10], y=mnist[1][1][:10])
    run(script, tiny_verifier, path, tmp_path / "one_pass", MC_RULE="one_pass", ONE_PASS_CONFIDENCE=0.9)
    with np.load(tmp_path / "one_pass" / "verdicts.npz") as f:
        assert (f["passes"] == 1).all() and (f["sd"] == 0).all()
        np.testing.assert_array_equal(f["ambiguous"], f["mean"].max(axis=1) < 0.9)
        assert "ONE_PASS_CONFIDENCE" in json.loads(str(f["record"]))["constants"]


@pytest.mark.parametrize("content, message", [
    (None, "does not exist"),
    (b"not a zip", "Cannot read .* as an .npz file"),
    ({"images": np.zeros((2, 28, 28), np.uint8)}, "no key x, expected x uint8"),
    ({"x": np.zeros((2, 28, 28), np.float32)}, "x is float32 .2, 28, 28., expected x uint8"),
    ({"x": np.zeros((2, 28, 28), np.uint8), "y": np.array([1, 12])}, "expected one intended digit 0-9 per image"),
])
def test_a_bad_images_file_gets_one_sentence_before_any_model_is_loaded(script, tmp_path, content, message):
    path = tmp_path / "bad.npz"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        np.savez(path, **content)
    with pytest.raises(UserError, match=message):  # no verifier exists here: the file is checked first
        run(script, {"WEIGHTS_DIR": str(tmp_path / "none"), "SHIPPED_DIR": str(tmp_path / "none")}, path,
            tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_no_images_named_is_refused(script):
    with pytest.raises(ConfigError, match="IMAGES must name an .npz of your images"):
        script.main()
