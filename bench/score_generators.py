"""Score a folder of generators by their raw draws (nothing filtered); prints one JSON line.

    python bench/score_generators.py --GENERATOR_DIR=weights/ablations/base --CLASSES=2,8,9
    python bench/score_generators.py --GENERATOR=acgan --GENERATOR_DIR=weights/acgan/mnist
    python bench/score_generators.py --GENERATOR_DIR=weights/ablations/base --WEIGHTS=last  # G before averaging

Each class gets N_PER_CLASS fresh draws, judged by
- one of 04's independent classifiers, JUDGE (trained on real MNIST, never the verifier
  that filters data): label fidelity, and FID and k-NN precision/recall in its feature
  space against that class's real test images; the same for as many held-out real train
  images gives the floor (what a perfect generator would score);
- 02's verifier, with 02's verdict (models/defaults.py, overridable here as in 02, e.g.
  --MC_RULE=one_pass): its rejection (wrong class or out of distribution),
  out-of-distribution and ambiguity rates, as 02 counts them, beside its floor on the
  real test images.
Both judges come from ``models.judges``, as the scripts get them: loaded from (or, the
first time, trained into) the files 02 and 04 use. ``train_seconds`` is the sum of the
epoch times in the generators' checkpoints.
"""

import contextlib
import json
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from models import config  # noqa: E402  (first: it quiets TensorFlow's C++ logging)

import h5py  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
from models import paths  # noqa: E402
from models.checkpoint import load_generator  # noqa: E402
from models.classifier import extract_features, predict_classes  # noqa: E402
from models.config import UserError  # noqa: E402
from models.data import load_dataset, to_uint8  # noqa: E402
from models import verdict  # noqa: E402
from models.gan import generate_images  # noqa: E402
from models.judges import JUDGES, get_judge, get_verifier, judge_split  # noqa: E402
from models.metrics import fid, knn_precision_recall  # noqa: E402
from models.mc import reseed_dropout  # noqa: E402
from models.verdict import verdicts  # noqa: E402

# what is scored
GENERATOR = "class_gans"  # "class_gans" (01's per-digit DCGANs) or "acgan" (03's conditional GAN)
GENERATOR_DIR = ""  # the generators' folder, as 02 reads it ("" = weights/class_gans or weights/acgan/mnist)
WEIGHTS = "exported"  # "exported" (what 02 draws from: the average, if there is one) or "last" (G's last weights)
CLASSES = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9)  # classes to draw and score
N_PER_CLASS = 1000  # raw draws per class
NEAREST_K = 3  # k of the k-NN manifolds for precision/recall, as in 04
SEED = 0  # the draws' noise and the verifier's dropout stream
NAME = ""  # a label for this row in the JSON line
JUDGE = "cnn"  # which of 04's independent judges scores fidelity, FID, precision and recall: "cnn" or "resnet"
LATENT_SCALE_02 = 0.0  # the same draws at this noise scale are verified too, as 02 counts them (0 = 02's default for
# GENERATOR, LATENT_SCALE or ACGAN_LATENT_SCALE; 1.0 = none)

# the judges: 02's verifier and verdict, 04's independent classifier (defaults in models/defaults.py)
from models.defaults import (BATCH_SIZE, DENSE_UNITS, DROPOUT, FILTERS, INDEPENDENT_IMPRESSIONS,  # noqa: E402, F401
                             INDEPENDENT_SEED, JUDGE_HELD_OUT, MC_BATCH, MC_MIN_PASSES, MC_PASSES, MC_PRECISION,
                             MC_ROUND_PASSES, MC_RULE, ONE_PASS_CONFIDENCE, OOD_COVARIANCE, OOD_GRID, OOD_LAYER,
                             OOD_RATE, RESNET_WIDTHS, VERIFIER, VERIFIER_BATCH_SIZE, VERIFIER_EPOCHS, VERIFIER_SEED,
                             VERIFIER_SUBSET, VERIFIER_VAL_SIZE)
