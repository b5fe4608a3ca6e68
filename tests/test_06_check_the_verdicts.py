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
def out(script, tmp_path_factory, mnist):
    """06 on 150 test images, with real train digits standing in for 02's and 05's data."""
    root = tmp_path_factory.mktemp("w06")
    (x, y), _ = mnist
    rng = np.random.default_rng(0)
    np.savez(root / "generated.npz", x_train=x[:200], y_train=y[:200], ambiguous=rng.random(200) < 0.2,
             x_raw=x[:200], y_raw=y[:200])
    mean = np.full((60, 10), 0.02, "float32")
    mean[np.arange(60), y[200:260]] = 0.5
    np.savez(root / "ambiguous.npz", x_train=x[200:260], y_train=y[200:260], mean=mean, x_clear=x[300:360],
             clear=rng.random(60) < 0.9, test_ambiguous=np.zeros(10, bool))
    script.main(ENSEMBLE_SEEDS="1,2", VERIFIER_EPOCHS=1, VERIFIER_SUBSET=600, VERIFIER_VAL_SIZE=200, TEST_SUBSET=150,
                ROTATED=40, ANGLES="0,90", MC_PASSES=10, PASSES_SWEEP="5,10", K_SWEEP="1,2,3", BORDERLINE_PASSES=20,
                VERBOSE=0, ENSEMBLE_DIR=str(root / "ensemble"), OUTPUT_DIR=str(root / "out"),
                GENERATED=str(root / "generated.npz"), AMBIGUOUS=str(root / "ambiguous.npz"))
    return root


def test_members_are_trained_once_and_kept(script, out, capsys):
    for seed in (1, 2):
        assert (out / "ensemble" / f"seed_{seed}" / "verifier_default.weights.h5").is_file()
    script.main(ENSEMBLE_SEEDS="1,2", VERIFIER_EPOCHS=1, VERIFIER_SUBSET=600, VERIFIER_VAL_SIZE=200, TEST_SUBSET=20,
                ROTATED=10, ANGLES="0", MC_PASSES=4, PASSES_SWEEP="4", VERBOSE=0, ENSEMBLE_DIR=str(out / "ensemble"),
                OUTPUT_DIR=str(out / "again"), GENERATED="", AMBIGUOUS=str(out / "nothing_here.npz"))
    printed = capsys.readouterr().out
    assert "training" not in printed and "ensemble member of seed 2" in printed
    assert "run 05_make_ambiguous_digits.py to judge them too" in printed
    assert json.loads((out / "again" / "report.json").read_text())["judged"]["generated"] is None


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
    for name in ("risk_coverage.png", "reliability.png", "k_sweep.png", "shift.png", "stability.png", "report.md"):
        assert (out / "out" / name).stat().st_size > 500


def test_stability_compares_two_draws_of_each_rule(out):
    rows = json.loads((out / "out" / "report.json").read_text())["stability"]
    assert [r["rule"] for r in rows] == ["fixed, 5 passes", "fixed, 10 passes", "adaptive, 10 at most (02's)",
                                         "fixed, 10 + 20 for the borderline",
                                         "one pass, dropout off, below ONE_PASS_CONFIDENCE"]
    for r in rows:
        assert 0 <= r["firm_flips"] <= r["flipped"] <= 1 and 0 <= r["borderline"] <= 1
    assert rows[2]["mean_passes"] <= 10 and rows[3]["mean_passes"] == 10 + 20 * rows[1]["borderline"]
    assert rows[4]["flipped"] == 0, "one deterministic pass gives the same verdict every time"


def test_the_one_pass_threshold_flags_as_many_validation_digits_as_02s_rule(out):
    one_pass = json.loads((out / "out" / "report.json").read_text())["one_pass"]
    assert 0 < one_pass["confidence"] <= 1 and 0 <= one_pass["validation_flagged"] <= 1
    assert one_pass["clear"] + one_pass["n_flagged"] == 150


def test_the_judge_counts_disputes_per_digit(out, mnist):
    judged = json.loads((out / "out" / "report.json").read_text())["judged"]
    digits = judged["generated"]["digits"]
    assert [r["digit"] for r in digits] == sorted(set(mnist[0][1][:200].tolist()))
    assert sum(r["clear"] + r["n_flagged"] for r in digits) == 200
    every = judged["generated"]["all"]
    assert every["error_clear"] < 0.05, "real digits with their true labels: the judge rarely disputes them"
    assert judged["between"]["between"] == 60 and judged["between"]["judge_top_in_pair"] > 0.9
    assert "disputed by the independent judge" in (out / "out" / "report.md").read_text()


def test_bad_constants_are_refused_before_work(script):
    with pytest.raises(ConfigError, match="PASSES_SWEEP within 2..MC_PASSES"):
        script.main(MC_PASSES=10, PASSES_SWEEP="30")
    with pytest.raises(ConfigError, match="ENSEMBLE_SEEDS must name distinct seeds"):
        script.main(ENSEMBLE_SEEDS="1,1")
    with pytest.raises(ConfigError, match="STABILITY_SEED must differ from SEED"):
        script.main(STABILITY_SEED=0)
