"""Is the synthetic data any good? Train one CNN on real, synthetic and mixed data; test on real MNIST.

Every classifier sees the same number of training images (IMPRESSIONS) whatever its
training set's size, each moved by up to SHIFT pixels at random, and each training set
is trained REPEATS times (seeds SEED, SEED + 1, ..., the same seeds for every set); SETS
picks the training sets. Two independent judges of different architectures, trained here
on real MNIST (neither is 02's verifier, which filtered the data; never shifted), then
score each generator: label fidelity, FID and k-NN precision/recall in each judge's
penultimate feature space, for the verified images and for as many raw (unverified)
draws; per digit the report gives the lower fidelity of the two. Needs 02's
generated.npz. A rerun reuses the classifiers it already trained with the same constants
and data, and retrains the rest; a judge trained with other constants is refused
(--RETRAIN=1 retrains it).

With 05's between-class digits (run 05_make_ambiguous_digits.py first), it also asks
whether ambiguous data helps: real-only against real plus as many between-class digits
with hard labels, the same with soft labels, or their clear twins, AMBIGUITY_REPEATS
seeds each, scored on the real test set and on its images the verifier flags ambiguous
(--GENERATED= runs this experiment alone, without 02's data).

    python 04_train_classifier_on_synthetic.py
    python 04_train_classifier_on_synthetic.py --REPEATS=1 --IMPRESSIONS=120000
    python 04_train_classifier_on_synthetic.py --SETS=real,synthetic,synthetic-clear,acgan,dcgan+acgan
"""

from models import config  # first: it quiets TensorFlow's C++ start-up logging before keras loads

import json
import time

import keras
import numpy as np

from models import paths
from models.classifier import build_classifier, extract_features, predict_classes, train_classifier
from models.config import UserError
from models.data import load_dataset
from models.device import tune_for_device, use_all_devices
from models.files import save_figure, write_json, write_text
from models.generated import load_ambiguous, load_generated
from models.judges import JUDGES, get_judge, judge_split
from models.metrics import confusion_counts
from models.plots import confusion_matrix
from models.pretrained import SOURCES
from models.quality import disagreement_figure, lowest_fidelity, score
from models.record import fingerprint, make_record
from models.report import fid_note, report_markdown
from models.training_sets import ambiguity_sets, training_sets

# what is trained
SETS = ("real", "synthetic", "raw", "real+synthetic", "real+ambiguous")  # training sets of the main table (of
# TRAINING_SETS below; "acgan" and "dcgan+acgan" need GENERATED_ACGAN)
REPEATS = 3  # seeds per training set: the table shows mean +- sd over them
IMPRESSIONS = 180_000  # training images every classifier sees, whatever the size of its training set
SYNTHETIC_SHARE = 0.1  # of the real + synthetic set: the rest is every real image (a seeded subset of 02's data)
SHIFT = 2  # each training image moves by up to this many pixels each way, at random, each time it is seen (0 = off)
AMBIGUITY_REPEATS = 5  # seeds of the ambiguity experiment (SEED, SEED + 1, ...); its table gives each SE
SEED = 100  # repeat r of every training set uses seed SEED + r
REAL_SUBSET = 0  # use at most this many real train and test images (0 = all; for quick tests)

# the classifier and the independent judges: defaults in models/defaults.py, shared with 06 and bench/ (--help)
from models.defaults import (BATCH_SIZE, DENSE_UNITS, FILTERS, INDEPENDENT_IMPRESSIONS,  # noqa: E402, F401
                             INDEPENDENT_SEED, JUDGE_HELD_OUT, RESNET_WIDTHS)
RETRAIN = False  # train new independent judges even where they exist

# the quality metrics
METRIC_SAMPLES = 10000  # images per set for FID and precision/recall
NEAREST_K = 3  # k of the k-NN manifolds for precision/recall

