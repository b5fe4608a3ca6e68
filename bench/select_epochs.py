"""Model selection after the fact: score per-epoch copies of 01's checkpoints as 01's
``SELECT_EVERY`` scores them, and export each digit's best (or last) generator, from one
training run or from several (other seeds).

    python bench/select_epochs.py --SNAPSHOTS=weights/ablations/run/snapshots --OUT=docs/selection.jsonl
    python bench/select_epochs.py --SNAPSHOTS=... --OUT=... --EXPORT=weights/ablations/run_best --SCALE=1.5
    python bench/select_epochs.py --SNAPSHOTS=run_a/snapshots,run_b/snapshots --OUT=... --EXPORT=... --SCALE=1.0

Each folder of SNAPSHOTS holds ``digit_{k}_e{epoch}.h5``: copies of one run's
``checkpoints/digit_{k}.h5`` taken after its epochs. Each copy gets one JSON line per latent
scale of SCALES: the FID of its averaged generator's SELECT_DRAWS draws, for the epochs from
SELECT_FROM on, every SELECT_EVERY, and the run's last (``models.selection``: the shipped
verifier's out-of-distribution features, the digit's real training images, the same noise
for every run), scored once (a line in OUT is not scored again). With EXPORT, each digit's
copy of lowest FID at SCALE among those epochs of every folder (``SCALE=0``: the last epoch,
one folder only) is written there as 01 exports a generator, its record naming the folder
and the epoch. Rerun it while 01 is training to score the copies made so far.
"""

import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from models import config  # noqa: E402  (first: it quiets TensorFlow's C++ logging)

import h5py  # noqa: E402
from models import paths  # noqa: E402
from models.checkpoint import export_generator  # noqa: E402
from models.config import UserError  # noqa: E402
from models.data import load_dataset, select_class  # noqa: E402
from models.dcgan import build_generator  # noqa: E402
from models.selection import draws_fid, noise, scored, shipped_feature_model, statistics  # noqa: E402

SNAPSHOTS = ()  # folders of digit_{k}_e{epoch}.h5 checkpoint copies, one per training run
OUT = ""  # JSON lines, one per snapshot and scale (appended)
SCALES = (1.0, 1.5)  # latent scales to score at
SELECT_DRAWS = 2000  # draws per score (01's default)
SEED = 1234  # the scoring noise of digit k, models.selection.noise(SEED, k, ...), the same for every run (01's SEED)
EXPORT = ""  # folder to export each digit's chosen generator to ("" = none)
SCALE = 1.5  # the scale whose FID chooses, as 01's SELECT_LATENT_SCALE (0 = export the last epoch)
SELECT_FROM = 50  # first epoch that can be chosen
SELECT_EVERY = 5  # epochs SELECT_FROM, SELECT_FROM + SELECT_EVERY, ... (and the last) can be chosen


def snapshots(folders):
    """{digit: {(folder as shown, epoch): path}} of the resolved ``folders``."""
    out = {}
    for folder in folders:
        for path in folder.glob("digit_*_e*.h5"):
            k, epoch = map(int, re.fullmatch(r"digit_(\d+)_e(\d+)\.h5", path.name).groups())
            out.setdefault(k, {})[paths.shown(folder), epoch] = path
    return out


def candidates(cfg, copies):
    """The (folder, epoch) keys of ``copies`` (one digit's) that are scored: from SELECT_FROM on,
    every SELECT_EVERY, and each folder's last epoch."""
    last = {}
    for folder, epoch in copies:
        last[folder] = max(epoch, last.get(folder, epoch))
    return sorted(key for key in copies if scored(key[1], cfg.SELECT_FROM, cfg.SELECT_EVERY, last[key[0]]))


def averaged_generator(path):
    """(01's exported generator rebuilt from a checkpoint copy, the checkpoint's record)."""
    with h5py.File(path, "r") as f:
        record = json.loads(f.attrs["record"])
        group = f["generator_ema"]
        values = [group[str(i)][()] for i in range(len(group) - 1)]  # the last is the step count
    c = record["constants"]
    generator = build_generator(c["LATENT_DIM"], c["WIDTH"], f"generator_{record['constants']['digit']}",
                                c.get("G_CONVS", 0))
    for variable, value in zip(generator.variables, values, strict=True):
        variable.assign(value)
    return generator, record