WEIGHTS_FROM = "auto"  # the judges: trained here where they exist, else the shipped ones
WEIGHTS_DIR = paths.VERIFIER_WEIGHTS  # where 02 and 04 keep the judges they trained
SHIPPED_DIR = paths.PRETRAINED_WEIGHTS  # the shipped weights
OUTPUT_DIR = paths.GENERATED_OUTPUT["class_gans"]  # where a verifier trained here writes its training curves
VERBOSE = 0  # the judges' training, where there is any: 1 = progress bars


def judges(cfg, mnist):
    """(02's verifier, 04's independent classifier JUDGE, 04's held-out real train rows), as the scripts get
    them; the verdict settings resolved for the device, as 02 resolves them (so that its measured
    floor is found, not measured again)."""
    with contextlib.redirect_stdout(sys.stderr):  # which weights were chosen: stdout is the one JSON line
        verdict.prepare(cfg)
        verifier = get_verifier(cfg, mnist, paths.resolve(cfg.OUTPUT_DIR))
        classifier, _, _ = get_judge(cfg, cfg.JUDGE, mnist)
    return verifier, classifier, judge_split(cfg, len(mnist[0][0]))[1]


def checkpoint_file(cfg, k):
    folder = paths.generator_files(cfg.GENERATOR, cfg.GENERATOR_DIR, [k])[k].parent
    return folder / "checkpoint.h5" if cfg.GENERATOR == "acgan" else paths.class_gan_checkpoint(folder, k)


def generator_for(cfg, k):
    """The generator of class ``k`` with the weights WEIGHTS names."""
    generator = load_generator(paths.generator_files(cfg.GENERATOR, cfg.GENERATOR_DIR, [k])[k],
                               "train it first (01 or 03), or name its folder with --GENERATOR_DIR.")
    if cfg.WEIGHTS == "last":
        path = checkpoint_file(cfg, k)
        if not path.is_file():
            raise UserError(f"WEIGHTS='last' needs the checkpoint {paths.shown(path)}, which is missing.")
        with h5py.File(path, "r") as f:
            for i, variable in enumerate(generator.variables):
                variable.assign(f["generator"][str(i)][()])
    return generator


def train_seconds(cfg):
    """Training wall time summed over the checkpoints' epochs (None where a checkpoint lacks it)."""
    total = 0.0
    for path in {checkpoint_file(cfg, k) for k in cfg.CLASSES}:
        if not path.is_file():
            return None
        with h5py.File(path, "r") as f:
            history = json.loads(f.attrs["history"])
        if any("seconds" not in row for row in history):
            return None
        total += sum(row["seconds"] for row in history)
    return round(total, 1)


def verified(k, x, verifier, density, cfg):
    """02's verdicts on class ``k``'s draws ``x``: their rejection, out-of-distribution and ambiguity rates."""
    reseed_dropout(verifier, cfg.SEED + k)
    judged = verdicts(verifier, x, density, **verdict.options(cfg))
    ood = judged.get("out_of_distribution", np.zeros(len(x), bool))
    accepted = (judged["top"] == k) & ~ood
    return {"rejection_rate": float(1 - accepted.mean()), "ood_rate": float(ood.mean()),
            "ambiguity_rate": float((judged["ambiguous"] & accepted).sum() / max(accepted.sum(), 1))}


def score_class(k, generator, verifier, density, classifier, real, floor, cfg):
    """Every number of one class's raw draws, and its real floor."""
    rng = np.random.default_rng(cfg.SEED + k)
    z = rng.standard_normal((cfg.N_PER_CLASS, generator.inputs[0].shape[-1]), dtype=np.float32)
    labels = np.full(cfg.N_PER_CLASS, k, "int32")
    x = to_uint8(generate_images(generator, z, labels))
    at_02 = {}
    if cfg.LATENT_SCALE_02 != 1.0:
        wide = to_uint8(generate_images(generator, z * cfg.LATENT_SCALE_02, labels))
        at_02 = {f"{key}_02": value for key, value in verified(k, wide, verifier, density, cfg).items()}
    n = min(cfg.N_PER_CLASS, len(real), len(floor))
    features = {name: extract_features(classifier, images[:n]) for name, images in
                (("fake", x), ("real", real), ("floor", floor))}
    precision, recall = knn_precision_recall(features["real"], features["fake"], cfg.NEAREST_K)
    floor_precision, floor_recall = knn_precision_recall(features["real"], features["floor"], cfg.NEAREST_K)
    return {"class": k, "label_fidelity": float(np.mean(predict_classes(classifier, x) == k)),
            **verified(k, x, verifier, density, cfg), **at_02,
            "fid": fid(features["fake"], features["real"]), "fid_floor": fid(features["floor"], features["real"]),
            "precision": precision, "recall": recall, "precision_floor": floor_precision,
            "recall_floor": floor_recall, "fid_images": n}


