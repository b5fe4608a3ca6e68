"""Train a research variant of the verifier into WEIGHTS_DIR: a recipe that lost to the shipped one
(docs/ablations.md), kept runnable so that its results can be remade. 02 and 07 then judge with it
through --VERIFIER_FILE, and bench/bench_ood.py scores it the same way; bench/verifier_variants.sh
runs all three.

    python bench/train_verifier_variant.py --VERIFIER=spectral --WEIGHTS_DIR=outputs/variants/spectral
    python bench/train_verifier_variant.py --VERIFIER_OUTLIERS=0.5 --VERIFIER_OUTLIER_TILE=14 \\
        --WEIGHTS_DIR=outputs/variants/quadrants

The variants: VERIFIER="spectral", features that keep distances (spectral normalisation and
residual blocks, as in DDU, Mukhoti et al. 2021); VERIFIER="light", half the work per MC pass
(its second block one conv at 14x14 and one at 7x7, not two at 14x14); VERIFIER="narrow", 0.63 of
the work (the default with 48 filters in its second block, not 64); VERIFIER_OUTLIERS > 0, outlier exposure
(Hendrycks et al. 2019): beside each training digit, the same digit cut into
VERIFIER_OUTLIER_TILE-pixel squares and shuffled, trained toward a flat softmax with that weight.
The last line printed is the weights file; a file already made with these constants is kept.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models import config  # noqa: E402  (first: it quiets TensorFlow's C++ logging)

from models import paths  # noqa: E402
from models.data import load_dataset  # noqa: E402
from models.record import matches  # noqa: E402
from models.verifier import VERIFIERS, train_and_save, verifier_record  # noqa: E402

# the variant
VERIFIER_OUTLIERS = 0.0  # outlier exposure: weight of the scrambled training digits (0 = none)
VERIFIER_OUTLIER_TILE = 7  # those non-digits: each training digit cut into squares of this side, shuffled
# the rest of the recipe: 02's (models/defaults.py); VERIFIER may also be "spectral", "light" or "narrow" here
from models.defaults import (DROPOUT, VERIFIER, VERIFIER_BATCH_SIZE, VERIFIER_EPOCHS,  # noqa: E402, F401
                             VERIFIER_SEED, VERIFIER_SUBSET, VERIFIER_VAL_SIZE)
MC_PRECISION = "float32"  # the layers of the model returned after training (the weights file is float32 either way)

# files
WEIGHTS_DIR = ""  # where verifier_{VERIFIER}.weights.h5 goes (its training log and curves in WEIGHTS_DIR/log)
DATA_DIR = ""  # folder of the MNIST IDX gz files ("" = data/mnist)
VERBOSE = 1  # 1 = progress bars, 0 = silent


def check(cfg):
    problems = config.one_of(cfg, "VERIFIER", VERIFIERS)
    if not cfg.VERIFIER_OUTLIERS >= 0:
        problems.append(f"VERIFIER_OUTLIERS must be 0 (none) or a positive weight, got {cfg.VERIFIER_OUTLIERS}")
    if cfg.VERIFIER_OUTLIER_TILE not in (1, 2, 4, 7, 14):
        problems.append(f"VERIFIER_OUTLIER_TILE must divide 28 (1, 2, 4, 7 or 14), got {cfg.VERIFIER_OUTLIER_TILE}")
    if not cfg.WEIGHTS_DIR:
        problems.append("WEIGHTS_DIR must name a folder for the variant (not weights/, where 02 keeps its own)")
    config.reject(problems)


def main(**overrides):
    cfg = config.resolve(globals(), overrides)
    check(cfg)
    mnist_train = load_dataset("mnist", cfg.DATA_DIR or None)[0]
    weights_dir = paths.resolve(cfg.WEIGHTS_DIR)
    path = paths.verifier(weights_dir, cfg.VERIFIER)
    if matches(path, verifier_record(cfg, mnist_train)):
        print(f"{paths.shown(path)} was trained with these constants: kept")
    else:
        train_and_save(cfg, mnist_train, path, weights_dir / "log")
    print(path)
    return path


if __name__ == "__main__":
    config.run_main(main, globals())
