"""How far to trust a label: uncertainty scores and the metrics that judge them against the truth.

Scores are "higher = more likely wrong". Judged on images of known class:

- ``auroc``: P(a wrong label scores higher than a right one) (misclassification detection;
  Hendrycks and Gimpel 2017), ties counting half;
- ``risk_coverage`` / ``aurc``: keep the images the score trusts most, in order; the error
  rate among the kept (risk) at each share kept (coverage), and its mean over all coverages
  (the area under the risk-coverage curve; Geifman and El-Yaniv 2017);
- ``ece``: expected calibration error of a predicted probability (15 equal-width bins of
  confidence, Guo et al. 2017), and ``reliability``, the bins themselves;
- ``interval``: a 95% Wilson interval for a rate; ``flag_summary``: what a flag (e.g. "ambiguous")
  is worth, the error rate among flagged and clear images with their intervals.
"""

import numpy as np


def entropy(probs):
    """Entropy (nats) over the last axis of probabilities."""
    probs = np.asarray(probs, np.float64)
    return -np.sum(np.where(probs > 0, probs * np.log(np.where(probs > 0, probs, 1)), 0), axis=-1)


def mutual_information(passes):
    """BALD (Houlsby et al. 2011): the entropy of the mean of (N, passes, classes) probabilities
    less the mean entropy of each pass; 0 when every pass agrees."""
    passes = np.asarray(passes, np.float64)
    return np.clip(entropy(passes.mean(axis=1)) - entropy(passes).mean(axis=1), 0, None)


def auroc(positive, negative):
    """Area under the ROC curve: P(a ``positive`` score > a ``negative`` one), ties counting half."""
    positive, negative = np.asarray(positive, float), np.asarray(negative, float)
    ranks = _ranks(np.concatenate([positive, negative]))
    n_pos, n_neg = len(positive), len(negative)
    return float((ranks[:n_pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _ranks(values):
    """1-based ranks, ties given their mean rank."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(1, len(values) + 1)
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    return (np.bincount(inverse, weights=ranks) / counts)[inverse]


def error_auroc(score, wrong):
    """``auroc`` of ``score`` for telling the ``wrong`` labels (bool) from the right ones (nan
    when either is absent)."""
    wrong = np.asarray(wrong, bool)
    return auroc(score[wrong], score[~wrong]) if wrong.any() and (~wrong).any() else float("nan")


def risk_coverage(score, wrong):
    """``(coverage, risk)``: keeping the 1, 2, ... N most trusted images (lowest score first;
    ties kept together, at their mean risk), the share kept and the error rate among them."""
    score, wrong = np.asarray(score, float), np.asarray(wrong, float)
    order = np.argsort(score, kind="stable")
    errors = np.cumsum(wrong[order])
    kept = np.arange(1, len(score) + 1)
    # a tie cannot be split by the score: a tie kept in part counts its errors pro rata
    group_ends = np.flatnonzero(np.r_[np.diff(score[order]) != 0, True])
    group_of = np.searchsorted(group_ends, np.arange(len(score)))
    start = np.r_[0, group_ends[:-1] + 1][group_of]
    end = group_ends[group_of]
    before = np.where(start > 0, errors[start - 1], 0)
    share = (kept - start) / (end - start + 1)  # how much of the tie is kept
    risk = (before + share * (errors[end] - before)) / kept
    return kept / len(score), risk


def aurc(score, wrong):
    """The mean risk over all coverages (lower is better; a perfect score gives about
    error_rate**2 / 2, a useless one the error rate)."""
    return float(np.mean(risk_coverage(score, wrong)[1])) if len(score) else float("nan")


def reliability(confidence, right, bins=15):
    """Per equal-width bin of ``confidence`` in [0, 1]: ``(count, mean confidence, accuracy)``,
    each (bins,) (nan where a bin is empty)."""
    confidence, right = np.asarray(confidence, float), np.asarray(right, float)
    which = np.clip((confidence * bins).astype(int), 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(which, weights=confidence, minlength=bins) / count
        accuracy = np.bincount(which, weights=right, minlength=bins) / count
    return count, mean_confidence, accuracy


def ece(confidence, right, bins=15):
    """Expected calibration error: the count-weighted mean of |accuracy - confidence| over bins."""
    count, mean_confidence, accuracy = reliability(confidence, right, bins)
    filled = count > 0
    return float(np.sum(count[filled] * np.abs(accuracy[filled] - mean_confidence[filled])) / count.sum())


def interval(k, n, z=1.96):
    """95% Wilson interval ``(low, high)`` for ``k`` events in ``n`` trials."""
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(max(centre - half, 0.0)), float(min(centre + half, 1.0))


def flag_summary(flag, wrong):
    """The flag's worth: share flagged, error among flagged and clear (with intervals), errors caught."""
    flag, wrong = np.asarray(flag, bool), np.asarray(wrong, bool)
    n_flag, n_clear = int(flag.sum()), int((~flag).sum())
    k_flag, k_clear = int((flag & wrong).sum()), int((~flag & wrong).sum())
    return {"flagged": n_flag / max(len(flag), 1), "error_flagged": k_flag / max(n_flag, 1),
            "error_flagged_interval": interval(k_flag, n_flag), "error_clear": k_clear / max(n_clear, 1),
            "error_clear_interval": interval(k_clear, n_clear), "wrong_clear": k_clear, "clear": n_clear,
            "wrong_flagged": k_flag, "n_flagged": n_flag, "errors_caught": k_flag / max(int(wrong.sum()), 1)}
