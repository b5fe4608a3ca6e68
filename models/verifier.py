"""MC-dropout verifier: a CNN whose dropout stays on at prediction, and the ambiguity rule.

``MCDropout`` drops units on every call, while the model is still called with
``training=False`` so BatchNorm uses its moving statistics (calling the model with
``training=True`` would also put BatchNorm in batch-statistics mode: wrong).
"""

import weakref

import keras
import numpy as np
from keras import layers, ops


@keras.saving.register_keras_serializable(package="mnist_synth")
class MCDropout(layers.Dropout):
    """Dropout that is active at prediction time too (Monte Carlo dropout)."""

    def call(self, inputs, training=None):
        return super().call(inputs, training=True)


def _conv_bn(x, filters, kernel_size, padding="same"):
    x = layers.Conv2D(filters, kernel_size, padding=padding, use_bias=False)(x)
    x = layers.BatchNormalization(momentum=0.9)(x)
    return layers.Activation("relu")(x)


def build_verifier(dropout=0.4, n_classes=10, name="verifier"):
    """Default: two blocks of two 3x3 conv-BN-ReLU (32 then 64 filters) and a max-pool,
    MC dropout after each block, Dense 128, MC dropout, softmax; small random shifts
    while training. 37 MFLOPs a forward pass, of which the 22 after the first dropout
    are recomputed per MC pass (the reference: 62 per pass)."""
    image = keras.Input((28, 28, 1), name="image")
    x = layers.RandomTranslation(0.08, 0.08, fill_mode="constant")(image)  # training only
    x = _conv_bn(x, 32, 3)
    x = _conv_bn(x, 32, 3)
    x = MCDropout(dropout)(layers.MaxPooling2D()(x))
    x = _conv_bn(x, 64, 3)
    x = _conv_bn(x, 64, 3)
    x = MCDropout(dropout)(layers.MaxPooling2D()(x))
    x = layers.Dense(128, activation="relu")(layers.Flatten()(x))
    x = MCDropout(dropout)(x)
    return keras.Model(image, layers.Dense(n_classes, activation="softmax")(x), name=name)


def build_reference_verifier(dropout=0.4, n_classes=10, name="reference_verifier"):
    """The original experiment's verifier: Conv 32 3x3 + BN + dropout, Conv 64 5x5 + BN +
    dropout, Dense 192 + dropout, softmax (no pooling: ~62 MFLOPs a pass)."""
    image = keras.Input((28, 28, 1), name="image")
    x = MCDropout(dropout)(_conv_bn(image, 32, 3, padding="valid"))
    x = MCDropout(dropout)(_conv_bn(x, 64, 5, padding="valid"))
    x = MCDropout(dropout)(layers.Dense(192, activation="relu")(layers.Flatten()(x)))
    return keras.Model(image, layers.Dense(n_classes, activation="softmax")(x), name=name)


VERIFIERS = {"default": build_verifier, "reference": build_reference_verifier}