# files
GENERATED = f"{paths.GENERATED_OUTPUT['class_gans']}/generated.npz"  # 02's DCGAN data ("" = only 05's experiment)
GENERATED_ACGAN = f"{paths.GENERATED_OUTPUT['acgan']}/generated.npz"  # 02's AC-GAN data, scored if there ("" = skip)
AMBIGUOUS = f"{paths.AMBIGUOUS_OUTPUT}/ambiguous.npz"  # 05's between-class digits: the ambiguity experiment, if there
WEIGHTS_FROM = "auto"  # the independent judges: "auto" = the ones trained here if any, else the shipped ones
DATA_DIR = ""  # folder of the MNIST IDX gz files ("" = data/mnist)
WEIGHTS_DIR = paths.VERIFIER_WEIGHTS  # independent_classifier.weights.h5 (+ .json) is read from / trained into here
SHIPPED_DIR = paths.PRETRAINED_WEIGHTS  # the shipped weights (float16, in git, checked against MANIFEST.json)
OUTPUT_DIR = paths.REPORT_OUTPUT  # report.md, report.json, runs.json (finished runs) and figures
GALLERY_SIZE = 40  # generated images the independent classifier disagrees with, shown in a figure
VERBOSE = 1  # 1 = progress bars, 0 = silent

TRAINING_SETS = {
    "real": "real MNIST train",
    "synthetic": "synthetic only",
    "synthetic-clear": "synthetic only, clear images only (KEEP=clear)",
    "raw": "raw synthetic only (unverified)",
    "acgan": "AC-GAN synthetic only",
    "dcgan+acgan": "per-digit DCGANs + AC-GAN, half each",
    "real+synthetic": "real + synthetic",
    "real+ambiguous": "real + ambiguous synthetic",
}
RUN_CONSTANTS = frozenset({"FILTERS", "DENSE_UNITS", "IMPRESSIONS", "BATCH_SIZE", "SHIFT"})  # a finished run's record
AMBIGUITY_SETS = {  # the experiment: real + as many images of each kind, all made by 05 from the same noise
    "real": "real MNIST train",
    "real+between": "real + between-class digits, hard labels",
    "real+between-soft": "real + between-class digits, soft labels (MC mean)",
    "real+twins": "real + their clear twins",
}
GENERATORS = {  # name: (label in the report, constant naming its npz, the command that writes it)
    "class_gans": ("per-class DCGANs", "GENERATED", "02_generate_and_verify.py"),
    "acgan": ("AC-GAN", "GENERATED_ACGAN", "02_generate_and_verify.py --GENERATOR=acgan"),
}


def check(cfg):
    """Reject impossible constants before any data is loaded."""
    problems = config.at_least_one(cfg, "REPEATS", "AMBIGUITY_REPEATS", "IMPRESSIONS", "BATCH_SIZE", "DENSE_UNITS",
                                   "NEAREST_K", "GALLERY_SIZE", "JUDGE_HELD_OUT")
    problems += config.one_of(cfg, "WEIGHTS_FROM", SOURCES)
    problems += config.in_range(cfg, "SHIFT", 0, 27) + config.in_range(cfg, "SYNTHETIC_SHARE", 0, 1, True, True)
    if cfg.IMPRESSIONS < cfg.BATCH_SIZE:
        problems.append(f"IMPRESSIONS ({cfg.IMPRESSIONS}) must be at least BATCH_SIZE ({cfg.BATCH_SIZE})")
    if cfg.INDEPENDENT_IMPRESSIONS < cfg.BATCH_SIZE:
        problems.append(f"INDEPENDENT_IMPRESSIONS ({cfg.INDEPENDENT_IMPRESSIONS}) must be at least BATCH_SIZE "
                        f"({cfg.BATCH_SIZE})")
    for name in ("FILTERS", "RESNET_WIDTHS"):
        if not getattr(cfg, name) or min(getattr(cfg, name)) < 1:
            problems.append(f"{name} must be positive layer widths, got {getattr(cfg, name)}")
    unknown = [name for name in cfg.SETS if name not in TRAINING_SETS]
    if unknown or not {"real", "synthetic"} <= set(cfg.SETS):
        problems.append(f"SETS must name real, synthetic and any of {', '.join(TRAINING_SETS)}; got {cfg.SETS}")
    if cfg.METRIC_SAMPLES <= cfg.NEAREST_K:
        problems.append(f"METRIC_SAMPLES ({cfg.METRIC_SAMPLES}) must exceed NEAREST_K ({cfg.NEAREST_K})")
    if cfg.REAL_SUBSET < 0:
        problems.append(f"REAL_SUBSET must be 0 (all) or positive, got {cfg.REAL_SUBSET}")
    if not cfg.GENERATED and not cfg.AMBIGUOUS:
        problems.append("GENERATED (02's generated.npz) or AMBIGUOUS (05's ambiguous.npz) must name a file")
    config.reject(problems)


