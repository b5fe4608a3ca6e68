"""The verifier and the independent judges, as every script and benchmark gets them.

``get_verifier`` is the verifier's whole life: the weights trained here or the shipped
ones (``WEIGHTS_FROM``), or a new one trained when none matches the recipe's constants;
its density of training-digit features (the out-of-distribution verdict); its floor, the
verdicts it gives the real MNIST test digits. Each is made once and kept beside the
weights; for the shipped verifier under other settings than those shipped (another
precision, a GPU's batch, other MC or OOD constants), in ``WEIGHTS_DIR/shipped/``, where
every output folder finds it. ``get_judge`` does the same for the independent classifiers that score
generated data (never the verifier that filtered it).
"""

import json
from types import SimpleNamespace
from typing import NamedTuple

import keras
import numpy as np

from models import paths
from models.classifier import build_classifier, build_resnet, predict_classes, train_classifier
from models.config import UserError
from models.files import load_weights, save_weights, write_json
from models.mc import reseed_dropout
from models.pretrained import check as check_shipped
from models.pretrained import choose, sidecar
from models.record import fingerprint, make_record, matches, read_record, require_match
from models.typicality import density_path, feature_layers, load_density, make_density, save_density
from models.verdict import OOD_CONSTANTS, constants, mc_scores, mc_text, options
from models.verifier import (OUTLIER_CONSTANTS, VERIFIER_CONSTANTS, build, train_and_save, verifier_record,
                             verifier_split)

JUDGES = {  # the independent judges (neither is the verifier, which filtered the data): name: architecture
    "cnn": "the CNN every accuracy run of 04 trains (FILTERS, DENSE_UNITS)",
    "resnet": "a small ResNet: residual 3x3 blocks, batch norm, global average pooling (RESNET_WIDTHS)",
}
JUDGE_CONSTANTS = {"cnn": frozenset({"FILTERS", "DENSE_UNITS", "INDEPENDENT_IMPRESSIONS", "BATCH_SIZE",
                                     "INDEPENDENT_SEED"}),
                   "resnet": frozenset({"RESNET_WIDTHS", "INDEPENDENT_IMPRESSIONS", "BATCH_SIZE", "INDEPENDENT_SEED"})}


class Verifier(NamedTuple):
    model: keras.Model  # dropout on, layers in MC_PRECISION
    density: dict | None  # how typical of its training digits an image is (None under OOD_RATE=0)
    floor: dict | None  # its verdicts on the real MNIST test digits (None where not asked for)
    path: object  # its weights file


def get_verifier(cfg, mnist, output_dir, weights_dir=None, floor=True, log_dir=None):
    """The verifier ``cfg`` describes (its VERIFIER_FILE, else the recipe's constants), loaded,
    or trained into ``weights_dir`` (default WEIGHTS_DIR) when none matches; with its density
    and, where ``floor``, its verdicts on the real test digits under ``cfg``'s verdict settings."""
    (x_train, y_train), (x_test, y_test) = mnist
    weights_dir = paths.resolve(weights_dir or cfg.WEIGHTS_DIR)
    cfg, path, source, record = _locate(cfg, (x_train, y_train), weights_dir)
    # the shipped verifier's density and floors under other settings than those shipped: made here once, kept
    kept_here = weights_dir / "shipped" / f"verifier_{cfg.VERIFIER}" if source == "shipped" else None
    keras.utils.set_random_seed(cfg.VERIFIER_SEED)
    val, train = verifier_split(cfg, len(x_train))
    if path.is_file() and not getattr(cfg, "RETRAIN", False):
        print(f"verifier: {paths.shown(path)} ({source})")
        require_match(path, record, _redo(cfg, "to train a new verifier"))
        model = build(cfg.VERIFIER, cfg.DROPOUT, cfg.MC_PRECISION)
        load_weights(model, path, "delete it and rerun to retrain it")
    else:
        model = train_and_save(cfg, (x_train, y_train), path, log_dir or output_dir / "verifier")
    density = _density(cfg, model, path, kept_here, (x_train[train], y_train[train]), x_train[val])
    if not floor:
        return Verifier(model, density, None, path)
    subset = cfg.VERIFIER_SUBSET or None
    wanted = _measurement(cfg, record, path, density)
    kept = kept_here.with_name(kept_here.name + ".floors.json") if kept_here else None
    if source == "shipped" and floors_path(path).is_file():
        check_shipped(path, floors_path(path))
    kept_floors = _read_json(kept, []) if kept else []
    found = [_read_json(sidecar(path)), *_read_json(floors_path(path), []), *kept_floors]
    info = next((info for info in found if info.get("measured_with") == wanted and "test_per_class" in info), None)
    if info is None:
        info = _measure_floor(cfg, model, density, x_test[:subset], y_test[:subset], wanted)
        if kept:  # one more floor for the shipped verifier, beside those measured before
            write_json(kept, [*kept_floors, info])
        else:
            write_json(sidecar(path), info)
    return Verifier(model, density, info, path)


