"""Generate labelled digits and verify each one with an MC-dropout CNN (up to 100 passes).

Each image is quantised to uint8 (as saved), then passed through the verifier with
dropout on, in rounds of MC_ROUND_PASSES passes until its verdict is settled (MC_PASSES
at most; MC_RULE="fixed" gives every image MC_PASSES): it is *accepted* if the top class
of the mean is the digit it was generated for, and *ambiguous* if the top two classes'
mean +- 2 SD intervals overlap. Each image's mean, SD and pass count are kept.
generated.npz also holds as many fresh raw draws (x_raw, y_raw), unverified, for 04 to
compare. Needs 01's generators (or 03's AC-GAN with --GENERATOR=acgan). A rerun reuses
each digit_{k}.npz made with the same constants, generator and verifier, and draws the
others again; a verifier trained with other constants is refused (--RETRAIN=1 retrains).

    python 02_generate_and_verify.py
    python 02_generate_and_verify.py --N_PER_CLASS=500 --KEEP=clear
"""

from models import config  # first: it quiets TensorFlow's C++ start-up logging before keras loads

import json
import re
from collections import Counter
from pathlib import Path

import keras
import numpy as np

from models import paths
from models.checkpoint import load_generator
from models.config import UserError
from models.data import load_dataset, to_uint8
from models.device import tune_for_device, use_all_devices
from models.files import load_weights, save_figure, save_npz, write_json, write_text
from models.gan import generate_images
from models.generated import draws_needed, load_images
from models.mc import mc_problems, mc_text, reseed_dropout, verdict_constants, verdict_options
from models.plots import ambiguity_gallery, bar_chart, captioned_grid, image_grid
from models.pretrained import SOURCES, choose, sidecar
from models.pretrained import check as check_shipped
from models.record import differences, fingerprint, make_record, matches, read_record, require_match
from models.typicality import COVARIANCES, density_path, feature_layers, load_density, make_density, save_density
from models.verifier import (VERIFIER_CONSTANTS, VERIFIERS, build, mc_scores, resolve_precision, train_and_save,
                             verdicts, verifier_record, verifier_split)

GENERATOR = "class_gans"  # "class_gans" (01's per-digit DCGANs) or "acgan" (03's conditional GAN)
CLASSES = tuple(range(10))  # digits to generate
N_PER_CLASS = 6000  # images kept per digit
KEEP = "all"  # which accepted images to keep: "all", "clear" (not ambiguous) or "ambiguous"
LATENT_SCALE = 0.0  # generator noise drawn from N(0, LATENT_SCALE^2), wider = more varied digits, more rejected;
# 0 = the generator's own in LATENT_SCALES
MC_PASSES = 100  # stochastic verifier passes per image (the most, under the adaptive rule)
MC_RULE = "adaptive"  # "adaptive": an image stops once its verdict is settled; "fixed": MC_PASSES for every image;
# "one_pass": one deterministic pass, ambiguous below ONE_PASS_CONFIDENCE (as good on real digits, no MC noise: 06)
MC_ROUND_PASSES = 10  # adaptive rule: passes per round, after which settled images stop
MC_MIN_PASSES = 10  # adaptive rule: passes every image gets
ONE_PASS_CONFIDENCE = 0.9931  # one_pass rule: ambiguous below this top probability (flags as many held-out digits as
# the adaptive rule: 06_check_the_verdicts.py measures it)
MC_BATCH = 0  # rows (images x passes) per verifier call (0 = for the device: 512 on a CPU, 16384 per GPU)
MC_PRECISION = "auto"  # "auto": bfloat16 layers where the CPU or GPU has bfloat16 arithmetic, else float32; or either
DRAW_BATCH = 1000  # images drawn and verified at a time (fewer at the end: only about as many as still needed)
MAX_DRAWS = 100000  # give up on a digit after drawing this many images
VERIFIER = "default"  # verifier architecture: "default", "reference" (the original experiment's) or "spectral"
VERIFIER_EPOCHS = 15  # epochs when the verifier has to be trained
VERIFIER_BATCH_SIZE = 128  # batch size when training the verifier
VERIFIER_VAL_SIZE = 5000  # training images held out to pick the best verifier epoch
VERIFIER_SUBSET = 0  # train and test the verifier on at most this many images (0 = all; for quick tests)
DROPOUT = 0.4  # MC-dropout rate of the verifier
VERIFIER_SEED = 2024  # the verifier's weights, dropout and validation split
VERIFIER_OUTLIERS = 0.0  # outlier exposure: weight of scrambled training digits trained toward a flat softmax
# (0 = none, as shipped)
VERIFIER_OUTLIER_TILE = 7  # those non-digits: each training digit cut into squares of this side, shuffled
OOD_LAYER = "conv4"  # verifier layer whose features say how typical of training digits an image is: conv1..conv4, dense
OOD_GRID = 2  # those features averaged over an OOD_GRID x OOD_GRID grid of image regions
OOD_COVARIANCE = "class"  # their class-conditional Gaussian: "shared" covariance (Mahalanobis) or one per "class"
OOD_RATE = 0.005  # share of held-out real digits called out of distribution: sets the threshold (0 = no such verdict)
IMAGES = ""  # an .npz of your own images to verify instead of drawing any (x: uint8 (N, 28, 28); y: intended digits)
RETRAIN = False  # train a new verifier even where one exists (one made with other constants is refused)
GALLERY_SIZE = 12  # ambiguous images shown in the gallery figure
SEED = 2024  # digit k is drawn with seed SEED + k
DATA_DIR = ""  # folder of the MNIST IDX gz files ("" = data/mnist)
WEIGHTS_FROM = "auto"  # "auto": weights trained here where they exist, else the shipped ones; or "shipped", "trained"
GENERATOR_DIR = ""  # generator weights ("" = weights/class_gans or weights/acgan/mnist)
WEIGHTS_DIR = paths.VERIFIER_WEIGHTS  # verifier_{VERIFIER}.weights.h5 is read from / trained into here
SHIPPED_DIR = paths.PRETRAINED_WEIGHTS  # the shipped weights (float16, in git, checked against MANIFEST.json)
OUTPUT_DIR = ""  # digit_{k}.npz, generated.npz, summary, figures ("" = outputs/generated[_acgan])
VERBOSE = 1  # 1 = progress bars, 0 = silent

