"""Check the verdicts against the truth: how far to trust a label, and what the MC passes buy.

On real MNIST test images (true labels), every image gets the scores a user could trust a
label by, each with the label it goes with: the max softmax of one deterministic pass
(dropout off), the MC mean's max, its entropy and mutual information (BALD), the 2-SD gap
of the ambiguity rule (top class's mean - 2 SD minus the challenger's mean + 2 SD) and a
deep ensemble's max and mutual information (ENSEMBLE_SEEDS: 02's verifier and verifiers
of the same recipe with other seeds, trained here when absent). It reports for each score
the misclassification AUROC and the area under the risk-coverage curve; the expected
calibration error of one pass, the MC mean and the ensemble; the same under shift (test
digits turned by ANGLES); the rule's width k and pass count swept; and the headline: how
many clear labels are wrong, and how many ambiguous ones. Every image gets MC_PASSES
passes here (the scores need each pass), so the rule is 02's with MC_RULE="fixed".

    python 06_check_the_verdicts.py
    python 06_check_the_verdicts.py --TEST_SUBSET=2000 --ENSEMBLE_SEEDS=2024,1
"""

from models import config  # first: it quiets TensorFlow's C++ start-up logging before keras loads

from types import SimpleNamespace

import keras
import numpy as np

from models import paths, verdict
from models.classifier import predict_classes
from models.data import load_dataset, rotated, to_classifier_input
from models.device import tune_for_device, use_all_devices
from models.files import write_json, write_text
from models.generated import load_ambiguous, load_generated
from models.judges import get_judge, get_verifier
from models.mc import PRECISIONS, mc_model, mc_predict, reseed_dropout
from models.pretrained import SOURCES
from models.record import make_record
from models.trust import aurc, ece, entropy, error_auroc, flag_summary, interval, mutual_information
from models.trust_report import report_markdown, save_figures
from models.verdict import verdicts
from models.verifier import ambiguity, resolve_precision, rule_width, verifier_split, without_dropout

# what is measured
TEST_SUBSET = 0  # score at most this many real test images (0 = all 10,000)
ENSEMBLE_SEEDS = (2024, 1, 2, 3, 4)  # deep ensemble: 02's verifier (seed 2024, shipped) and others trained here
# (each about 15 min on 2 CPU cores, once); the first member gives the MC passes
K_SWEEP = (1.0, 1.5, 2.0, 2.5, 3.0)  # widths (SDs) of the ambiguity rule tried; 02's is 2
PASSES_SWEEP = (10, 30, 100)  # pass counts tried with each width (each image's first passes, of MC_PASSES)
ANGLES = (0, 30, 60, 90, 120, 150, 180)  # test digits turned by these angles (degrees)
ROTATED = 2000  # test images turned by each angle (the first ones)
BINS = 15  # confidence bins of the calibration error
SEED = 0  # dropout seed of the passes
STABILITY_SEED = 1  # the verdicts are drawn again with this dropout seed: how many flip?
BORDERLINE = 0.5  # a verdict whose rule width is within this many SDs of k = 2 is called borderline
BORDERLINE_PASSES = 400  # passes more for the borderline images, to see whether more passes settle them

# the verifier (every member's recipe), its passes and the independent judge: defaults in models/defaults.py,
# shared with 02-07 and bench/ (--help lists them); every image gets MC_PASSES passes here (the scores need each)
from models.defaults import (BATCH_SIZE, DENSE_UNITS, DROPOUT, FILTERS, INDEPENDENT_IMPRESSIONS,  # noqa: E402, F401
                             INDEPENDENT_SEED, JUDGE_HELD_OUT, MC_BATCH, MC_MIN_PASSES, MC_PASSES, MC_PRECISION,
                             MC_ROUND_PASSES, VERIFIER, VERIFIER_BATCH_SIZE, VERIFIER_EPOCHS, VERIFIER_SUBSET,
                             VERIFIER_VAL_SIZE)

