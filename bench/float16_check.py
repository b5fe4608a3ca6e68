"""The shipped float16 weights against the float32 ones they were made from; prints one JSON line.

    python bench/float16_check.py
    python bench/float16_check.py --PARTS=class_gans --JUDGE=float16   # after reshipping 01's generators alone

Each generator (the ten per-digit ones, and the AC-GAN for every class) draws 1000 images
from the same noise in both precisions: the largest and the mean uint8 pixel difference,
and both sets' label fidelity by the float32 independent classifier, beside the first 16
hex digits of each weights file's SHA256 (``sha256_16``), so a line says which files it
compared. Then the independent
classifier's real test accuracy in both precisions, and the verifier's floor (100 MC
passes over the real test images, same dropout seed) in float16 beside the float32 one
recorded in weights/verifier_default.json. Needs the float32 weights of the PARTS checked
(and of the judge, with JUDGE=float32) trained here at the defaults.
"""

import contextlib
import functools
import json
import sys
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models import config  # noqa: E402  (first: it quiets TensorFlow's C++ logging)

import numpy as np  # noqa: E402
from models import paths, verdict  # noqa: E402
from models.checkpoint import load_generator  # noqa: E402
from models.record import fingerprint  # noqa: E402
from models.classifier import build_classifier, predict_classes  # noqa: E402
from models.data import load_dataset, to_uint8  # noqa: E402
from models.gan import generate_images  # noqa: E402
from models.judges import get_verifier  # noqa: E402
from models.mc import reseed_dropout  # noqa: E402
from models.verdict import mc_scores  # noqa: E402

GENERATORS = {"class_gans": [(f"class_gans/generator_{k}", k) for k in range(10)],
              "acgan": [("acgan/mnist/generator", k) for k in range(10)]}

PARTS = ("class_gans", "acgan", "classifiers")  # what to check: the per-digit GANs, the AC-GAN, judge + verifier
JUDGE = "float32"  # which copy of the independent classifier judges the draws: float32 (trained here) or float16
FLOAT32_DIR = paths.VERIFIER_WEIGHTS  # the weights trained here (weights/ as 01-04 lay it out)
FLOAT16_DIR = paths.PRETRAINED_WEIGHTS  # their shipped copies
# the judge's and the verifier's recipes and the verdict: defaults in models/defaults.py
from models.defaults import (DENSE_UNITS, DROPOUT, FILTERS, MC_BATCH, MC_MIN_PASSES, MC_PASSES,  # noqa: E402, F401
                             MC_ROUND_PASSES, MC_RULE, ONE_PASS_CONFIDENCE, VERIFIER, VERIFIER_BATCH_SIZE,
                             VERIFIER_EPOCHS, VERIFIER_SEED, VERIFIER_SUBSET, VERIFIER_VAL_SIZE)


@functools.cache
def generator_at(root, name):
    return load_generator(root / f"{name}.weights.h5", "train it at the defaults first")


def draws(root, name, k, z):
    generator = generator_at(root, name)  # the AC-GAN is loaded once for its ten classes
    labels = np.full(len(z), k, "int32") if name.startswith("acgan") else None
    return to_uint8(generate_images(generator, z, labels))


def main(**overrides):
    cfg = config.resolve(globals(), overrides)
    known = ("classifiers", *GENERATORS)
    config.reject(([] if cfg.PARTS and set(cfg.PARTS) <= set(known) else
                   [f"PARTS must name some of {', '.join(known)}, got {cfg.PARTS}"])
                  + config.one_of(cfg, "JUDGE", ("float32", "float16")))
    roots = {"float32": paths.resolve(cfg.FLOAT32_DIR), "float16": paths.resolve(cfg.FLOAT16_DIR)}
    start = time.time()
    judge = build_classifier(cfg.FILTERS, cfg.DENSE_UNITS)
    out = {"parts": list(cfg.PARTS), "judge": f"{cfg.JUDGE} independent classifier"}
    if "classifiers" in cfg.PARTS:
        out.update(check_classifiers(judge, cfg, roots))
    judge.load_weights(paths.independent_classifier(roots[cfg.JUDGE]))  # one judge for both precisions' draws
    z = np.random.default_rng(0).standard_normal((1000, 100), dtype=np.float32)
    for kind in (kind for kind in GENERATORS if kind in cfg.PARTS):
        members = GENERATORS[kind]
        images = {p: [draws(root, name, k, z) for name, k in members] for p, root in roots.items()}
        diffs = [np.abs(a.astype(int) - b.astype(int)) for a, b in zip(images["float32"], images["float16"])]
        files = dict.fromkeys(name for name, _ in members)  # the AC-GAN: one file for every class
        out[kind] = {"sha256_16": {p: {name: fingerprint(root / f"{name}.weights.h5")[:16] for name in files}
                                   for p, root in roots.items()},
                     "max_pixel_diff": int(max(d.max() for d in diffs)),
                     "mean_pixel_diff": float(np.mean([d.mean() for d in diffs])),
                     **{f"fidelity_{p}": [float(np.mean(predict_classes(judge, x) == k))
                                          for x, (_, k) in zip(images[p], members)] for p in roots}}
    print(json.dumps({"bench": "float16_check", **out, "seconds": round(time.time() - start, 1)}))


def check_classifiers(judge, cfg, roots):
    """The judge's real test accuracy in both precisions, and the verifier's floor (float32 layers)."""
    mnist = load_dataset("mnist")
    _, (x_test, y_test) = mnist
    out = {}
    for precision, root in roots.items():
        judge.load_weights(paths.independent_classifier(root))
        out[precision] = {"judge_test_accuracy": float(np.mean(predict_classes(judge, x_test) == y_test))}
    for precision, root in roots.items():  # the MC verdicts alone (no out-of-distribution verdict), the same seed
        copy = SimpleNamespace(**{**vars(cfg), "SHIPPED_DIR": root, "WEIGHTS_DIR": root, "MC_PRECISION": "float32",
                                  "WEIGHTS_FROM": "shipped" if precision == "float16" else "trained",
                                  "OOD_RATE": 0.0, "VERBOSE": 0})
        with contextlib.redirect_stdout(sys.stderr):  # which file it read: stdout is the one JSON line
            verdict.prepare(copy)
            verifier = get_verifier(copy, mnist, paths.resolve("outputs/float16_check"), floor=False).model
        reseed_dropout(verifier, cfg.VERIFIER_SEED)
        scores = mc_scores(verifier, x_test, y_test, **verdict.options(copy))
        out[precision].update({f"verifier_{k}": scores[k] for k in ("accuracy", "rejection_rate", "ambiguity_rate")})
    return out


if __name__ == "__main__":
    config.run_main(main, globals())
