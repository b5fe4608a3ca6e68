"""Dataset loading: MNIST (vendored IDX files), Fashion-MNIST, EMNIST letters.

Every loader returns ``((x_train, y_train), (x_test, y_test))`` as uint8 arrays,
images ``(N, 28, 28)``, like ``keras.datasets``. IDX files are read whole and checked
(hash where a SHA256SUMS file is present, magic number, sizes) before anything is
returned, so a damaged file is an error, never a half-loaded dataset.
"""

import gzip
import hashlib
import zlib
from pathlib import Path

import numpy as np

from models.config import UserError
from models.paths import REPO_ROOT

MNIST_DIR = REPO_ROOT / "data" / "mnist"
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
EMNIST_URL = "https://www.nist.gov/itl/products-and-services/emnist-dataset"

DATASETS = ("mnist", "fashion_mnist", "emnist_letters")
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
EMNIST_LETTERS_FILES = {
    "train_images": "emnist-letters-train-images-idx3-ubyte.gz",
    "train_labels": "emnist-letters-train-labels-idx1-ubyte.gz",
    "test_images": "emnist-letters-test-images-idx3-ubyte.gz",
    "test_labels": "emnist-letters-test-labels-idx1-ubyte.gz",
}
IDX_MAGIC = {1: 0x00000801, 3: 0x00000803}  # ndim -> magic for unsigned-byte IDX


class DataError(UserError):
    """A dataset file is missing, damaged or not what it claims to be."""


def load_dataset(name, data_dir=None):
    """Load ``name`` (one of DATASETS) as uint8 ``((x_train, y_train), (x_test, y_test))``.

    ``data_dir`` overrides the folder the IDX gz files are read from.
    """
    if name == "mnist":
        return _load_folder_or_keras(Path(data_dir) if data_dir else MNIST_DIR, "mnist")
    if name == "fashion_mnist":
        folder = Path(data_dir) if data_dir else FASHION_MNIST_DIR
        return _load_folder_or_keras(folder, "fashion_mnist")
    if name == "emnist_letters":
        return load_emnist_letters(data_dir)
    raise DataError(f"Unknown dataset {name!r}; choose one of {', '.join(DATASETS)}.")


def _load_folder_or_keras(folder, keras_name):
    """Read IDX files from ``folder``; only when the folder is absent, use keras.datasets."""
    if folder.is_dir():
        return load_idx_folder(folder, IDX_FILES)
    import keras

    print(f"{folder} not found: downloading {keras_name} with keras.datasets")
    return getattr(keras.datasets, keras_name).load_data()


def load_emnist_letters(data_dir):
    """EMNIST letters from NIST's IDX gz files; labels 1..26 become 0..25."""
    if data_dir is None or not Path(data_dir).is_dir():
        raise DataError(
            f"EMNIST letters needs a folder with {', '.join(EMNIST_LETTERS_FILES.values())} "
            f"(got {data_dir!r}). Download 'gzip.zip' from {EMNIST_URL}, unzip it and pass "
            "its gzip/ folder, e.g. --DATA_DIR=/path/to/gzip."
        )
    (x_train, y_train), (x_test, y_test) = load_idx_folder(Path(data_dir), EMNIST_LETTERS_FILES)
    # EMNIST stores images transposed relative to MNIST.
    x_train, x_test = x_train.transpose(0, 2, 1).copy(), x_test.transpose(0, 2, 1).copy()
    for labels in (y_train, y_test):
        if labels.min() < 1 or labels.max() > 26:
            raise DataError(f"EMNIST letters labels must lie in 1..26, found {labels.min()}..{labels.max()}.")
    return (x_train, y_train - 1), (x_test, y_test - 1)


def load_idx_folder(folder, files):
    """Load the four IDX gz files named in ``files`` from ``folder``, checking them all."""
    folder = Path(folder)
    missing = [f for f in files.values() if not (folder / f).is_file()]
    if missing:
        raise DataError(f"{folder} is missing {', '.join(missing)}.")
    expected = read_sha256sums(folder / "SHA256SUMS") if (folder / "SHA256SUMS").is_file() else {}
    arrays = {}
    for key, filename in files.items():
        path = folder / filename
        raw = path.read_bytes()
        if expected:
            check_sha256(path, raw, expected.get(filename))
        arrays[key] = parse_idx(path, raw, ndim=3 if key.endswith("images") else 1)
    for split in ("train", "test"):
        n_images, n_labels = len(arrays[f"{split}_images"]), len(arrays[f"{split}_labels"])
        if n_images != n_labels:
            raise DataError(f"{folder}: {split} has {n_images} images but {n_labels} labels.")
    return (arrays["train_images"], arrays["train_labels"]), (arrays["test_images"], arrays["test_labels"])