# files
GENERATED = f"{paths.GENERATED_OUTPUT['class_gans']}/generated.npz"  # 02's data, judged if there ("" = skip)
AMBIGUOUS = f"{paths.AMBIGUOUS_OUTPUT}/ambiguous.npz"  # 05's between-class digits, judged if there ("" = skip)
WEIGHTS_FROM = "auto"  # the members and 04's judge: trained here where they exist, else the shipped ones
DATA_DIR = ""  # folder of the MNIST IDX gz files ("" = data/mnist)
WEIGHTS_DIR = paths.VERIFIER_WEIGHTS  # 04's judge is read from here
ENSEMBLE_DIR = "weights/verifier_ensemble"  # member of seed s: seed_{s}/verifier_{VERIFIER}.weights.h5
SHIPPED_DIR = paths.PRETRAINED_WEIGHTS  # the shipped weights
OUTPUT_DIR = "outputs/verdict_check"  # report.md, report.json, figures
GALLERY_SIZE = 12  # the clear verdicts with wrong labels shown
VERBOSE = 1  # 1 = progress, 0 = silent

PROBABILITIES = ["one pass", "MC mean", "ensemble"]  # the predictions calibration is judged for


def check(cfg):
    """Reject impossible constants before any data is loaded."""
    problems = config.one_of(cfg, "VERIFIER", verdict.PRODUCT_VERIFIERS) + config.one_of(cfg, "WEIGHTS_FROM", SOURCES)
    problems += config.one_of(cfg, "MC_PRECISION", PRECISIONS)
    problems += config.at_least_one(cfg, "ROTATED", "BINS", "VERIFIER_EPOCHS", "GALLERY_SIZE", "BORDERLINE_PASSES",
                                    "MC_ROUND_PASSES", "MC_MIN_PASSES")
    if cfg.MC_BATCH < 0:
        problems.append(f"MC_BATCH must be at least 1, or 0 to choose it for the device, got {cfg.MC_BATCH}")
    if cfg.MC_PASSES < 2 or any(p < 2 or p > cfg.MC_PASSES for p in cfg.PASSES_SWEEP):
        problems.append(f"MC_PASSES must be at least 2 and PASSES_SWEEP within 2..MC_PASSES, got {cfg.MC_PASSES} and "
                        f"{','.join(map(str, cfg.PASSES_SWEEP))}")
    if cfg.STABILITY_SEED == cfg.SEED or cfg.BORDERLINE <= 0:
        problems.append(f"STABILITY_SEED must differ from SEED ({cfg.SEED}) and BORDERLINE be above 0, got "
                        f"{cfg.STABILITY_SEED} and {cfg.BORDERLINE}")
    if not cfg.ENSEMBLE_SEEDS or len(set(cfg.ENSEMBLE_SEEDS)) < len(cfg.ENSEMBLE_SEEDS):
        problems.append(f"ENSEMBLE_SEEDS must name distinct seeds, got {','.join(map(str, cfg.ENSEMBLE_SEEDS))!r}")
    config.reject(problems)


def load_members(cfg, mnist, output_dir):
    """The ensemble: per seed, the verifier of the members' recipe, loaded or trained in ENSEMBLE_DIR
    (the member of 02's seed is the shipped verifier where none is trained there)."""
    members = []
    for seed in cfg.ENSEMBLE_SEEDS:
        recipe = SimpleNamespace(**{**vars(cfg), "VERIFIER_SEED": int(seed), "OOD_RATE": 0.0})
        folder = paths.resolve(cfg.ENSEMBLE_DIR) / f"seed_{seed}"
        print(f"ensemble member of seed {seed}:")
        members.append(get_verifier(recipe, mnist, output_dir, weights_dir=folder, floor=False,
                                    log_dir=output_dir / "members" / f"seed_{seed}").model)
    return members


