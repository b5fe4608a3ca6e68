"""03 end to end with tiny constants on MNIST, Fashion-MNIST and an EMNIST letters fixture."""

import csv

import numpy as np
import pytest

from models.checkpoint import checkpoint_epoch, load_generator
from models.config import ConfigError, UserError
from models.data import FASHION_MNIST_DIR, DataError
from models.gan import generate_images

from conftest import load_script, write_idx

TINY = dict(EPOCHS=1, BATCH_SIZE=32, MAX_IMAGES=128, LATENT_DIM=8, WIDTH=4, D_WIDTH=4, SAMPLE_EVERY=1, VERBOSE=0)


@pytest.fixture(scope="module")
def script():
    return load_script("03_train_acgan.py")


def run(script, tmp_path, **overrides):
    script.main(**{**TINY, **overrides}, WEIGHTS_DIR=str(tmp_path / "w"), OUTPUT_DIR=str(tmp_path / "o"))


def check_outputs(tmp_path, dataset, n_classes):
    weights, outputs = tmp_path / "w" / dataset, tmp_path / "o" / dataset
    generator = load_generator(weights / "generator.weights.h5", "run 03")
    labels = np.arange(n_classes, dtype="int32")
    images = generate_images(generator, np.zeros((n_classes, 8), "float32"), labels)
    assert images.shape == (n_classes, 28, 28, 1)
    assert checkpoint_epoch(weights / "checkpoint.h5") == TINY["EPOCHS"]
    with open(outputs / "losses.csv") as f:
        rows = list(csv.DictReader(f))
    assert set(rows[0]) == {"epoch", "d_loss_real", "d_loss_fake", "d_acc_real", "d_acc_fake", "d_class",
                            "d_class_acc_real", "g_loss", "g_class", "seconds"}
    for name in ("loss_curve.png", "samples_epoch_001.png"):
        assert (outputs / name).stat().st_size > 1000


def test_mnist_end_to_end_and_resume(script, tmp_path, capsys):
    run(script, tmp_path)
    check_outputs(tmp_path, "mnist", 10)
    capsys.readouterr()
    run(script, tmp_path, EPOCHS=2, VERBOSE=1)
    assert "AC-GAN mnist: resuming after epoch 1" in capsys.readouterr().out
    assert checkpoint_epoch(tmp_path / "w" / "mnist" / "checkpoint.h5") == 2
    run(script, tmp_path, EPOCHS=2)
    assert "generator.weights.h5 was trained with these constants: nothing to do" in capsys.readouterr().out
    with pytest.raises(UserError, match=r"checkpoint.h5 was made with other settings: REAL_LABEL=0.9 \(now 0.8\)"):
        run(script, tmp_path, EPOCHS=2, REAL_LABEL=0.8)


@pytest.mark.parametrize("option", [{"D_MINIBATCH_STD": True}, {"TWIN_CLASSIFIER": False}])
def test_discriminator_options_train(script, tmp_path, option):
    run(script, tmp_path, **option)
    check_outputs(tmp_path, "mnist", 10)


def test_class_smoothing_reaches_the_gan(script, tmp_path, monkeypatch):
    made = []

    class RecordedGAN(script.GAN):  # the real GAN, remembered once made
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(script, "GAN", RecordedGAN)
    run(script, tmp_path, CLASS_SMOOTHING=0.3)
    assert [gan.class_smoothing for gan in made] == [0.3]


@pytest.mark.parametrize("overrides, message", [
    ({"CLASS_SMOOTHING": 1.0}, "CLASS_SMOOTHING must lie in"),
    ({"G_CLASS_WEIGHT": -1}, "G_CLASS_WEIGHT must lie in"),
])
def test_bad_constants_are_refused_before_loading_data(script, tmp_path, overrides, message):
    with pytest.raises(ConfigError, match=message):
        run(script, tmp_path, DATA_DIR=str(tmp_path / "does-not-exist"), **overrides)


def test_fashion_mnist_from_the_debian_files(script, tmp_path):
    if not FASHION_MNIST_DIR.is_dir():
        pytest.skip("Debian's dataset-fashion-mnist is not installed (.ci/run installs it)")
    run(script, tmp_path, DATASET="fashion_mnist")
    check_outputs(tmp_path, "fashion_mnist", 10)


def test_emnist_letters_fixture_has_26_classes(script, tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "emnist"
    folder.mkdir()
    for split in ("train", "test"):
        write_idx(folder / f"emnist-letters-{split}-images-idx3-ubyte.gz", rng.integers(0, 256, (130, 28, 28)))
        write_idx(folder / f"emnist-letters-{split}-labels-idx1-ubyte.gz", np.arange(130) % 26 + 1)
    run(script, tmp_path, DATASET="emnist_letters", DATA_DIR=str(folder))
    check_outputs(tmp_path, "emnist_letters", 26)


def test_emnist_without_data_says_where_to_get_it(script, tmp_path):
    with pytest.raises(DataError, match="EMNIST letters needs a folder"):
        run(script, tmp_path, DATASET="emnist_letters")


def test_unknown_dataset_is_rejected_before_work(script, tmp_path):
    with pytest.raises(ConfigError, match="DATASET must be one of mnist, fashion_mnist, emnist_letters"):
        run(script, tmp_path, DATASET="cifar")