def to_classifier_input(images):
    """uint8 images in [0, 255], or floats already in [0, 1], (N, 28, 28) or (N, 28, 28, 1) ->
    float32 (N, 28, 28, 1) in [0, 1], as classifiers see them. Anything else is refused:
    a float image in [0, 255] or [-1, 1] would otherwise get wrong verdicts without a word."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[1:] != (28, 28, 1):
        raise ValueError(f"Classifier input must be images of shape (N, 28, 28) or (N, 28, 28, 1), got {images.shape}.")
    if images.dtype == np.uint8:
        return images.astype(np.float32) / 255.0
    if np.issubdtype(images.dtype, np.floating) and (images.size == 0 or (images.min() >= 0 and images.max() <= 1)):
        return images.astype(np.float32)
    low, high = (images.min(), images.max()) if images.size else (0, 0)
    raise ValueError(f"Classifier input must be uint8 in [0, 255] or floats in [0, 1]; got {images.dtype} values in "
                     f"[{low:g}, {high:g}]: cast pixel values to uint8, or divide them by 255 (GAN output in [-1, 1]: "
                     "models.data.to_uint8).")


def mc_predict(model, images, passes=100, batch=512):
    """``passes`` stochastic forward passes per image -> ``(mean, sd)``, each (N, classes).

    Every image is repeated ``passes`` times along the batch axis and the copies go
    through the network together, ``batch`` rows (about ``batch // passes`` images) per
    call, so all passes are one batched computation. The layers before the first
    MCDropout are deterministic, so they run once per image and only the rest is
    repeated: the same distribution as repeating the whole network. The repeat, the
    passes and the mean and (population) SD over them are one compiled call that
    returns only (images, classes) numbers.
    """
    statistics = mc_statistics_model(model, passes)
    x = to_classifier_input(images)
    per_call = max(1, batch // passes)
    means, sds = [], []
    for start in range(0, len(x), per_call):
        mean, sd = statistics.predict_on_batch(x[start : start + per_call])
        means.append(np.asarray(mean))
        sds.append(np.asarray(sd))
    return np.concatenate(means), np.concatenate(sds)


class RepeatEach(layers.Layer):
    """(N, ...) -> (N * passes, ...): each row ``passes`` times in a row."""

    def __init__(self, passes, **kwargs):
        super().__init__(**kwargs)
        self.passes = passes

    def call(self, x):
        return ops.repeat(x, self.passes, axis=0)

    def compute_output_shape(self, input_shape):
        return (None, *input_shape[1:])


class PassStatistics(layers.Layer):
    """(N * passes, classes) -> [mean, population SD], each (N, classes), over each row's passes."""

    def __init__(self, passes, **kwargs):
        super().__init__(**kwargs)
        self.passes = passes

    def call(self, probs):
        probs = ops.reshape(probs, (-1, self.passes, probs.shape[-1]))
        mean = ops.mean(probs, axis=1)
        return [mean, ops.sqrt(ops.mean(ops.square(probs - mean[:, None, :]), axis=1))]

    def compute_output_shape(self, input_shape):
        return [(None, input_shape[-1]), (None, input_shape[-1])]


_MC_MODELS = weakref.WeakKeyDictionary()


def mc_statistics_model(model, passes):
    """image -> [MC mean, MC SD] over ``passes`` passes, sharing ``model``'s layers (cached,
    so it is compiled once per model and number of passes)."""
    cache = _MC_MODELS.setdefault(model, {})
    if passes not in cache:
        trunk, head = split_at_first_dropout(model)
        image = keras.Input(model.input.shape[1:])
        outputs = PassStatistics(passes)(head(RepeatEach(passes)(trunk(image))))
        cache[passes] = keras.Model(image, outputs, name=f"{model.name}_mc{passes}")
    return cache[passes]


def reseed_dropout(model, seed):
    """Restart every MCDropout's random stream at ``seed``, so the verdicts on a batch
    depend on ``seed`` alone, not on how many calls came before (e.g. in a resumed run)."""
    layers_with_masks = [layer for layer in model.layers if getattr(layer, "seed_generator", None) is not None]
    for i, layer in enumerate(layers_with_masks):  # (a rate-0 dropout draws no masks and has no stream)
        # state = [seed, counter]; each call adds 1 to the counter, so layers start 2**24 calls apart
        state = layer.seed_generator.state
        state.assign(np.array([seed % 2**31, i << 24], dtype=state.dtype))


_SPLITS = weakref.WeakKeyDictionary()


def split_at_first_dropout(model):
    """``(trunk, head)`` sharing ``model``'s layers: ``trunk`` runs up to the first MCDropout,
    ``head`` from there on (cached per model, so each is compiled once)."""
    if model not in _SPLITS:
        first = next((layer for layer in model.layers if isinstance(layer, MCDropout)), None)
        if first is None:
            raise ValueError(f"{model.name} has no MCDropout layer: its MC passes would all be equal.")
        _SPLITS[model] = (keras.Model(model.input, first.input), keras.Model(first.input, model.output))
    return _SPLITS[model]


def ambiguity(mean, sd):
    """The ambiguity rule -> ``(top, challenger, ambiguous)``, each (N,).

    ``top`` is the argmax of ``mean`` (lowest index on ties), ``challenger`` the class
    with the second-highest mean; ambiguous iff
    ``mean[challenger] + 2*sd[challenger] >= mean[top] - 2*sd[top]``.
    """
    mean, sd = np.asarray(mean), np.asarray(sd)
    order = np.argsort(-mean, axis=1, kind="stable")
    top, challenger = order[:, 0], order[:, 1]
    rows = np.arange(len(mean))
    ambiguous = mean[rows, challenger] + 2 * sd[rows, challenger] >= mean[rows, top] - 2 * sd[rows, top]
    return top, challenger, ambiguous


def train_verifier(model, train, val, epochs, batch_size, best_path, log_path, verbose=1):
    """Fit ``model`` on uint8 ``train = (x, y)``; keep the weights of the best validation
    accuracy at ``best_path``, log epochs to the CSV ``log_path``; returns the history."""
    steps = epochs * int(np.ceil(len(train[0]) / batch_size))
    model.compile(
        optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(1e-3, steps)),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    callbacks = [
        keras.callbacks.ModelCheckpoint(str(best_path), monitor="val_accuracy", save_best_only=True,
                                        save_weights_only=True),
        keras.callbacks.CSVLogger(str(log_path)),
    ]
    history = model.fit(to_classifier_input(train[0]), train[1], batch_size=batch_size, epochs=epochs,
                        validation_data=(to_classifier_input(val[0]), val[1]), callbacks=callbacks,
                        verbose=verbose)
    model.load_weights(best_path)
    return history.history


def mc_scores(model, images, labels, passes=100, batch=512):
    """02's verdicts on images of known class: ``accuracy`` of the MC mean, ``rejection_rate``
    (1 - accuracy) and ``ambiguity_rate`` (ambiguous among the correctly classified, as 02
    counts it among accepted images); ``per_class``: both rates for the images of each class
    (a list indexed by class; None where there are no images of the class)."""
    mean, sd = mc_predict(model, images, passes, batch)
    top, _, ambiguous = ambiguity(mean, sd)
    labels = np.asarray(labels)
    accepted = top == labels

    def rates(rows):
        return {"rejection_rate": float(1 - accepted[rows].mean()),
                "ambiguity_rate": float((ambiguous & accepted)[rows].sum() / max(accepted[rows].sum(), 1))}

    return {"accuracy": float(accepted.mean()), **rates(slice(None)),
            "per_class": [rates(labels == k) if (labels == k).any() else None for k in range(mean.shape[1])]}