def train_and_test(cfg, x, y, x_test, y_test, seed):
    """Train a fresh classifier (04's CNN) with ``seed`` for IMPRESSIONS images, each moved by up to
    SHIFT pixels; test it on the real test set."""
    start = time.perf_counter()
    keras.utils.set_random_seed(seed)
    model = build_classifier(cfg.FILTERS, cfg.DENSE_UNITS)
    seen = train_classifier(model, x, y, cfg.IMPRESSIONS, cfg.BATCH_SIZE, seed, shift=cfg.SHIFT, verbose=cfg.VERBOSE)
    pred = predict_classes(model, x_test)
    return {"accuracy": float(np.mean(pred == y_test)), "images_seen": seen,
                   "confusion": confusion_counts(y_test, pred).tolist(),
                   "wrong": np.flatnonzero(pred != y_test).tolist(),  # test images it got wrong
                   "seconds": round(time.perf_counter() - start, 1)}  # wall time, training and testing


def accuracy_runs(cfg, sets, x_test, y_test, records, runs_path, repeats, descriptions=TRAINING_SETS, hard=None):
    """Train and test every training set ``repeats`` times (seeds SEED, SEED + 1, ...), seed by
    seed, so an interrupted run leaves whole seeds; finished runs (same record, ``records[name]``)
    are read back from ``runs_path`` instead of retrained. ``hard``: a mask of hard test images,
    also scored alone. Returns ``(table rows, runs)``."""
    runs = json.loads(runs_path.read_text()) if runs_path.is_file() else {}
    seeds = list(range(cfg.SEED, cfg.SEED + repeats))
    for seed in seeds:
        for name, (x, y) in sets.items():
            key = run_key(name, seed, records[name])
            if key not in runs or (hard is not None and "wrong" not in runs[key]):  # (older runs kept no mistakes)
                print(f"training on {descriptions[name]} ({len(x)} images), seed {seed}")
                runs[key] = train_and_test(cfg, x, y, x_test, y_test, seed)
                write_json(runs_path, runs)
            print(f"{descriptions[name]}, seed {seed}: real test accuracy {runs[key]['accuracy']:.2%}")
    rows = []
    for name, (x, _) in sets.items():
        results = [runs[run_key(name, seed, records[name])] for seed in seeds]
        confusion = np.array([r["confusion"] for r in results], dtype=float)  # (seeds, true, predicted)
        per_class = np.diagonal(confusion, axis1=1, axis2=2) / np.maximum(confusion.sum(axis=2), 1)
        rows.append({"training_set": name, "description": descriptions[name], "images": len(x),
                     "images_seen": results[0]["images_seen"], "seeds": seeds,
                     **spread([r["accuracy"] for r in results], "accuracies"),
                     "per_class": per_class.mean(axis=0).tolist(),  # real test accuracy per digit, mean of seeds
                     "seconds": None if any("seconds" not in r for r in results)  # (older runs kept no time)
                     else float(np.mean([r["seconds"] for r in results]))})
        if hard is not None:
            hard_rows = set(np.flatnonzero(hard).tolist())
            rows[-1].update(spread([1 - len(hard_rows.intersection(r["wrong"])) / len(hard_rows) if hard_rows
                                    else float("nan") for r in results], "hard_accuracies", "hard_"))
    return rows, runs


def spread(values, name, prefix=""):
    """{name: values, prefix + "mean": ..., prefix + "sd": sample SD (0 for one value)}."""
    return {name: values, f"{prefix}mean": float(np.mean(values)),
            f"{prefix}sd": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0}


def against_real(rows):
    """Each row's accuracy (and, where scored, its accuracy on the hard test images) minus
    real-only's, paired by seed: mean and its standard error."""
    real = next(r for r in rows if r["training_set"] == "real")
    for r in rows:
        for name, prefix in (("accuracies", ""), ("hard_accuracies", "hard_")):
            if name in r:
                diffs = np.array(r[name]) - np.array(real[name])
                r[f"{prefix}difference"] = float(diffs.mean())
                r[f"{prefix}difference_se"] = float(diffs.std(ddof=1) / np.sqrt(len(diffs))) if len(diffs) > 1 else 0.0
    return rows


