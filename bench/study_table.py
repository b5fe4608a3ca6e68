"""04's reports of a study as JSON lines and one markdown table: one row per training set.

Each argument is a folder 04 wrote (report.json); each row carries the command that made it
(as the report records it; for a report without one, 04 with every literal constant that
differs from its default, read from the report's record), the
data it trained on, its seeds, accuracies, per-digit accuracy and mean wall time per run.
A training set that several reports share (real-only, read back from runs.json) is kept once.

    python bench/study_table.py outputs/report_study outputs/report_18000 > docs/synthetic_study.jsonl
    python bench/study_table.py --markdown outputs/report_study outputs/report_18000
    python bench/study_table.py --quality outputs/report_study outputs/report_18000   (every judge's scores)
"""

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = "04_train_classifier_on_synthetic.py"


def defaults():
    """04's literal constants as their defaults (as a record stores them: tuples as lists)."""
    from models.config import constants, script_defaults
    return json.loads(json.dumps(constants(script_defaults(REPO / SCRIPT))))


def command(constants, default):
    args = [f"--{name}={','.join(map(str, value)) if isinstance(value, list) else value}"
            for name, value in constants.items() if name in default and default[name] != value]
    return " ".join(["python", SCRIPT, *args])


def rows(folders):
    default, seen, out = defaults(), set(), []
    for folder in folders:
        report = json.loads((Path(folder) / "report.json").read_text())
        constants = report["record"]["constants"]
        for r in report["accuracy"]:
            key = (r["training_set"], json.dumps(r["accuracies"]))
            if key in seen:
                continue
            seen.add(key)
            data = {"real": None, "acgan": constants["GENERATED_ACGAN"],
                    "dcgan+acgan": f"{constants['GENERATED']} + {constants['GENERATED_ACGAN']}"}
            out.append({"training_set": r["training_set"], "description": r["description"],
                        "data": data.get(r["training_set"], report["settings"]["generated"]),
                        "images": r["images"], "images_seen": r["images_seen"], "seeds": r["seeds"],
                        "accuracies": r["accuracies"], "mean": r["mean"], "sd": r["sd"],
                        "per_class": r["per_class"], "seconds_per_run": r["seconds"],
                        "command": report.get("command") or command(constants, default)})
    return out


def markdown(rows):
    lines = ["| training set | data | images | real test accuracy | lowest digit | s per run |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        low = min(range(10), key=lambda k: r["per_class"][k])
        seconds = "" if r["seconds_per_run"] is None else f"{r['seconds_per_run']:.0f}"
        lines.append(f"| {r['description']} | {r['data'] or 'MNIST train'} | {r['images']} | "
                     f"{r['mean']:.2%} +- {r['sd']:.2%} | {low}: {r['per_class'][low]:.2%} | {seconds} |")
    return "\n".join(lines)


def quality(folders):
    """Markdown: each report's quality rows, every judge, with FID over that judge's floor and the lowest digit."""
    lines = ["| data file | data | judge | label fidelity | lowest digit | FID / floor | precision | recall |",
             "|---|---|---|---|---|---|---|---|"]
    for folder in folders:
        report = json.loads((Path(folder) / "report.json").read_text())
        floors = {r["judge"]: r["fid"] for r in report["metrics"] if r["generator"] is None}
        for r in report["metrics"]:
            fidelity = [v for v in r["label_fidelity_per_class"] if v is not None]
            low = r["label_fidelity_per_class"].index(min(fidelity))
            lines.append(f"| {r['file'] or '-'} | {r['data']} | {r['judge']} | {r['label_fidelity']:.2%} | "
                         f"{low}: {min(fidelity):.2%} | {r['fid'] / floors[r['judge']]:.2f}x | {r['precision']:.3f} "
                         f"| {r['recall']:.3f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    args = sys.argv[1:]
    folders = [a for a in args if not a.startswith("--")]
    if "--quality" in args:
        print(quality(folders))
    else:
        found = rows(folders)
        print(markdown(found) if "--markdown" in args else "\n".join(json.dumps(r) for r in found))
