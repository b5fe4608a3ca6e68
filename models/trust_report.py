"""06's report: how far to trust a label, in tables and figures."""

import numpy as np

from models.files import save_figure
from models.plots import captioned_grid, curves
from models.trust import reliability, risk_coverage


def rate(summary, which):
    """``"0.031% (3 of 9,650; 0.011-0.091%)"``: the error rate among the ``which`` ("clear" or
    "flagged") images of a flag_summary, with its counts and 95% interval."""
    n = summary["clear"] if which == "clear" else summary["n_flagged"]
    low, high = summary[f"error_{which}_interval"]
    d = 3 if which == "clear" else 1
    return f"{summary[f'error_{which}']:.{d}%} ({summary[f'wrong_{which}']} of {n:,}; {low:.{d}%}-{high:.{d}%})"


def report_markdown(results, cfg, judge):
    flag, judged = results["flag"], results["judged"]
    low, high = flag["error_clear_interval"]
    lines = [f"# How far to trust a label: {results['images']} real MNIST test images", "",
             f"Verifier: 02's ({cfg.VERIFIER}, dropout {cfg.DROPOUT}), {cfg.MC_PASSES} MC passes for every image, "
             f"{cfg.MC_PRECISION}; ensemble of {len(cfg.ENSEMBLE_SEEDS)} verifiers (seeds "
             f"{', '.join(map(str, cfg.ENSEMBLE_SEEDS))}); independent judge {judge}.", "",
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
