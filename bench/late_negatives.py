"""Start a late-negatives run of 01 from the checkpoints of a run without negatives.

    python bench/late_negatives.py --FROM_DIR=weights/ablations/defaults_e70_all --CLASSES=2,3,4,7 \
        --NEGATIVE_SHARE=0.125 --NEGATIVE_FROM_EPOCH=71 --TO_DIR=weights/ablations/neg0.125_from71
    python 01_train_class_gans.py --CLASSES=2,3,4,7 --NEGATIVE_SHARE=0.125 --NEGATIVE_FROM_EPOCH=71 \
        --WEIGHTS_DIR=weights/ablations/neg0.125_from71      # resumes after epoch 70

With ``NEGATIVE_FROM_EPOCH=E``, 01's epochs before E are the run without negatives (same
weights, same random stream; tests/test_gan_training.py checks it), so a checkpoint of
01's defaults at an epoch before E is also a checkpoint of the late-negatives run. This
copies such checkpoints into TO_DIR with the record 01 would give them there, after
checking that they were made with 01's defaults but for negatives (none) and have not
passed epoch E - 1: the ablations save the epochs the two runs share. The copied digits
get the negatives; 01's other constants stay at its defaults.
"""

import json
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from models import config  # noqa: E402  (first: it quiets TensorFlow's C++ logging)

import h5py  # noqa: E402
from models import paths  # noqa: E402
from models.checkpoint import checkpoint_epoch  # noqa: E402
from models.class_gans import digit_images, digit_record, other_digits, problems  # noqa: E402
from models.config import UserError  # noqa: E402
from models.data import load_dataset  # noqa: E402
from models.files import atomic_path  # noqa: E402
from models.record import differences, read_record, without  # noqa: E402

FROM_DIR = ""  # 01's WEIGHTS_DIR of the run without negatives, at 01's defaults
TO_DIR = ""  # 01's WEIGHTS_DIR of the late-negatives run (its checkpoints must not exist yet)
CLASSES = tuple(range(10))  # digits whose checkpoints to copy
NEGATIVE_SHARE = 0.125  # as in 01
NEGATIVE_FROM_EPOCH = 71  # as in 01: the checkpoints must end before this epoch


def main(**overrides):
    cfg = config.resolve(globals(), overrides)
    if not cfg.FROM_DIR or not cfg.TO_DIR:
        raise UserError("Name both folders: --FROM_DIR=(a run of 01 at its defaults) --TO_DIR=(the new run's).")
    defaults = config.script_defaults(REPO / "01_train_class_gans.py")
    plain = config.resolve(defaults, {"NEGATIVE_SHARE": 0.0})
    late = config.resolve(defaults, {"NEGATIVE_SHARE": cfg.NEGATIVE_SHARE, "NEGATIVE_DIGITS": cfg.CLASSES,
                                     "NEGATIVE_FROM_EPOCH": cfg.NEGATIVE_FROM_EPOCH})
    config.reject(problems(late))
    if not late.NEGATIVE_SHARE:
        raise UserError("NEGATIVE_SHARE=0 makes no late-negatives run: give a share, as 01 would take it.")
    (x_train, y_train), _ = load_dataset("mnist")
    for k in cfg.CLASSES:
        source = paths.class_gan_checkpoint(paths.resolve(cfg.FROM_DIR), k)
        target = paths.class_gan_checkpoint(paths.resolve(cfg.TO_DIR), k)
        epoch = checkpoint_epoch(source)
        if not epoch:
            raise UserError(f"No checkpoint {paths.shown(source)}: train digit {k} there with 01 first.")
        if epoch >= late.NEGATIVE_FROM_EPOCH:
            raise UserError(f"{paths.shown(source)} holds epoch {epoch}, not one before NEGATIVE_FROM_EPOCH="
                            f"{late.NEGATIVE_FROM_EPOCH}, so its epochs differ from the late-negatives run's: "
                            "pick a later NEGATIVE_FROM_EPOCH or an earlier checkpoint.")
        if target.exists():
            raise UserError(f"{paths.shown(target)} exists: delete it, or pick another TO_DIR.")
        images = digit_images(x_train, y_train, k, plain)
        stored = read_record(source)
        stored["constants"].setdefault("NEGATIVE_SHARE", 0.0)  # made before 01 had negatives: it had none
        differing = differences(stored, without(digit_record(k, images, None, plain), "EPOCHS"))
        if differing:
            raise UserError(f"{paths.shown(source)} was not made with 01's defaults without negatives "
                            f"({', '.join(differing)}): "
                            "its epochs are not those of the late-negatives run.")
        record = digit_record(k, images, other_digits(x_train, y_train, k, late), late)
        with atomic_path(target) as tmp:
            shutil.copyfile(source, tmp)
            with h5py.File(tmp, "a") as f:
                f.attrs["record"] = json.dumps(without(record, "EPOCHS"))
        print(f"digit {k}: epoch {epoch} of {paths.shown(source)} -> {paths.shown(target)}")
    digits = ",".join(map(str, cfg.CLASSES))
    print(f"continue with: python 01_train_class_gans.py --CLASSES={digits} --NEGATIVE_DIGITS={digits} "
          f"--NEGATIVE_SHARE={late.NEGATIVE_SHARE} --NEGATIVE_FROM_EPOCH={late.NEGATIVE_FROM_EPOCH} "
          f"--WEIGHTS_DIR={cfg.TO_DIR}")


if __name__ == "__main__":
    config.run_main(main, globals())
