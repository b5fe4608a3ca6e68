"""Quality metrics for generated data: label fidelity, FID, k-NN precision and recall.

FID and precision/recall work on any feature vectors; 04 feeds them the penultimate
layer of an MNIST classifier (not Inception-v3), so its numbers are comparable with
each other, not with published Inception-FID values. Matrix square roots use numpy's
``eigh`` (no scipy).
"""

import numpy as np


def frechet_distance(mu1, sigma1, mu2, sigma2):
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2):
    ``|mu1 - mu2|^2 + tr(sigma1) + tr(sigma2) - 2 tr((sigma1 sigma2)^(1/2))``.

    ``tr((s1 s2)^(1/2))`` is computed as the trace of the square root of the symmetric
    PSD matrix ``s1^(1/2) s2 s1^(1/2)`` (same eigenvalues), which ``eigh`` handles stably
    even for the rank-deficient covariances of few samples in many dimensions.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    root1 = sqrtm_psd(sigma1)
    product = root1 @ sigma2 @ root1
    trace_covmean = np.sqrt(np.clip(np.linalg.eigvalsh((product + product.T) / 2), 0, None)).sum()
    diff = mu1 - mu2
    distance = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_covmean
    return float(max(distance, 0.0))  # only round-off can make it negative


def sqrtm_psd(matrix):
    """The symmetric square root of a symmetric positive semi-definite matrix."""
    eigenvalues, eigenvectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (eigenvectors * np.sqrt(np.clip(eigenvalues, 0, None))) @ eigenvectors.T


def fid(features_a, features_b):
    """FID between two sets of feature vectors (N, D): the Frechet distance of the
    Gaussians with their means and (unbiased) covariances."""
    stats = []
    for features in (features_a, features_b):
        features = np.asarray(features, np.float64)
        stats += [features.mean(axis=0), np.cov(features, rowvar=False).reshape(features.shape[1], -1)]
    return frechet_distance(*stats)


def knn_precision_recall(real_features, fake_features, k=3, batch_rows=1024):
    """k-NN precision and recall (Kynkaanniemi et al., 2019) -> ``(precision, recall)``.

    Each set's manifold is the union of balls around its points, each ball reaching the
    point's k-th nearest neighbour in the same set. Precision: share of fake samples
    inside the real manifold; recall: share of real samples inside the fake manifold.
    Distances are computed ``batch_rows`` rows at a time, so memory stays at about
    ``batch_rows * max(N)`` numbers.
    """
    real, fake = np.asarray(real_features, np.float64), np.asarray(fake_features, np.float64)
    real_radii = knn_radii(real, k, batch_rows)
    fake_radii = knn_radii(fake, k, batch_rows)
    fake_inside = np.zeros(len(fake), bool)
    real_inside = np.zeros(len(real), bool)
    for start in range(0, len(fake), batch_rows):
        d = squared_distances(fake[start : start + batch_rows], real)
        fake_inside[start : start + batch_rows] = (d <= real_radii[None, :]).any(axis=1)
        real_inside |= (d <= fake_radii[start : start + batch_rows, None]).any(axis=0)
    return float(fake_inside.mean()), float(real_inside.mean())


def knn_radii(features, k, batch_rows=1024):
    """Squared distance from each point to its k-th nearest other point of the same set."""
    if len(features) <= k:
        raise ValueError(f"k-NN radii need more than k={k} points, got {len(features)}")
    radii = np.empty(len(features))
    for start in range(0, len(features), batch_rows):
        d = squared_distances(features[start : start + batch_rows], features)
        radii[start : start + batch_rows] = np.partition(d, k, axis=1)[:, k]  # index 0 is the point itself
    return radii


def squared_distances(a, b):
    """Pairwise squared Euclidean distances (len(a), len(b))."""
    d = (a * a).sum(axis=1)[:, None] + (b * b).sum(axis=1)[None, :] - 2 * a @ b.T
    return np.maximum(d, 0)


def label_fidelity(pred, intended, n_classes=10):
    """Share of samples whose predicted class is the one they were generated for:
    ``{"overall": float, "per_class": [float, or None for a class with no samples]}``."""
    pred, intended = np.asarray(pred), np.asarray(intended)
    hits = pred == intended
    per_class = [float(hits[intended == c].mean()) if (intended == c).any() else None for c in range(n_classes)]
    return {"overall": float(hits.mean()), "per_class": per_class}


def confusion_counts(true, pred, n_classes=10):
    """(n_classes, n_classes) counts: row = true class, column = predicted class."""
    true, pred = np.asarray(true, np.int64), np.asarray(pred, np.int64)
    return np.bincount(true * n_classes + pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)
