"""01 end to end with tiny constants (runs on every backend)."""

import csv

import numpy as np
import pytest

from models.checkpoint import checkpoint_epoch, load_generator
from models.data import to_uint8
from models.gan_training import generate_images

from conftest import load_script

TINY = dict(CLASSES="0,7", EPOCHS=2, BATCH_SIZE=32, MAX_IMAGES=64, LATENT_DIM=8, WIDTH=4,
            SAMPLE_EVERY=1, VERBOSE=0)


@pytest.fixture
def script():
    return load_script("01_train_class_gans.py")


@pytest.fixture
def dirs(tmp_path):
    return dict(WEIGHTS_DIR=str(tmp_path / "weights"), OUTPUT_DIR=str(tmp_path / "outputs"))


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_writes_every_promised_file_then_skips_then_resumes(script, dirs, tmp_path, capsys):
    script.main(**TINY, **dirs)
    weights, outputs = tmp_path / "weights", tmp_path / "outputs"
    for k in (0, 7):
        assert (weights / f"generator_{k}.weights.h5").is_file() and (weights / f"generator_{k}.json").is_file()
        assert checkpoint_epoch(weights / "checkpoints" / f"digit_{k}.h5") == 2
        rows = read_csv(outputs / f"digit_{k}" / "losses.csv")
        assert [r["epoch"] for r in rows] == ["1", "2"]
        assert set(rows[0]) == {"epoch", "d_loss_real", "d_loss_fake", "g_loss", "d_acc_real", "d_acc_fake"}
        assert all(np.isfinite(float(v)) for r in rows for v in r.values())
        for name in ("loss_curve.png", "samples_epoch_001.png", "samples_epoch_002.png"):
            assert (outputs / f"digit_{k}" / name).stat().st_size > 1000
    assert (outputs / "all_digits.png").stat().st_size > 1000
    assert not (weights / "generator_1.weights.h5").exists()
    assert not list(tmp_path.rglob("*.tmp*")), "no temp file may be left behind"

    generator_file = weights / "generator_0.weights.h5"
    stamp = generator_file.stat().st_mtime_ns
    capsys.readouterr()
    script.main(**TINY, **dirs)
    assert "digit 0: already trained for 2 epochs, skipping" in capsys.readouterr().out
    assert generator_file.stat().st_mtime_ns == stamp

    script.main(**{**TINY, "EPOCHS": 3, "CLASSES": "0", "VERBOSE": 1}, **dirs)
    assert "digit 0 resuming after epoch 2" in capsys.readouterr().out
    assert [r["epoch"] for r in read_csv(outputs / "digit_0" / "losses.csv")] == ["1", "2", "3"]
    assert checkpoint_epoch(weights / "checkpoints" / "digit_0.h5") == 3
    assert generator_file.stat().st_mtime_ns != stamp


def test_same_seed_gives_the_same_generator(script, tmp_path):
    z = np.random.default_rng(0).standard_normal((10, 8)).astype("float32")
    samples = []
    for run in ("a", "b"):
        script.main(**{**TINY, "CLASSES": "3", "EPOCHS": 1},
                    WEIGHTS_DIR=str(tmp_path / run), OUTPUT_DIR=str(tmp_path / run))
        generator = load_generator(tmp_path / run / "generator_3.weights.h5", "")
        samples.append(to_uint8(generate_images(generator, z)))
    np.testing.assert_array_equal(samples[0], samples[1])
