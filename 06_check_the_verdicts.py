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

from models import paths
from models.classifier import build_classifier, predict_classes
from models.config import UserError
from models.data import load_dataset, rotated, to_classifier_input
from models.files import load_weights, save_figure, write_json, write_text
from models.generated import load_ambiguous, load_generated
from models.mc import PRECISIONS, mc_model, mc_predict, reseed_dropout
from models.plots import captioned_grid, curves
from models.pretrained import SOURCES, choose
from models.record import make_record, matches, read_record, require_match
from models.trust import (aurc, ece, entropy, error_auroc, flag_summary, interval, mutual_information, reliability,
                          risk_coverage)
from models.verifier import (VERIFIER_CONSTANTS, VERIFIERS, ambiguity, build, resolve_precision, rule_width,
                             train_and_save, verdicts, verifier_record, verifier_split,
                             without_dropout)

ENSEMBLE_SEEDS = (2024, 1, 2, 3, 4)  # deep ensemble: 02's verifier (seed 2024, shipped) and others trained here
VERIFIER = "default"  # the members' recipe, as 02's constants of the same names
DROPOUT = 0.4
VERIFIER_EPOCHS = 15  # each member missing here trains 15 epochs: about 15 min on 2 cores
VERIFIER_BATCH_SIZE = 128
VERIFIER_VAL_SIZE = 5000
VERIFIER_SUBSET = 0  # train the members on at most this many images (0 = all; for quick tests)
MC_PASSES = 100  # passes of every image with the first member (02's verifier)
MC_BATCH = 512  # rows (images x passes) per verifier call
MC_PRECISION = "auto"  # as 02's: bfloat16 layers where the hardware has them, else float32
K_SWEEP = (1.0, 1.5, 2.0, 2.5, 3.0)  # widths (SDs) of the ambiguity rule tried; 02's is 2
PASSES_SWEEP = (10, 30, 100)  # pass counts tried with each width (the first of the MC_PASSES)
ANGLES = (0, 30, 60, 90, 120, 150, 180)  # test digits turned by these angles (degrees)
ROTATED = 2000  # test images turned by each angle (the first ones)
BINS = 15  # confidence bins of the calibration error
TEST_SUBSET = 0  # score at most this many test images (0 = all 10,000)
GALLERY_SIZE = 12  # the clear verdicts with wrong labels shown
SEED = 0  # dropout seed of the passes
STABILITY_SEED = 1  # the verdicts are drawn again with this dropout seed: how many flip?
BORDERLINE = 0.5  # a verdict whose rule width is within this many SDs of k = 2 is called borderline
BORDERLINE_PASSES = 400  # passes more for the borderline images, to see whether more passes settle them
GENERATED = f"{paths.GENERATED_OUTPUT['class_gans']}/generated.npz"  # 02's data, judged if there ("" = skip)
AMBIGUOUS = f"{paths.AMBIGUOUS_OUTPUT}/ambiguous.npz"  # 05's between-class digits, judged if there ("" = skip)
JUDGE = f"{paths.PRETRAINED_WEIGHTS}/independent_classifier.weights.h5"  # 04's independent classifier
DATA_DIR = ""  # folder of the MNIST IDX gz files ("" = data/mnist)
WEIGHTS_FROM = "auto"  # as 02's, for the member of seed 2024
ENSEMBLE_DIR = "weights/verifier_ensemble"  # member of seed s: seed_{s}/verifier_{VERIFIER}.weights.h5
SHIPPED_DIR = paths.PRETRAINED_WEIGHTS  # the shipped weights
OUTPUT_DIR = "outputs/verdict_check"  # report.md, report.json, figures
VERBOSE = 1  # 1 = progress, 0 = silent

PROBABILITIES = ["one pass", "MC mean", "ensemble"]  # the predictions calibration is judged for


