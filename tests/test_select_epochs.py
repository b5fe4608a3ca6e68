"""bench/select_epochs.py: per-epoch copies of 01's checkpoints scored as 01's selection
scores them, and the chosen one exported as 01 exports a generator."""

import json
import shutil
import sys

import pytest

from models.checkpoint import load_generator
from models.data import load_dataset, select_class
from models.record import read_record
from models.selection import draws_fid, noise, shipped_feature_model, statistics

from conftest import REPO, load_script

sys.path.insert(0, str(REPO / "bench"))
import select_epochs  # noqa: E402

TINY = dict(CLASSES="2", BATCH_SIZE=32, MAX_IMAGES=64, LATENT_DIM=8, WIDTH=4, VERBOSE=0, WORKERS=1)


def test_scores_each_copy_once_and_exports_the_lowest(tmp_path, capsys):
    script, weights = load_script("01_train_class_gans.py"), tmp_path / "weights"
    snapshots = tmp_path / "snapshots"
    snapshots.mkdir()
    for epoch in (1, 2, 3):  # 01 resumed one epoch at a time, its checkpoint copied after each
        script.main(**TINY, EPOCHS=epoch, WEIGHTS_DIR=str(weights), OUTPUT_DIR=str(tmp_path / "outputs"))
        shutil.copy(weights / "checkpoints" / "digit_2.h5", snapshots / f"digit_2_e{epoch}.h5")
    out, chosen_dir = tmp_path / "selection.jsonl", tmp_path / "chosen"
    args = dict(SNAPSHOTS=str(snapshots), OUT=str(out), SCALES="1.0,1.5", SELECT_DRAWS=64, SELECT_FROM=2,
                SELECT_EVERY=1, SEED=script.SEED)
    select_epochs.main(**args)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted((r["epoch"], r["scale"]) for r in rows) == [(2, 1.0), (2, 1.5), (3, 1.0), (3, 1.5)]
    capsys.readouterr()
    select_epochs.main(**args, EXPORT=str(chosen_dir), SCALE=1.5)  # nothing scored again
    assert len(out.read_text().splitlines()) == 4 and "epoch" in capsys.readouterr().out
    fids = {r["epoch"]: r["fid"] for r in rows if r["scale"] == 1.5}
    best = min(fids, key=fids.get)
    exported = chosen_dir / "generator_2.weights.h5"
    assert read_record(exported)["selection"]["epoch"] == best
    # the exported generator is that epoch's averaged G: its draws score the same FID again
    extractor, _ = shipped_feature_model()
    (x, y), _ = load_dataset("mnist")
    real = statistics(extractor, select_class(x, y, 2))  # all its training images, as the bench takes them
    fid = draws_fid(load_generator(exported, ""), noise(script.SEED, 2, 64, 8, 1.5), extractor, real)
    assert fid == pytest.approx(fids[best], abs=1e-3)


def test_chooses_each_digit_across_runs_and_says_which(tmp_path, capsys):
    script = load_script("01_train_class_gans.py")
    runs = {}
    for seed, epochs in ((script.SEED, 2), (script.SEED + 1000, 1)):  # two runs of another length and seed
        weights, runs[seed] = tmp_path / f"weights_{seed}", tmp_path / f"snapshots_{seed}"
        script.main(**TINY, EPOCHS=epochs, SEED=seed, WEIGHTS_DIR=str(weights), OUTPUT_DIR=str(tmp_path / "outputs"))
        runs[seed].mkdir()
        shutil.copy(weights / "checkpoints" / "digit_2.h5", runs[seed] / f"digit_2_e{epochs}.h5")
    out, chosen_dir = tmp_path / "selection.jsonl", tmp_path / "chosen"
    args = dict(SNAPSHOTS=",".join(map(str, runs.values())), OUT=str(out), SCALES="1.0", SELECT_DRAWS=64,
                SELECT_FROM=1, SELECT_EVERY=1, SEED=script.SEED, EXPORT=str(chosen_dir))
    with pytest.raises(select_epochs.UserError, match="one folder"):
        select_epochs.main(**args, SCALE=0)
    select_epochs.main(**args, SCALE=1.0)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 2 and {r["snapshots"] for r in rows} == {str(folder) for folder in runs.values()}
    best = min(rows, key=lambda r: r["fid"])
    selection = read_record(chosen_dir / "generator_2.weights.h5")["selection"]
    keys = ("snapshots", "epoch", "fid")
    assert [selection[key] for key in keys] == [best[key] for key in keys]
    assert f"epoch {best['epoch']} of {best['snapshots']}" in capsys.readouterr().out
