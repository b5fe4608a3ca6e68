"""The out-of-distribution score: the density, its threshold, AUROC, features, and the shipped verifier."""

import numpy as np
import pytest

from conftest import shipped_verifier
from models import defaults
from models.data import rotated, to_classifier_input
from models.mc import MCDropout, trunk_output
from models.typicality import after_trunk, atypicality, feature_layers, feature_model, features, fit, threshold
from models.verdict import _one_trunk, verdicts
from models.verifier import build


def clusters(n=400, d=3, seed=0):
    """Three Gaussian classes in d dimensions, means 10 apart, SD 1 (class 2: SD 3 in every direction)."""
    rng = np.random.default_rng(seed)
    means = np.array([[0.0] * d, [10.0] + [0.0] * (d - 1), [0.0, 10.0] + [0.0] * (d - 2)])
    labels = np.repeat(np.arange(3), n)
    scale = np.where(labels == 2, 3.0, 1.0)[:, None]
    return means, means[labels] + scale * rng.standard_normal((3 * n, d)), labels


@pytest.mark.parametrize("covariance", ["shared", "class"])
def test_a_class_mean_is_typical_and_a_far_point_is_not(covariance):
    means, points, labels = clusters()
    density = fit(points, labels, covariance)
    at_means = atypicality(means, density)
    far = atypicality(np.array([[-40.0, -40.0, 40.0]]), density)
    _, points, labels = clusters(seed=1)
    held_out = atypicality(points, density)
    assert far[0] > 10 * np.quantile(held_out, 0.99), "far from every class"
    for c in range(3):
        assert at_means[c] <= np.quantile(held_out[labels == c], 0.05), "a class mean beats 95% of its class"


def test_shared_covariance_gives_the_squared_mahalanobis_distance():
    means, points, labels = clusters(n=2000)
    density = fit(points, labels, "shared")
    pooled = np.cov((points - density["means"][labels]).T, bias=True)
    probe = np.array([[1.0, 2.0, -1.0]])
    expected = min(float((probe[0] - m) @ np.linalg.inv(pooled) @ (probe[0] - m)) for m in density["means"])
    assert atypicality(probe, density)[0] == pytest.approx(expected, rel=2e-3), "shrinkage 1e-3 of the mean variance"
    assert density["whiten"].shape == (1, 3, 3), "one covariance, stored once"


def test_per_class_covariance_sees_a_wide_class_as_wide():
    means, points, labels = clusters(n=2000)
    shared, per_class = fit(points, labels, "shared"), fit(points, labels, "class")
    wide = means[2] + np.array([[5.0, 0.0, 0.0]])  # 5 SDs out for a class of SD 1, under 2 for class 2's SD 3
    assert atypicality(wide, per_class)[0] - per_class["logdet"][2] == pytest.approx(25 / 9, rel=0.1)
    assert atypicality(wide, shared)[0] > 2 * (atypicality(wide, per_class)[0] - per_class["logdet"][2])


def test_threshold_flags_the_asked_share_of_held_out_images():
    scores = np.arange(1000.0)
    assert np.mean(scores > threshold(scores, 0.005)) == pytest.approx(0.005, abs=0.001)
    assert threshold(scores, 0) == float("inf")


def test_labels_must_name_every_class_from_zero():
    with pytest.raises(ValueError, match="every class present"):
        fit(np.zeros((4, 2)), np.array([0, 0, 2, 2]))


def test_rotation_turns_counter_clockwise_and_keeps_a_zero_turn():
    x = np.random.default_rng(0).integers(0, 256, (3, 28, 28), dtype=np.uint8)
    np.testing.assert_array_equal(rotated(x, 0), x)
    np.testing.assert_array_equal(rotated(x, 90), np.rot90(x, axes=(1, 2)))
    np.testing.assert_array_equal(rotated(x, 180), x[:, ::-1, ::-1])


def test_features_come_from_one_deterministic_pass_on_a_grid():
    model = build("default", 0.5)
    assert list(feature_layers(model)) == ["conv1", "conv2", "conv3", "conv4", "dense"]
    x = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    extractor = feature_model(model, "conv3", 2)
    assert not any(isinstance(layer, MCDropout) for layer in extractor.layers), "dropout off"
    a, b = features(extractor, x), features(extractor, x, batch=2)
    assert a.shape == (5, 2 * 2 * 64)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert features(feature_model(model, "dense", 1), x).shape == (5, 128)