def floors_path(weights_file):
    """The floors shipped beside a verifier's weights under other settings than its ``.json``'s: a list."""
    return sidecar(weights_file).with_suffix(".floors.json")


def _redo(cfg, what):
    """How to make a new one, for a script with or without a RETRAIN knob."""
    return f"rerun with --RETRAIN=1 {what}" if hasattr(cfg, "RETRAIN") else f"delete it and rerun {what}"


def _locate(cfg, mnist_train, weights_dir):
    """``(recipe, weights file, "trained" | "shipped" | "VERIFIER_FILE", the recipe's record)``:
    VERIFIER_FILE with the recipe its record names, else the verifier of ``cfg``'s recipe chosen by
    WEIGHTS_FROM."""
    if getattr(cfg, "VERIFIER_FILE", ""):
        path = paths.resolve(cfg.VERIFIER_FILE)
        if not path.is_file():
            raise UserError(f"VERIFIER_FILE={cfg.VERIFIER_FILE!r} does not exist: name a verifier's "
                            "*.weights.h5, or leave it empty for the one of the recipe's constants.")
        if getattr(cfg, "RETRAIN", False):
            raise UserError("RETRAIN=1 would train over VERIFIER_FILE: leave one of them out.")
        recipe = (read_record(path, "name another VERIFIER_FILE") or {}).get("constants", {})
        names = VERIFIER_CONSTANTS | OUTLIER_CONSTANTS
        if not VERIFIER_CONSTANTS <= set(recipe):
            raise UserError(f"{paths.shown(path)} records no verifier recipe (VERIFIER, DROPOUT, ...): name a "
                            "verifier trained by 02 or bench/train_verifier_variant.py.")
        recipe = {name: value for name, value in recipe.items() if name in names}
        shipped = paths.resolve(cfg.SHIPPED_DIR) in path.resolve().parents  # its density and floor: kept elsewhere
        cfg = SimpleNamespace(**{**vars(cfg), **recipe})
        return cfg, path, "shipped" if shipped else "VERIFIER_FILE", verifier_record(cfg, mnist_train)
    record = verifier_record(cfg, mnist_train)
    shipped = paths.verifier(paths.resolve(cfg.SHIPPED_DIR), cfg.VERIFIER)
    path, source = choose(paths.verifier(weights_dir, cfg.VERIFIER), shipped,
                          "trained" if getattr(cfg, "RETRAIN", False) else cfg.WEIGHTS_FROM,
                          lambda p: matches(p, record))
    return cfg, path, source, record


def _density(cfg, model, path, kept_here, train, held_out):
    """The verifier's density of training-digit features (``models.typicality``), read from beside
    its weights (or from ``kept_here``, for the shipped verifier under other OOD constants), else
    fitted on ``train`` with its threshold from the ``held_out`` images, and saved; None under
    OOD_RATE=0."""
    if cfg.OOD_RATE == 0:
        return None
    if cfg.OOD_LAYER not in feature_layers(model):
        raise UserError(f"OOD_LAYER={cfg.OOD_LAYER!r} is not a layer of the {cfg.VERIFIER} verifier: choose one of "
                        f"{', '.join(feature_layers(model))}.")
    record = make_record(cfg, VERIFIER_CONSTANTS | set(OOD_CONSTANTS), inputs={"verifier": fingerprint(path)})
    places = [density_path(path)] + ([kept_here.with_name(kept_here.name + ".density.npz")] if kept_here else [])
    if kept_here and places[0].is_file():
        check_shipped(path, places[0])  # the shipped density, checked like the shipped weights
    for place in places:
        density = load_density(place, record, model, cfg.OOD_LAYER, cfg.OOD_GRID)
        if density is not None:
            return density
    print(f"fitting the density of the verifier's {cfg.OOD_LAYER} features on {len(train[0])} training digits")
    density = make_density(model, train, held_out, cfg.OOD_LAYER, cfg.OOD_GRID, cfg.OOD_COVARIANCE, cfg.OOD_RATE)
    save_density(places[-1], density, record)
    return density


def _read_json(path, default=None):
    return json.loads(path.read_text()) if path.is_file() else ({} if default is None else default)


def _measurement(cfg, record, path, density):
    """What the verdicts on the real test set depend on: the verifier (its constants and its
    weights file), its density and how it is run."""
    ood = {name: getattr(cfg, name) for name in OOD_CONSTANTS}
    if density is not None:
        ood["threshold"] = float(density["threshold"])
    mc = {name: getattr(cfg, name) for name in constants(cfg)}
    return {"verifier": record, "weights": fingerprint(path), **ood, **mc}


