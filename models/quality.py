"""How good is generated data, by an independent judge: label fidelity, FID and k-NN
precision/recall in the judge's penultimate feature space, and the images it disputes."""

import numpy as np

from models.classifier import extract_features, predict_classes
from models.metrics import fid, knn_precision_recall, label_fidelity
from models.plots import captioned_grid


def score(label, x, y, model, real_features, n_metric, cfg):
    """Label fidelity (all of ``x``), FID and precision/recall (``n_metric`` of them) of one
    data set against the real test features; returns ``(row, predicted classes)``."""
    pred = predict_classes(model, x)
    fidelity = label_fidelity(pred, y)
    picks = np.random.default_rng(cfg.SEED).choice(len(x), n_metric, replace=False)
    features = extract_features(model, x[picks])
    precision, recall = knn_precision_recall(real_features, features, cfg.NEAREST_K)
    row = {"data": label, "images": len(x), "label_fidelity": fidelity["overall"],
           "label_fidelity_per_class": fidelity["per_class"], "fid": fid(features, real_features),
           "precision": precision, "recall": recall}
    return row, pred


def disagreement_figure(x, y, pred, gallery_size, label):
    """Up to ``gallery_size`` generated images whose predicted class is not the intended one."""
    wrong = np.flatnonzero(pred != y)
    if not len(wrong):
        return None
    picks = wrong[np.linspace(0, len(wrong) - 1, min(len(wrong), gallery_size)).astype(int)]
    return captioned_grid(x[picks], [f"{y[i]} -> {pred[i]}" for i in picks], ncols=min(10, len(picks)),
                          title=f"{label}: intended -> predicted by the independent classifier")


def lowest_fidelity(metrics):
    """{data: per digit, the lower label fidelity of the judges}."""
    lowest = {}
    for r in metrics:
        previous = lowest.get(r["data"], r["label_fidelity_per_class"])
        lowest[r["data"]] = [None if a is None else min(a, b) for a, b in zip(previous, r["label_fidelity_per_class"])]
    return lowest
