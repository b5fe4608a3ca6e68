"""The verifier: a CNN whose dropout stays on at prediction, and its verdict on each image.

``MCDropout`` drops units on every call, while the model is still called with
``training=False`` so BatchNorm uses its moving statistics (calling the model with
``training=True`` would also put BatchNorm in batch-statistics mode: wrong). The passes
themselves (how many, batched how) are ``models/mc.py``'s; the rule that turns their
mean and SD into a verdict is ``ambiguity``; ``models.verdict.verdicts`` is the two together,
the one path every script's verdicts take.
"""

import os
from pathlib import Path

import keras
import numpy as np
from keras import layers

from models.data import scrambled, to_classifier_input
from models.files import save_figure, save_weights
from models.paths import shown
from models.plots import image_grid, loss_curves
from models.record import make_record
from models.mc import MCDropout


def _conv_bn(x, filters, kernel_size, padding="same"):
    x = layers.Conv2D(filters, kernel_size, padding=padding, use_bias=False)(x)
    x = layers.BatchNormalization(momentum=0.9)(x)
    return layers.Activation("relu")(x)


def build_verifier(dropout=0.4, n_classes=10, name="verifier", filters=64):
    """02's verifier (``VERIFIER="default"``): two blocks of two 3x3 conv-BN-ReLU (32 then
    ``filters`` = 64) and a max-pool, MC dropout after each block, Dense 128, MC dropout, softmax;
    small random shifts while training. 37 MFLOPs a forward pass, of which the 22 after the first
    dropout are recomputed per MC pass (the reference: 62 per pass; the narrow variant, 48 filters: 14)."""
    image = keras.Input((28, 28, 1), name="image")
    x = layers.RandomTranslation(0.08, 0.08, fill_mode="constant")(image)  # training only
    x = _conv_bn(x, 32, 3)
    x = _conv_bn(x, 32, 3)
    x = MCDropout(dropout)(layers.MaxPooling2D()(x))
    x = _conv_bn(x, filters, 3)
    x = _conv_bn(x, filters, 3)
    x = MCDropout(dropout)(layers.MaxPooling2D()(x))
    x = layers.Dense(128, activation="relu")(layers.Flatten()(x))
    x = MCDropout(dropout)(x)
    return keras.Model(image, _softmax_head(x, n_classes), name=name)


def build_narrow_verifier(dropout=0.4, n_classes=10, name="narrow_verifier"):
    """The default with 48 filters in its second block, not 64: 14 MFLOPs a pass after the first
    dropout, 0.63 of the default's, its fourth convolution (the density's features) still at 14x14."""
    return build_verifier(dropout, n_classes, name, filters=48)


def build_light_verifier(dropout=0.4, n_classes=10, name="light_verifier"):
    """The light verifier (``--VERIFIER=light``): the default's first block; after its dropout, one
    3x3 conv (64 filters) at 14x14 and, after a max-pool, one at 7x7: 11.6 MFLOPs a pass after the
    first dropout, half the default's 22.5."""
    image = keras.Input((28, 28, 1), name="image")
    x = layers.RandomTranslation(0.08, 0.08, fill_mode="constant")(image)  # training only
    x = _conv_bn(x, 32, 3)
    x = _conv_bn(x, 32, 3)
    x = MCDropout(dropout)(layers.MaxPooling2D()(x))
    x = layers.MaxPooling2D()(_conv_bn(x, 64, 3))
    x = MCDropout(dropout)(_conv_bn(x, 64, 3))
    x = layers.Dense(128, activation="relu")(layers.Flatten()(x))
    x = MCDropout(dropout)(x)
    return keras.Model(image, _softmax_head(x, n_classes), name=name)