KEEP_MODES = {"all": "every accepted image", "clear": "accepted, not ambiguous", "ambiguous": "accepted and ambiguous"}
OOD_CONSTANTS = frozenset({"OOD_LAYER", "OOD_GRID", "OOD_COVARIANCE", "OOD_RATE"})  # what the density's record holds
GENERATOR_HINTS = {"class_gans": "run 01_train_class_gans.py first.", "acgan": "run 03_train_acgan.py first."}
LATENT_SCALES = {"class_gans": 1.5, "acgan": 1.0}  # the DCGANs' data trains a classifier best drawn 1.5x wider
# (docs/results.md, section 04); the AC-GAN's draws at 1.5 fail the verifier 15% of the time, against 0.8% at 1.0
KEPT = ["x", "mean", "sd", "passes", "challenger", "ambiguous", "atypicality"]  # per digit, one row per kept image
VERDICT_ARRAYS = ["top", "mean", "sd", "passes", "ambiguous", "out_of_distribution", "atypicality"]  # verdicts.npz


def check(cfg):
    """Reject impossible constants before any data is loaded."""
    problems = (config.one_of(cfg, "GENERATOR", GENERATOR_HINTS) + config.one_of(cfg, "KEEP", KEEP_MODES)
                + config.one_of(cfg, "WEIGHTS_FROM", SOURCES)
                + config.one_of(cfg, "VERIFIER", VERIFIERS) + config.distinct_digits(cfg))
    problems += config.at_least_one(cfg, "N_PER_CLASS", "DRAW_BATCH", "MAX_DRAWS",
                                    "VERIFIER_EPOCHS", "VERIFIER_BATCH_SIZE", "VERIFIER_VAL_SIZE", "GALLERY_SIZE")
    problems += mc_problems(cfg) + config.one_of(cfg, "OOD_COVARIANCE", COVARIANCES)
    if not re.fullmatch(r"conv[1-9]|dense", cfg.OOD_LAYER):
        problems.append(f"OOD_LAYER must be conv1, conv2, ... or dense, got {cfg.OOD_LAYER!r}")
    if cfg.OOD_GRID < 1:
        problems.append(f"OOD_GRID must be at least 1, got {cfg.OOD_GRID}")
    if not 0 <= cfg.OOD_RATE < 1:
        problems.append(f"OOD_RATE must lie in [0, 1), got {cfg.OOD_RATE}")
    if not 0 <= cfg.DROPOUT < 1:
        problems.append(f"DROPOUT must lie in [0, 1), got {cfg.DROPOUT}")
    if not cfg.VERIFIER_OUTLIERS >= 0:
        problems.append(f"VERIFIER_OUTLIERS must be 0 (none) or a positive weight, got {cfg.VERIFIER_OUTLIERS}")
    if cfg.VERIFIER_OUTLIER_TILE not in (1, 2, 4, 7, 14):
        problems.append(f"VERIFIER_OUTLIER_TILE must divide 28 (1, 2, 4, 7 or 14), got {cfg.VERIFIER_OUTLIER_TILE}")
    if not cfg.LATENT_SCALE >= 0:
        problems.append(f"LATENT_SCALE must be positive (or 0 for the generator's own), got {cfg.LATENT_SCALE}")
    config.reject(problems)