def ambiguity_experiment(cfg, between, between_hash, train, test, real_record, runs_path):
    """Real-only against real plus each kind of 05's images, AMBIGUITY_REPEATS seeds each (the
    real-only runs are shared with the main table), scored on all real test images and on the hard ones."""
    sets = ambiguity_sets(*train, between)
    record = make_record(cfg, RUN_CONSTANTS, inputs={"between-class data": between_hash,
                                                     "real train images": train[0], "real test images": test[0]})
    records = {**dict.fromkeys(sets, record), "real": real_record}
    rows, _ = accuracy_runs(cfg, sets, *test, records, runs_path, cfg.AMBIGUITY_REPEATS, AMBIGUITY_SETS,
                            hard=between["test_ambiguous"])
    return against_real(rows)


def run_key(training_set, seed, record):
    return json.dumps({"training_set": training_set, "seed": seed, "record": record}, sort_keys=True)


def load_all_generated(cfg):
    """{generator name: checked arrays + "path"}: GENERATED unless empty, GENERATED_ACGAN when present."""
    generated = {}
    for name, (_, constant, producer) in GENERATORS.items():
        path = paths.resolve(getattr(cfg, constant)) if getattr(cfg, constant) else None
        if path is not None and (name == "class_gans" or path.is_file()):
            generated[name] = {**load_generated(path, producer), "path": path}
    return generated


def quality_metrics(cfg, judges, generated, floor_set, x_test, output_dir):
    """Score every generator and the real floor with each independent judge; saves the CNN judge's
    disagreement figures. Returns ``(images per set for FID/PR, rows, {figure: caption})``."""
    sizes = [cfg.METRIC_SAMPLES, len(x_test), len(floor_set[0])] + [len(g[x]) for g in generated.values()
                                                                     for x in ("x_train", "x_raw")]
    n_metric = min(sizes)
    if n_metric <= cfg.NEAREST_K:
        raise UserError(f"Only {n_metric} images per set for precision/recall; NEAREST_K={cfg.NEAREST_K} needs more.")
    real_picks = np.random.default_rng(cfg.SEED).choice(len(x_test), n_metric, replace=False)
    rows, figures = [], {}
    for kind, model in judges.items():
        real_features = extract_features(model, x_test[real_picks])
        for name, data in generated.items():
            label = GENERATORS[name][0]
            print(f"{kind} judge: scoring the {label} data ({len(data['x_train'])} verified and as many raw images)")
            raw_row, _ = score(f"{label}, raw draws", data["x_raw"], data["y_raw"], model, real_features, n_metric,
                               cfg)
            row, pred = score(label, data["x_train"], data["y_train"], model, real_features, n_metric, cfg)
            rows += [{"generator": name, "judge": kind, "file": paths.shown(data["path"]), **r} for r in (raw_row, row)]
            fig = disagreement_figure(data["x_train"], data["y_train"], pred, cfg.GALLERY_SIZE, label) \
                if kind == "cnn" else None  # one gallery, the CNN judge's
            if fig is not None:
                save_figure(fig, output_dir / f"disagreements_{name}.png")
                figures[f"disagreements_{name}.png"] = f"{label} images the independent classifier disagrees with"
        x_floor, y_floor = floor_set[0][:n_metric], floor_set[1][:n_metric]
        floor_row, _ = score("real (floor)", x_floor, y_floor, model, real_features, n_metric, cfg)
        rows.append({"generator": None, "judge": kind, "file": None, **floor_row})
    return n_metric, rows, figures