def check(cfg):
    problems = config.one_of(cfg, "VERIFIER", VERIFIERS) + config.one_of(cfg, "WEIGHTS_FROM", SOURCES)
    problems += config.one_of(cfg, "MC_PRECISION", PRECISIONS)
    problems += config.at_least_one(cfg, "MC_BATCH", "ROTATED", "BINS", "VERIFIER_EPOCHS", "GALLERY_SIZE",
                                    "BORDERLINE_PASSES")
    if cfg.MC_PASSES < 2 or any(p < 2 or p > cfg.MC_PASSES for p in cfg.PASSES_SWEEP):
        problems.append(f"MC_PASSES must be at least 2 and PASSES_SWEEP within 2..MC_PASSES, got {cfg.MC_PASSES} and "
                        f"{','.join(map(str, cfg.PASSES_SWEEP))}")
    if cfg.STABILITY_SEED == cfg.SEED or cfg.BORDERLINE <= 0:
        problems.append(f"STABILITY_SEED must differ from SEED ({cfg.SEED}) and BORDERLINE be above 0, got "
                        f"{cfg.STABILITY_SEED} and {cfg.BORDERLINE}")
    if not cfg.ENSEMBLE_SEEDS or len(set(cfg.ENSEMBLE_SEEDS)) < len(cfg.ENSEMBLE_SEEDS):
        problems.append(f"ENSEMBLE_SEEDS must name distinct seeds, got {','.join(map(str, cfg.ENSEMBLE_SEEDS))!r}")
    config.reject(problems)


def load_members(cfg, mnist_train, output_dir):
    """The ensemble: per seed, the verifier of the members' recipe, read or trained -> [(model, path)]."""
    members = []
    for seed in cfg.ENSEMBLE_SEEDS:
        recipe = SimpleNamespace(**{name: getattr(cfg, name) for name in VERIFIER_CONSTANTS - {"VERIFIER_SEED"}},
                                 VERIFIER_SEED=int(seed), VERBOSE=cfg.VERBOSE, MC_PRECISION=cfg.MC_PRECISION)
        record = verifier_record(recipe, mnist_train)
        trained = paths.verifier(paths.resolve(cfg.ENSEMBLE_DIR) / f"seed_{seed}", cfg.VERIFIER)
        shipped = paths.verifier(paths.resolve(cfg.SHIPPED_DIR), cfg.VERIFIER)
        path, source = choose(trained, shipped, cfg.WEIGHTS_FROM, lambda p, wanted=record: matches(p, wanted))
        if path.is_file():
            require_match(path, record, f"delete {paths.shown(path)} to train it again")
            model = build(cfg.VERIFIER, cfg.DROPOUT, cfg.MC_PRECISION)
            load_weights(model, path, "delete it and rerun to train it again")
            print(f"ensemble member of seed {seed}: {paths.shown(path)} ({source})")
        else:
            model = train_and_save(recipe, mnist_train, path, output_dir / "members" / f"seed_{seed}")
        members.append(model)
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
    recipe = SimpleNamespace(VERIFIER_SEED=cfg.ENSEMBLE_SEEDS[0], VERIFIER_VAL_SIZE=cfg.VERIFIER_VAL_SIZE,
                             VERIFIER_SUBSET=cfg.VERIFIER_SUBSET)
    x_val = mnist_train[0][verifier_split(recipe, len(mnist_train[0]))[0]]
    print(f"02's rule on {len(x_val)} held-out validation digits, for the one-pass threshold")
    reseed_dropout(model, cfg.SEED)
    share = float(verdicts(model, x_val, passes=cfg.MC_PASSES, batch=cfg.MC_BATCH, rule="adaptive")["ambiguous"].mean())
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
        mean, sd, used = mc_predict(model, x, cfg.MC_PASSES, cfg.MC_BATCH, rule="adaptive")
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


