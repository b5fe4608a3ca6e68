"""01 end to end with tiny constants (runs on every backend)."""

import csv

import numpy as np
import pytest

from models.checkpoint import checkpoint_epoch, load_generator
from models.config import UserError
from models.data import to_uint8
from models.gan import generate_images
from models.gan_training import Diverged
from models.record import read_record

from conftest import load_script

TINY = dict(CLASSES="0,7", EPOCHS=2, BATCH_SIZE=32, MAX_IMAGES=64, LATENT_DIM=8, WIDTH=4,
            SAMPLE_EVERY=1, VERBOSE=0, WORKERS=1)


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
        assert set(rows[0]) == {"epoch", "d_loss_real", "d_loss_fake", "g_loss", "d_acc_real", "d_acc_fake",
                                "seconds"}
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
    assert "generator_0.weights.h5 was trained with these constants, skipping" in capsys.readouterr().out
    assert generator_file.stat().st_mtime_ns == stamp
    record = read_record(generator_file)
    assert record["constants"]["EPOCHS"] == 2 and record["constants"]["digit"] == 0
    assert set(record["inputs"]) == {"training images"}
    assert "VERBOSE" not in record["constants"] and "CLASSES" not in record["constants"]

    script.main(**{**TINY, "EPOCHS": 3, "CLASSES": "0", "VERBOSE": 1}, **dirs)
    assert "digit 0: resuming after epoch 2" in capsys.readouterr().out
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


def test_changed_constant_is_refused_and_retrain_redoes_it(script, dirs, tmp_path):
    script.main(**{**TINY, "CLASSES": "4", "EPOCHS": 2}, **dirs)
    generator_file = tmp_path / "weights" / "generator_4.weights.h5"
    stamp = generator_file.stat().st_mtime_ns
    with pytest.raises(UserError, match=r"digit_4.h5 was made with other settings: LEARNING_RATE=0.0002 \(now 0.001\)"
                                        r".*--RETRAIN=1"):
        script.main(**{**TINY, "CLASSES": "4", "EPOCHS": 2, "LEARNING_RATE": 1e-3}, **dirs)
    with pytest.raises(UserError, match=r"digit_4.h5 has trained 2 epochs, more than EPOCHS=1: set --EPOCHS=2"):
        script.main(**{**TINY, "CLASSES": "4", "EPOCHS": 1}, **dirs)
    assert generator_file.stat().st_mtime_ns == stamp, "a refused run leaves the old generator alone"

    script.main(**{**TINY, "CLASSES": "4", "EPOCHS": 1, "LEARNING_RATE": 1e-3, "RETRAIN": True}, **dirs)
    assert read_record(generator_file)["constants"]["LEARNING_RATE"] == 1e-3
    assert checkpoint_epoch(tmp_path / "weights" / "checkpoints" / "digit_4.h5") == 1


def test_other_training_images_are_not_reused(script, dirs):
    script.main(**{**TINY, "CLASSES": "5", "EPOCHS": 1}, **dirs)
    with pytest.raises(UserError, match=r"MAX_IMAGES=64 \(now 96\), another training images"):
        script.main(**{**TINY, "CLASSES": "5", "EPOCHS": 1, "MAX_IMAGES": 96}, **dirs)


