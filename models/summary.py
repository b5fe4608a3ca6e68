"""02's and 07's reports: the verdict tables, with the verifier's floor beside them, and the figures."""

import numpy as np

from models.files import save_figure
from models.generation import total_row
from models.plots import ambiguity_gallery, bar_chart, captioned_grid, image_grid
from models.verdict import mc_text, ood_text


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
        f"Verifier: {verifier_info['architecture']}, dropout {verifier_info['dropout']}, {mc_text(cfg)}; MNIST test "
        "accuracy "
        f"{verifier_info['mc_test_accuracy']:.2%} (MC mean).",
        f"{ood_text(cfg)}",
        "Rejected: the verifier's top class is not the digit asked for, or the image is unlike any training "
        "digit (out of distribution, OOD). Ambiguous: among accepted images, the top two classes' mean +- 2 SD "
        "intervals overlap. The floor columns are the verifier's own: its verdicts on the real MNIST test images "
        f"of each digit ({verifier_info['test_images']} in all; rejected = misclassified or OOD), so a generator's "
        "rates can "
        "be told from the verifier's. Passes: the mean number of MC passes per drawn image (an image out of "
        "distribution gets none: it is rejected whatever they say), and the shares of the drawn images settled "
        "at the first look and given all MC_PASSES.",
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
    captioned with its class and atypicality ({class: images} and {class: scores}; for 07
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