def load_judge(cfg):
    """04's independent classifier (its own architecture, trained on other real images than the
    verifier's), built from the constants its weights file records."""
    path = paths.resolve(cfg.JUDGE)
    fix = "run 04_train_classifier_on_synthetic.py to make it, or name another with --JUDGE"
    if not path.is_file():
        raise UserError(f"The independent classifier {paths.shown(path)} is missing: {fix}.")
    constants = (read_record(path, fix) or {}).get("constants", {})
    if "FILTERS" not in constants or "DENSE_UNITS" not in constants:
        raise UserError(f"{paths.shown(path)} does not record its FILTERS and DENSE_UNITS: {fix}.")
    judge = build_classifier(tuple(constants["FILTERS"]), constants["DENSE_UNITS"], name="independent_classifier")
    load_weights(judge, path, fix)
    return judge


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


def rate(summary, which):
    """``"0.031% (3 of 9,650; 0.011-0.091%)"``: the error rate among the ``which`` ("clear" or
    "flagged") images of a flag_summary, with its counts and 95% interval."""
    n = summary["clear"] if which == "clear" else summary["n_flagged"]
    low, high = summary[f"error_{which}_interval"]
    d = 3 if which == "clear" else 1
    return f"{summary[f'error_{which}']:.{d}%} ({summary[f'wrong_{which}']} of {n:,}; {low:.{d}%}-{high:.{d}%})"


def report_markdown(results, cfg):
    flag, judged = results["flag"], results["judged"]
    low, high = flag["error_clear_interval"]
    lines = [f"# How far to trust a label: {results['images']} real MNIST test images", "",
             f"Verifier: 02's ({cfg.VERIFIER}, dropout {cfg.DROPOUT}), {cfg.MC_PASSES} MC passes for every image, "
             f"{cfg.MC_PRECISION}; ensemble of {len(cfg.ENSEMBLE_SEEDS)} verifiers (seeds "
             f"{', '.join(map(str, cfg.ENSEMBLE_SEEDS))}); independent judge {cfg.JUDGE}.", "",
             f"**Of the clear labels, {flag['error_clear'] * 1e4:.1f} in 10,000 are wrong** (95% interval "
             f"{low * 1e4:.1f}-{high * 1e4:.1f}); **of the ambiguous, {flag['error_flagged']:.1%}** "
             f"({flag['error_flagged_interval'][0]:.1%}-{flag['error_flagged_interval'][1]:.1%}).", ""]
    if judged["generated"]:
        every = judged["generated"]["all"]
        low, high = every["error_clear_interval"]
        lines += [f"**Of the clear labels of 02's data, {every['error_clear'] * 1e4:.1f} in 10,000 are disputed by the "
                  f"independent judge** ({low * 1e4:.1f}-{high * 1e4:.1f}); **of the ambiguous, "
                  f"{every['error_flagged']:.1%}**. On real test digits the judge disputes "
                  f"{judged['test']['error_clear'] * 1e4:.1f} in 10,000 clear labels, where "
                  f"{flag['error_clear'] * 1e4:.1f} are wrong: its disputes count its own mistakes too.", ""]
    lines += ["| score | misclassification AUROC | AURC (x 1000) | error rate of its label |", "|---|---|---|---|"]
    lines += [f"| {r['score']} | {r['auroc']:.4f} | {r['aurc'] * 1000:.3f} | {r['error_rate']:.2%} |"
              for r in results["scores"]]
    lines += ["", "| flag | flagged | error among flagged | error among clear | errors caught |",
              "|---|---|---|---|---|",
              f"| 2-SD rule, {cfg.MC_PASSES} passes | {flag['flagged']:.2%} | {rate(flag, 'flagged')} | "
              f"{rate(flag, 'clear')} | {flag['errors_caught']:.1%} |",
              f"| one pass, top probability below {results['one_pass']['confidence']:.4f} (02's MC_RULE=one_pass: "
              f"flags {results['one_pass']['validation_flagged']:.2%} of validation digits, as 02's rule) | "
              f"{results['one_pass']['flagged']:.2%} | {rate(results['one_pass'], 'flagged')} | "
              f"{rate(results['one_pass'], 'clear')} | {results['one_pass']['errors_caught']:.1%} |", "",
              f"Expected calibration error ({cfg.BINS} bins): "
              + ", ".join(f"{name} {value:.4f}" for name, value in results["calibration"].items()) + ".", "",
              "| passes | k | flagged | errors caught | error among clear |", "|---|---|---|---|---|"]
    lines += [f"| {r['passes']} | {r['k']} | {r['flagged']:.2%} | {r['errors_caught']:.1%} | {r['error_clear']:.3%} |"
              for r in results["sweep"]]
    lines += ["", f"Stability: the verdicts drawn again with dropout seed {cfg.STABILITY_SEED} (first draw: seed "
              f"{cfg.SEED}). Borderline: rule width within {cfg.BORDERLINE} SD of k = 2 in the first draw; firm flips: "
              "flips where neither draw was borderline.", "",
              "| rule | mean passes | flagged | flags that flip | flips / flagged | flips that were borderline | "
              "borderline | firm flips |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['rule']} | {r['mean_passes']:.1f} | {r['flagged']:.2%} | {r['flipped']:.2%} | "
              f"{r['flipped_of_flagged']:.1%} | {r['flips_near']:.0%} | {r['borderline']:.2%} | {r['firm_flips']:.3%} |"
              for r in results["stability"]]
    lines += ["", "| angle | " + " | ".join(f"{n}: accuracy, flagged, error among clear" for n in ("one pass", "MC",
                                                                                                  "ensemble")) + " |",
              "|---|---|---|---|"]
    for r in results["shift"]:
        cells = [f"{r[n]['accuracy']:.1%}, {r[n]['flagged']:.1%}, {r[n]['error_clear']:.2%}"
                 for n in ("one pass", "MC", "ensemble")]
        lines.append(f"| {r['angle']} | " + " | ".join(cells) + " |")
    lines += judged_markdown(judged)
    return "\n".join(lines) + "\n"