def load_generators(cfg):
    """{digit: (generator, its weights file)}, all loaded up front, so a missing one fails before
    hours of work; each is the one trained here or the shipped one (WEIGHTS_FROM)."""
    trained = paths.generator_files(cfg.GENERATOR, cfg.GENERATOR_DIR, cfg.CLASSES)
    shipped = paths.shipped_generator_files(cfg.GENERATOR, paths.resolve(cfg.SHIPPED_DIR), cfg.CLASSES)
    chosen = {k: choose(trained[k], shipped[k], cfg.WEIGHTS_FROM) for k in cfg.CLASSES}
    for source in sorted({source for _, source in chosen.values()}):
        digits = [k for k, (_, s) in chosen.items() if s == source]
        folders = sorted({paths.shown(path.parent) for path, s in chosen.values() if s == source})
        print(f"generators of {cfg.GENERATOR} for {digits_text(digits)}: {', '.join(folders)} ({source})")
    files = {k: path for k, (path, _) in chosen.items()}
    missing = sorted({paths.shown(p) for p in files.values() if not p.is_file()})
    if missing:
        raise UserError(f"Missing generator weights {', '.join(missing)}: {GENERATOR_HINTS[cfg.GENERATOR]}")
    loaded = {path: load_generator(path, GENERATOR_HINTS[cfg.GENERATOR]) for path in set(files.values())}
    return {k: (loaded[path], path) for k, path in files.items()}


def digits_text(digits):
    return f"digit {digits[0]}" if len(digits) == 1 else f"digits {', '.join(map(str, digits))}"


def get_verifier(cfg, mnist, weights_dir, output_dir):
    """Load the verifier made with these constants, or train it when there is none; returns
    ``(model, density, info, weights file)``: ``density`` says how typical of its training
    digits an image is (None under OOD_RATE=0) and ``info`` holds its verdicts on the real
    MNIST test set (accuracy, and the rejection, ambiguity and out-of-distribution rates 02
    reports for generated digits: the verifier's own floor), both measured once and kept."""
    (x_train, y_train), (x_test, y_test) = mnist
    record = verifier_record(cfg, (x_train, y_train))
    shipped = paths.verifier(paths.resolve(cfg.SHIPPED_DIR), cfg.VERIFIER)
    path, source = choose(paths.verifier(weights_dir, cfg.VERIFIER), shipped,
                          "trained" if cfg.RETRAIN else cfg.WEIGHTS_FROM, lambda p: matches(p, record))
    # the shipped verifier's density and floor under other constants than those shipped: made here once, kept
    kept_here = output_dir / "verifier" / f"shipped_{cfg.VERIFIER}" if source == "shipped" else None
    keras.utils.set_random_seed(cfg.VERIFIER_SEED)
    val, train = verifier_split(cfg, len(x_train))
    if path.is_file() and not cfg.RETRAIN:
        print(f"verifier: {paths.shown(path)} ({source})")
        require_match(path, record, "rerun with --RETRAIN=1 to train a new verifier")
        model = build(cfg.VERIFIER, cfg.DROPOUT, cfg.MC_PRECISION)
        load_weights(model, path, "delete it and rerun to retrain it")
    else:
        model = train_and_save(cfg, (x_train, y_train), path, output_dir / "verifier")
    density = get_density(cfg, model, path, kept_here, (x_train[train], y_train[train]), x_train[val])
    subset = cfg.VERIFIER_SUBSET or None
    wanted = measurement(cfg, record, path, density)
    info_path = kept_here.with_name(kept_here.name + "_floor.json") if kept_here else sidecar(path)
    info = next((info for info in map(read_json, (sidecar(path), info_path))
                 if info.get("measured_with") == wanted and "test_per_class" in info), None)
    info = info or measure_verifier(cfg, model, density, x_test[:subset], y_test[:subset], wanted, info_path)
    return model, density, info, path