def build_reference_verifier(dropout=0.4, n_classes=10, name="reference_verifier"):
    """The original experiment's verifier: Conv 32 3x3 + BN + dropout, Conv 64 5x5 + BN +
    dropout, Dense 192 + dropout, softmax (no pooling: ~62 MFLOPs a pass)."""
    image = keras.Input((28, 28, 1), name="image")
    x = MCDropout(dropout)(_conv_bn(image, 32, 3, padding="valid"))
    x = MCDropout(dropout)(_conv_bn(x, 64, 5, padding="valid"))
    x = MCDropout(dropout)(layers.Dense(192, activation="relu")(layers.Flatten()(x)))
    return keras.Model(image, _softmax_head(x, n_classes), name=name)


SPECTRAL_BOUND = 3.0  # the spectral verifier's layers: largest singular value of each kernel (DDU's coefficient)


def build_spectral_verifier(dropout=0.4, n_classes=10, name="spectral_verifier", bound=SPECTRAL_BOUND):
    """The default's shape with features that keep distances, as in DDU (Mukhoti et al. 2021):
    every convolution and the hidden Dense layer spectrally normalised and scaled by ``bound``
    (each kernel's largest singular value), no batch norm, and the second convolution of each
    block added to its input (a residual), so that images unlike each other stay apart in the
    features the out-of-distribution density reads."""
    image = keras.Input((28, 28, 1), name="image")
    x = layers.RandomTranslation(0.08, 0.08, fill_mode="constant")(image)  # training only
    for filters in (32, 64):
        x = layers.Activation("relu")(_spectral(layers.Conv2D(filters, 3, padding="same"), bound)(x))
        residual = _spectral(layers.Conv2D(filters, 3, padding="same"), bound)(x)
        x = layers.Activation("relu")(layers.Add()([x, residual]))
        x = MCDropout(dropout)(layers.MaxPooling2D()(x))
    x = layers.Activation("relu")(_spectral(layers.Dense(128), bound)(layers.Flatten()(x)))
    x = MCDropout(dropout)(x)
    return keras.Model(image, _softmax_head(x, n_classes), name=name)


def _spectral(layer, bound):
    """``layer`` with its kernel divided by its largest singular value, its output times ``bound``."""
    normalised, scale = layers.SpectralNormalization(layer), layers.Rescaling(bound)
    return lambda x: scale(normalised(x))


def _softmax_head(x, n_classes):
    """The class probabilities, in float32 whatever the other layers compute in (bfloat16's 8-bit
    mantissa would round a 0.999 to 1)."""
    return layers.Dense(n_classes, activation="softmax", dtype="float32")(x)


VERIFIERS = {"default": build_verifier, "reference": build_reference_verifier, "spectral": build_spectral_verifier,
             "light": build_light_verifier, "narrow": build_narrow_verifier}
VERIFIER_CONSTANTS = frozenset({"VERIFIER", "DROPOUT", "VERIFIER_EPOCHS", "VERIFIER_BATCH_SIZE", "VERIFIER_VAL_SIZE",
                                "VERIFIER_SUBSET", "VERIFIER_SEED"})  # a script's constants a verifier's record holds
OUTLIER_CONSTANTS = frozenset({"VERIFIER_OUTLIERS", "VERIFIER_OUTLIER_TILE"})  # outlier exposure's, where it is on
POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16"}  # MC_PRECISION -> Keras dtype policy


