"""Benchmark the out-of-distribution verdict: which features, and what it then says; JSON lines.

    python bench/bench_ood.py

On the shipped verifier (or VERIFIER_FILE's, with the density 02 fitted beside it), in two
parts that share no test image:

1. The choice (one ``ood_candidate`` line each, then ``ood_choice``). Every candidate
   density (feature layer x grid x covariance, ``models.typicality``) is fitted on the
   verifier's training split, its threshold set at OOD_RATE of the held-out validation
   digits, and scored on *selection* sets made from images that part 2 never sees:
   Fashion-MNIST training images, uniform noise (its own seed), and the validation digits
   rotated by ANGLES. The candidate with the best worst-case AUROC (validation digits
   against Fashion, noise and the digits turned by the largest angle: inputs unlike any
   training digit) wins; 02's default should be it. The smaller angles are shown, not
   scored: a digit turned by 30 degrees is still a digit.
2. The verdict (one ``ood_verdict`` line per test set): 02's default density as shipped,
   with 02's MC verdicts, on MNIST test, Fashion-MNIST test, uniform noise and MNIST test
   rotated by ANGLES: the share called clear (a confident digit label) without and with the
   OOD verdict, the share flagged OOD, the accuracy of the clear labels (where the truth is
   known), and the AUROC against MNIST test of three scores: atypicality, the 2-SD gap
   (top class's mean - 2 SD minus the challenger's mean + 2 SD) and the max softmax of one
   deterministic pass; which wrong labels stay clear ("9 as 5": turned 9s called 5), and for
   each turned set a gallery of them in OUTPUT_DIR. ``ood_rate``: the same verdicts under each
   threshold of RATES (the share of held-out validation digits it flags), with RAW of 02's raw
   draws beside them: what a stricter threshold buys on turned digits and costs on real and
   generated ones. ``ood_cost``: seconds per 1,000 images of the OOD score, of the adaptive MC
   verdict and of 100 passes for every image.
"""

import contextlib
import json
import sys
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models import config  # noqa: E402  (first: it quiets TensorFlow's C++ logging)

import numpy as np  # noqa: E402

from flops import machine  # noqa: E402
from models import paths, verdict  # noqa: E402
from models.config import shared_defaults  # noqa: E402
from models.data import load_dataset, rotated, to_classifier_input  # noqa: E402
from models.files import save_figure  # noqa: E402
from models.plots import captioned_grid  # noqa: E402
from models.mc import mc_predict, reseed_dropout  # noqa: E402
from models.record import read_record  # noqa: E402
from models.typicality import (COVARIANCES, atypicality, feature_layers, feature_model,  # noqa: E402
                               features, fit, threshold)
from models.trust import auroc  # noqa: E402
from models.verdict import verdicts  # noqa: E402
from models.verifier import verifier_split, without_dropout  # noqa: E402
from shipped import shipped_verifier  # noqa: E402

GRIDS = (1, 2)  # candidate grids (1 = a global average)
ANGLES = (30, 90)  # rotations (degrees) of the shifted digit sets
NOISE = 2000  # uniform-noise images per noise set
FASHION = 10000  # Fashion-MNIST images per set (training images for the choice, test images for the verdict)
TEST = 10000  # MNIST test images (the first ones)
SUBSET = 0  # fit the candidates on at most this many training digits (0 = all 55,000; for quick tests)
VAL = 0  # at most this many of the 5,000 held-out validation digits (0 = all; for quick tests)
COST_IMAGES = 1000  # images timed for the cost line
PARTS = ("choice", "verdict")  # which parts to run
SEED = 0  # the noise: SEED for the selection set, SEED + 1 for the test set
GALLERY = 24  # per turned set, clear and typical images with a wrong label shown in OUTPUT_DIR
RATES = (0.005, 0.01, 0.02, 0.05, 0.1)  # thresholds tried: the share of held-out real digits each flags
GENERATED = "outputs/generated/generated.npz"  # 02's data: its raw draws join the threshold sweep ("" or absent: not)
RAW = 10000  # of those raw draws, this many (evenly spaced over the file's digits)
VERIFIER_FILE = ""  # a verifier's weights file ("" = the shipped verifier); its density is fitted once if missing
FASHION_DIR = ""  # folder of Fashion-MNIST's IDX gz files ("" = Debian's dataset-fashion-mnist)
OUTPUT_DIR = "outputs/bench_ood"  # clear_wrong_{set}.png
# the verdict: 02's (defaults in models/defaults.py)
from models.defaults import (MC_BATCH, MC_MIN_PASSES, MC_PASSES, MC_PRECISION, MC_ROUND_PASSES,  # noqa: E402, F401
                             MC_RULE, ONE_PASS_CONFIDENCE)