def test_negative_share_brings_the_other_digits_into_the_record(script, dirs, tmp_path, capsys):
    late = {**TINY, "CLASSES": "3", "NEGATIVE_SHARE": 0.25, "NEGATIVE_FROM_EPOCH": 2}
    script.main(**late, **dirs)
    record = read_record(tmp_path / "weights" / "generator_3.weights.h5")
    assert set(record["inputs"]) == {"training images", "other digits' images"}
    assert record["constants"]["NEGATIVE_SHARE"] == 0.25 and record["constants"]["NEGATIVE_FROM_EPOCH"] == 2
    assert [row["d_acc_negative"] != "" for row in read_csv(tmp_path / "outputs" / "digit_3" / "losses.csv")] == [
        False, True], "negatives from epoch 2 on"
    capsys.readouterr()
    script.main(**{**late, "CLASSES": "3,4", "NEGATIVE_DIGITS": "3"}, **dirs)
    printed = capsys.readouterr().out
    assert "generator_3.weights.h5 was trained with these constants, skipping" in printed, (
        "digit 3's record holds its own share, not the list of digits with one")
    record = read_record(tmp_path / "weights" / "generator_4.weights.h5")
    assert record["constants"]["NEGATIVE_SHARE"] == 0.0 and set(record["inputs"]) == {"training images"}
    assert "NEGATIVE_FROM_EPOCH" not in record["constants"], "without negatives their schedule made nothing"
    with pytest.raises(UserError, match=r"NEGATIVE_SHARE=0.01 gives 0 of BATCH_SIZE=32 images per D step: set it "
                                        r"between 1/32 and 1 - 1/32, or 0 for none"):
        script.main(**{**TINY, "CLASSES": "3", "NEGATIVE_SHARE": 0.01}, **dirs)


def test_diverging_run_names_digit_and_epoch_and_exports_nothing(script, dirs, tmp_path, capsys):
    with pytest.raises(Diverged, match="digit 6 stopped with the error above"):
        script.main(**{**TINY, "CLASSES": "6", "EPOCHS": 3, "LEARNING_RATE": 1000.0}, **dirs)
    printed = capsys.readouterr().out
    assert "error: digit 6, epoch 1: training diverged" in printed and "no generator was exported" in printed
    assert not (tmp_path / "weights" / "generator_6.weights.h5").exists()
    assert not (tmp_path / "weights" / "checkpoints" / "digit_6.h5").exists()


@pytest.mark.slow  # a process per digit, each importing TensorFlow
def test_workers_train_each_digit_in_a_process_of_its_own(script, dirs, tmp_path, capsys):
    tiny = {**TINY, "NEGATIVE_SHARE": 0.25}  # the workers must get the other digits too
    script.main(**{**tiny, "CLASSES": "8", "EPOCHS": 1, "LEARNING_RATE": 1e-3}, **dirs)  # made with other constants
    capsys.readouterr()
    with pytest.raises(Diverged, match="digit 8 stopped with the error above"):
        script.main(**{**tiny, "CLASSES": "2,8", "EPOCHS": 1, "WORKERS": 2, "VERBOSE": 1}, **dirs)
    printed = capsys.readouterr().out
    assert "digit 2: epoch 1/1, " in printed and "d_acc_fake" in printed, "a worker prints one line per epoch"
    assert "d_acc_negative" in printed, "a worker trains with the other digits as negatives"
    assert "digit_8.h5 was made with other settings: LEARNING_RATE=0.001 (now 0.0002)" in printed
    generator_file = tmp_path / "weights" / "generator_2.weights.h5"
    assert "WORKERS" not in read_record(generator_file)["constants"]
    assert (tmp_path / "outputs" / "digit_2" / "losses.csv").is_file()

    script.main(**{**tiny, "CLASSES": "2", "EPOCHS": 1}, **dirs)  # a worker's generator is the one this run would make
    assert "generator_2.weights.h5 was trained with these constants, skipping" in capsys.readouterr().out