def main(**overrides):
    cfg = config.resolve(globals(), overrides)
    config.reject(config.one_of(cfg, "GENERATOR", ("class_gans", "acgan")) + config.one_of(cfg, "JUDGE", tuple(JUDGES))
                  + config.one_of(cfg, "WEIGHTS", ("exported", "last")) + config.distinct_digits(cfg)
                  + config.at_least_one(cfg, "NEAREST_K") + verdict.problems(cfg)
                  + ([] if cfg.N_PER_CLASS > cfg.NEAREST_K else [f"N_PER_CLASS must exceed NEAREST_K={cfg.NEAREST_K}"]))
    if not cfg.LATENT_SCALE_02:
        defaults_02 = config.script_defaults(REPO / "02_generate_and_verify.py")
        cfg.LATENT_SCALE_02 = defaults_02["LATENT_SCALE" if cfg.GENERATOR == "class_gans" else "ACGAN_LATENT_SCALE"]
    mnist = load_dataset("mnist")
    verifier, classifier, held_out = judges(cfg, mnist)
    (x_train, y_train), (x_test, y_test) = mnist
    x_floor, y_floor = x_train[held_out], y_train[held_out]
    start = time.perf_counter()
    rows = [score_class(k, generator_for(cfg, k), verifier.model, verifier.density, classifier, x_test[y_test == k],
                        x_floor[y_floor == k], cfg) for k in cfg.CLASSES]
    mean = {key: float(np.mean([r[key] for r in rows])) for key in rows[0] if key not in ("class", "fid_images")}
    print(json.dumps({
        "bench": "score_generators", "name": cfg.NAME, "generator": cfg.GENERATOR,
        "generator_dir": paths.shown(paths.generator_files(cfg.GENERATOR, cfg.GENERATOR_DIR, [0])[0].parent),
        "weights": cfg.WEIGHTS, "judge": cfg.JUDGE, "classes": list(cfg.CLASSES), "n_per_class": cfg.N_PER_CLASS,
        "backend": keras.backend.backend(), "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "min_label_fidelity": min(r["label_fidelity"] for r in rows),
        "max_rejection_rate": max(r["rejection_rate"] for r in rows),
        "mean_ambiguity_rate": mean["ambiguity_rate"],
        "fid_over_floor": mean["fid"] / mean["fid_floor"],
        "mean_precision": mean["precision"], "mean_recall": mean["recall"],
        **({"latent_scale_02": cfg.LATENT_SCALE_02, "rejection_rate_02": mean["rejection_rate_02"],
            "ambiguity_rate_02": mean["ambiguity_rate_02"]} if cfg.LATENT_SCALE_02 != 1.0 else {}),
        "mc_rule": cfg.MC_RULE, "verifier_floor": {"rejection_rate": verifier.floor["test_rejection_rate"],
                                                   "ood_rate": verifier.floor["test_ood_rate"],
                                                   "ambiguity_rate": verifier.floor["test_ambiguity_rate"]},
        "train_seconds": train_seconds(cfg), "score_seconds": round(time.perf_counter() - start, 1),
        "per_class": [{key: round(v, 4) if isinstance(v, float) else v for key, v in r.items()} for r in rows],
    }))


if __name__ == "__main__":
    config.run_main(main, globals())
