"""The one CNN every accuracy run of 04 trains, with a budget fixed in impressions.

Training sets differ in size (real, synthetic, real + synthetic), so training for a fixed
number of epochs would give the bigger sets more gradient steps. Here every classifier
sees exactly the same number of images (``impressions``), whatever the set's size.
"""

import keras
import numpy as np
from keras import layers

from models.data import to_classifier_input
from models.device import predict_split


def build_classifier(filters=(32, 64), dense_units=1024, dropout=0.5, n_classes=10, name="classifier"):
    """The original experiment's CNN: conv 5x5 - max-pool - conv 5x5 - max-pool - dense
    (the penultimate layer, named "features") - dropout - softmax. ``filters`` and
    ``dense_units`` set the widths (smaller for quick tests)."""
    image = keras.Input((28, 28, 1), name="image")
    x = image
    for width in filters:
        x = layers.Conv2D(width, 5, padding="same", activation="relu")(x)
        x = layers.MaxPooling2D()(x)
    x = layers.Dense(dense_units, activation="relu", name="features")(layers.Flatten()(x))
    x = layers.Dropout(dropout)(x)
    return keras.Model(image, layers.Dense(n_classes, activation="softmax")(x), name=name)


def build_resnet(widths=(16, 32, 64), blocks=2, n_classes=10, name="resnet"):
    """A classifier of another architecture, for a second independent judge: a small ResNet
    (He et al. 2016): residual blocks of two 3x3 convolutions with batch norm, ``blocks`` per
    stage, one stage per width, each after the first halving the resolution; global average
    pooling (the "features" layer, no dense hidden layer) and softmax. Batch-norm statistics move
    with momentum 0.9 (PyTorch's default), so they settle within a short training."""
    image = keras.Input((28, 28, 1), name="image")

    def norm(x):
        return layers.BatchNormalization(momentum=0.9)(x)

    x = layers.ReLU()(norm(layers.Conv2D(widths[0], 3, padding="same", use_bias=False)(image)))
    for stage, width in enumerate(widths):
        for block in range(blocks):
            stride = 2 if stage and not block else 1
            y = layers.Conv2D(width, 3, strides=stride, padding="same", use_bias=False)(x)
            y = layers.ReLU()(norm(y))
            y = norm(layers.Conv2D(width, 3, padding="same", use_bias=False)(y))
            if stride != 1 or x.shape[-1] != width:
                x = norm(layers.Conv2D(width, 1, strides=stride, use_bias=False)(x))
            x = layers.ReLU()(layers.Add()([x, y]))
    x = layers.GlobalAveragePooling2D(name="features")(x)
    return keras.Model(image, layers.Dense(n_classes, activation="softmax")(x), name=name)


class ImpressionBatches(keras.utils.PyDataset):
    """``impressions // batch_size`` full batches from uint8 ``(x, y)``: a concatenation of
    seeded permutations of the set, cut to length, so every image is seen equally often
    (give or take one) and the total is the same for a set of any size. ``shift``: each image
    of a batch moves by a random whole number of pixels, up to ``shift`` each way along each
    axis, the edge filled with black (the same moves for the same seed and step)."""

    def __init__(self, x, y, impressions, batch_size, seed, shift=0):
        super().__init__()
        steps = impressions // batch_size
        if steps < 1 or len(x) < 1:
            raise ValueError(f"need at least one batch: impressions={impressions}, batch_size={batch_size}, "
                             f"{len(x)} images")
        if not 0 <= shift < 28:
            raise ValueError(f"shift must be 0 to 27 pixels, got {shift}")
        rng = np.random.default_rng(seed)
        total = steps * batch_size
        passes = -(-total // len(x))
        self.order = np.concatenate([rng.permutation(len(x)) for _ in range(passes)])[:total]
        self.x, self.y, self.batch_size = x, np.asarray(y, "float32" if np.ndim(y) == 2 else "int32"), batch_size
        self.seed, self.shift = seed, shift

    def __len__(self):
        return len(self.order) // self.batch_size

    def __getitem__(self, step):
        rows = self.order[step * self.batch_size : (step + 1) * self.batch_size]
        x = self.x[rows]
        if self.shift:
            x = shifted(x, self.shift, np.random.default_rng((self.seed, step)))
        return to_classifier_input(x), self.y[rows]


def shifted(images, shift, rng):
    """uint8 images (N, 28, 28), each moved by a random (dy, dx) in [-shift, shift]^2, black fill."""
    n, size = len(images), images.shape[1]
    padded = np.pad(images.reshape(n, size, size), ((0, 0), (shift, shift), (shift, shift)))
    dy, dx = rng.integers(0, 2 * shift + 1, (2, n, 1))
    rows, cols = dy + np.arange(size), dx + np.arange(size)
    return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]].reshape(images.shape)


def train_classifier(model, x, y, impressions, batch_size=128, seed=0, learning_rate=1e-3, shift=0, verbose=0):
    """Fit ``model`` on uint8 images ``x`` and labels ``y`` for exactly ``impressions`` images
    (rounded down to whole batches) in one ``fit`` call: Adam, cosine-decayed step size, each
    image moved by up to ``shift`` pixels at random (ImpressionBatches).
    ``y`` holds class indices (N,) or soft labels, one probability row per image (N, classes).
    Returns the number of images actually seen."""
    batches = ImpressionBatches(x, y, impressions, batch_size, seed, shift)
    loss = "categorical_crossentropy" if np.ndim(y) == 2 else "sparse_categorical_crossentropy"
    model.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(learning_rate, len(batches))),
                  loss=loss, metrics=["accuracy"])
    model.fit(batches, epochs=1, verbose=verbose)
    return len(batches) * batch_size


def feature_model(model):
    """A model sharing ``model``'s layers that outputs its penultimate "features" layer."""
    return keras.Model(model.inputs, model.get_layer("features").output, name=f"{model.name}_features")


def predict_classes(model, images, batch_size=1024):
    """Predicted class of each uint8 image (dropout off)."""
    probs = predict_split(model, to_classifier_input(images), batch_size)
    return np.asarray(probs).argmax(axis=1)


def extract_features(model, images, batch_size=1024):
    """Penultimate-layer features (float64, (N, dense_units)) of uint8 images."""
    features = predict_split(feature_model(model), to_classifier_input(images), batch_size)
    return np.asarray(features, dtype=np.float64)