def read_sha256sums(path):
    """Parse a ``sha256sum`` output file into {filename: hexdigest}."""
    sums = {}
    for line in Path(path).read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            sums[name.lstrip("*")] = digest.lower()
    return sums


def check_sha256(path, raw, expected):
    """Raise DataError unless ``raw`` (the bytes of ``path``) hashes to ``expected``."""
    if expected is None:
        raise DataError(f"{path.name} is not listed in {path.parent / 'SHA256SUMS'}.")
    actual = hashlib.sha256(raw).hexdigest()
    if actual != expected:
        raise DataError(
            f"{path} has the wrong SHA-256: expected {expected}, actual {actual}. "
            "The file is damaged or altered; restore it from the repository."
        )


def parse_idx(path, raw, ndim):
    """Decode gzip-compressed unsigned-byte IDX bytes of ``ndim`` dimensions into an array."""
    try:
        data = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"{path} is not a complete gzip file ({err}).") from err
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path} is too short for an IDX header ({len(data)} bytes).")
    magic = int.from_bytes(data[:4], "big")
    if magic != IDX_MAGIC[ndim]:
        raise DataError(f"{path} has IDX magic number {magic:#010x}, expected {IDX_MAGIC[ndim]:#010x}.")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    size = int(np.prod(shape))
    if len(data) - header != size:
        raise DataError(f"{path} holds {len(data) - header} bytes of data; its header {shape} needs {size}.")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape).copy()


def select_class(x, y, k):
    """The images of ``x`` whose label is ``k``."""
    return x[np.asarray(y) == k]


def to_gan_range(images):
    """uint8 [0, 255] images -> float32 [-1, 1] with a channel axis, as GANs see them."""
    return (np.asarray(images, dtype=np.float32)[..., None] - 127.5) / 127.5


def to_uint8(images):
    """GAN output in [-1, 1] (any trailing channel axis of 1) -> uint8 (N, 28, 28)."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 4:
        images = images[..., 0]
    return np.clip(np.rint(images * 127.5 + 127.5), 0, 255).astype(np.uint8)


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


def rotated(images, degrees):
    """uint8 (N, 28, 28) images turned ``degrees`` counter-clockwise about their centre (bilinear,
    black outside), as uint8: the shifted test sets of the verdict checks."""
    import keras

    angle = np.deg2rad(degrees)
    cos, sin, centre = np.cos(angle), np.sin(angle), (images.shape[1] - 1) / 2
    # affine_transform maps each output pixel (x, y) to the input pixel it reads: the inverse rotation
    transform = [cos, -sin, centre - cos * centre + sin * centre, sin, cos, centre - sin * centre - cos * centre, 0, 0]
    out = keras.ops.image.affine_transform(np.asarray(images, np.float32)[..., None],
                                           np.tile(np.float32(transform), (len(images), 1)), interpolation="bilinear",
                                           fill_mode="constant", data_format="channels_last")
    return np.clip(np.rint(keras.ops.convert_to_numpy(out)[..., 0]), 0, 255).astype(np.uint8)


def scrambled(images, tile, rng):
    """uint8 (N, 28, 28) images cut into ``tile`` x ``tile`` squares and put back in a random order
    (its own per image, from the numpy Generator ``rng``): a digit's strokes in no digit's shape."""
    n, size = len(images), images.shape[1]
    k = size // tile
    if k * tile != size:
        raise ValueError(f"tile must divide the image size {size}, got {tile}.")
    tiles = images.reshape(n, k, tile, k, tile).transpose(0, 1, 3, 2, 4).reshape(n, k * k, tile, tile)
    order = np.argsort(rng.random((n, k * k)), axis=1)
    unmoved = (order == np.arange(k * k)).all(axis=1)
    order[unmoved] = np.roll(order[unmoved], 1, axis=1)  # no image keeps its own order
    tiles = np.take_along_axis(tiles, order[:, :, None, None], axis=1)
    return tiles.reshape(n, k, k, tile, tile).transpose(0, 1, 3, 2, 4).reshape(n, size, size)