def main(**overrides):
    cfg = config.resolve(globals(), overrides)
    folders = list(dict.fromkeys(paths.resolve(folder).resolve() for folder in cfg.SNAPSHOTS))  # one key per folder
    missing = [paths.shown(folder) for folder in folders if not folder.is_dir()]
    if not folders:
        raise UserError("SNAPSHOTS must name at least one folder of 01's checkpoint copies (digit_K_eEPOCH.h5), "
                        "e.g. --SNAPSHOTS=weights/ablations/run/snapshots.")
    if missing:
        raise UserError(f"SNAPSHOTS names {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} "
                        "not a folder: give folders of 01's checkpoint copies.")
    if cfg.EXPORT and not cfg.SCALE and len(folders) > 1:
        raise UserError("SCALE=0 exports the last epoch of one run: name one folder in SNAPSHOTS, "
                        "or a SCALE to choose by.")
    if cfg.EXPORT and cfg.SCALE and cfg.SCALE not in cfg.SCALES:
        raise UserError(f"SCALE={cfg.SCALE} chooses by FIDs at a scale that is not scored: add it to SCALES.")
    out = paths.resolve(cfg.OUT)
    rows = [json.loads(line) for line in out.read_text().splitlines()] if out.is_file() else []
    if any("snapshots" not in r for r in rows):
        raise UserError(f"{paths.shown(out)} has lines that name no snapshots folder (written before select_epochs "
                        "took several runs): add each line's folder as \"snapshots\", or name another OUT.")
    done = {(r["snapshots"], r["digit"], r["epoch"], r["scale"]) for r in rows}
    extractor, verifier_file = shipped_feature_model()
    (x_train, y_train), _ = load_dataset("mnist")
    found = snapshots(folders)
    for k, copies in sorted(found.items()):
        real = statistics(extractor, select_class(x_train, y_train, k))
        for folder, epoch in candidates(cfg, copies):
            todo = [s for s in cfg.SCALES if (folder, k, epoch, s) not in done]
            if not todo:
                continue
            generator, record = averaged_generator(copies[folder, epoch])
            for scale in todo:
                z = noise(cfg.SEED, k, cfg.SELECT_DRAWS, generator.inputs[0].shape[-1], scale)
                row = {"snapshots": folder, "digit": k, "epoch": epoch, "scale": scale, "draws": cfg.SELECT_DRAWS,
                       "fid": round(draws_fid(generator, z, extractor, real), 4),
                       "verifier": paths.shown(verifier_file)}
                rows.append(row)
                with open(out, "a") as f:
                    f.write(json.dumps(row) + "\n")
                print(json.dumps(row), flush=True)
    if cfg.EXPORT:
        export(cfg, rows, found)


def export(cfg, rows, found):
    for k, copies in sorted(found.items()):
        keys = candidates(cfg, copies)
        fids = {(r["snapshots"], r["epoch"]): r["fid"] for r in rows
                if r["digit"] == k and r["scale"] == cfg.SCALE and (r["snapshots"], r["epoch"]) in keys}
        if cfg.SCALE and not fids:
            raise UserError(f"Digit {k} has no copy from epoch SELECT_FROM={cfg.SELECT_FROM} on in SNAPSHOTS: "
                            "lower SELECT_FROM.")
        key = min(fids, key=fids.get) if cfg.SCALE else max(copies, key=lambda key: key[1])
        generator, record = averaged_generator(copies[key])
        record["constants"]["EPOCHS"] = max(epoch for folder, epoch in copies if folder == key[0])
        record["selection"] = {"snapshots": key[0], "epoch": key[1], "scale": cfg.SCALE, "fid": fids.get(key),
                               "from": cfg.SELECT_FROM, "every": cfg.SELECT_EVERY}
        export_generator(generator, paths.class_gan_generator(paths.resolve(cfg.EXPORT), k), record)
        print(f"digit {k}: epoch {key[1]} of {key[0]} exported" + (f", FID {fids[key]:.3f}" if cfg.SCALE else ""))


if __name__ == "__main__":
    config.run_main(main, globals())
