"""bench/late_negatives.py: a checkpoint of 01 at its defaults, copied with the record of a
late-negatives run, is one 01 resumes with negatives; anything else is refused."""

import sys

import pytest

from models.checkpoint import checkpoint_epoch
from models.config import UserError
from models.record import read_record

from conftest import REPO, load_script

sys.path.insert(0, str(REPO / "bench"))
import late_negatives  # noqa: E402

pytestmark = pytest.mark.slow  # a benchmark's setup of 01's checkpoints: .ci/run runs them after the rest

DIGIT = "5"  # the fewest training images (5421): one epoch at 01's defaults takes seconds


def test_a_default_checkpoint_continues_as_a_late_negatives_run(tmp_path, capsys):
    script = load_script("01_train_class_gans.py")
    plain, late = str(tmp_path / "plain"), str(tmp_path / "late")
    logistics = dict(CLASSES=DIGIT, WORKERS=1, OUTPUT_DIR=str(tmp_path / "outputs"))
    script.main(**logistics, VERBOSE=0, EPOCHS=1, NEGATIVE_SHARE=0.0, WEIGHTS_DIR=plain)
    copy = dict(FROM_DIR=plain, TO_DIR=late, CLASSES=DIGIT, NEGATIVE_SHARE=0.125)
    with pytest.raises(UserError, match=r"No checkpoint .*digit_5.h5: train digit 5 there with 01 first"):
        late_negatives.main(**{**copy, "FROM_DIR": str(tmp_path / "nothing")}, NEGATIVE_FROM_EPOCH=2)
    with pytest.raises(UserError, match=r"holds epoch 1, not one before NEGATIVE_FROM_EPOCH=1"):
        late_negatives.main(**copy, NEGATIVE_FROM_EPOCH=1)
    late_negatives.main(**copy, NEGATIVE_FROM_EPOCH=2)
    with pytest.raises(UserError, match="digit_5.h5 exists: delete it, or pick another TO_DIR"):
        late_negatives.main(**copy, NEGATIVE_FROM_EPOCH=2)
    capsys.readouterr()
    script.main(**logistics, VERBOSE=2, EPOCHS=2, NEGATIVE_SHARE=0.125, NEGATIVE_FROM_EPOCH=2, WEIGHTS_DIR=late)
    printed = capsys.readouterr().out
    assert "resuming after epoch 1" in printed and "epoch 2/2" in printed and "d_acc_negative" in printed
    record = read_record(tmp_path / "late" / "generator_5.weights.h5")
    assert record["constants"]["NEGATIVE_FROM_EPOCH"] == 2 and "other digits' images" in record["inputs"]
    assert checkpoint_epoch(tmp_path / "late" / "checkpoints" / "digit_5.h5") == 2


def test_a_checkpoint_made_with_other_constants_is_refused(tmp_path):
    script = load_script("01_train_class_gans.py")
    script.main(CLASSES=DIGIT, EPOCHS=1, MAX_IMAGES=64, WIDTH=4, WORKERS=1, VERBOSE=0,
                WEIGHTS_DIR=str(tmp_path / "tiny"), OUTPUT_DIR=str(tmp_path / "outputs"))
    with pytest.raises(UserError, match=r"was not made with 01's defaults without negatives \(MAX_IMAGES=64 \(now 0\), "
                                        r"WIDTH=4 \(now 32\)"):
        late_negatives.main(FROM_DIR=str(tmp_path / "tiny"), TO_DIR=str(tmp_path / "late"), CLASSES=DIGIT,
                            NEGATIVE_FROM_EPOCH=2)
    assert not (tmp_path / "late").exists()