def verifier(cfg):
    """The verifier (02's precision) with its density, and the constants that made both (its
    record's recipe, the density's settings)."""
    found = shipped_verifier(cfg.MC_PRECISION, cfg.VERIFIER_FILE)
    constants = {**vars(shared_defaults()), **read_record(found.path)["constants"]}
    return found.model, found.path, found.density, constants


def noise(n, seed):
    return np.random.default_rng(seed).integers(0, 256, (n, 28, 28), dtype=np.uint8)


def choose(cfg, model, constants, mnist, fashion_train):
    """Part 1: a line per candidate, then the winner."""
    (x_train, y_train), _ = mnist
    order = np.random.default_rng(constants["VERIFIER_SEED"]).permutation(len(x_train))
    val, train = order[: constants["VERIFIER_VAL_SIZE"]], order[constants["VERIFIER_VAL_SIZE"] :][: cfg.SUBSET or None]
    val = val[: cfg.VAL or None]
    selection = {"fashion_train": fashion_train[: cfg.FASHION], "noise": noise(cfg.NOISE, cfg.SEED),
                 **{f"val_rotated_{a}": rotated(x_train[val], a) for a in cfg.ANGLES}}
    scored = ("fashion_train", "noise", f"val_rotated_{max(cfg.ANGLES)}")
    rows = []
    for layer in feature_layers(model):
        for grid in cfg.GRIDS if layer != "dense" else (1,):
            extractor = feature_model(model, layer, grid)
            f_train, f_val = features(extractor, x_train[train]), features(extractor, x_train[val])
            f_sets = {name: features(extractor, x) for name, x in selection.items()}
            for covariance in COVARIANCES:
                density = fit(f_train, y_train[train], covariance)
                held_out = atypicality(f_val, density)
                cut = threshold(held_out, constants["OOD_RATE"])
                scores = {name: atypicality(f, density) for name, f in f_sets.items()}
                row = {"bench": "ood_candidate", "layer": layer, "grid": grid, "covariance": covariance,
                       "auroc": {name: round(auroc(s, held_out), 4) for name, s in scores.items()},
                       "flagged": {name: round(float(np.mean(s > cut)), 4) for name, s in scores.items()}}
                row["worst_auroc"] = min(row["auroc"][name] for name in scored)
                rows.append(row)
                print(json.dumps(row), flush=True)
    best = max(rows, key=lambda r: r["worst_auroc"])
    default = {"layer": constants["OOD_LAYER"], "grid": constants["OOD_GRID"],
               "covariance": constants["OOD_COVARIANCE"]}
    print(json.dumps({"bench": "ood_choice",
                      "best": {k: best[k] for k in ("layer", "grid", "covariance", "worst_auroc")}, "default": default,
                      "default_is_best": all(best[k] == v for k, v in default.items())}), flush=True)