def test_the_stronger_recipe_trains_and_records_its_levers(script, dirs, tmp_path):
    levers = dict(LOSS="hinge", D_SPECTRAL_NORM="1", D_MINIBATCH_STD="1", R1_GAMMA="0.5",
                  AUGMENT="translation,cutout", G_CONVS="1")
    script.main(**{**TINY, "CLASSES": "5", "EPOCHS": 1}, **levers, **dirs)
    exported = tmp_path / "weights" / "generator_5.weights.h5"
    constants = read_record(exported)["constants"]
    assert {name: constants[name] for name in levers} == dict(
        LOSS="hinge", D_SPECTRAL_NORM=True, D_MINIBATCH_STD=True, R1_GAMMA=0.5, AUGMENT=["translation", "cutout"],
        G_CONVS=1)
    generator = load_generator(exported, "")
    assert sum("conv2d" in layer.name and "transpose" not in layer.name for layer in generator.layers) == 2
    assert generate_images(generator, np.zeros((2, 8), "float32")).shape == (2, 28, 28, 1)
    assert read_csv(tmp_path / "outputs" / "digit_5" / "losses.csv")[0]["r1"] != ""
    script.main(**{**TINY, "CLASSES": "6", "EPOCHS": 1, "G_CONVS": "0"}, **dirs)
    recorded = set(read_record(tmp_path / "weights" / "generator_6.weights.h5")["constants"])
    assert not (set(levers) - {"LOSS"}) & recorded, (
        "levers that are off stay out of the record, so generators made before they existed still match")
    with pytest.raises(UserError, match=r"R1_GAMMA must lie in \[0, inf\), got -1.0; G_CONVS must lie in \[0, inf\), "
                                        r"got -1; AUGMENT takes items from translation, cutout, got 'flip'\."):
        script.main(**{**TINY, "AUGMENT": "translation,flip", "R1_GAMMA": "-1", "G_CONVS": "-1"}, **dirs)


def test_selection_exports_the_scored_epoch_of_lowest_fid_and_survives_a_resume(script, dirs, tmp_path, capsys):
    from models.data import load_dataset, select_class, to_gan_range
    from models.selection import draws_fid, noise, shipped_feature_model, statistics

    select = dict(CLASSES="3", SELECT_EVERY=1, SELECT_FROM=2, SELECT_DRAWS=64, VERBOSE=1)
    script.main(**{**TINY, **select, "EPOCHS": 3}, **dirs)
    script.main(**{**TINY, **select, "EPOCHS": 4}, **dirs)  # resumes after epoch 3: the scores so far are kept
    out = capsys.readouterr().out
    assert "digit 3: resuming after epoch 3" in out
    rows = read_csv(tmp_path / "outputs" / "digit_3" / "losses.csv")
    scores = {int(r["epoch"]): float(r["selection_fid"]) for r in rows if r["selection_fid"]}
    assert sorted(scores) == [2, 3, 4] and rows[0]["selection_fid"] == ""
    best = min(scores, key=scores.get)
    assert f"digit 3: exporting epoch {best}'s generator" in out
    exported = tmp_path / "weights" / "generator_3.weights.h5"
    record = read_record(exported)
    assert record["selected"]["epoch"] == best and record["selected"]["fid"] == pytest.approx(scores[best])
    assert {"SELECT_EVERY", "SELECT_FROM", "SELECT_DRAWS", "SELECT_LATENT_SCALE"} <= set(record["constants"])
    assert set(record["inputs"]) == {"training images", "selection verifier"}
    # the exported generator is the one scored at that epoch: its draws score the same FID again
    extractor, _ = shipped_feature_model()
    (x, y), _ = load_dataset("mnist")
    real = statistics(extractor, to_uint8(to_gan_range(select_class(x, y, 3)[:64])))  # as 01 holds them
    z = noise(script.SEED, 3, 64, 8, script.SELECT_LATENT_SCALE)
    assert draws_fid(load_generator(exported, ""), z, extractor, real) == pytest.approx(scores[best], rel=1e-4)
    script.main(**{**TINY, **select, "EPOCHS": 4}, **dirs)
    assert "generator_3.weights.h5 was trained with these constants, skipping" in capsys.readouterr().out
    with pytest.raises(UserError, match=r"SELECT_FROM=9 is after the last epoch \(EPOCHS=4\)"):
        script.main(**{**TINY, **select, "EPOCHS": 4, "SELECT_FROM": 9}, **dirs)
