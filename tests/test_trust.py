"""The metrics that judge an uncertainty score, on tiny inputs whose answer is known."""

import numpy as np
import pytest

from models.trust import aurc, auroc, ece, entropy, error_auroc, flag_summary, interval, mutual_information, \
    reliability, risk_coverage


def test_auroc_on_known_answers():
    assert auroc([2, 3, 4], [0, 1]) == 1.0, "every positive above every negative"
    assert auroc([0, 1], [2, 3, 4]) == 0.0
    assert auroc([1, 1, 1], [1, 1]) == 0.5, "a constant score knows nothing"
    assert auroc([1, 3], [2, 0]) == 0.75


def test_error_auroc_of_a_perfect_and_a_constant_score():
    wrong = np.array([False, False, True, False, True])
    assert error_auroc(wrong.astype(float), wrong) == 1.0
    assert error_auroc(np.zeros(5), wrong) == 0.5
    assert np.isnan(error_auroc(np.arange(3.0), np.zeros(3, bool))), "no error to find"


def test_risk_coverage_and_aurc():
    wrong = np.array([0, 0, 0, 1, 1], bool)
    coverage, risk = risk_coverage(np.arange(5.0), wrong)  # a perfect order: the errors last
    np.testing.assert_allclose(coverage, [0.2, 0.4, 0.6, 0.8, 1.0])
    np.testing.assert_allclose(risk, [0, 0, 0, 1 / 4, 2 / 5])
    assert aurc(np.arange(5.0), wrong) == pytest.approx((1 / 4 + 2 / 5) / 5)
    assert aurc(np.zeros(5), wrong) == pytest.approx(0.4), "a constant score: the error rate at every coverage"
    assert aurc(-np.arange(5.0), wrong) > aurc(np.zeros(5), wrong), "the worst order is worse than none"


def test_a_calibrated_toy_has_ece_near_zero_and_an_overconfident_one_does_not():
    rng = np.random.default_rng(0)
    confidence = rng.uniform(0.5, 1.0, 200_000)
    right = rng.uniform(size=confidence.size) < confidence  # right exactly as often as it says
    assert ece(confidence, right) < 0.005
    assert ece(np.full(1000, 0.99), np.arange(1000) < 700) == pytest.approx(0.29)
    count, mean_confidence, accuracy = reliability(np.array([0.05, 0.95, 0.97]), np.array([0, 1, 0]), bins=10)
    assert count.tolist() == [1, 0, 0, 0, 0, 0, 0, 0, 0, 2]
    assert mean_confidence[9] == pytest.approx(0.96) and accuracy[9] == 0.5 and np.isnan(accuracy[5])


def test_entropy_and_mutual_information():
    assert entropy([0.5, 0.5]) == pytest.approx(np.log(2)) and entropy([1.0, 0.0]) == 0
    agree = np.tile([[0.9, 0.1]], (1, 4, 1))  # every pass says the same: no disagreement
    split = np.array([[[1.0, 0.0], [0.0, 1.0]] * 2])  # half the passes say one class, half the other
    assert mutual_information(agree)[0] == pytest.approx(0)
    assert mutual_information(split)[0] == pytest.approx(np.log(2))


def test_wilson_interval():
    low, high = interval(3, 10000)
    assert low < 3e-4 < high and 0 < low and high < 1e-3
    assert interval(0, 100)[0] == 0.0 and interval(0, 100)[1] == pytest.approx(0.037, abs=0.001)


def test_flag_summary_counts_errors_on_each_side_of_the_flag():
    flag = np.array([True, True, False, False, False, False])
    wrong = np.array([True, False, True, False, False, False])
    summary = flag_summary(flag, wrong)
    assert summary["flagged"] == pytest.approx(2 / 6) and summary["n_flagged"] == 2 and summary["clear"] == 4
    assert summary["error_flagged"] == 0.5 and summary["error_clear"] == 0.25 and summary["errors_caught"] == 0.5
    assert summary["error_clear_interval"] == interval(1, 4)