@pytest.mark.parametrize("architecture", [defaults.VERIFIER, "light"])  # both shipped: 02's and --VERIFIER=light
def test_a_shipped_verifier_calls_noise_unlike_any_digit(mnist, architecture):
    model, density = shipped_verifier(architecture)
    noise = np.random.default_rng(0).integers(0, 256, (50, 28, 28), dtype=np.uint8)
    digits = mnist[1][0][:200]
    verdict = verdicts(model, np.concatenate([noise, digits]), density, passes=10, batch=512)
    assert verdict["out_of_distribution"][:50].all(), "uniform noise is no digit"
    assert verdict["out_of_distribution"][50:].sum() <= 4, "real test digits: about 0.5% flagged"


def test_ood_first_gives_an_image_out_of_distribution_no_passes(mnist):
    model, density = shipped_verifier(defaults.VERIFIER)
    noise = np.random.default_rng(1).integers(0, 256, (20, 28, 28), dtype=np.uint8)
    images, labels = np.concatenate([noise, mnist[1][0][:100]]), mnist[1][1][:100]
    every, first = (verdicts(model, images, density, ood_first=flag, passes=10, batch=512) for flag in (False, True))
    ood = every["out_of_distribution"]
    np.testing.assert_array_equal(first["out_of_distribution"], ood)
    np.testing.assert_array_equal(first["atypicality"], every["atypicality"])
    assert ood[:20].all() and (every["passes"][ood] > 0).all(), "without it they get passes"
    assert (first["passes"][ood] == 0).all() and (first["top"][ood] == -1).all()
    assert (first["challenger"][ood] == -1).all()
    assert np.isnan(first["mean"][ood]).all() and np.isnan(first["sd"][ood]).all() and not first["ambiguous"][ood].any()
    assert (first["passes"][~ood] >= 2).all() and not np.isnan(first["mean"][~ood]).any()
    kept = ~ood[20:]
    assert (first["top"][20:][kept] == labels[kept]).mean() > 0.95, "the other images get their verdicts"


def test_features_from_the_verifiers_trunk_are_the_images_features(mnist):
    """02 runs the layers before the first dropout once, for the density's features and the passes."""
    model, density = shipped_verifier(defaults.VERIFIER)
    images = mnist[1][0][:40]
    trunk = trunk_output(model, to_classifier_input(images))
    np.testing.assert_allclose(features(density["features"], images, trunk=trunk),
                               features(density["features"], images), rtol=1e-4, atol=1e-4)
    assert after_trunk(feature_model(model, "conv2", 2)) is None, "conv2 lies before the first dropout"
    adaptive = dict(passes=20, batch=512, rule="adaptive", round_passes=5, min_passes=5)
    shared = verdicts(model, images, density, **adaptive)  # float32, adaptive: one run of the trunk
    np.testing.assert_allclose(shared["atypicality"], atypicality(features(density["features"], images), density),
                               rtol=1e-4, atol=1e-3)
    assert (shared["top"] == mnist[1][1][:40]).mean() > 0.95


def test_ood_first_on_the_shared_trunk_as_02_runs_it(mnist):
    """Float32 passes under the adaptive rule: one trunk run for the features and the passes, and an
    image out of distribution still gets none."""
    model, density = shipped_verifier(defaults.VERIFIER)
    noise = np.random.default_rng(2).integers(0, 256, (10, 28, 28), dtype=np.uint8)
    images, labels = np.concatenate([noise, mnist[1][0][:60]]), mnist[1][1][:60]
    adaptive = dict(passes=20, batch=512, rule="adaptive", round_passes=5, min_passes=5)
    assert _one_trunk(model, density, len(images), adaptive), "the shared trunk is taken here"
    verdict = verdicts(model, images, density, ood_first=True, **adaptive)
    ood = verdict["out_of_distribution"]
    assert ood[:10].all() and (verdict["passes"][ood] == 0).all() and (verdict["top"][ood] == -1).all()
    assert (verdict["passes"][~ood] >= 5).all()
    assert (verdict["top"][10:][~ood[10:]] == labels[~ood[10:]]).mean() > 0.95
