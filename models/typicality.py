"""How typical an image is of the verifier's training digits: the out-of-distribution verdict.

The ambiguity rule sees only confusion between two digit classes, so an image that looks
like no digit at all (noise, clothes, a collapsed generator's blots) can still get a
clear label. The score here is a class-conditional Gaussian density of the verifier's
own features (Mahalanobis, Lee et al. 2018), from one deterministic pass (dropout off):

- features: the output of one of the verifier's ReLU layers (``feature_layers``),
  averaged over a ``grid`` x ``grid`` grid of image regions, so they keep where the
  strokes are (a global average would call a digit rotated by 90 degrees typical);
- ``atypicality``: the squared Mahalanobis distance to the nearest class mean, with one
  covariance shared by the classes ("shared") or one per class ("class", plus its
  log-determinant, as in a Gaussian discriminant), less its median over held-out real
  digits: 0 is a typical real digit, and the larger, the less typical;
- the threshold: the ``1 - rate`` quantile of the atypicality of held-out real digits,
  so that a share ``rate`` of real digits is flagged.

The density is fitted on the verifier's training images and kept beside its weights
(``density_path``), with the record of what made it.
"""

import weakref

import keras
import numpy as np
from keras import layers

from models.data import to_classifier_input
from models.device import predict_in_full_calls
from models.files import save_npz
from models.mc import without_mc_dropout
from models.record import differences, fingerprint, read_record

COVARIANCES = {"shared": "one covariance for all classes (Mahalanobis)",
               "class": "one covariance per class (Gaussian discriminant)"}
SHRINKAGE = 1e-3  # covariance + SHRINKAGE * (mean variance) * I: keeps it invertible
ARRAYS = ("means", "whiten", "logdet", "center", "threshold")  # a density, as saved


def feature_layers(model):
    """{name: layer} of the layers whose output can be the features: "conv1", "conv2", ...
    (each ReLU after a convolution, in order) and "dense" (the hidden Dense layer's ReLU)."""
    convs = [layer for layer in model.layers if isinstance(layer, layers.Activation) and len(layer.output.shape) == 4]
    dense = [layer for layer in model.layers if isinstance(layer, layers.Dense)][:-1]  # the last is the softmax
    return {**{f"conv{i + 1}": layer for i, layer in enumerate(convs)}, **({"dense": dense[-1]} if dense else {})}


def feature_model(model, layer, grid):
    """image -> ``layer``'s output (a key of ``feature_layers``) averaged over a ``grid`` x ``grid``
    grid and flattened, with dropout off and in float32, sharing no state with ``model``."""
    deterministic = without_mc_dropout(model, "float32")
    output = feature_layers(deterministic)[layer].output
    if len(output.shape) == 4:
        size = int(np.ceil(output.shape[1] / grid))
        output = layers.Flatten()(layers.AveragePooling2D(size, padding="same")(output))
    return keras.Model(deterministic.input, output, name=f"{model.name}_{layer}_features")


def features(model, images, batch=1024, trunk=None):
    """A ``feature_model``'s features of uint8 ``images`` -> float64 (N, d); every call is padded to
    ``batch`` rows (repeats, dropped), so one compiled call serves any number of images. With ``trunk``, the images'
    ``models.mc.trunk_output`` in float32, only the layers after it run (``after_trunk``)."""
    model, x = (model, to_classifier_input(images)) if trunk is None else (after_trunk(model), trunk)
    return predict_in_full_calls(model, x, batch).astype(np.float64)


_AFTER_TRUNK = weakref.WeakKeyDictionary()


def after_trunk(extractor):
    """A ``feature_model``'s layers after the place of the verifier's first dropout (its output there ->
    the features), or None where the features come before it (cached per extractor)."""
    if extractor not in _AFTER_TRUNK:
        first = next((layer for layer in extractor.layers if isinstance(layer, layers.Identity)), None)
        _AFTER_TRUNK[extractor] = first and keras.Model(first.input, extractor.output)
    return _AFTER_TRUNK[extractor]


