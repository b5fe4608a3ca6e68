"""04's report as markdown: the accuracy table, the quality metrics and the ambiguity experiment."""


def fid_note():
    return ("FID here is the Frechet distance between Gaussians fitted to the penultimate-layer features of "
            "an MNIST classifier trained in this script (each judge's own), not to Inception-v3 "
            "features: it is not comparable to published (Inception) FID numbers. Compare it only between "
            "the rows of this table and with the real floor.")


def report_markdown(report):
    lines = ["# Is the synthetic data any good?"]
    if report["accuracy"]:  # (None when 04 ran the ambiguity experiment alone)
        lines += synthetic_markdown(report)
    if report["ambiguity_experiment"]:
        lines += ambiguity_markdown(report)
    if report["figures"]:
        lines += ["", "## Figures", ""] + [f"![{caption}]({name})" for name, caption in report["figures"].items()]
    return "\n".join(lines) + "\n"


def synthetic_markdown(report):
    s = report["settings"]
    lines = [
        "",
        f"Synthetic data: `{s['generated']}`: {report['synthetic_images']} images that passed 02's verifier "
        f"({report['ambiguous_images']} of them ambiguous), and as many fresh raw draws, not verified (the original "
        "experiment's protocol): the two rows show what verification buys. Every classifier is the same CNN ("
        + "".join(f"conv 5x5 {f} - pool - " for f in s["filters"])
        + f"dense {s['dense_units']} - dropout 0.5 - softmax) trained on exactly "
        f"{report['accuracy'][0]['images_seen']} images (impressions) whatever its training set's size"
        + (f", each moved by up to {s['shift']} pixels at random" if s.get("shift") else "") + ", then "
        f"tested on {report['test_images']} real MNIST test images. Mean +- SD (sample SD) over "
        f"{len(s['seeds'])} seeds {s['seeds']}, the same seeds for every training set.",
        "",
        "| training set | images | real test accuracy | per seed |",
        "|---|---|---|---|",
    ]
    for r in report["accuracy"]:
        lines.append(f"| {r['description']} | {r['images']} | {r['mean']:.2%} +- {r['sd']:.2%} | "
                     + ", ".join(f"{a:.2%}" for a in r["accuracies"]) + " |")
    lines += ["", "Real test accuracy per digit, mean of the seeds:", "",
              "| training set | " + " | ".join(str(c) for c in range(10)) + " |", "|---|" + "---|" * 10]
    for r in report["accuracy"]:
        lines.append(f"| {r['description']} | " + " | ".join(f"{a:.2%}" for a in r["per_class"]) + " |")
    lines += [
        "",
        "## Quality of the generated images",
        "",
        "Scored by independent judges of two architectures, neither of them 02's verifier (which filtered the "
        "data), each trained here on real MNIST train images the floor below does not use: "
        + "; ".join(f"**{kind}**: {j['architecture']}, seed {j['settings']['seed']}, {j['settings']['train_images']} "
                    f"images, real test accuracy {j['test_accuracy']:.2%}" for kind, j in report["judges"].items())
        + f". FID and precision/recall use {report['metric_samples']} images per set against as many real test "
        f"images; k-NN manifolds with k = {s['nearest_k']}.",
        "",
        f"**{report['fid_note']}**",
        "",
        "| data | judge | images | label fidelity | FID | FID / floor | precision | recall |",
        "|---|---|---|---|---|---|---|---|",
    ]
    floors = {r["judge"]: r["fid"] for r in report["metrics"] if r["generator"] is None}
    for r in report["metrics"]:
        lines.append(f"| {r['data']} | {r['judge']} | {r['images']} | {r['label_fidelity']:.2%} | {r['fid']:.3f} "
                     f"| {r['fid'] / floors[r['judge']]:.2f}x | {r['precision']:.3f} | {r['recall']:.3f} |")
    lines += [
        "",
        "Label fidelity: share of images the independent classifier assigns to the class they were made for. "
        "Precision: share of the images inside the real test images' k-NN manifold; recall: share of the real "
        "test images inside theirs. Real (floor): real train images the independent classifier never trained on, "
        "scored as if a generator had made them: the best a generator can hope for.",
        "",
        "Label fidelity per class, the lower of the judges' (each judge's own in report.json):",
        "",
        "| data | " + " | ".join(str(c) for c in range(10)) + " |",
        "|---|" + "---|" * 10,
    ]
    for data, lowest in report["lowest_fidelity_per_class"].items():
        cells = ["-" if v is None else f"{v:.2%}" for v in lowest]
        lines.append(f"| {data} | " + " | ".join(cells) + " |")
    return lines


def ambiguity_markdown(report):
    rows = report["ambiguity_experiment"]
    added = rows[1]["images"] - rows[0]["images"]
    lines = [
        "",
        "## Does ambiguous data help?",
        "",
        f"Real MNIST plus {added} images made by 05_make_ambiguous_digits.py from the same noise: digits between two "
        "classes (flagged ambiguous by 02's verifier) with hard labels (the verifier's top class) or soft labels (its "
        "MC mean), or their clear twins (the same noise drawn as the pure class). Same CNN, same "
        f"{rows[0]['images_seen']} impressions; {len(rows[0]['seeds'])} seeds {rows[0]['seeds']}. Difference: minus "
        "real-only, paired by seed, +- its standard error. Hard test images: the "
        f"{report['hard_test_images']} real test images the verifier flags ambiguous.",
        "",
        "| training set | images | real test accuracy | difference | on the hard test images | difference there |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['description']} | {r['images']} | {r['mean']:.2%} +- {r['sd']:.2%} | "
                     f"{100 * r['difference']:+.2f} +- {100 * r['difference_se']:.2f} points | "
                     f"{r['hard_mean']:.1%} +- {r['hard_sd']:.1%} | "
                     f"{100 * r['hard_difference']:+.1f} +- {100 * r['hard_difference_se']:.1f} points |")
    return lines
