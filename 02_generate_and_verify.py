"""Generate labelled digits and verify each one with an MC-dropout CNN (up to 100 passes).

Each image is quantised to uint8 (as saved), then passed through the verifier with dropout
on until its verdict is settled: *accepted* if the top class of the mean is the digit it
was drawn for and it is typical of real digits, *ambiguous* if the top two classes' mean
+- 2 SD intervals overlap. Needs 01's generators (or 03's AC-GAN with --GENERATOR=acgan);
the shipped ones serve until you train your own. A rerun reuses each digit made with the
same constants, generator and verifier. To verify your own images: 07_verify_your_images.py.

    python 02_generate_and_verify.py
    python 02_generate_and_verify.py --N_PER_CLASS=500 --KEEP=clear
"""

from models import config  # first: it quiets TensorFlow's C++ start-up logging before keras loads

import json

import keras
import numpy as np

from models import paths, verdict
from models.data import load_dataset
from models.files import save_npz, write_json, write_text
from models.generation import (GENERATOR_HINTS, KEEP_MODES, SAVED, class_summary, generate_digit,
                               load_finished_digit, load_generators, total_row)
from models.judges import get_verifier
from models.pretrained import SOURCES
from models.record import fingerprint, make_record
from models.summary import save_figures, summary_markdown

# what to draw
GENERATOR = "class_gans"  # "class_gans" (01's per-digit DCGANs) or "acgan" (03's conditional GAN)
CLASSES = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9)  # digits to generate
N_PER_CLASS = 6000  # images kept per digit
KEEP = "all"  # accepted images kept: "all", "clear" (not ambiguous) or "ambiguous"
LATENT_SCALE = 1.5  # per-digit GANs' noise z ~ N(0, LATENT_SCALE^2): wider = more varied digits, more rejected
# (1.0 = the generators' own; 1.5 trains a classifier best: docs/results.md)
ACGAN_LATENT_SCALE = 1.0  # the same for GENERATOR="acgan" (its draws at 1.5 fail the verifier 15% of the time)
SEED = 2024  # digit k is drawn with seed SEED + k
DRAW_BATCH = 4096  # images drawn and verified at a time (fewer at the end: about as many as still needed)
MAX_DRAWS = 100000  # give up on a digit after drawing this many images

# the verifier and its verdict: defaults in models/defaults.py, shared with 05, 06, 07 and bench/ (--help lists them)
from models.defaults import (DROPOUT, MC_BATCH, MC_MIN_PASSES, MC_PASSES, MC_PRECISION,  # noqa: E402, F401
                             MC_ROUND_PASSES, MC_RULE, ONE_PASS_CONFIDENCE, OOD_COVARIANCE, OOD_GRID, OOD_LAYER,
                             OOD_RATE, VERIFIER, VERIFIER_BATCH_SIZE, VERIFIER_EPOCHS, VERIFIER_SEED,
                             VERIFIER_SUBSET, VERIFIER_VAL_SIZE)
VERIFIER_FILE = ""  # a verifier's weights file to use instead ("" = the one the constants above describe)
RETRAIN = False  # train a new verifier even where one exists (one made with other constants is refused)

# files
WEIGHTS_FROM = "auto"  # "auto": weights trained here where they exist, else the shipped ones; or "shipped", "trained"
DATA_DIR = ""  # folder of the MNIST IDX gz files ("" = data/mnist)
GENERATOR_DIR = ""  # generator weights ("" = weights/class_gans or weights/acgan/mnist)
WEIGHTS_DIR = paths.VERIFIER_WEIGHTS  # verifier_{VERIFIER}.weights.h5 is read from / trained into here
SHIPPED_DIR = paths.PRETRAINED_WEIGHTS  # the shipped weights (float16, in git, checked against MANIFEST.json)
OUTPUT_DIR = ""  # digit_{k}.npz, generated.npz, summary, figures ("" = outputs/generated[_acgan])
GALLERY_SIZE = 12  # ambiguous and atypical images shown in the figures
VERBOSE = 1  # 1 = progress bars, 0 = silent

def check(cfg):
    """Reject impossible constants before any data is loaded."""
    problems = (config.one_of(cfg, "GENERATOR", GENERATOR_HINTS) + config.one_of(cfg, "KEEP", KEEP_MODES)
                + config.one_of(cfg, "WEIGHTS_FROM", SOURCES) + config.distinct_digits(cfg)
                + config.at_least_one(cfg, "N_PER_CLASS", "DRAW_BATCH", "MAX_DRAWS", "GALLERY_SIZE")
                + verdict.problems(cfg))
    for name in ("LATENT_SCALE", "ACGAN_LATENT_SCALE"):
        if not getattr(cfg, name) > 0:
            problems.append(f"{name} must be positive, got {getattr(cfg, name)}")
    config.reject(problems)


def main(**overrides):
    cfg = config.resolve(globals(), overrides)
    check(cfg)
    device = verdict.prepare(cfg)
    output_dir = paths.resolve(cfg.OUTPUT_DIR or paths.GENERATED_OUTPUT[cfg.GENERATOR])
    generators = load_generators(cfg)
    mnist = load_dataset("mnist", cfg.DATA_DIR or None)
    verifier = get_verifier(cfg, mnist, output_dir)
    scale, unused = ((cfg.LATENT_SCALE, "ACGAN_LATENT_SCALE") if cfg.GENERATOR == "class_gans"
                     else (cfg.ACGAN_LATENT_SCALE, "LATENT_SCALE"))
    inputs = {"verifier": fingerprint(verifier.path)}
    progbar = keras.utils.Progbar(cfg.N_PER_CLASS * len(cfg.CLASSES), verbose=cfg.VERBOSE, unit_name="image")
    per_digit, rows = {}, []
    for k in cfg.CLASSES:
        generator, generator_file = generators[k]
        inputs[f"generator of digit {k}"] = fingerprint(generator_file)
        record = make_record(cfg, skip=("CLASSES", "VERIFIER_FILE", unused), digit=k,
                             inputs={"generator": inputs[f"generator of digit {k}"], "verifier": inputs["verifier"]})
        path = output_dir / f"digit_{k}.npz"
        arrays, counts = load_finished_digit(k, path, record)
        if arrays is None:
            arrays, counts = generate_digit(k, generator, verifier.model, verifier.density, cfg, scale, progbar)
            save_npz(path, record, **arrays, counts=json.dumps(counts))
        else:
            progbar.add(cfg.N_PER_CLASS)
        per_digit[k] = arrays
        rows.append(class_summary(k, counts))

    def joined(name):
        return np.concatenate([per_digit[k][name] for k in cfg.CLASSES])

    record = make_record(cfg, skip=("VERIFIER_FILE", unused), inputs=inputs)
    save_npz(paths.generated_npz(output_dir), record, x_train=joined("x"), y_train=joined("y"), x_raw=joined("x_raw"),
             y_raw=joined("y"), **{name: joined(name) for name in SAVED})
    write_json(output_dir / "summary.json", {"generator": cfg.GENERATOR, "keep": cfg.KEEP,
                                             "n_per_class": cfg.N_PER_CLASS, "verifier": verifier.floor,
                                             "classes": rows, "all": total_row(rows), "device": device,
                                             "record": record})
    write_text(output_dir / "summary.md", summary_markdown(rows, cfg, verifier.floor))
    save_figures(per_digit, rows, output_dir, cfg.GALLERY_SIZE)
    print(summary_markdown(rows, cfg, verifier.floor))
    print(f"data and figures in {paths.shown(output_dir)}")


if __name__ == "__main__":
    config.run_main(main, globals())
