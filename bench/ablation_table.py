"""Turn score_generators.py's JSON lines into the markdown table of docs/ablations.md.

    python bench/ablation_table.py docs/ablations.jsonl
"""

import json
import sys

COLUMNS = ("row", "fidelity per class", "min fidelity", "max rejection", "ambiguity", "FID / floor", "precision",
           "recall")
AT_02 = {"rejection_rate_02": "mean rejected at 02's scale", "ambiguity_rate_02": "mean ambiguous at 02's scale"}


def table(rows):
    at_02 = [key for key in AT_02 if any(key in r for r in rows)]  # rows scored at 02's latent scale too
    columns = (*COLUMNS, *(AT_02[key] for key in at_02), "train time")
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in rows:
        per_class = ", ".join(f"{c['class']}: {c['label_fidelity']:.1%}" for c in r["per_class"])
        minutes = "" if r["train_seconds"] is None else f"{r['train_seconds'] / 60:.1f} min"
        name = r["name"] + (f" ({r['judge']} judge)" if r.get("judge", "cnn") != "cnn" else "")
        cells = [name, per_class, f"{r['min_label_fidelity']:.2%}", f"{r['max_rejection_rate']:.2%}",
                 f"{r['mean_ambiguity_rate']:.2%}", f"{r['fid_over_floor']:.2f}", f"{r['mean_precision']:.3f}",
                 f"{r['mean_recall']:.3f}", *(f"{r[key]:.2%}" if key in r else "" for key in at_02), minutes]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        print(table([json.loads(line) for line in f if line.startswith("{")]))  # skip any log lines