def fit(train_features, labels, covariance="shared"):
    """The class-conditional Gaussian of ``train_features`` (N, d) with integer ``labels``:
    a dict of ``means`` (C, d), ``whiten`` (C, d, d), or (1, d, d) for a shared covariance, with
    ``(f - mean_c) @ whiten[c]`` standard normal under class c, and ``logdet`` (C,) (zeros for a
    shared covariance); float32, as saved."""
    if covariance not in COVARIANCES:
        raise ValueError(f"covariance must be one of {', '.join(COVARIANCES)}, got {covariance!r}.")
    labels = np.asarray(labels)
    classes = np.unique(labels)
    if not np.array_equal(classes, np.arange(len(classes))):
        raise ValueError(f"labels must be 0..C-1 with every class present, got classes {classes.tolist()}.")
    means = np.stack([train_features[labels == c].mean(0) for c in classes])
    centred = train_features - means[labels]

    def whitening(rows):
        cov = rows.T @ rows / len(rows)
        cov += SHRINKAGE * np.trace(cov) / len(cov) * np.eye(len(cov)) + 1e-12 * np.eye(len(cov))
        cholesky = np.linalg.cholesky(cov)  # cov = L L^T, so (f - m) L^-T is white
        return np.linalg.inv(cholesky).T, 2 * np.log(np.diag(cholesky)).sum()

    if covariance == "shared":
        whiten, _ = whitening(centred)
        return {"means": np.float32(means), "whiten": np.float32(whiten[None]),
                "logdet": np.zeros(len(classes), np.float32)}
    pairs = [whitening(centred[labels == c]) for c in classes]
    return {"means": np.float32(means), "whiten": np.float32([w for w, _ in pairs]),
            "logdet": np.float32([d for _, d in pairs])}


def atypicality(feats, density):
    """Squared Mahalanobis distance of each row of ``feats`` to its nearest class (plus that
    class's log-determinant under per-class covariances), less the density's ``center`` where
    it has one -> (N,); larger = less typical."""
    whiten = density["whiten"]
    distances = [np.square((feats - mean) @ whiten[c % len(whiten)]).sum(1) + logdet
                 for c, (mean, logdet) in enumerate(zip(density["means"], density["logdet"]))]
    return np.min(distances, axis=0) - density.get("center", 0.0)


def threshold(held_out_scores, rate):
    """The atypicality above which a share ``rate`` of the held-out real digits lies (inf for rate 0)."""
    return float(np.quantile(held_out_scores, 1 - rate)) if rate > 0 else float("inf")


def make_density(model, train, held_out, layer, grid, covariance, rate):
    """Fit the density of ``model``'s ``layer`` features (``grid``, ``covariance``) on uint8
    ``train = (x, y)`` and set its threshold so that a share ``rate`` of the ``held_out`` images
    is flagged -> the density dict, with its ``features`` model (what ``verdicts`` takes)."""
    extractor = feature_model(model, layer, grid)
    density = fit(features(extractor, train[0]), train[1], covariance)
    held_out_scores = atypicality(features(extractor, held_out), density)
    density["center"] = np.median(held_out_scores)
    density["threshold"] = threshold(held_out_scores - density["center"], rate)
    return {**density, "features": extractor}


def density_path(weights_file):
    """Where the density of a verifier's weights file lives: ``verifier_x.weights.h5`` -> ``verifier_x.density.npz``."""
    return weights_file.with_name(weights_file.name.replace(".weights.h5", ".density.npz"))


def save_density(path, density, record):
    save_npz(path, record, **{name: density[name] for name in ARRAYS})


def saved_density(weights_file, model):
    """The density kept beside ``weights_file`` (``model``'s weights) with the layer and grid its
    record names, or None when there is none or it belongs to other weights."""
    path = density_path(weights_file)
    record = read_record(path) if path.is_file() else None
    if not record or record["inputs"].get("verifier") != fingerprint(weights_file):
        return None
    return load_density(path, record, model, record["constants"]["OOD_LAYER"], record["constants"]["OOD_GRID"])


def load_density(path, record, model, layer, grid):
    """The density of ``model`` saved at ``path``, with its ``features`` model, when it was made
    with ``record``; else None."""
    if not path.is_file() or differences(read_record(path), record):
        return None
    with np.load(path) as f:
        if any(name not in f.files for name in ARRAYS):
            return None
        return {**{name: f[name] for name in ARRAYS}, "features": feature_model(model, layer, grid)}
