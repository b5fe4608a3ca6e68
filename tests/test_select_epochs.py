"""bench/select_epochs.py: per-epoch copies of 01's checkpoints scored as 01's selection
scores them, and the chosen one exported as 01 exports a generator."""

import json
import shutil
import sys

import pytest

from models import paths
from models.checkpoint import load_generator
from models.data import load_dataset, select_class
from models.record import read_record
from models.selection import draws_fid, noise, shipped_feature_model, statistics

from conftest import REPO, load_script

sys.path.insert(0, str(REPO / "bench"))
import select_epochs  # noqa: E402

TINY = dict(CLASSES="2", BATCH_SIZE=32, MAX_IMAGES=64, LATENT_DIM=8, WIDTH=4, VERBOSE=0, WORKERS=1)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """{seed: folder of digit 2's checkpoint copies}: 01 resumed one epoch at a time, its checkpoint
    copied after each; epochs 1-3 with 01's seed, 1-2 with another."""
    script, root = load_script("01_train_class_gans.py"), tmp_path_factory.mktemp("runs")
    folders = {}
    for seed, epochs in ((script.SEED, 3), (script.SEED + 1000, 2)):
        weights, folders[seed] = root / f"weights_{seed}", root / f"snapshots_{seed}"
        folders[seed].mkdir()
        for epoch in range(1, epochs + 1):
            script.main(**TINY, EPOCHS=epoch, SEED=seed, WEIGHTS_DIR=str(weights), OUTPUT_DIR=str(root / "outputs"))
            shutil.copy(weights / "checkpoints" / "digit_2.h5", folders[seed] / f"digit_2_e{epoch}.h5")
    return folders


def test_scores_each_copy_once_and_exports_the_lowest(runs, tmp_path, capsys):
    seed = load_script("01_train_class_gans.py").SEED
    out, chosen_dir = tmp_path / "selection.jsonl", tmp_path / "chosen"
    args = dict(SNAPSHOTS=str(runs[seed]), OUT=str(out), SCALES="1.0,1.5", SELECT_DRAWS=64, SELECT_FROM=2,
                SELECT_EVERY=1, SEED=seed)
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
    fid = draws_fid(load_generator(exported, ""), noise(seed, 2, 64, 8, 1.5), extractor, real)
    assert fid == pytest.approx(fids[best], abs=1e-3)


def test_chooses_each_digit_across_runs_among_each_runs_own_epochs(runs, tmp_path, capsys):
    out, chosen_dir = tmp_path / "selection.jsonl", tmp_path / "chosen"
    shown = {seed: paths.shown(folder.resolve()) for seed, folder in runs.items()}
    elsewhere = {"snapshots": "another_run", "digit": 2, "epoch": 3, "scale": 1.0, "fid": -1.0}
    out.write_text(json.dumps(elsewhere) + "\n")  # the lowest FID, but of a run not named: never chosen
    args = dict(SNAPSHOTS=",".join(str(folder) + "/" for folder in runs.values()), OUT=str(out), SCALES="1.0",
                SELECT_DRAWS=64, SELECT_FROM=1, SELECT_EVERY=5, SEED=0, EXPORT=str(chosen_dir))
    with pytest.raises(select_epochs.UserError, match="one folder"):
        select_epochs.main(**args, SCALE=0)
    with pytest.raises(select_epochs.UserError, match="add it to SCALES"):
        select_epochs.main(**args, SCALE=1.5)
    select_epochs.main(**args, SCALE=1.0)
    rows = [json.loads(line) for line in out.read_text().splitlines()][1:]
    seeds = dict(zip(shown.values(), shown))
    # from epoch 1, every 5th, and each run's own last: 1 and 3 of one run, 1 and 2 of the other
    assert sorted((seeds[r["snapshots"]], r["epoch"]) for r in rows) == sorted(
        [(min(runs), 1), (min(runs), 3), (max(runs), 1), (max(runs), 2)])
    best = min(rows, key=lambda r: r["fid"])
    selection = read_record(chosen_dir / "generator_2.weights.h5")["selection"]
    keys = ("snapshots", "epoch", "fid")
    assert [selection[key] for key in keys] == [best[key] for key in keys]
    assert f"epoch {best['epoch']} of {best['snapshots']}" in capsys.readouterr().out
