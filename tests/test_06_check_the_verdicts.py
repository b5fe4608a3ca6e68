"""06 end to end on a few test images, with two small ensemble members it trains itself."""

import json

import numpy as np
import pytest

from models.config import ConfigError

from conftest import load_script


@pytest.fixture(scope="module")
def script():
    return load_script("06_check_the_verdicts.py")


@pytest.fixture(scope="module")
def out(script, tmp_path_factory):
    root = tmp_path_factory.mktemp("w06")
    script.main(ENSEMBLE_SEEDS="1,2", VERIFIER_EPOCHS=1, VERIFIER_SUBSET=600, VERIFIER_VAL_SIZE=200, TEST_SUBSET=150,
                ROTATED=40, ANGLES="0,90", MC_PASSES=10, PASSES_SWEEP="5,10", K_SWEEP="1,2,3", VERBOSE=0,
                ENSEMBLE_DIR=str(root / "ensemble"), OUTPUT_DIR=str(root / "out"))
    return root


def test_members_are_trained_once_and_kept(script, out, capsys):
    for seed in (1, 2):
        assert (out / "ensemble" / f"seed_{seed}" / "verifier_default.weights.h5").is_file()
    script.main(ENSEMBLE_SEEDS="1,2", VERIFIER_EPOCHS=1, VERIFIER_SUBSET=600, VERIFIER_VAL_SIZE=200, TEST_SUBSET=20,
                ROTATED=10, ANGLES="0", MC_PASSES=4, PASSES_SWEEP="4", VERBOSE=0, ENSEMBLE_DIR=str(out / "ensemble"),
                OUTPUT_DIR=str(out / "again"))
    printed = capsys.readouterr().out
    assert "training" not in printed and "ensemble member of seed 2" in printed


def test_report_holds_every_score_and_figure(out):
    report = json.loads((out / "out" / "report.json").read_text())
    names = [row["score"] for row in report["scores"]]
    assert names == ["one pass: max softmax", "MC mean: max", "MC mean: entropy", "MC: mutual information",
                     "MC: 2-SD gap", "ensemble: max", "ensemble: mutual information"]
    for row in report["scores"]:
        assert 0 <= row["auroc"] <= 1 or np.isnan(row["auroc"])
        assert 0 <= row["aurc"] <= 1 and 0 <= row["error_rate"] <= 1
    assert set(report["calibration"]) == {"one pass", "MC mean", "ensemble"}
    assert [(r["passes"], r["k"]) for r in report["sweep"]] == [(5, 1.0), (5, 2.0), (5, 3.0), (10, 1.0), (10, 2.0),
                                                                (10, 3.0)]
    for passes in (5, 10):
        flagged = [r["flagged"] for r in report["sweep"] if r["passes"] == passes]
        assert flagged == sorted(flagged), "a wider rule flags at least as many images"
    flag = report["flag"]
    assert flag["clear"] + round(flag["flagged"] * 150) == 150
    assert [r["angle"] for r in report["shift"]] == [0, 90]
    for name in ("risk_coverage.png", "reliability.png", "k_sweep.png", "shift.png", "report.md"):
        assert (out / "out" / name).stat().st_size > 500


def test_bad_constants_are_refused_before_work(script):
    with pytest.raises(ConfigError, match="PASSES_SWEEP within 2..MC_PASSES"):
        script.main(MC_PASSES=10, PASSES_SWEEP="30")
    with pytest.raises(ConfigError, match="ENSEMBLE_SEEDS must name distinct seeds"):
        script.main(ENSEMBLE_SEEDS="1,1")
