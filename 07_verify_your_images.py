"""Verify your own images: the verdict 02 gives its generated digits, on any set of 28x28 images.

IMAGES is an .npz with ``x``: uint8 (N, 28, 28), like keras.datasets (and, optionally,
``y``: the digit each image is meant to be). Each image gets the verifier's MC verdict:
its top class, mean and SD per class, the passes it took, *ambiguous* where the top two
classes' mean +- 2 SD intervals overlap, *out of distribution* where it is unlike every
training digit; with ``y``, also *accepted* (top class = y, in distribution). Writes
verdicts.npz (one row per image), a summary beside the verifier's floor on real test
digits, and figures.

    python 07_verify_your_images.py --IMAGES=mine.npz
    python 07_verify_your_images.py --IMAGES=mine.npz --MC_RULE=fixed
"""

from models import config  # first: it quiets TensorFlow's C++ start-up logging before keras loads

from pathlib import Path

import numpy as np

from models import paths, verdict
from models.data import load_dataset
from models.files import save_figure, save_npz, write_json, write_text
from models.generated import load_images
from models.generation import with_ood_fields
from models.judges import get_verifier
from models.mc import reseed_dropout
from models.plots import ambiguity_gallery
from models.pretrained import SOURCES
from models.record import make_record
from models.summary import save_atypical_figure
from models.verdict import verdicts

# your images
IMAGES = ""  # the .npz to verify (x: uint8 (N, 28, 28); y, optional: the intended digits)
SEED = 2024  # the verifier's dropout stream

# the verifier and its verdict: defaults in models/defaults.py, shared with 02, 05, 06 and bench/ (--help lists them)
from models.defaults import (DROPOUT, MC_BATCH, MC_MIN_PASSES, MC_PASSES, MC_PRECISION,  # noqa: E402, F401
                             MC_ROUND_PASSES, MC_RULE, ONE_PASS_CONFIDENCE, OOD_COVARIANCE, OOD_GRID, OOD_LAYER,
                             OOD_RATE, VERIFIER, VERIFIER_BATCH_SIZE, VERIFIER_EPOCHS, VERIFIER_SEED,
                             VERIFIER_SUBSET, VERIFIER_VAL_SIZE)
VERIFIER_FILE = ""  # a verifier's weights file to use instead ("" = the one the constants above describe)
RETRAIN = False  # train a new verifier even where one exists (one made with other constants is refused)

# files
WEIGHTS_FROM = "auto"  # "auto": the verifier trained here where it exists, else the shipped one; "shipped"; "trained"
DATA_DIR = ""  # folder of the MNIST IDX gz files ("" = data/mnist): the verifier's training and test digits
WEIGHTS_DIR = paths.VERIFIER_WEIGHTS  # verifier_{VERIFIER}.weights.h5 is read from / trained into here
SHIPPED_DIR = paths.PRETRAINED_WEIGHTS  # the shipped weights (float16, in git, checked against MANIFEST.json)
OUTPUT_DIR = ""  # verdicts.npz, summary, figures ("" = outputs/verdicts/{the IMAGES file's name})
GALLERY_SIZE = 12  # ambiguous and atypical images shown in the figures
VERBOSE = 1  # 1 = progress bars, 0 = silent

ARRAYS = ["top", "mean", "sd", "passes", "ambiguous", "out_of_distribution", "atypicality"]  # verdicts.npz, per image


def check(cfg):
    """Reject impossible constants before any work."""
    problems = config.one_of(cfg, "WEIGHTS_FROM", SOURCES) + config.at_least_one(cfg, "GALLERY_SIZE")
    problems += verdict.problems(cfg)
    if not cfg.IMAGES:
        problems.append("IMAGES must name an .npz of your images (x: uint8 (N, 28, 28))")
    config.reject(problems)


def shares(result, y):
    """{verdict in words: its rows}: clear, ambiguous, out of distribution (and, with ``y``, accepted, rejected)."""
    ood = result["out_of_distribution"]
    found = {"clear (a confident digit label)": ~result["ambiguous"] & ~ood, "ambiguous": result["ambiguous"] & ~ood,
             "out of distribution (unlike any training digit)": ood}
    if y is None:
        return found
    accepted = (result["top"] == y) & ~ood
    return {"accepted (top class = y, in distribution)": accepted, "rejected": ~accepted, **found}


def save_gallery_figures(x, y, result, output_dir, size):
    """The most atypical images, in distribution and out, and the ambiguous ones with their MC bars."""
    top, ood, scores = result["top"], result["out_of_distribution"], result["atypicality"]

    def by_class(values, rows):
        return {k: values[rows & (top == k)] for k in range(result["mean"].shape[1])}

    save_atypical_figure(by_class(x, ~ood), by_class(scores, ~ood), by_class(x, ood), by_class(scores, ood),
                         output_dir / "atypical.png", size)
    flagged = np.flatnonzero(result["ambiguous"] & ~ood)[:size]
    if len(flagged):
        save_figure(ambiguity_gallery(x[flagged], result["mean"][flagged], result["sd"][flagged],
                                      top[flagged] if y is None else y[flagged], passes=result["passes"][flagged],
                                      title="ambiguous images: top classes, mean +- 2 SD"),
                    output_dir / "ambiguous_gallery.png")


def main(**overrides):
    cfg = config.resolve(globals(), overrides)
    check(cfg)
    images = paths.resolve(cfg.IMAGES)
    x, y = load_images(images)  # a bad file is refused before any model is loaded
    device = verdict.prepare(cfg)
    output_dir = paths.resolve(cfg.OUTPUT_DIR or f"{paths.VERDICTS_OUTPUT}/{Path(cfg.IMAGES).stem}")
    verifier = get_verifier(cfg, load_dataset("mnist", cfg.DATA_DIR or None), output_dir)
    print(f"verifying the {len(x)} images of {cfg.IMAGES}")
    reseed_dropout(verifier.model, cfg.SEED)
    result = with_ood_fields(verdicts(verifier.model, x, verifier.density, **verdict.options(cfg)))
    rows = shares(result, y)
    arrays = {name: result[name] for name in ARRAYS}
    if y is not None:
        arrays["accepted"] = rows["accepted (top class = y, in distribution)"]
    record = make_record(cfg, ("VERIFIER", *verdict.constants(cfg), *verdict.OOD_CONSTANTS, "SEED"),
                         inputs={"images": images, "verifier": verifier.floor["measured_with"]["weights"]})
    save_npz(output_dir / "verdicts.npz", record, **arrays)
    write_json(output_dir / "summary.json", {"images": cfg.IMAGES, "n": len(x), "verifier": verifier.floor,
                                             **{name: int(r.sum()) for name, r in rows.items()},
                                             "device": device, "record": record})
    lines = [f"# Verdicts on {cfg.IMAGES}: {len(x)} images", "",
             f"Verifier: {verifier.floor['architecture']}, {verdict.mc_text(cfg)}.", verdict.ood_text(cfg), "",
             "| verdict | images | share |", "|---|---|---|"]
    lines += [f"| {name} | {int(r.sum())} | {r.mean():.2%} |" for name, r in rows.items()]
    write_text(output_dir / "summary.md", "\n".join(lines) + "\n")
    save_gallery_figures(x, y, result, output_dir, cfg.GALLERY_SIZE)
    print("\n".join(lines))
    print(f"verdicts.npz, summary and figures in {paths.shown(output_dir)}")


if __name__ == "__main__":
    config.run_main(main, globals())
