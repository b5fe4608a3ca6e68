"""Several generators per digit: one generated.npz drawing equally from several 02 outputs.

Each input is a generated.npz that 02 wrote from one set of generators (e.g. 01 run with
two seeds); of every digit the output takes the first N_PER_CLASS / (number of inputs)
verified images and as many raw draws of each input, so 04 can train on a generator
ensemble at the same image count as one generator (04 --GENERATED=<OUTPUT>).

    python 02_generate_and_verify.py --N_PER_CLASS=9000 --GENERATOR_DIR=weights/class_gans_seed2234 \
        --OUTPUT_DIR=outputs/generated_seed2234
    python bench/merge_generated.py --INPUTS=outputs/generated_18000/generated.npz,\
outputs/generated_seed2234/generated.npz --N_PER_CLASS=18000 --OUTPUT=outputs/generated_two_seeds/generated.npz
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models import config  # noqa: E402  (first of the models: it quiets TensorFlow's start-up logging)

import numpy as np  # noqa: E402

from models import paths  # noqa: E402
from models.config import UserError  # noqa: E402
from models.files import save_npz  # noqa: E402
from models.generated import load_generated  # noqa: E402
from models.record import make_record  # noqa: E402

INPUTS = ("outputs/generated_18000/generated.npz", "outputs/generated_seed2234/generated.npz")  # 02's files
N_PER_CLASS = 18000  # images per digit in the output, an equal share from each input
OUTPUT = "outputs/generated_two_seeds/generated.npz"
PER_IMAGE = ("ambiguous", "mean", "sd", "passes", "challenger", "atypicality")  # verified images' arrays kept


def merge(inputs, n_per_class):
    """The arrays of one generated.npz: of every digit, an equal share of each input's verified
    images (with their verdict arrays) and of its raw draws."""
    share, parts = n_per_class // len(inputs), {}
    if share * len(inputs) != n_per_class:
        raise UserError(f"N_PER_CLASS={n_per_class} does not split evenly over {len(inputs)} INPUTS.")
    for path in inputs:
        data = load_generated(path, "02_generate_and_verify.py")
        with np.load(path) as f:
            data.update({name: f[name] for name in PER_IMAGE if name in f.files})
        for k in range(10):
            for x_name, y_name, names in (("x_train", "y_train", PER_IMAGE), ("x_raw", "y_raw", ())):
                rows = np.flatnonzero(data[y_name] == k)[:share]
                if len(rows) < share:
                    raise UserError(f"{paths.shown(path)} has {len(rows)} {x_name} of digit {k}, {share} are "
                                    "needed: generate more with 02 or lower N_PER_CLASS.")
                for name in (x_name, y_name, *[n for n in names if n in data]):
                    parts.setdefault(name, []).append(data[name][rows])
    return {name: np.concatenate(values) for name, values in parts.items()}


def main(**overrides):
    cfg = config.resolve(globals(), overrides)
    inputs = [paths.resolve(p) for p in cfg.INPUTS]
    arrays = merge(inputs, cfg.N_PER_CLASS)
    output = paths.resolve(cfg.OUTPUT)
    record = make_record(cfg, skip=("OUTPUT", "INPUTS"), inputs={paths.shown(p): p for p in inputs})
    save_npz(output, record, **arrays)
    print(f"{len(arrays['x_train'])} verified and {len(arrays['x_raw'])} raw images from {len(inputs)} files "
          f"(each input's hash in its record) in {paths.shown(output)}")


if __name__ == "__main__":
    config.run_main(main, globals())