def build(architecture, dropout, precision="float32"):
    """``VERIFIERS[architecture](dropout)`` with its layers computing in ``precision`` (a key of
    ``models.mc.PRECISIONS``; its weights stay float32, so one weights file serves both)."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(POLICIES[resolve_precision(precision)])
    try:
        return VERIFIERS[architecture](dropout)
    finally:
        keras.config.set_dtype_policy(previous)


def without_dropout(verifier, architecture, precision="float32"):
    """A copy of ``verifier`` (built by ``build(architecture, 0.0, precision)``) with its dropout
    off: the weight-scaling stand-in for its MC mean, one pass per image."""
    copy = build(architecture, 0.0, precision)
    copy.set_weights(verifier.get_weights())
    return copy


def resolve_precision(setting):
    """MC_PRECISION as it runs here: "auto" is bfloat16 where the CPU or GPU computes it natively."""
    if setting != "auto":
        return setting
    return "bfloat16" if native_bfloat16() else "float32"


def native_bfloat16():
    """Does the device the backend computes on have bfloat16 arithmetic: a GPU of compute
    capability 8 or more (A100, H100, ...), or a CPU with AVX512-BF16 or AMX (and TensorFlow's oneDNN not
    held below them by ONEDNN_MAX_CPU_ISA)?"""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        if device.platform == "gpu":
            return float(getattr(device, "compute_capability", 0) or 0) >= 8
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            return tf.config.experimental.get_device_details(gpus[0]).get("compute_capability", (0, 0)) >= (8, 0)
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA", "ALL").upper()
    capped = isa not in ("ALL", "DEFAULT") and not any(name in isa for name in ("BF16", "FP16", "AMX", "AVX10"))
    if backend == "tensorflow" and capped:  # TensorFlow's oneDNN held below its bfloat16 kernels
        return False
    try:
        flags = next(line for line in open("/proc/cpuinfo") if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def ambiguity(mean, sd, confidence=None):
    """The ambiguity rule -> ``(top, challenger, ambiguous)``, each (N,).

    ``top`` is the argmax of ``mean`` (lowest index on ties), ``challenger`` the class
    with the second-highest mean; ambiguous iff
    ``mean[challenger] + 2*sd[challenger] >= mean[top] - 2*sd[top]``. With a ``confidence``
    (the one-pass rule, whose SDs are 0): ambiguous iff ``mean[top] < confidence``.
    """
    mean, sd = np.asarray(mean), np.asarray(sd)
    order = np.argsort(-mean, axis=1, kind="stable")
    top, challenger = order[:, 0], order[:, 1]
    rows = np.arange(len(mean))
    ambiguous = mean[rows, challenger] + 2 * sd[rows, challenger] >= mean[rows, top] - 2 * sd[rows, top]
    if confidence is not None:
        ambiguous = mean[rows, top] < confidence
    return top, challenger, ambiguous


def rule_width(mean, sd):
    """The width k (in SDs) at which the ambiguity rule's verdict flips, (N,): the image is
    ambiguous under a k-SD rule iff ``k >= width``, so 02's verdict is ``width <= 2``.
    ``width = (mean[top] - mean[challenger]) / (sd[top] + sd[challenger])``; inf where both
    SDs are 0 and the means differ, 0 on a tie."""
    mean, sd = np.asarray(mean, np.float64), np.asarray(sd, np.float64)
    order = np.argsort(-mean, axis=1, kind="stable")
    rows = np.arange(len(mean))
    lead = mean[rows, order[:, 0]] - mean[rows, order[:, 1]]
    spread = sd[rows, order[:, 0]] + sd[rows, order[:, 1]]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(lead <= 0, 0.0, lead / spread)


def train_verifier(model, train, val, epochs, batch_size, best_path, log_path, verbose=1, outliers=None,
                   outlier_weight=0.0):
    """Fit ``model`` on uint8 ``train = (x, y)``; keep the weights of the best validation
    accuracy at ``best_path``, log epochs to the CSV ``log_path``; returns the history.
    With uint8 ``outliers`` (non-digits), outlier exposure (Hendrycks et al. 2019): they are
    trained toward a flat softmax, their cross-entropy weighted by ``outlier_weight``."""
    n_classes = model.output.shape[-1]
    x, y = to_classifier_input(train[0]), keras.utils.to_categorical(train[1], n_classes)
    weight = None
    if outliers is not None and len(outliers):
        x = np.concatenate([x, to_classifier_input(outliers)])
        y = np.concatenate([y, np.full((len(outliers), n_classes), 1 / n_classes, np.float32)])
        weight = np.float32([1.0] * len(train[0]) + [outlier_weight] * len(outliers))
    steps = epochs * int(np.ceil(len(x) / batch_size))
    model.compile(
        optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(1e-3, steps)),
        loss="categorical_crossentropy",
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
    )
    callbacks = [
        keras.callbacks.ModelCheckpoint(str(best_path), monitor="val_accuracy", save_best_only=True,
                                        save_weights_only=True),
        keras.callbacks.CSVLogger(str(log_path)),
    ]
    history = model.fit(x, y, sample_weight=weight, batch_size=batch_size, epochs=epochs,
                        validation_data=(to_classifier_input(val[0]), keras.utils.to_categorical(val[1], n_classes)),
                        callbacks=callbacks, verbose=verbose)
    model.load_weights(best_path)
    return history.history


def verifier_record(cfg, mnist_train):
    """The record of the verifier ``cfg`` describes, trained on uint8 ``mnist_train = (x, y)``.
    OUTLIER_CONSTANTS are in it only where outlier exposure is on: a verifier trained without it
    (the shipped one) has a record without them, so it matches whatever they are set to."""
    names = VERIFIER_CONSTANTS | (OUTLIER_CONSTANTS if getattr(cfg, "VERIFIER_OUTLIERS", 0.0) else set())
    return make_record(cfg, names, inputs={"MNIST train images": mnist_train[0], "MNIST train labels": mnist_train[1]})


def verifier_split(cfg, n):
    """``(validation rows, training rows)`` of the n MNIST training images, as the verifier of
    ``cfg``'s VERIFIER_CONSTANTS is trained."""
    order = np.random.default_rng(cfg.VERIFIER_SEED).permutation(n)
    return order[: cfg.VERIFIER_VAL_SIZE], order[cfg.VERIFIER_VAL_SIZE :][: cfg.VERIFIER_SUBSET or None]