def judged_markdown(judged):
    """The independent judge's disputes with the verifier's labels, real and generated."""
    lines = ["", "The independent judge against the verifier's label (a dispute: the judge names another digit):", "",
             "| images | clear | disputed among clear | ambiguous | disputed among ambiguous |",
             "|---|---|---|---|---|",
             f"| real MNIST test | {judged['test']['clear']:,} | {rate(judged['test'], 'clear')} | "
             f"{judged['test']['n_flagged']:,} | {rate(judged['test'], 'flagged')} |"]
    if judged["generated"]:
        for r in [*judged["generated"]["digits"], {"digit": "all", **judged["generated"]["all"]}]:
            name = "all digits" if r["digit"] == "all" else f"digit {r['digit']}"
            lines.append(f"| 02's {name} | {r['clear']:,} | {rate(r, 'clear')} | {r['n_flagged']:,} | "
                         f"{rate(r, 'flagged')} |")
    between = judged["between"]
    if between:
        low, high = between["twins_disputed_interval"]
        lines += ["", f"05's {between['between']:,} between-class digits: the judge's top class is one of the "
                  f"verifier's two in {between['judge_top_in_pair']:.1%}, its top two are the verifier's two in "
                  f"{between['judge_pair_same']:.1%}, and its second class holds a median "
                  f"{between['judge_second_median']:.0%} of the probability. Of their {between['twins']:,} clear twins "
                  f"it disputes {between['twins_disputed']:.2%} ({low:.2%}-{high:.2%})."]
    return lines


