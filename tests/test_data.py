import gzip
import hashlib
import shutil

import numpy as np
import pytest

from models.data import (
    MNIST_DIR,
    DataError,
    load_dataset,
    load_idx_folder,
    scrambled,
    select_class,
    to_gan_range,
    to_uint8,
    IDX_FILES,
)

from conftest import write_idx

CLASS_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


def test_mnist_shapes_dtypes_and_class_counts(mnist):
    (x_train, y_train), (x_test, y_test) = mnist
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert y_train.shape == (60000,) and y_test.shape == (10000,)
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype("uint8")}
    assert np.bincount(y_train).tolist() == CLASS_COUNTS
    assert x_train.max() == 255 and x_train.min() == 0


def test_select_class_matches_a_loop(mnist):
    (x_train, y_train), _ = mnist
    sevens = select_class(x_train, y_train, 7)
    assert len(sevens) == CLASS_COUNTS[7]
    expected = np.stack([x for x, y in zip(x_train[:2000], y_train[:2000]) if y == 7])
    np.testing.assert_array_equal(select_class(x_train[:2000], y_train[:2000], 7), expected)


def test_gan_range_round_trip_is_exact(mnist):
    images = mnist[1][0][:100]
    scaled = to_gan_range(images)
    assert scaled.shape == (100, 28, 28, 1) and scaled.dtype == np.float32
    assert scaled.min() >= -1 and scaled.max() <= 1
    np.testing.assert_array_equal(to_uint8(scaled), images)


@pytest.fixture
def mnist_copy(tmp_path):
    folder = tmp_path / "mnist"
    shutil.copytree(MNIST_DIR, folder)
    return folder


def rewrite(folder, filename, data, update_sums=True):
    """Replace ``filename`` with ``data`` and (optionally) record its hash in SHA256SUMS."""
    (folder / filename).write_bytes(data)
    if update_sums:
        sums = folder / "SHA256SUMS"
        lines = [line for line in sums.read_text().splitlines() if not line.endswith(filename)]
        lines.append(f"{hashlib.sha256(data).hexdigest()}  {filename}")
        sums.write_text("\n".join(lines) + "\n")


def test_altered_file_fails_the_hash_check_naming_file_expected_and_actual(mnist_copy):
    name = IDX_FILES["test_labels"]
    data = bytearray((mnist_copy / name).read_bytes())
    data[100] ^= 0xFF
    rewrite(mnist_copy, name, bytes(data), update_sums=False)
    with pytest.raises(DataError) as err:
        load_dataset("mnist", mnist_copy)
    message = str(err.value)
    assert name in message and "expected" in message and hashlib.sha256(data).hexdigest() in message


def test_truncated_file_is_an_error_even_with_a_matching_hash(mnist_copy):
    name = IDX_FILES["train_labels"]
    rewrite(mnist_copy, name, (mnist_copy / name).read_bytes()[:5000])
    with pytest.raises(DataError, match=f"{name}.*not a complete gzip"):
        load_dataset("mnist", mnist_copy)


def test_short_payload_is_an_error(mnist_copy):
    name = IDX_FILES["test_labels"]
    raw = gzip.decompress((mnist_copy / name).read_bytes())[:-10]
    rewrite(mnist_copy, name, gzip.compress(raw))
    with pytest.raises(DataError, match=f"{name}.*needs 10000"):
        load_dataset("mnist", mnist_copy)


def test_wrong_magic_number_is_an_error(mnist_copy):
    name = IDX_FILES["test_images"]
    raw = bytearray(gzip.decompress((mnist_copy / name).read_bytes()))
    raw[3] = 0x01  # an images file claiming to be a labels file
    rewrite(mnist_copy, name, gzip.compress(bytes(raw)))
    with pytest.raises(DataError, match=f"{name}.*magic number 0x00000801, expected 0x00000803"):
        load_dataset("mnist", mnist_copy)


def test_missing_file_is_named(mnist_copy):
    (mnist_copy / IDX_FILES["train_images"]).unlink()
    with pytest.raises(DataError, match=IDX_FILES["train_images"]):
        load_dataset("mnist", mnist_copy)


def test_unlisted_file_is_an_error(mnist_copy):
    sums = mnist_copy / "SHA256SUMS"
    sums.write_text("".join(line + "\n" for line in sums.read_text().splitlines() if "t10k-images" not in line))
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz is not listed"):
        load_idx_folder(mnist_copy, IDX_FILES)


def test_unknown_dataset_lists_the_choices():
    with pytest.raises(DataError, match="mnist, fashion_mnist, emnist_letters"):
        load_dataset("cifar10")


def test_emnist_letters_are_transposed_and_relabelled(tmp_path):
    rng = np.random.default_rng(0)
    stored = rng.integers(0, 256, (30, 28, 28), dtype=np.uint8)
    labels = rng.integers(1, 27, 30).astype(np.uint8)
    for split in ("train", "test"):
        write_idx(tmp_path / f"emnist-letters-{split}-images-idx3-ubyte.gz", stored)
        write_idx(tmp_path / f"emnist-letters-{split}-labels-idx1-ubyte.gz", labels)
    (x_train, y_train), (x_test, y_test) = load_dataset("emnist_letters", tmp_path)
    np.testing.assert_array_equal(x_train, stored.transpose(0, 2, 1))
    np.testing.assert_array_equal(y_test, labels - 1)
    assert x_train.dtype == np.uint8 and y_train.min() >= 0 and y_train.max() <= 25


def test_emnist_letters_without_a_folder_says_where_to_get_it(tmp_path):
    with pytest.raises(DataError, match="nist.gov"):
        load_dataset("emnist_letters", tmp_path / "nowhere")


def test_fashion_mnist_from_the_debian_package():
    from models.data import FASHION_MNIST_DIR

    if not FASHION_MNIST_DIR.is_dir():
        pytest.skip("Debian's dataset-fashion-mnist is not installed (.ci/run installs it)")
    (x_train, y_train), (x_test, y_test) = load_dataset("fashion_mnist")
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert np.bincount(y_train).tolist() == [6000] * 10


def test_scrambled_digits_are_their_own_tiles_in_another_order(mnist):
    x = mnist[0][0][:50]
    out = scrambled(x, 7, np.random.default_rng(0))
    assert out.shape == x.shape and out.dtype == np.uint8

    def tiles(images):
        return images.reshape(len(images), 4, 7, 4, 7).transpose(0, 1, 3, 2, 4).reshape(len(images), 16, 49)

    for before, after in zip(tiles(x), tiles(out)):
        assert sorted(map(bytes, before)) == sorted(map(bytes, after))
    assert (out != x).any(axis=(1, 2)).all(), "every digit's ink moves"
    quarters = scrambled(x, 14, np.random.default_rng(0))  # 4 tiles: 1 in 24 orders would be the digit's own
    assert (quarters != x).any(axis=(1, 2)).all(), "no image keeps its own order"
    with pytest.raises(ValueError, match="tile must divide the image size 28, got 5"):
        scrambled(x, 5, np.random.default_rng(0))
