"""FID, k-NN precision/recall, label fidelity, and the classifier's fixed impression budget."""

import keras
import numpy as np
import pytest

from models.classifier import ImpressionBatches, build_classifier, feature_model, train_classifier
from models.metrics import (confusion_counts, fid, frechet_distance, knn_precision_recall, label_fidelity,
                            sqrtm_psd)


def correlated(n, dim, seed, shift=0.0):
    """``n`` samples of a random correlated Gaussian in ``dim`` dimensions."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, dim)) @ rng.standard_normal((dim, dim)) + shift


def random_covariance(dim, seed):
    a = np.random.default_rng(seed).standard_normal((dim, dim))
    return a @ a.T + 0.1 * np.eye(dim)


@pytest.mark.parametrize("n, dim", [(400, 8), (40, 64)])  # full rank, and rank-deficient (fewer samples than dims)
def test_fid_of_a_set_with_itself_is_zero(n, dim):
    features = correlated(n, dim, seed=1)
    assert fid(features, features) < 1e-8 * np.trace(np.cov(features, rowvar=False))


def test_fid_is_symmetric_and_positive():
    a, b = correlated(300, 6, seed=1), correlated(200, 6, seed=2, shift=0.5)
    assert fid(a, b) > 1
    assert fid(a, b) == pytest.approx(fid(b, a), rel=1e-9)


def test_frechet_distance_of_diagonal_gaussians_is_the_closed_form():
    mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.5])
    var1, var2 = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(var1) - np.sqrt(var2)) ** 2)  # 7.25 + 5 = 12.25
    assert expected == pytest.approx(12.25)
    assert frechet_distance(mu1, np.diag(var1), mu2, np.diag(var2)) == pytest.approx(expected, rel=1e-12)


def test_frechet_distance_of_2d_gaussians_matches_the_2x2_trace_formula():
    """For 2x2 matrices, tr((S1 S2)^(1/2)) = sqrt(tr(S1 S2) + 2 sqrt(det S1 det S2)): the two
    eigenvalues l1, l2 of S1 S2 give (sqrt l1 + sqrt l2)^2 = l1 + l2 + 2 sqrt(l1 l2)."""
    s1, s2 = np.array([[2.0, 0.8], [0.8, 1.0]]), np.array([[1.0, -0.6], [-0.6, 3.0]])
    mu1, mu2 = np.array([0.3, -1.0]), np.array([-0.2, 0.4])
    trace_covmean = np.sqrt(np.trace(s1 @ s2) + 2 * np.sqrt(np.linalg.det(s1) * np.linalg.det(s2)))
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * trace_covmean
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-10)
    assert frechet_distance(mu2, s2, mu1, s1) == pytest.approx(expected, rel=1e-10)


def test_frechet_distance_of_a_scaled_dense_covariance():
    """S2 = c S1 gives tr((S1 S2)^(1/2)) = sqrt(c) tr S1, so the distance is |dmu|^2 + (1 - sqrt c)^2 tr S1."""
    s1 = random_covariance(7, seed=3)
    mu1, mu2 = np.zeros(7), np.linspace(-1, 1, 7)
    expected = mu2 @ mu2 + (1 - np.sqrt(2.5)) ** 2 * np.trace(s1)
    assert frechet_distance(mu1, s1, mu2, 2.5 * s1) == pytest.approx(expected, rel=1e-10)


def test_fid_of_gaussian_samples_approaches_the_population_distance():
    rng = np.random.default_rng(4)
    s1, s2 = random_covariance(3, seed=5), random_covariance(3, seed=6)
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 0.0, 2.0])
    a = rng.multivariate_normal(mu1, s1, 40000)
    b = rng.multivariate_normal(mu2, s2, 40000)
    assert fid(a, b) == pytest.approx(frechet_distance(mu1, s1, mu2, s2), rel=0.03)


def test_sqrtm_psd_squares_back():
    s = random_covariance(5, seed=7)
    root = sqrtm_psd(s)
    np.testing.assert_allclose(root @ root, s, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(root, root.T)


def test_precision_and_recall_of_a_set_with_itself_are_one():
    features = correlated(300, 10, seed=8)
    assert knn_precision_recall(features, features, k=3) == (1.0, 1.0)


def test_precision_and_recall_of_far_apart_clusters_are_zero():
    a = correlated(200, 10, seed=9)
    b = correlated(150, 10, seed=10, shift=1000.0)
    assert knn_precision_recall(a, b, k=3) == (0.0, 0.0)


def test_precision_and_recall_on_a_hand_made_line():
    """Real 0..4 (each 1-NN radius 1); fake 0.5 and 10 (each 1-NN radius 9.5): 0.5 lies in
    the real manifold, 10 does not -> precision 1/2; every real point is within 9.5 of 0.5 -> recall 1."""
    real, fake = np.arange(5.0)[:, None], np.array([[0.5], [10.0]])
    assert knn_precision_recall(real, fake, k=1) == (0.5, 1.0)
    assert knn_precision_recall(fake, real, k=1) == (1.0, 0.5)


def test_precision_recall_chunking_does_not_change_results():
    a, b = correlated(120, 5, seed=11), correlated(90, 5, seed=12, shift=1.0)
    whole = knn_precision_recall(a, b, k=3)
    assert 0 < whole[0] < 1 and 0 < whole[1] < 1
    assert knn_precision_recall(a, b, k=3, batch_rows=7) == whole


def test_label_fidelity_on_a_hand_made_case():
    intended = [0, 0, 0, 1, 1, 2]
    pred = [0, 0, 1, 1, 0, 2]
    result = label_fidelity(pred, intended, n_classes=4)
    assert result["overall"] == pytest.approx(4 / 6)
    assert result["per_class"] == [pytest.approx(2 / 3), 0.5, 1.0, None]


def test_confusion_counts_rows_are_true_classes():
    counts = confusion_counts([0, 0, 1, 2], [0, 1, 1, 1], n_classes=3)
    assert counts.tolist() == [[1, 1, 0], [0, 1, 0], [0, 1, 0]]


def test_the_classifier_is_the_original_cnn():
    model = build_classifier()
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [(c.filters, c.kernel_size, c.padding) for c in convs] == [(32, (5, 5), "same"), (64, (5, 5), "same")]
    assert sum(isinstance(layer, keras.layers.MaxPooling2D) for layer in model.layers) == 2
    assert model.get_layer("features").units == 1024
    assert [layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)] == [0.5]
    assert feature_model(model).output.shape == (None, 1024) and model.output.shape == (None, 10)


def test_every_training_set_gets_exactly_the_same_impressions(mnist):
    (x, y), _ = mnist
    for n in (50, 300):  # smaller and larger than the budget
        keras.utils.set_random_seed(0)
        model = build_classifier(filters=(2, 4), dense_units=8)
        assert train_classifier(model, x[:n], y[:n], impressions=330, batch_size=32, seed=1) == 320
        assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 10  # 10 full batches of 32

        batches = ImpressionBatches(x[:n], y[:n], impressions=330, batch_size=32, seed=1)
        assert [len(batches[i][1]) for i in range(len(batches))] == [32] * 10
        seen = np.bincount(batches.order, minlength=n)
        assert seen.sum() == 320 and seen.max() - seen.min() <= 1  # each image seen equally often, give or take one


def test_a_budget_below_one_batch_is_refused(mnist):
    (x, y), _ = mnist
    with pytest.raises(ValueError, match="at least one batch"):
        ImpressionBatches(x[:10], y[:10], impressions=31, batch_size=32, seed=0)


def test_shifted_batches_move_each_image_within_the_limit_and_repeat_with_the_seed():
    x = np.zeros((64, 28, 28), np.uint8)
    x[:, 14, 14] = 255  # one lit pixel per image: where it lands is the move
    y = np.arange(64) % 10
    plain = ImpressionBatches(x, y, impressions=64, batch_size=64, seed=3)
    batches = ImpressionBatches(x, y, impressions=64, batch_size=64, seed=3, shift=2)
    images, labels = batches[0]
    np.testing.assert_array_equal(labels, plain[0][1])
    assert images.sum(axis=(1, 2, 3)).tolist() == [1.0] * 64  # moved, never cut off or doubled
    rows, cols = np.nonzero(images[..., 0].max(axis=2))[1], np.nonzero(images[..., 0].max(axis=1))[1]
    assert set(rows - 14) == set(cols - 14) == {-2, -1, 0, 1, 2}  # every move in [-2, 2] turns up in 64 draws
    np.testing.assert_array_equal(images, batches[0][0])  # the same seed and step: the same moves
    np.testing.assert_array_equal(plain[0][0][:, 14, 14, 0], np.ones(64))  # shift=0: images as they are
    with pytest.raises(ValueError, match="shift must be 0 to 27"):
        ImpressionBatches(x, y, impressions=64, batch_size=64, seed=3, shift=28)