def main(**overrides):
    cfg = config.resolve(globals(), overrides)
    check(cfg)
    cfg.MC_PRECISION = resolve_precision(cfg.MC_PRECISION)
    output_dir = paths.resolve(cfg.OUTPUT_DIR)
    (x_train, y_train), (x_test, y_test) = load_dataset("mnist", cfg.DATA_DIR or None)
    x, y = x_test[: cfg.TEST_SUBSET or None], y_test[: cfg.TEST_SUBSET or None]
    members = load_members(cfg, (x_train, y_train), output_dir)
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
    judge = load_judge(cfg)
    judged = {"test": flag_summary(mc["ambiguous"], predict_classes(judge, x) != mc["top"]),
              "generated": judge_generated(judge, cfg), "between": judge_between(judge, cfg)}
    files = {"judge": cfg.JUDGE, "generated data": cfg.GENERATED, "between-class digits": cfg.AMBIGUOUS}
    files = {name: paths.resolve(path) for name, path in files.items() if path and paths.resolve(path).is_file()}
    record = make_record(cfg, inputs={"MNIST test images": x, **files})
    results = {"scores": table, "flag": flag, "calibration": calibration, "sweep": sweep_rows,
               "stability": stability_rows, "one_pass": one_pass, "shift": shift_rows, "judged": judged,
               "images": len(x)}
    write_json(output_dir / "report.json", {**results, "record": record})
    markdown = report_markdown(results, cfg)
    write_text(output_dir / "report.md", markdown)
    save_figures(scores, probabilities, mc, results, widths, x, y, cfg, output_dir)
    print(markdown)
    print(f"report and figures in {paths.shown(output_dir)}")


def save_figures(scores, probabilities, mc, results, widths, x, y, cfg, output_dir):
    sweep_rows, shift_rows = results["sweep"], results["shift"]
    risk = {name: risk_coverage(score, label != y) for name, (score, label) in scores.items()}
    save_figure(curves(risk, "coverage (share of images kept, most trusted first)", "error among kept",
                       title="risk-coverage on real MNIST test", log_y=True, xlim=(0.9, 1)),
                output_dir / "risk_coverage.png")
    edges = np.linspace(0, 6, 61)
    flipped = (widths[0] <= 2) != (widths[1] <= 2)
    counts = {"every image": np.histogram(widths[0], edges)[0],
              f"flag flips under seed {cfg.STABILITY_SEED}": np.histogram(widths[0][flipped], edges)[0]}
    save_figure(curves({name: (edges[:-1] + 0.05, c) for name, c in counts.items()},
                       "rule width: the k at which the verdict flips (k <= width: clear)", "images",
                       title=f"where the flag flips between two draws of {cfg.MC_PASSES} passes", log_y=1,
                       marked=(2.0, 0, "k = 2")), output_dir / "stability.png")
    bins = {name: reliability(p.max(1), p.argmax(1) == y, cfg.BINS)[1:] for name, p in probabilities.items()}
    save_figure(curves(bins, "confidence (bin mean)", "accuracy", title="reliability", diagonal=True),
                output_dir / "reliability.png")
    lines = {f"{count} passes": ([r["flagged"] for r in sweep_rows if r["passes"] == count],
                                 [r["errors_caught"] for r in sweep_rows if r["passes"] == count])
             for count in cfg.PASSES_SWEEP}
    shipped = next((r for r in sweep_rows if r["passes"] == cfg.MC_PASSES and r["k"] == 2.0), None)
    save_figure(curves(lines, "share flagged ambiguous", "share of the errors flagged",
                       title=f"the rule's width k = {', '.join(map(str, cfg.K_SWEEP))} SDs",
                       marked=(shipped["flagged"], shipped["errors_caught"], "k = 2") if shipped else None),
                output_dir / "k_sweep.png")
    angles = [r["angle"] for r in shift_rows]
    by_angle = {f"{n}: error among clear": (angles, [r[n]["error_clear"] for r in shift_rows])
                for n in ("one pass", "MC", "ensemble")}
    save_figure(curves(by_angle, "degrees turned", "error among clear", title="under shift: turned test digits"),
                output_dir / "shift.png")
    mistakes = np.flatnonzero(~mc["ambiguous"] & (mc["top"] != y))
    mistakes = mistakes[np.argsort(-probabilities["MC mean"][mistakes].max(1))][: cfg.GALLERY_SIZE]
    if len(mistakes):
        captions = [f"{y[i]} as {mc['top'][i]}" for i in mistakes]
        save_figure(captioned_grid(x[mistakes], captions, ncols=min(len(mistakes), 12),
                                   title="clear verdicts with a wrong label: true digit as labelled"),
                    output_dir / "clear_mistakes.png")


if __name__ == "__main__":
    config.run_main(main, globals())