def train_and_save(cfg, mnist_train, path, log_dir):
    """Train the verifier that ``cfg``'s VERIFIER_CONSTANTS describe on uint8 ``mnist_train = (x, y)``
    (its split by ``verifier_split``), save it at ``path`` with its record, its log and training
    curve in ``log_dir``; returns it, built to run in ``cfg.MC_PRECISION``."""
    x_train, y_train = mnist_train
    val, train = verifier_split(cfg, len(x_train))
    keras.utils.set_random_seed(cfg.VERIFIER_SEED)
    model = build(cfg.VERIFIER, cfg.DROPOUT)  # trained in float32
    Path(log_dir).mkdir(parents=True, exist_ok=True)
    print(f"training the {cfg.VERIFIER} verifier (seed {cfg.VERIFIER_SEED}) into {shown(path)}")
    best = Path(path).parent / f".{Path(path).name.replace('.weights.h5', '')}_best.weights.h5"
    weight, outliers = getattr(cfg, "VERIFIER_OUTLIERS", 0.0), None
    if weight:
        outliers = scrambled(x_train[train], cfg.VERIFIER_OUTLIER_TILE, np.random.default_rng(cfg.VERIFIER_SEED))
        save_figure(image_grid(outliers[:40], title=f"non-digits trained toward a flat softmax (weight {weight})"),
                    Path(log_dir) / "outliers.png")
    history = train_verifier(model, (x_train[train], y_train[train]), (x_train[val], y_train[val]),
                             cfg.VERIFIER_EPOCHS, cfg.VERIFIER_BATCH_SIZE, best_path=best,
                             log_path=Path(log_dir) / "training_log.csv", verbose=cfg.VERBOSE, outliers=outliers,
                             outlier_weight=weight)
    accuracy = "accuracy (one MC pass)" + ("; in training, outliers count as wrong" if weight else "")
    save_figure(loss_curves([{"epoch": i + 1, **{k: v[i] for k, v in history.items()}}
                             for i in range(len(history["loss"]))], title=f"{cfg.VERIFIER} verifier",
                            accuracy_title=accuracy), Path(log_dir) / "training_curve.png")
    save_weights(model, path, verifier_record(cfg, mnist_train))
    best.unlink(missing_ok=True)
    trained, model = model, build(cfg.VERIFIER, cfg.DROPOUT, cfg.MC_PRECISION)  # verdicts in MC_PRECISION
    model.set_weights(trained.get_weights())
    return model