def mc_passes(model, x, cfg, count=None):
    """Every pass of every image: (N, count, classes), MC_PASSES passes unless ``count`` says."""
    count = count or cfg.MC_PASSES
    per_call = max(1, cfg.MC_BATCH // count)
    each = mc_model(model, count, per_pass=True)
    x = to_classifier_input(x)
    progbar = keras.utils.Progbar(len(x), verbose=cfg.VERBOSE, unit_name="image")
    parts = []
    for start in range(0, len(x), per_call):
        parts.append(np.asarray(each.predict_on_batch(x[start : start + per_call])))
        progbar.add(len(parts[-1]))
    return np.concatenate(parts)


def scores_of(members, singles, x, cfg):
    """The scores of images ``x``: {name: (score, label)} (higher score = less to be trusted), with
    the probabilities calibration is judged on and the MC mean, SD and passes."""
    reseed_dropout(members[0], cfg.SEED)
    passes = mc_passes(members[0], x, cfg)
    mean, sd = passes.mean(axis=1), passes.std(axis=1)
    top, challenger, ambiguous = ambiguity(mean, sd)
    rows = np.arange(len(x))
    gap = mean[rows, top] - 2 * sd[rows, top] - mean[rows, challenger] - 2 * sd[rows, challenger]
    each = np.stack([single.predict(to_classifier_input(x), batch_size=1024, verbose=0) for single in singles], 1)
    one, ensemble = each[:, 0], each.mean(axis=1)
    scores = {"one pass: max softmax": (1 - one.max(1), one.argmax(1)),
              "MC mean: max": (1 - mean.max(1), top), "MC mean: entropy": (entropy(mean), top),
              "MC: mutual information": (mutual_information(passes), top), "MC: 2-SD gap": (-gap, top),
              "ensemble: max": (1 - ensemble.max(1), ensemble.argmax(1)),
              "ensemble: mutual information": (mutual_information(each), ensemble.argmax(1))}
    probabilities = {"one pass": one, "MC mean": mean, "ensemble": ensemble}
    return scores, probabilities, {"passes": passes, "top": top, "ambiguous": ambiguous}


def score_table(scores, y):
    """Per score: AUROC and AURC for telling its wrong labels from its right ones, its error rate."""
    rows = []
    for name, (score, label) in scores.items():
        wrong = label != y
        rows.append({"score": name, "auroc": error_auroc(score, wrong), "aurc": aurc(score, wrong),
                     "error_rate": float(wrong.mean())})
    return rows


def sweep(passes, y, cfg):
    """The flag for each k in K_SWEEP and pass count in PASSES_SWEEP: share flagged and errors caught."""
    rows = []
    for count in cfg.PASSES_SWEEP:
        mean, sd = passes[:, :count].mean(axis=1), passes[:, :count].std(axis=1)
        width, wrong = rule_width(mean, sd), mean.argmax(axis=1) != y
        for k in cfg.K_SWEEP:
            rows.append({"passes": count, "k": k, **flag_summary(width <= k, wrong)})
    return rows


def flips(width, again, band, k=2.0):
    """How two draws of the verdict (rule widths ``width`` and ``again``) differ: the share of
    images whose flag flips, how many of those sat within ``band`` SDs of ``k`` in the first
    draw, the share called borderline there, and the flips left between the two firm states."""
    flipped = (width <= k) != (again <= k)
    near, near_again = np.abs(width - k) < band, np.abs(again - k) < band
    return {"flagged": float((width <= k).mean()), "flipped": float(flipped.mean()),
            "flipped_of_flagged": float(flipped.sum() / max((width <= k).sum(), 1)),
            "flips_near": float((flipped & near).sum() / max(flipped.sum(), 1)), "borderline": float(near.mean()),
            "firm_flips": float((flipped & ~near & ~near_again).mean())}


def one_pass_confidence(model, single, mnist_train, cfg):
    """The top probability below which one deterministic pass flags as many of the shipped
    verifier's held-out validation digits as 02's rule (adaptive, MC_PASSES at most) does:
    02's ONE_PASS_CONFIDENCE -> (that probability, the share flagged)."""
    recipe = SimpleNamespace(**{**vars(cfg), "VERIFIER_SEED": cfg.ENSEMBLE_SEEDS[0]})
    x_val = mnist_train[0][verifier_split(recipe, len(mnist_train[0]))[0]]
    print(f"02's rule on {len(x_val)} held-out validation digits, for the one-pass threshold")
    reseed_dropout(model, cfg.SEED)
    share = float(verdicts(model, x_val, **verdict.mc_options(cfg, "adaptive"))["ambiguous"].mean())
    top = single.predict(to_classifier_input(x_val), batch_size=1024, verbose=0).max(axis=1)
    return float(np.quantile(top, share)), share


def stability(model, x, first, cfg):
    """The verdict drawn with dropout seeds SEED (``first``: its passes, the last calls ``model``'s
    dropout made) and STABILITY_SEED: how many flags flip under the fixed rule at each pass
    count, under 02's adaptive rule, and when the borderline images get BORDERLINE_PASSES passes
    more -> (rows, the widths of both MC_PASSES-pass draws)."""
    draws, widths, extended, adaptive = [], [], [], []
    for seed in (cfg.SEED, cfg.STABILITY_SEED):
        print(f"the verdicts with dropout seed {seed}: {'again, ' * (seed != cfg.SEED)}fixed, then adaptive")
        if seed == cfg.SEED:
            passes = first  # the stream goes on from where those passes left it
        else:
            reseed_dropout(model, seed)
            passes = mc_passes(model, x, cfg)
        width = rule_width(passes.mean(axis=1), passes.std(axis=1))
        near = np.flatnonzero(np.abs(width - 2) < cfg.BORDERLINE)
        width_more = width.copy()
        if len(near):
            more = np.concatenate([passes[near], mc_passes(model, x[near], cfg, cfg.BORDERLINE_PASSES)], axis=1)
            width_more[near] = rule_width(more.mean(axis=1), more.std(axis=1))
        draws.append(passes)
        widths.append(width)
        extended.append(width_more)
        reseed_dropout(model, seed)
        mean, sd, used = mc_predict(model, x, **verdict.mc_options(cfg, "adaptive"))
        adaptive.append((rule_width(mean, sd), float(used.mean())))
    rows = []
    for count in cfg.PASSES_SWEEP:
        fewer = [rule_width(p[:, :count].mean(axis=1), p[:, :count].std(axis=1)) for p in draws]
        rows.append({"rule": f"fixed, {count} passes", "mean_passes": count, **flips(*fewer, cfg.BORDERLINE)})
    rows.append({"rule": f"adaptive, {cfg.MC_PASSES} at most (02's)", "mean_passes": adaptive[0][1],
                 **flips(adaptive[0][0], adaptive[1][0], cfg.BORDERLINE)})
    borderline = (np.abs(widths[0] - 2) < cfg.BORDERLINE).mean()
    rows.append({"rule": f"fixed, {cfg.MC_PASSES} + {cfg.BORDERLINE_PASSES} for the borderline",
                 "mean_passes": cfg.MC_PASSES + borderline * cfg.BORDERLINE_PASSES,
                 **flips(*extended, cfg.BORDERLINE)})
    return rows, widths


def judge_generated(judge, cfg):
    """02's data through the independent judge: per digit, how often it disputes 02's label among
    the clear and the ambiguous accepted images (None when GENERATED is not there)."""
    path = paths.resolve(cfg.GENERATED) if cfg.GENERATED else None
    if path is None or not path.is_file():
        print(f"no generated data at {cfg.GENERATED!r}: run 02_generate_and_verify.py to judge its labels too")
        return None
    data = load_generated(path, "02_generate_and_verify.py")
    label, ambiguous = data["y_train"], data["ambiguous"]
    disputed = predict_classes(judge, data["x_train"]) != label
    rows = [{"digit": int(d), **flag_summary(ambiguous[label == d], disputed[label == d])} for d in np.unique(label)]
    return {"path": paths.shown(path), "digits": rows, "all": flag_summary(ambiguous, disputed)}


def judge_between(judge, cfg):
    """05's between-class digits through the independent judge: does it too see the two classes the
    verifier saw, and does it agree with the labels of their clear twins (None when AMBIGUOUS is
    not there)."""
    path = paths.resolve(cfg.AMBIGUOUS) if cfg.AMBIGUOUS else None
    data = load_ambiguous(path, 0)
    if data is None:
        print(f"no between-class digits at {cfg.AMBIGUOUS!r}: run 05_make_ambiguous_digits.py to judge them too")
        return None
    probs = np.asarray(judge.predict(to_classifier_input(data["x_train"]), batch_size=1024, verbose=0))
    pair = np.sort(np.argsort(-data["mean"], axis=1)[:, :2], axis=1)
    judged_pair = np.sort(np.argsort(-probs, axis=1)[:, :2], axis=1)
    twins, label = data["x_clear"][data["clear"]], data["y_train"][data["clear"]]
    disputed = int((predict_classes(judge, twins) != label).sum())
    return {"path": paths.shown(path), "between": len(probs),
            "judge_top_in_pair": float((probs.argmax(1)[:, None] == pair).any(1).mean()),
            "judge_pair_same": float((judged_pair == pair).all(1).mean()),
            "judge_second_median": float(np.median(np.sort(probs, axis=1)[:, -2])),
            "twins": len(twins), "twins_disputed": disputed / max(len(twins), 1),
            "twins_disputed_interval": interval(disputed, len(twins))}


def shift(members, singles, x, y, matched, cfg):
    """Per angle: accuracy, share flagged and error among clear, for one pass, MC and the ensemble
    (one pass and ensemble flag below a max-probability threshold ``matched`` to flag as many
    unturned test images as the 2-SD rule does)."""
    rows = []
    for angle in cfg.ANGLES:
        print(f"test digits turned {angle} degrees")
        scores, probabilities, mc = scores_of(members, singles, rotated(x, angle), cfg)
        row = {"angle": angle}
        for name, flag in (("one pass", probabilities["one pass"].max(1) < matched["one pass"]),
                           ("MC", mc["ambiguous"]),
                           ("ensemble", probabilities["ensemble"].max(1) < matched["ensemble"])):
            label = probabilities["MC mean" if name == "MC" else name].argmax(1)
            row[name] = {"accuracy": float((label == y).mean()), **flag_summary(flag, label != y)}
        rows.append(row)
    return rows


def main(**overrides):
    cfg = config.resolve(globals(), overrides)
    check(cfg)
    use_all_devices()
    tune_for_device(cfg, "MC_BATCH")
    cfg.MC_PRECISION = resolve_precision(cfg.MC_PRECISION)
    output_dir = paths.resolve(cfg.OUTPUT_DIR)
    mnist = load_dataset("mnist", cfg.DATA_DIR or None)
    (x_train, y_train), (x_test, y_test) = mnist
    x, y = x_test[: cfg.TEST_SUBSET or None], y_test[: cfg.TEST_SUBSET or None]
    members = load_members(cfg, mnist, output_dir)
    singles = [without_dropout(member, cfg.VERIFIER, cfg.MC_PRECISION) for member in members]
    print(f"scoring {len(x)} real test images ({cfg.MC_PASSES} MC passes each)")
    scores, probabilities, mc = scores_of(members, singles, x, cfg)
    table = score_table(scores, y)
    wrong = mc["top"] != y
    flag = flag_summary(mc["ambiguous"], wrong)
    calibration = {name: ece(p.max(1), p.argmax(1) == y, cfg.BINS) for name, p in probabilities.items()}
    sweep_rows = sweep(mc["passes"], y, cfg)
    stability_rows, widths = stability(members[0], x, mc["passes"], cfg)
    confidence, share = one_pass_confidence(members[0], singles[0], (x_train, y_train), cfg)
    one = probabilities["one pass"]
    one_pass = {"confidence": confidence, "validation_flagged": share,
                **flag_summary(one.max(1) < confidence, one.argmax(1) != y)}
    again = singles[0].predict(to_classifier_input(x), batch_size=1024, verbose=0).max(1)  # deterministic: no flips?
    stability_rows.append({"rule": "one pass, dropout off, below ONE_PASS_CONFIDENCE", "mean_passes": 1,
                           **flips(one.max(1), again, 0.0, k=confidence)})
    # one pass and the ensemble flag as many test images as the 2-SD rule, for the shift comparison
    matched = {name: float(np.quantile(probabilities[name].max(1), flag["flagged"]))
               for name in ("one pass", "ensemble")}
    shift_rows = shift(members, singles, x_test[: cfg.ROTATED], y_test[: cfg.ROTATED], matched, cfg)
    judge, _, judge_file = get_judge(cfg, "cnn", mnist)
    judged = {"test": flag_summary(mc["ambiguous"], predict_classes(judge, x) != mc["top"]),
              "generated": judge_generated(judge, cfg), "between": judge_between(judge, cfg)}
    files = {"judge": judge_file, "generated data": cfg.GENERATED, "between-class digits": cfg.AMBIGUOUS}
    files = {name: paths.resolve(path) for name, path in files.items() if path and paths.resolve(path).is_file()}
    record = make_record(cfg, inputs={"MNIST test images": x, **files})
    results = {"scores": table, "flag": flag, "calibration": calibration, "sweep": sweep_rows,
               "stability": stability_rows, "one_pass": one_pass, "shift": shift_rows, "judged": judged,
               "images": len(x)}
    write_json(output_dir / "report.json", {**results, "record": record})
    markdown = report_markdown(results, cfg, paths.shown(judge_file))
    write_text(output_dir / "report.md", markdown)
    save_figures(scores, probabilities, mc, results, widths, x, y, cfg, output_dir)
    print(markdown)
    print(f"report and figures in {paths.shown(output_dir)}")


if __name__ == "__main__":
    config.run_main(main, globals())
