"""Turn score_generators.py's JSON lines into the markdown table of docs/ablations.md.

    python bench/ablation_table.py docs/ablations.jsonl
"""

import json
import sys

COLUMNS = ("row", "fidelity per class", "min fidelity", "max rejection", "ambiguity", "FID / floor", "precision",
           "recall", "train time")


def table(rows):
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        per_class = ", ".join(f"{c['class']}: {c['label_fidelity']:.1%}" for c in r["per_class"])
        minutes = "" if r["train_seconds"] is None else f"{r['train_seconds'] / 60:.1f} min"
        lines.append(f"| {r['name']} | {per_class} | {r['min_label_fidelity']:.2%} | {r['max_rejection_rate']:.2%} "
                     f"| {r['mean_ambiguity_rate']:.2%} | {r['fid_over_floor']:.2f} | {r['mean_precision']:.3f} "
                     f"| {r['mean_recall']:.3f} | {minutes} |")
    return "\n".join(lines)


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        print(table([json.loads(line) for line in f if line.startswith("{")]))  # skip any log lines