def get_density(cfg, model, path, kept_here, train, held_out):
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


def read_json(path):
    return json.loads(path.read_text()) if path.is_file() else {}


def measurement(cfg, record, path, density):
    """What the verdicts on the real test set depend on: the verifier (its constants and its
    weights file), its density and how it is run."""
    ood = {name: getattr(cfg, name) for name in OOD_CONSTANTS}
    if density is not None:
        ood["threshold"] = float(density["threshold"])
    mc = {name: getattr(cfg, name) for name in verdict_constants(cfg)}
    return {"verifier": record, "weights": fingerprint(path), **ood, **mc}


def measure_verifier(cfg, model, density, x_test, y_test, measured_with, info_path):
    """The verifier's MC verdicts on the real test images, written to ``info_path``."""
    print(f"verifying the {len(x_test)} real MNIST test images ({mc_text(cfg)})")
    reseed_dropout(model, cfg.VERIFIER_SEED)
    scores = mc_scores(model, x_test, y_test, density=density, **verdict_options(cfg))
    info = {"architecture": cfg.VERIFIER, "dropout": cfg.DROPOUT, "mc_passes": cfg.MC_PASSES, "mc_rule": cfg.MC_RULE,
            "mc_test_accuracy": scores["accuracy"], "test_rejection_rate": scores["rejection_rate"],
            "test_ambiguity_rate": scores["ambiguity_rate"], "test_ood_rate": scores["ood_rate"],
            "test_mean_passes": scores["mean_passes"], "test_per_class": scores["per_class"],
            "test_images": len(x_test), "epochs": cfg.VERIFIER_EPOCHS, "record": measured_with["verifier"],
            "measured_with": measured_with}
    print(f"verifier on the real MNIST test set ({scores['mean_passes']:.1f} MC passes per image on average): "
          f"accuracy {scores['accuracy']:.2%}, out of distribution {scores['ood_rate']:.2%}, ambiguous "
          f"{scores['ambiguity_rate']:.2%} of the accepted")
    write_json(info_path, info)
    return info


def keep_mask(accepted, ambiguous, keep):
    """Which verified images to keep under KEEP."""
    if keep == "clear":
        return accepted & ~ambiguous
    if keep == "ambiguous":
        return accepted & ambiguous
    return accepted


def generate_digit(k, generator, verifier, density, cfg, progbar):
    """Draw from ``generator`` until N_PER_CLASS images pass KEEP; returns arrays (with the
    GALLERY_SIZE most atypical rejected images) and counts."""
    rng = np.random.default_rng(cfg.SEED + k)
    reseed_dropout(verifier, cfg.SEED + k)  # digit k's verdicts do not depend on the digits drawn before it
    latent_dim = generator.inputs[0].shape[-1]
    kept = {name: [] for name in KEPT}
    atypical = {"x": np.zeros((0, 28, 28), np.uint8), "atypicality": np.zeros(0)}  # the most atypical rejected
    counts = Counter()
    n_kept = 0
    while n_kept < cfg.N_PER_CLASS:
        if counts["drawn"] >= cfg.MAX_DRAWS:
            raise UserError(
                f"digit {k}: drew {counts['drawn']} images (MAX_DRAWS) but only {n_kept} of the "
                f"{cfg.N_PER_CLASS} wanted passed KEEP={cfg.KEEP!r} ({counts['rejected']} rejected by the "
                f"verifier, {counts['out_of_distribution']} of them unlike any training digit, {counts['ambiguous']} "
                "ambiguous). Train the generator longer, relax KEEP, "
                "or raise MAX_DRAWS."
            )
        n = min(draws_needed(cfg.N_PER_CLASS - n_kept, counts["kept"], counts["drawn"]), cfg.DRAW_BATCH,
                cfg.MAX_DRAWS - counts["drawn"])
        z = rng.standard_normal((n, latent_dim), dtype=np.float32) * np.float32(cfg.LATENT_SCALE)
        x = to_uint8(generate_images(generator, z, np.full(n, k, "int32")))
        verdict = {"x": x, **with_ood_fields(verdicts(verifier, x, density, **verdict_options(cfg)))}
        ood, ambiguous = verdict["out_of_distribution"], verdict["ambiguous"]
        accepted = (verdict["top"] == k) & ~ood
        mask = keep_mask(accepted, ambiguous, cfg.KEEP)
        counts.update(drawn=n, rejected=int((~accepted).sum()), accepted=int(accepted.sum()),
                      ambiguous=int((accepted & ambiguous).sum()), kept=int(mask.sum()),
                      out_of_distribution=int(ood.sum()))
        counts.update(f"challenger_{c}" for c in verdict["challenger"][accepted & ambiguous])
        counts.update(f"passes_{p}" for p in verdict["passes"])
        for name in KEPT:
            kept[name].append(verdict[name][mask])
        atypical = {name: np.concatenate([atypical[name], verdict[name][~accepted]]) for name in atypical}
        worst = np.argsort(-atypical["atypicality"], kind="stable")[: cfg.GALLERY_SIZE]
        atypical = {name: values[worst] for name, values in atypical.items()}
        step = min(int(mask.sum()), cfg.N_PER_CLASS - n_kept)
        n_kept += step
        progbar.add(step)
    arrays = {name: np.concatenate(parts)[: cfg.N_PER_CLASS] for name, parts in kept.items()}
    arrays["y"] = np.full(cfg.N_PER_CLASS, k, np.uint8)
    arrays["x_atypical_rejected"], arrays["atypicality_rejected"] = atypical["x"], atypical["atypicality"]
    arrays["x_raw"] = raw_draws(k, generator, cfg)
    return arrays, counts