def synthetic_experiment(cfg, generated, hashes, train, test, real_record, output_dir):
    """The main table (each training set REPEATS seeds) and the independent judges' scores of every
    generator's data; returns ``(the report's entries, {judge: its weights file})``."""
    synthetic = generated["class_gans"]
    (x_train, y_train), (x_test, y_test) = train, test
    _, held_out = judge_split(cfg, len(x_train))
    judges, infos, files = {}, {}, {}
    for kind in JUDGES:
        judges[kind], infos[kind], files[kind] = get_judge(cfg, kind, (train, test))
    inputs = {"synthetic data": hashes["class_gans data"], "real train images": x_train, "real test images": x_test}
    run_record = make_record(cfg, RUN_CONSTANTS, inputs=inputs)
    sets = training_sets(x_train, y_train, generated, cfg.SETS, cfg.SYNTHETIC_SHARE, cfg.SEED)
    records = {**dict.fromkeys(sets, run_record), "real": real_record,
               "real+synthetic": make_record(cfg, RUN_CONSTANTS | {"SYNTHETIC_SHARE"}, inputs=inputs)}
    if "acgan data" in hashes:
        records["acgan"] = make_record(cfg, RUN_CONSTANTS, inputs={**inputs, "synthetic data": hashes["acgan data"]})
        records["dcgan+acgan"] = make_record(cfg, RUN_CONSTANTS, inputs={**inputs, "AC-GAN data": hashes["acgan data"]})
    descriptions = {**TRAINING_SETS, "real+synthetic": f"real + synthetic ({cfg.SYNTHETIC_SHARE:.0%} synthetic)"}
    rows, runs = accuracy_runs(cfg, sets, x_test, y_test, records, output_dir / "runs.json", cfg.REPEATS,
                               descriptions)
    confusion = np.array(runs[run_key("synthetic", cfg.SEED, run_record)]["confusion"])
    save_figure(confusion_matrix(confusion, title=f"trained on synthetic only (seed {cfg.SEED}), real test set"),
                output_dir / "confusion_matrix_synthetic.png")
    n_metric, metrics, figures = quality_metrics(cfg, judges, generated, (x_train[held_out], y_train[held_out]),
                                                 x_test, output_dir)
    return {
        "settings": {"filters": list(cfg.FILTERS), "dense_units": cfg.DENSE_UNITS, "seeds": rows[0]["seeds"],
                     "shift": cfg.SHIFT, "generated": paths.shown(synthetic["path"]), "nearest_k": cfg.NEAREST_K},
        "synthetic_images": len(synthetic["x_train"]), "ambiguous_images": int(synthetic["ambiguous"].sum()),
        "accuracy": rows, "judges": {kind: {"architecture": JUDGES[kind], **infos[kind]} for kind in JUDGES},
        "metric_samples": n_metric, "fid_note": fid_note(), "metrics": metrics,
        "lowest_fidelity_per_class": lowest_fidelity(metrics),
        "figures": {"confusion_matrix_synthetic.png": "confusion matrix on the real test set, trained on synthetic "
                    f"only (seed {cfg.SEED})", **figures},
    }, files


def main(**overrides):
    cfg = config.resolve(globals(), overrides)
    check(cfg)
    tune_for_device(cfg)
    use_all_devices()
    output_dir = paths.resolve(cfg.OUTPUT_DIR)
    generated = load_all_generated(cfg)
    (x_train, y_train), (x_test, y_test) = load_dataset("mnist", cfg.DATA_DIR or None)
    x_train, y_train = x_train[: cfg.REAL_SUBSET or None], y_train[: cfg.REAL_SUBSET or None]
    x_test, y_test = x_test[: cfg.REAL_SUBSET or None], y_test[: cfg.REAL_SUBSET or None]
    between = load_ambiguous(paths.resolve(cfg.AMBIGUOUS) if cfg.AMBIGUOUS else None, len(x_test))
    if not generated and between is None:
        raise UserError(f"GENERATED is empty and there is no {cfg.AMBIGUOUS}: run 05_make_ambiguous_digits.py "
                        "first, or name 02's generated.npz in GENERATED.")

    # real-only runs depend on no generated data: the main table and the ambiguity experiment share them
    real_record = make_record(cfg, RUN_CONSTANTS, inputs={"real train images": x_train, "real test images": x_test})
    inputs = {f"{name} data": fingerprint(data["path"]) for name, data in generated.items()}
    report = {"test_images": len(x_test), "accuracy": None, "metrics": None, "ambiguity_experiment": None,
              "hard_test_images": None, "figures": {}}
    if generated:
        entries, judge_files = synthetic_experiment(cfg, generated, inputs, (x_train, y_train), (x_test, y_test),
                                                    real_record, output_dir)
        report.update(entries)
        inputs.update({f"independent {kind} judge": fingerprint(path) for kind, path in judge_files.items()})
    if between is not None:
        inputs["between-class data"] = fingerprint(between["path"])
        report["ambiguity_experiment"] = ambiguity_experiment(cfg, between, inputs["between-class data"],
                                                              (x_train, y_train), (x_test, y_test), real_record,
                                                              output_dir / "runs.json")
        report["hard_test_images"] = int(between["test_ambiguous"].sum())
    report["record"] = make_record(cfg, inputs=inputs)
    report["command"] = config.command_line(__file__, overrides)
    write_json(output_dir / "report.json", report)
    write_text(output_dir / "report.md", report_markdown(report))
    print(report_markdown(report))
    print(f"report and figures in {paths.shown(output_dir)}")


if __name__ == "__main__":
    config.run_main(main, globals())
