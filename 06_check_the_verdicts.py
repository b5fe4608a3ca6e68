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
from models.data import load_dataset, rotated, to_classifier_input
from models.files import load_weights, save_figure, write_json, write_text
from models.mc import PRECISIONS, mc_model, reseed_dropout
from models.plots import captioned_grid, curves
from models.pretrained import SOURCES, choose
from models.record import make_record, matches, require_match
from models.trust import aurc, ece, entropy, error_auroc, interval, mutual_information, reliability, risk_coverage
from models.verifier import (VERIFIER_CONSTANTS, VERIFIERS, ambiguity, build, resolve_precision, train_and_save,
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
    problems += config.at_least_one(cfg, "MC_BATCH", "ROTATED", "BINS", "VERIFIER_EPOCHS", "GALLERY_SIZE")
    if cfg.MC_PASSES < 2 or any(p < 2 or p > cfg.MC_PASSES for p in cfg.PASSES_SWEEP):
        problems.append(f"MC_PASSES must be at least 2 and PASSES_SWEEP within 2..MC_PASSES, got {cfg.MC_PASSES} and "
                        f"{','.join(map(str, cfg.PASSES_SWEEP))}")
    if not cfg.ENSEMBLE_SEEDS or len(set(cfg.ENSEMBLE_SEEDS)) < len(cfg.ENSEMBLE_SEEDS):
        problems.append(f"ENSEMBLE_SEEDS must name distinct seeds, got {','.join(map(str, cfg.ENSEMBLE_SEEDS))!r}")
    config.reject(problems)


def load_members(cfg, mnist_train, output_dir):
    """The ensemble: per seed, the verifier of the members' recipe, read or trained -> [(model, path)]."""
    members = []
    for seed in cfg.ENSEMBLE_SEEDS:
        recipe = SimpleNamespace(**{name: getattr(cfg, name) for name in VERIFIER_CONSTANTS - {"VERIFIER_SEED"}},
                                 VERIFIER_SEED=int(seed), VERBOSE=cfg.VERBOSE, MC_PRECISION=cfg.MC_PRECISION)
        record = make_record(recipe, VERIFIER_CONSTANTS, inputs={"MNIST train images": mnist_train[0],
                                                                 "MNIST train labels": mnist_train[1]})
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


def mc_passes(model, x, cfg):
    """Every pass of every image: (N, MC_PASSES, classes)."""
    per_call = max(1, cfg.MC_BATCH // cfg.MC_PASSES)
    each = mc_model(model, cfg.MC_PASSES, per_pass=True)
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


def flag_row(flag, wrong):
    """The flag's worth: share flagged, error among flagged and clear (with intervals), errors caught."""
    n_flag, n_clear = int(flag.sum()), int((~flag).sum())
    k_flag, k_clear = int((flag & wrong).sum()), int((~flag & wrong).sum())
    return {"flagged": n_flag / len(flag), "error_flagged": k_flag / max(n_flag, 1),
            "error_flagged_interval": interval(k_flag, n_flag), "error_clear": k_clear / max(n_clear, 1),
            "error_clear_interval": interval(k_clear, n_clear), "wrong_clear": k_clear, "clear": n_clear,
            "errors_caught": k_flag / max(int(wrong.sum()), 1)}


def sweep(passes, y, cfg):
    """The flag for each k in K_SWEEP and pass count in PASSES_SWEEP: share flagged and errors caught."""
    rows = []
    for count in cfg.PASSES_SWEEP:
        mean, sd = passes[:, :count].mean(axis=1), passes[:, :count].std(axis=1)
        order = np.argsort(-mean, axis=1, kind="stable")
        top, challenger, picked = order[:, 0], order[:, 1], np.arange(len(mean))
        wrong = top != y
        for k in cfg.K_SWEEP:
            flag = mean[picked, challenger] + k * sd[picked, challenger] >= mean[picked, top] - k * sd[picked, top]
            rows.append({"passes": count, "k": k, **flag_row(flag, wrong)})
    return rows


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
            row[name] = {"accuracy": float((label == y).mean()), **flag_row(flag, label != y)}
        rows.append(row)
    return rows


def report_markdown(table, flag, calibration, sweep_rows, shift_rows, headline, cfg):
    lines = [f"# How far to trust a label: {headline['images']} real MNIST test images", "",
             f"Verifier: 02's ({cfg.VERIFIER}, dropout {cfg.DROPOUT}), {cfg.MC_PASSES} MC passes for every image, "
             f"{cfg.MC_PRECISION}; ensemble of {len(cfg.ENSEMBLE_SEEDS)} verifiers (seeds "
             f"{', '.join(map(str, cfg.ENSEMBLE_SEEDS))}).", "",
             f"**Of the clear labels, {headline['clear_wrong_per_10000']:.1f} in 10,000 are wrong** (95% interval "
             f"{headline['clear_interval'][0] * 1e4:.1f}-{headline['clear_interval'][1] * 1e4:.1f}); "
             f"**of the ambiguous, {headline['ambiguous_error']:.1%}** ({headline['ambiguous_interval'][0]:.1%}-"
             f"{headline['ambiguous_interval'][1]:.1%}).", "",
             "| score | misclassification AUROC | AURC (x 1000) | error rate of its label |", "|---|---|---|---|"]
    lines += [f"| {r['score']} | {r['auroc']:.4f} | {r['aurc'] * 1000:.3f} | {r['error_rate']:.2%} |" for r in table]
    lines += ["", "| 2-SD flag | flagged | error among flagged | error among clear | errors caught |",
              "|---|---|---|---|---|",
              f"| k = 2, {cfg.MC_PASSES} passes | {flag['flagged']:.2%} | {flag['error_flagged']:.2%} | "
              f"{flag['error_clear']:.3%} ({flag['wrong_clear']} of {flag['clear']}) | {flag['errors_caught']:.1%} |",
              "",
              f"Expected calibration error ({cfg.BINS} bins): "
              + ", ".join(f"{name} {value:.4f}" for name, value in calibration.items()) + ".", "",
              "| passes | k | flagged | errors caught | error among clear |", "|---|---|---|---|---|"]
    lines += [f"| {r['passes']} | {r['k']} | {r['flagged']:.2%} | {r['errors_caught']:.1%} | {r['error_clear']:.3%} |"
              for r in sweep_rows]
    lines += ["", "| angle | " + " | ".join(f"{n}: accuracy, flagged, error among clear" for n in ("one pass", "MC",
                                                                                                  "ensemble")) + " |",
              "|---|---|---|---|"]
    for r in shift_rows:
        cells = [f"{r[n]['accuracy']:.1%}, {r[n]['flagged']:.1%}, {r[n]['error_clear']:.2%}"
                 for n in ("one pass", "MC", "ensemble")]
        lines.append(f"| {r['angle']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


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
    flag = flag_row(mc["ambiguous"], wrong)
    calibration = {name: ece(p.max(1), p.argmax(1) == y, cfg.BINS) for name, p in probabilities.items()}
    sweep_rows = sweep(mc["passes"], y, cfg)
    # one pass and the ensemble flag as many test images as the 2-SD rule, for the shift comparison
    matched = {name: float(np.quantile(probabilities[name].max(1), flag["flagged"]))
               for name in ("one pass", "ensemble")}
    shift_rows = shift(members, singles, x_test[: cfg.ROTATED], y_test[: cfg.ROTATED], matched, cfg)
    headline = {"images": len(x), "clear_wrong_per_10000": flag["error_clear"] * 1e4,
                "clear_interval": flag["error_clear_interval"], "ambiguous_error": flag["error_flagged"],
                "ambiguous_interval": flag["error_flagged_interval"]}
    record = make_record(cfg, inputs={"MNIST test images": x})
    write_json(output_dir / "report.json", {"scores": table, "flag": flag, "calibration": calibration,
                                            "sweep": sweep_rows, "shift": shift_rows, "headline": headline,
                                            "record": record})
    markdown = report_markdown(table, flag, calibration, sweep_rows, shift_rows, headline, cfg)
    write_text(output_dir / "report.md", markdown)
    save_figures(scores, probabilities, mc, sweep_rows, shift_rows, x, y, cfg, output_dir)
    print(markdown)
    print(f"report and figures in {paths.shown(output_dir)}")


def save_figures(scores, probabilities, mc, sweep_rows, shift_rows, x, y, cfg, output_dir):
    risk = {name: risk_coverage(score, label != y) for name, (score, label) in scores.items()}
    save_figure(curves(risk, "coverage (share of images kept, most trusted first)", "error among kept",
                       title="risk-coverage on real MNIST test", log_y=True), output_dir / "risk_coverage.png")
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