def with_ood_fields(verdict):
    """``verdict`` with ``out_of_distribution`` and ``atypicality`` (all False and 0 without a density)."""
    n = len(verdict["top"])
    return {"out_of_distribution": np.zeros(n, bool), "atypicality": np.zeros(n), **verdict}


def raw_draws(k, generator, cfg):
    """N_PER_CLASS fresh draws of digit ``k``, not verified (the original experiment's protocol),
    from a noise stream of their own: 04 trains on them to show what verification buys."""
    z = np.random.default_rng((cfg.SEED + k, 1)).standard_normal((cfg.N_PER_CLASS, generator.inputs[0].shape[-1]),
                                                                dtype=np.float32) * np.float32(cfg.LATENT_SCALE)
    return to_uint8(generate_images(generator, z, np.full(cfg.N_PER_CLASS, k, "int32")))


def load_finished_digit(k, path, record):
    """``(arrays, counts)`` of digit ``k`` generated earlier with ``record``, else ``(None, None)``
    (saying why, when a file made with other settings is there)."""
    if not path.is_file():
        return None, None
    stale = differences(read_record(path), record)
    if stale:
        print(f"digit {k}: {paths.shown(path)} was made with {', '.join(stale)}: drawing it again")
        return None, None
    with np.load(path) as f:
        if "x_atypical_rejected" not in f.files:
            print(f"digit {k}: {paths.shown(path)} was made by an older 02 (no out-of-distribution verdicts): "
                  "drawing it again")
            return None, None
        arrays = {name: f[name] for name in f.files if name not in ("record", "counts")}
        return arrays, Counter(json.loads(str(f["counts"])))


def class_summary(k, counts):
    challengers = Counter({int(key.split("_")[1]): n for key, n in counts.items() if key.startswith("challenger_")})
    passes = {int(key.split("_")[1]): n for key, n in counts.items() if key.startswith("passes_")}
    return {
        "digit": k,
        "drawn": counts["drawn"],
        "rejected": counts["rejected"],
        "rejection_rate": counts["rejected"] / counts["drawn"],
        "out_of_distribution": counts["out_of_distribution"],
        "ood_rate": counts["out_of_distribution"] / counts["drawn"],
        "accepted": counts["accepted"],
        "ambiguous": counts["ambiguous"],
        "ambiguity_rate": counts["ambiguous"] / max(counts["accepted"], 1),
        "top_challenger": challengers.most_common(1)[0][0] if challengers else None,
        "passes": dict(sorted(passes.items())),  # {passes: images verified with that many}
    }


def passes_text(passes, cfg):
    """Mean passes per image and the shares that stopped at the first look and went to MC_PASSES."""
    total = sum(passes.values())
    first = min(cfg.MC_MIN_PASSES, cfg.MC_PASSES) if cfg.MC_RULE == "adaptive" else cfg.MC_PASSES
    mean = sum(p * n for p, n in passes.items()) / total
    return f"{mean:.1f} | {passes.get(first, 0) / total:.1%} | {passes.get(cfg.MC_PASSES, 0) / total:.1%}"