def judge(cfg, model, density, constants, mnist, fashion_test):
    """Part 2: a line per test set, then the cost."""
    _, (x_test, y_test) = mnist
    x_test, y_test = x_test[: cfg.TEST], y_test[: cfg.TEST]
    sets = {"mnist_test": (x_test, y_test), "fashion_test": (fashion_test[: cfg.FASHION], None),
            "uniform_noise": (noise(cfg.NOISE, cfg.SEED + 1), None),
            **{f"mnist_test_rotated_{a}": (rotated(x_test, a), y_test) for a in cfg.ANGLES}}
    deterministic = without_dropout(model, constants["VERIFIER"])
    scores, options, mc = {}, verdict.options(cfg), verdict.mc_options(cfg)
    kept = {}  # each set's verdicts, for the threshold sweep
    for name, (x, y) in sets.items():
        reseed_dropout(model, cfg.SEED)
        v = kept[name] = verdicts(model, x, density, **options)
        rows = np.arange(len(x))
        gap = (v["mean"][rows, v["top"]] - 2 * v["sd"][rows, v["top"]]
               - v["mean"][rows, v["challenger"]] - 2 * v["sd"][rows, v["challenger"]])
        max_softmax = np.asarray(deterministic.predict(to_classifier_input(x), batch_size=1024, verbose=0)).max(1)
        scores[name] = {"atypicality": v["atypicality"], "gap": -gap, "max_softmax": -max_softmax}
        clear_before = ~v["ambiguous"]
        clear = clear_before & ~v["out_of_distribution"]
        row = {"bench": "ood_verdict", "set": name, "images": len(x),
               "clear_without_ood": round(float(clear_before.mean()), 4), "clear": round(float(clear.mean()), 4),
               "ood": round(float(v["out_of_distribution"].mean()), 4),
               "ambiguous_or_ood": round(float((v["ambiguous"] | v["out_of_distribution"]).mean()), 4)}
        if y is not None:
            right = v["top"] == y
            row.update(accuracy=round(float(right.mean()), 4),
                       clear_right_without_ood=round(float(right[clear_before].mean()), 4)
                       if clear_before.any() else None,
                       clear_right=round(float(right[clear].mean()), 4) if clear.any() else None,
                       clear_wrong=int((clear & ~right).sum()))
            pairs = [f"{t} as {p}" for t, p in zip(y[clear & ~right], v["top"][clear & ~right])]
            row["clear_wrong_labels"] = dict(Counter(pairs).most_common())  # "9 as 5": turned 9s called 5, ...
            if name.startswith("mnist_test_rotated") and pairs:
                wrong, figure = np.flatnonzero(clear & ~right)[: cfg.GALLERY], paths.resolve(cfg.OUTPUT_DIR)
                save_figure(captioned_grid(x[wrong], pairs[: len(wrong)], ncols=min(len(wrong), 12),
                                           title=f"{name}: clear and typical, wrong label (true digit as labelled)"),
                            figure / f"clear_wrong_{name}.png")
                row["gallery"] = paths.shown(figure / f"clear_wrong_{name}.png")
        if name != "mnist_test":
            row["auroc_vs_mnist_test"] = {s: round(auroc(scores[name][s], scores["mnist_test"][s]), 4)
                                          for s in scores[name]}
        print(json.dumps(row), flush=True)
    sweep(cfg, model, density, constants, mnist, {name: (kept[name], y) for name, (_, y) in sets.items()})
    x = x_test[: cfg.COST_IMAGES]
    times = {"ood_score": lambda: atypicality(features(density["features"], x), density),
             "adaptive_mc": lambda: mc_predict(model, x, **mc),
             "fixed_100_passes": lambda: mc_predict(model, x, **{**mc, "rule": "fixed"})}
    seconds = {}
    for name, run in times.items():
        run()  # compiled and warm
        start = time.perf_counter()
        run()
        seconds[name] = (time.perf_counter() - start) * 1000 / len(x)
    print(json.dumps({"bench": "ood_cost", "machine": machine(), "seconds_per_1000_images": {k: round(v, 3) for k, v in
                                                                                              seconds.items()},
                      "ood_share_of_adaptive": round(seconds["ood_score"] / seconds["adaptive_mc"], 3),
                      "ood_share_of_fixed": round(seconds["ood_score"] / seconds["fixed_100_passes"], 3)}), flush=True)


def sweep(cfg, model, density, constants, mnist, judged):
    """One ``ood_rate`` line per rate of RATES: the threshold that flags that share of the held-out
    validation digits, and what it makes of each set's verdicts (``judged``: {set: (verdicts, labels)})
    and of 02's raw draws (``generated_raw``, where GENERATED exists): the share flagged (ambiguous or
    OOD), of the clear labels the share right, and for digits of known class the share rejected (wrong
    class or OOD), as 02 counts it."""
    (x_train, _), _ = mnist
    val, _ = verifier_split(SimpleNamespace(**constants), len(x_train))  # the rows the density's threshold was set on
    held_out = atypicality(features(density["features"], x_train[val[: cfg.VAL or None]]), density)
    generated = paths.resolve(cfg.GENERATED) if cfg.GENERATED else None
    if generated and generated.is_file():
        with np.load(generated) as f:
            rows = np.linspace(0, len(f["y_raw"]) - 1, min(cfg.RAW, len(f["y_raw"]))).astype(int)
            x, y = f["x_raw"][rows], f["y_raw"][rows]
        reseed_dropout(model, cfg.SEED)
        judged = {**judged, "generated_raw": (verdicts(model, x, density, **verdict.options(cfg)), y)}
    for rate in cfg.RATES:
        cut = threshold(held_out, rate)
        row = {"bench": "ood_rate", "rate": rate, "threshold": round(cut, 2)}
        for name, (v, y) in judged.items():
            clear = ~v["ambiguous"] & (v["atypicality"] <= cut)
            row[name] = {"flagged": round(float(1 - clear.mean()), 4)}
            if y is not None:
                right = v["top"] == y
                row[name].update(clear_right=round(float(right[clear].mean()), 4) if clear.any() else None,
                                 rejected=round(float((~right | (v["atypicality"] > cut)).mean()), 4))
        print(json.dumps(row), flush=True)


def main(**overrides):
    cfg = config.resolve(globals(), overrides)
    with contextlib.redirect_stdout(sys.stderr):
        verdict.prepare(cfg)  # MC_BATCH and MC_PRECISION for the device, as 02 resolves them
    model, path, density, constants = verifier(cfg)
    mnist = load_dataset("mnist")
    (fashion_train, _), (fashion_test, _) = load_dataset("fashion_mnist", cfg.FASHION_DIR or None)
    if "choice" in cfg.PARTS:
        choose(cfg, model, constants, mnist, fashion_train)
    if "verdict" in cfg.PARTS:
        judge(cfg, model, density, constants, mnist, fashion_test)


if __name__ == "__main__":
    config.run_main(main, globals())
