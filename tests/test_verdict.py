"""The verdict's settings: one set of defaults (models/defaults.py), checked and handed on whole."""

import pytest

from models import defaults, verdict
from models.config import shared_defaults as settings


def test_the_defaults_make_a_verdict():
    assert verdict.problems(settings()) == []


@pytest.mark.parametrize("overrides, message", [
    ({"MC_PASSES": 1}, "MC_PASSES must be at least 2, got 1: one pass has no SD"),
    ({"MC_RULE": "fast"}, "MC_RULE must be one of fixed, adaptive, one_pass, got 'fast'"),
    ({"MC_RULE": "one_pass", "ONE_PASS_CONFIDENCE": 0.0}, "ONE_PASS_CONFIDENCE must lie in (0, 1]"),
    ({"MC_MIN_PASSES": 1}, "MC_MIN_PASSES must be at least 2"),
    ({"MC_ROUND_PASSES": 0}, "MC_ROUND_PASSES must be at least 1"),
    ({"MC_PRECISION": "float16"}, "MC_PRECISION must be one of auto, float32, bfloat16, got 'float16'"),
    ({"MC_BATCH": -1}, "MC_BATCH must be at least 1, or 0"),
    ({"VERIFIER": "spectral"}, "VERIFIER must be one of default, light, reference, got 'spectral'"),
    ({"DROPOUT": 1.0}, "DROPOUT must lie in [0, 1)"),
    ({"OOD_LAYER": "fc"}, "OOD_LAYER must be conv1, conv2, ... or dense"),
    ({"OOD_RATE": 1.0}, "OOD_RATE must lie in [0, 1)"),
    ({"OOD_COVARIANCE": "full"}, "OOD_COVARIANCE must be one of shared, class"),
])
def test_settings_that_make_no_verdict_are_refused(overrides, message):
    problems = verdict.problems(settings(**overrides))
    assert any(p.startswith(message) for p in problems), problems


def test_the_one_pass_rule_takes_its_threshold_with_it():
    assert verdict.options(settings(MC_RULE="one_pass"))["confidence"] == defaults.ONE_PASS_CONFIDENCE
    assert verdict.options(settings())["confidence"] is None, "the 2-SD rule has no threshold"
    assert "ONE_PASS_CONFIDENCE" in verdict.constants(settings(MC_RULE="one_pass"))
    assert "ONE_PASS_CONFIDENCE" not in verdict.constants(settings()), "a record holds only what the verdict used"
    assert verdict.options(settings(MC_RULE="fixed", MC_PASSES=7)) == {
        "passes": 7, "batch": 0, "rule": "fixed", "round_passes": defaults.MC_ROUND_PASSES,
        "min_passes": defaults.MC_MIN_PASSES, "confidence": None}