def summary_markdown(rows, cfg, verifier_info):
    lines = [
        f"# Generated data: {cfg.GENERATOR}, KEEP={cfg.KEEP}, {cfg.N_PER_CLASS} per digit",
        "",
        f"Verifier: {cfg.VERIFIER}, dropout {cfg.DROPOUT}, {mc_text(cfg)}; MNIST test accuracy "
        f"{verifier_info['mc_test_accuracy']:.2%} (MC mean).",
        f"{ood_text(cfg)}",
        "Rejected: the verifier's top class is not the digit asked for, or the image is unlike any training "
        "digit (out of distribution, OOD). Ambiguous: among accepted images, the top two classes' mean +- 2 SD "
        "intervals overlap. The floor columns are the verifier's own: its verdicts on the real MNIST test images "
        f"of each digit ({verifier_info['test_images']} in all; rejected = misclassified or OOD), so a generator's "
        "rates can "
        "be told from the verifier's. Passes: the mean number of MC passes per drawn image, and the shares "
        "of images settled at the first look and given all MC_PASSES.",
        "",
        "| digit | drawn | rejected | rejection rate | floor | of which OOD | floor | accepted | ambiguous "
        "| ambiguity rate | floor | top challenger | passes | settled at first look | all passes |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    floors = dict(enumerate(verifier_info["test_per_class"]))
    if len(rows) == len(floors):  # the overall floor is that of all the digits
        floors["all"] = {"rejection_rate": verifier_info["test_rejection_rate"],
                         "ambiguity_rate": verifier_info["test_ambiguity_rate"],
                         "ood_rate": verifier_info["test_ood_rate"]}
    for r in rows + [total_row(rows)]:
        challenger = "" if r["top_challenger"] is None else r["top_challenger"]
        floor = floors.get(r["digit"])
        floor = {key: "" if floor is None else f"{floor[key]:.2%}" for key in ("rejection_rate", "ambiguity_rate",
                                                                                 "ood_rate")}
        lines.append(f"| {r['digit']} | {r['drawn']} | {r['rejected']} | {r['rejection_rate']:.2%} "
                     f"| {floor['rejection_rate']} | {r['out_of_distribution']} ({r['ood_rate']:.2%}) "
                     f"| {floor['ood_rate']} | {r['accepted']} | {r['ambiguous']} | {r['ambiguity_rate']:.2%} "
                     f"| {floor['ambiguity_rate']} | {challenger} | {passes_text(r['passes'], cfg)} |")
    return "\n".join(lines) + "\n"


def ood_text(cfg):
    """The out-of-distribution verdict, in words."""
    if cfg.OOD_RATE == 0:
        return "No out-of-distribution verdict (OOD_RATE=0)."
    return (f"Out of distribution (OOD): the verifier's {cfg.OOD_LAYER} features on a {cfg.OOD_GRID}x{cfg.OOD_GRID} "
            f"grid are less typical of its training digits ({cfg.OOD_COVARIANCE}-covariance Gaussian per class) than "
            f"all but {cfg.OOD_RATE:.1%} of held-out real digits.")


def total_row(rows):
    """The summary row of all digits together."""
    total = {key: sum(r[key] for r in rows) for key in ("drawn", "rejected", "out_of_distribution", "accepted",
                                                        "ambiguous")}
    passes = sum((Counter(r["passes"]) for r in rows), Counter())
    return {"digit": "all", **total, "rejection_rate": total["rejected"] / total["drawn"],
            "ood_rate": total["out_of_distribution"] / total["drawn"],
            "ambiguity_rate": total["ambiguous"] / max(total["accepted"], 1), "top_challenger": None,
            "passes": dict(sorted(passes.items()))}


def save_figures(per_digit, rows, output_dir, gallery_size):
    digits = sorted(per_digit)
    save_atypical_figure({k: per_digit[k]["x"] for k in digits}, {k: per_digit[k]["atypicality"] for k in digits},
                         {k: per_digit[k]["x_atypical_rejected"] for k in digits},
                         {k: per_digit[k]["atypicality_rejected"] for k in digits}, output_dir / "atypical.png",
                         gallery_size)
    grid = np.concatenate([per_digit[k]["x"][:10] for k in digits])
    save_figure(image_grid(grid, ncols=min(10, len(per_digit[digits[0]]["x"])), row_labels=digits,
                           title="accepted samples"), output_dir / "accepted_samples.png")
    save_figure(bar_chart([r["ambiguity_rate"] for r in rows], [r["digit"] for r in rows],
                          "ambiguous / accepted", title="ambiguity rate per digit"), output_dir / "ambiguity_rate.png")
    passes = total_row(rows)["passes"]
    save_figure(bar_chart([n / sum(passes.values()) for n in passes.values()], list(passes), "share of drawn images",
                          title="MC passes each verdict took", xlabel="passes"), output_dir / "passes.png")
    ambiguous = [(k, i) for k in digits for i in np.flatnonzero(per_digit[k]["ambiguous"])]
    if ambiguous:
        spread = np.linspace(0, len(ambiguous) - 1, min(len(ambiguous), gallery_size)).astype(int)
        picks = [ambiguous[i] for i in spread]
        fields = {name: np.stack([per_digit[k][name][i] for k, i in picks]) for name in ("x", "mean", "sd", "passes")}
        save_figure(ambiguity_gallery(fields["x"], fields["mean"], fields["sd"], [k for k, _ in picks],
                                      passes=fields["passes"], title="ambiguous images: top classes, mean +- 2 SD"),
                    output_dir / "ambiguous_gallery.png")


def save_atypical_figure(kept, kept_scores, rejected, rejected_scores, path, size):
    """The ``size`` most atypical kept images (top rows) and rejected ones (bottom rows), each
    captioned with its class and atypicality ({class: images} and {class: scores}; in IMAGES mode
    kept = in distribution, rejected = out of distribution, by the verifier's top class)."""
    rows = []
    for images, scores in ((kept, kept_scores), (rejected, rejected_scores)):
        pool = [(float(score), k, image) for k in images for score, image in zip(scores[k], images[k])]
        rows.append(sorted(pool, key=lambda item: -item[0])[:size])
    picked = rows[0] + rows[1]
    if picked:
        captions = [f"{k}: {score:.0f}" for score, k, _ in picked]
        title = (f"most atypical kept ({len(rows[0])}, first) and rejected ({len(rows[1])}) images: class and "
                 "atypicality")
        save_figure(captioned_grid(np.stack([image for _, _, image in picked]), captions, ncols=min(size, 12),
                                   title=title), path)


def verify_images(cfg, verifier, density, verifier_info, output_dir, device):
    """IMAGES mode: the verdict on each of the user's images -> verdicts.npz, summary and figures."""
    x, y = load_images(paths.resolve(cfg.IMAGES))
    print(f"verifying the {len(x)} images of {cfg.IMAGES}")
    reseed_dropout(verifier, cfg.SEED)
    verdict = with_ood_fields(verdicts(verifier, x, density, **verdict_options(cfg)))
    ood = verdict["out_of_distribution"]
    clear = ~verdict["ambiguous"] & ~ood
    arrays = {name: verdict[name] for name in VERDICT_ARRAYS}
    lines = [f"# Verdicts on {cfg.IMAGES}: {len(x)} images", "", f"Verifier: {cfg.VERIFIER}, {mc_text(cfg)}.",
             ood_text(cfg), "", "| verdict | images | share |", "|---|---|---|"]
    shares = {"clear (a confident digit label)": clear, "ambiguous": verdict["ambiguous"] & ~ood,
              "out of distribution (unlike any training digit)": ood}
    if y is not None:
        arrays["accepted"] = (verdict["top"] == y) & ~ood
        shares = {"accepted (top class = y, in distribution)": arrays["accepted"],
                  "rejected": ~arrays["accepted"], **shares}
    lines += [f"| {name} | {int(rows.sum())} | {rows.mean():.2%} |" for name, rows in shares.items()]
    record = make_record(cfg, ("VERIFIER", *verdict_constants(cfg), *OOD_CONSTANTS, "SEED"),
                         inputs={"images": paths.resolve(cfg.IMAGES),
                                 "verifier": verifier_info["measured_with"]["weights"]})
    save_npz(output_dir / "verdicts.npz", record, **arrays)
    write_json(output_dir / "summary.json", {"images": cfg.IMAGES, "n": len(x), "verifier": verifier_info,
                                             **{name: int(rows.sum()) for name, rows in shares.items()},
                                             "device": device, "record": record})
    write_text(output_dir / "summary.md", "\n".join(lines) + "\n")
    top = verdict["top"]
    scores, classes = verdict["atypicality"], range(verdict["mean"].shape[1])
    def by_class(values, rows):
        return {k: values[rows & (top == k)] for k in classes}

    save_atypical_figure(by_class(x, ~ood), by_class(scores, ~ood), by_class(x, ood), by_class(scores, ood),
                         output_dir / "atypical.png", cfg.GALLERY_SIZE)
    flagged = np.flatnonzero(verdict["ambiguous"] & ~ood)[: cfg.GALLERY_SIZE]
    if len(flagged):
        save_figure(ambiguity_gallery(x[flagged], verdict["mean"][flagged], verdict["sd"][flagged],
                                      top[flagged] if y is None else y[flagged], passes=verdict["passes"][flagged],
                                      title="ambiguous images: top classes, mean +- 2 SD"),
                    output_dir / "ambiguous_gallery.png")
    print("\n".join(lines))
    print(f"verdicts.npz, summary and figures in {paths.shown(output_dir)}")


def main(**overrides):
    cfg = config.resolve(globals(), overrides)
    check(cfg)
    use_all_devices()
    device = tune_for_device(cfg, "MC_BATCH")
    cfg.MC_PRECISION = resolve_precision(cfg.MC_PRECISION)  # recorded as it runs
    cfg.LATENT_SCALE = float(cfg.LATENT_SCALE or LATENT_SCALES[cfg.GENERATOR])  # likewise
    print(f"verdicts: {mc_text(cfg)}")
    default_dir = paths.GENERATED_OUTPUT[cfg.GENERATOR]
    if cfg.IMAGES:
        default_dir = f"{paths.VERDICTS_OUTPUT}/{Path(cfg.IMAGES).stem}"
    output_dir = paths.resolve(cfg.OUTPUT_DIR or default_dir)
    generators = None if cfg.IMAGES else load_generators(cfg)
    mnist = load_dataset("mnist", cfg.DATA_DIR or None)
    verifier, density, verifier_info, verifier_file = get_verifier(cfg, mnist, paths.resolve(cfg.WEIGHTS_DIR),
                                                                   output_dir)
    if cfg.IMAGES:
        return verify_images(cfg, verifier, density, verifier_info, output_dir, device)
    inputs = {"verifier": fingerprint(verifier_file)}
    progbar = keras.utils.Progbar(cfg.N_PER_CLASS * len(cfg.CLASSES), verbose=cfg.VERBOSE, unit_name="image")
    per_digit, rows = {}, []
    for k in cfg.CLASSES:
        generator, generator_file = generators[k]
        inputs[f"generator of digit {k}"] = fingerprint(generator_file)
        record = make_record(cfg, skip=("CLASSES", "IMAGES"), digit=k,
                             inputs={"generator": inputs[f"generator of digit {k}"], "verifier": inputs["verifier"]})
        path = output_dir / f"digit_{k}.npz"
        arrays, counts = load_finished_digit(k, path, record)
        if arrays is None:
            arrays, counts = generate_digit(k, generator, verifier, density, cfg, progbar)
            save_npz(path, record, **arrays, counts=json.dumps(counts))
        else:
            progbar.add(cfg.N_PER_CLASS)
        per_digit[k] = arrays
        rows.append(class_summary(k, counts))
    record = make_record(cfg, skip=("IMAGES",), inputs=inputs)
    save_npz(paths.generated_npz(output_dir), record,
             x_train=np.concatenate([per_digit[k]["x"] for k in cfg.CLASSES]),
             y_train=np.concatenate([per_digit[k]["y"] for k in cfg.CLASSES]),
             x_raw=np.concatenate([per_digit[k]["x_raw"] for k in cfg.CLASSES]),
             y_raw=np.concatenate([per_digit[k]["y"] for k in cfg.CLASSES]),
             **{name: np.concatenate([per_digit[k][name] for k in cfg.CLASSES])
                for name in ("mean", "sd", "passes", "challenger", "ambiguous", "atypicality")})
    write_json(output_dir / "summary.json", {"generator": cfg.GENERATOR, "keep": cfg.KEEP,
                                             "n_per_class": cfg.N_PER_CLASS, "verifier": verifier_info,
                                             "classes": rows, "all": total_row(rows), "device": device,
                                             "record": record})
    write_text(output_dir / "summary.md", summary_markdown(rows, cfg, verifier_info))
    save_figures(per_digit, rows, output_dir, cfg.GALLERY_SIZE)
    print(summary_markdown(rows, cfg, verifier_info))
    print(f"data and figures in {paths.shown(output_dir)}")


if __name__ == "__main__":
    config.run_main(main, globals())
