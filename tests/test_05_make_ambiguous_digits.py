"""05 end to end on the shipped AC-GAN and verifier: digits between two classes, on demand."""

import json

import numpy as np
import pytest

from models import defaults, paths
from models.classifier import build_classifier, predict_classes
from models.config import ConfigError, UserError
from models.files import load_weights
from models.verifier import ambiguity

from conftest import load_script

TINY = dict(PAIRS="4-9,1-7", N_PER_PAIR=16, DRAW_BATCH=24, TEST_SUBSET=300, SLIDE_STEPS=5, GALLERY_SIZE=4,
            WEIGHTS_FROM="shipped", VERBOSE=0)


@pytest.fixture(scope="module")
def script():
    return load_script("05_make_ambiguous_digits.py")


@pytest.fixture(scope="module")
def out(script, tmp_path_factory):
    out = tmp_path_factory.mktemp("w05") / "out"
    script.main(**TINY, OUTPUT_DIR=str(out))
    return out


def test_at_least_half_the_draws_are_ambiguous_between_the_pair_asked_for(out):
    summary = json.loads((out / "summary.json").read_text())
    assert [r["pair"] for r in summary["pairs"]] == ["4-9", "1-7"]
    for r in summary["pairs"]:
        assert r["drawn"] >= 24 and r["on_pair"] <= r["ambiguous"] <= r["drawn"]
        assert r["yield"] == r["on_pair"] / r["drawn"] >= 0.5, r


def test_npz_holds_02s_fields_and_its_verdicts_follow_the_ambiguity_rule(out):
    with np.load(out / "ambiguous.npz") as f:
        data = {name: f[name] for name in f.files}
    assert data["x_train"].shape == data["x_clear"].shape == (32, 28, 28) and data["x_train"].dtype == np.uint8
    assert data["mean"].shape == data["sd"].shape == (32, 10) and data["ambiguous"].all()
    rounds = defaults.MC_ROUND_PASSES
    assert data["passes"].shape == (32,) and set(data["passes"]) <= set(range(rounds, 101, rounds)), "whole rounds"
    np.testing.assert_allclose(data["mean"].sum(axis=1), 1, atol=1e-4)
    assert (data["pair"] == [[4, 9]] * 16 + [[1, 7]] * 16).all()
    top, challenger, ambiguous = ambiguity(data["mean"], data["sd"])
    assert ambiguous.all() and (top == data["y_train"]).all() and (challenger == data["challenger"]).all()
    assert (np.sort(np.stack([top, challenger], 1), axis=1) == np.sort(data["pair"], axis=1)).all()
    assert ((0 < data["mix"]) & (data["mix"] < 1)).all()
    assert data["clear"].dtype == bool and data["clear"].mean() > 0.5
    assert data["test_ambiguous"].shape == (300,) and 0 < data["test_ambiguous"].sum() < 60
    assert json.loads(str(data["record"]))["constants"]["N_PER_PAIR"] == 16


def test_an_independent_classifier_sees_the_pair_in_the_between_digits_and_the_label_in_their_twins(out):
    judge = build_classifier(dense_units=512)
    load_weights(judge, paths.independent_classifier(paths.resolve(paths.PRETRAINED_WEIGHTS)), "")
    with np.load(out / "ambiguous.npz") as f:
        between, twins, y, pair, clear = (predict_classes(judge, f["x_train"]), predict_classes(judge, f["x_clear"]),
                                          f["y_train"], f["pair"], f["clear"])
    assert np.mean((between == pair[:, 0]) | (between == pair[:, 1])) >= 0.8
    assert np.mean(twins[clear] == y[clear]) >= 0.9


def test_figures_are_written(out):
    for name in ("slide.png", "gallery.png"):
        assert (out / name).stat().st_size > 5000
    assert "| 4-9 | " in (out / "summary.md").read_text()


def test_rerun_reads_finished_pairs_and_test_verdicts_back(script, out, monkeypatch, capsys):
    before = (out / "ambiguous.npz").read_bytes()
    monkeypatch.setattr(script, "make_pair", lambda *a, **k: pytest.fail("a finished pair was drawn again"))
    capsys.readouterr()
    script.main(**TINY, OUTPUT_DIR=str(out))
    assert "real MNIST test images (" not in capsys.readouterr().out
    assert (out / "ambiguous.npz").read_bytes() == before  # the same file, so 04 reuses its runs on it


@pytest.mark.parametrize("bad, problem", [
    ({"PAIRS": "4-4"}, "PAIRS must name pairs of two different digits"), ({"PAIRS": "4"}, "PAIRS must name pairs"),
    ({"PAIRS": "4-x"}, "PAIRS must name pairs"), ({"PAIRS": "4-9,9-4"}, "PAIRS names a pair twice"),
    ({"WEIGHTS_FROM": "nowhere"}, "WEIGHTS_FROM must be one of"), ({"TEST_SUBSET": -1}, "TEST_SUBSET must be 0"),
    ({"SLIDE_STEPS": 2}, "SLIDE_STEPS must be at least 3"),
])
def test_bad_constants_are_rejected_before_work(script, tmp_path, bad, problem):
    with pytest.raises(ConfigError, match=problem):
        script.main(**{**TINY, **bad}, OUTPUT_DIR=str(tmp_path))
    assert not any(tmp_path.iterdir())


def test_a_damaged_verifier_names_the_file(script, tmp_path):
    weights = tmp_path / "weights"
    weights.mkdir()
    (weights / "verifier_default.weights.h5").write_bytes(b"\x89HDF\r\n\x1a\n truncated")
    with pytest.raises(UserError, match=r"verifier_default.weights.h5 is damaged"):
        script.main(**{**TINY, "WEIGHTS_FROM": "trained"}, WEIGHTS_DIR=str(weights), GENERATOR_DIR=str(
            paths.resolve(paths.PRETRAINED_WEIGHTS) / "acgan" / "mnist"), OUTPUT_DIR=str(tmp_path / "out"))