def _measure_floor(cfg, model, density, x_test, y_test, measured_with):
    """The verifier's verdicts on the real test images: its floor."""
    print(f"verifying the {len(x_test)} real MNIST test images ({mc_text(cfg)})")
    reseed_dropout(model, cfg.VERIFIER_SEED)
    scores = mc_scores(model, x_test, y_test, density=density, **options(cfg))
    info = {"architecture": cfg.VERIFIER, "dropout": cfg.DROPOUT, "mc_passes": cfg.MC_PASSES, "mc_rule": cfg.MC_RULE,
            "mc_test_accuracy": scores["accuracy"], "test_rejection_rate": scores["rejection_rate"],
            "test_ambiguity_rate": scores["ambiguity_rate"], "test_ood_rate": scores["ood_rate"],
            "test_mean_passes": scores["mean_passes"], "test_per_class": scores["per_class"],
            "test_images": len(x_test), "epochs": cfg.VERIFIER_EPOCHS, "record": measured_with["verifier"],
            "measured_with": measured_with}
    print(f"verifier on the real MNIST test set ({scores['mean_passes']:.1f} MC passes per image on average): "
          f"accuracy {scores['accuracy']:.2%}, out of distribution {scores['ood_rate']:.2%}, ambiguous "
          f"{scores['ambiguity_rate']:.2%} of the accepted")
    return info


def judge_split(cfg, n_train):
    """``(rows the independent judges train on, held-out rows)`` of the real train set: they never
    see the JUDGE_HELD_OUT real images that give the floor, as they never see generated ones."""
    order = np.random.default_rng(cfg.INDEPENDENT_SEED).permutation(n_train)
    held_out, fit_rows = np.split(order, [min(cfg.JUDGE_HELD_OUT, n_train // 2)])
    return fit_rows, held_out


def build_judge(cfg, kind):
    if kind == "resnet":
        return build_resnet(cfg.RESNET_WIDTHS, name="independent_resnet")
    return build_classifier(cfg.FILTERS, cfg.DENSE_UNITS, name="independent_classifier")


def get_judge(cfg, kind, mnist):
    """The independent judge ``kind`` (of JUDGES) made with ``cfg``'s constants on the real train
    images ``judge_split`` gives it: loaded, or trained (and tested) when there is none;
    returns ``(model, info, weights file)``."""
    (x_train, y_train), (x_test, y_test) = mnist
    fit_rows, _ = judge_split(cfg, len(x_train))
    x, y = x_train[fit_rows], y_train[fit_rows]
    record = make_record(cfg, JUDGE_CONSTANTS[kind], inputs={"training images": x, "training labels": y})
    path, source = choose(paths.independent_classifier(paths.resolve(cfg.WEIGHTS_DIR), kind),
                          paths.independent_classifier(paths.resolve(cfg.SHIPPED_DIR), kind),
                          "trained" if getattr(cfg, "RETRAIN", False) else cfg.WEIGHTS_FROM,
                          lambda p: matches(p, record))
    info_path = sidecar(path)
    if path.is_file() and not getattr(cfg, "RETRAIN", False):
        print(f"independent {kind} judge: {paths.shown(path)} ({source})")
        require_match(path, record, _redo(cfg, "to train it again"))
        model = build_judge(cfg, kind)
        load_weights(model, path, "delete it and rerun to retrain it")
        info = _read_json(info_path)
        if info.get("record") != record:  # the sidecar is a summary: measure again rather than trust a stale one
            info = _judge_info(cfg, record, len(x), np.mean(predict_classes(model, x_test) == y_test), len(x_test))
        return model, info, path
    print(f"training the independent {kind} judge on {len(x)} real images into {paths.shown(path)}")
    keras.utils.set_random_seed(cfg.INDEPENDENT_SEED)
    model = build_judge(cfg, kind)
    train_classifier(model, x, y, cfg.INDEPENDENT_IMPRESSIONS, cfg.BATCH_SIZE, cfg.INDEPENDENT_SEED, shift=0,
                     verbose=cfg.VERBOSE)  # a judge: never shifted
    accuracy = float(np.mean(predict_classes(model, x_test) == y_test))
    info = _judge_info(cfg, record, len(x), accuracy, len(x_test))
    print(f"independent {kind} judge: real test accuracy {accuracy:.2%}")
    write_json(info_path, info)
    save_weights(model, path, record)
    return model, info, path


def _judge_info(cfg, record, train_images, test_accuracy, test_images):
    return {"settings": {"seed": cfg.INDEPENDENT_SEED, "train_images": train_images},
            "test_accuracy": float(test_accuracy), "test_images": test_images, "record": record}
