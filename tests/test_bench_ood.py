"""bench/bench_ood.py on a few images: JSON lines whose figures hang together."""

import json
import sys

import numpy as np
import pytest

from conftest import REPO, write_idx
from models.config import UserError

sys.path.insert(0, str(REPO / "bench"))
import bench_ood  # noqa: E402

pytestmark = pytest.mark.slow  # a benchmark's JSON lines: .ci/run runs them after the rest


def stand_in_clothes(folder, n=40, seed=0):
    """Fashion-MNIST's four IDX files with non-digits in them: a filled box of random size and shade
    per image, so that the benchmark runs without Debian's package or the internet."""
    rng = np.random.default_rng(seed)
    folder.mkdir()
    for split in ("train", "t10k"):
        images = np.zeros((n, 28, 28), np.uint8)
        for image in images:
            top, left = rng.integers(2, 10, 2)
            image[top : top + rng.integers(10, 18), left : left + rng.integers(8, 18)] = rng.integers(80, 256)
        write_idx(folder / f"{split}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{split}-labels-idx1-ubyte.gz", rng.integers(0, 10, n))
    return folder


def test_candidates_a_choice_and_verdicts_per_set(capsys, tmp_path, mnist):
    _, (x_test, y_test) = mnist
    np.savez(tmp_path / "generated.npz", x_raw=x_test[-40:], y_raw=y_test[-40:])  # 02's raw draws, as a stand-in
    bench_ood.main(GRIDS="2", ANGLES="90", NOISE=20, FASHION=40, TEST=60, SUBSET=1500, VAL=300, COST_IMAGES=20,
                   MC_BATCH=256, RATES="0.005,0.1,0.5", GENERATED=str(tmp_path / "generated.npz"), RAW=30,
                   FASHION_DIR=str(stand_in_clothes(tmp_path / "clothes")), OUTPUT_DIR=str(tmp_path))
    rows = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    candidates = [r for r in rows if r["bench"] == "ood_candidate"]
    assert [(r["layer"], r["grid"]) for r in candidates[::2]] == [("conv1", 2), ("conv2", 2), ("conv3", 2),
                                                                   ("conv4", 2), ("dense", 1)]
    assert all(r["auroc"]["noise"] > 0.9 for r in candidates if r["layer"] != "dense"), "noise is no digit"
    choice = next(r for r in rows if r["bench"] == "ood_choice")
    assert choice["best"]["worst_auroc"] == max(r["worst_auroc"] for r in candidates)
    verdicts = {r["set"]: r for r in rows if r["bench"] == "ood_verdict"}
    assert list(verdicts) == ["mnist_test", "fashion_test", "uniform_noise", "mnist_test_rotated_90"]
    assert verdicts["uniform_noise"]["ood"] == 1.0 and verdicts["uniform_noise"]["clear"] == 0.0
    assert verdicts["mnist_test"]["ood"] < 0.1 and verdicts["mnist_test"]["clear_right"] > 0.95
    for row in verdicts.values():
        assert row["clear"] <= row["clear_without_ood"], "the OOD verdict only ever takes clear labels away"
    turned = verdicts["mnist_test_rotated_90"]
    assert sum(turned["clear_wrong_labels"].values()) == turned["clear_wrong"]
    assert all(" as " in pair for pair in turned["clear_wrong_labels"])
    if turned["clear_wrong"]:
        assert (tmp_path / "clear_wrong_mnist_test_rotated_90.png").stat().st_size > 500
    sweep = [r for r in rows if r["bench"] == "ood_rate"]
    assert [r["rate"] for r in sweep] == [0.005, 0.1, 0.5]
    assert sweep[0]["threshold"] > sweep[1]["threshold"] > sweep[2]["threshold"]
    for name in (*verdicts, "generated_raw"):
        flagged = [r[name]["flagged"] for r in sweep]
        assert flagged == sorted(flagged), (name, flagged)  # a lower threshold flags at least as much
    assert sweep[2]["generated_raw"]["rejected"] >= 0.3, "half the held-out digits flagged: real digits too"
    assert sweep[0]["uniform_noise"]["flagged"] == 1.0 and "clear_right" not in sweep[0]["uniform_noise"]
    cost = next(r for r in rows if r["bench"] == "ood_cost")
    assert cost["ood_share_of_fixed"] > 0 and cost["ood_share_of_adaptive"] > 0
    assert set(cost["seconds_per_1000_images"]) == {"ood_score", "adaptive_mc", "fixed_100_passes"}


def test_a_missing_verifier_file_is_named(tmp_path):
    weights = tmp_path / "verifier_spectral.weights.h5"
    with pytest.raises(UserError, match=r"VERIFIER_FILE=.*verifier_spectral.weights.h5' does not exist"):
        bench_ood.main(VERIFIER_FILE=str(weights), PARTS="verdict")
