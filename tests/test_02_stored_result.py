"""02 gives the verdicts it gave when tests/data/02_small_run.npz was stored: the same
generators (the shipped ones, deterministic), the same small verifier (stored beside it:
training it again gives other weights on another CPU), the same seeds, float32 verdicts.
Any change to how 02 draws, seeds or judges an image shows up here.

    python tests/test_02_stored_result.py   (trains that verifier and stores the result anew: only after a
                                             change meant to move it)
"""

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import load_script  # noqa: E402

pytestmark = pytest.mark.slow  # a full verifier training and run of 02: .ci/run runs them after the rest

STORED = Path(__file__).resolve().parent / "data" / "02_small_run.npz"
VERIFIER = STORED.with_name("02_small_run_verifier.weights.h5")  # the small verifier that run trained (float16)
ARRAYS = ("x_train", "y_train", "mean", "sd", "passes", "ambiguous", "atypicality", "x_raw")
COUNTS = ("drawn", "rejected", "out_of_distribution", "accepted", "ambiguous")


def small_run(root, verifier=None):
    """02 with the shipped generators of digits 6 and 7 (none trained in ``root``) and a small verifier
    (a copy of ``verifier``, else trained here), every verdict on: rejected, out of distribution,
    ambiguous and clear."""
    script = load_script("02_generate_and_verify.py")
    if verifier is not None:  # a copy: 02 keeps the verifier's density and floor beside it
        (root / "verifier").mkdir(parents=True)
        verifier = shutil.copy(verifier, root / "verifier" / verifier.name)
    script.main(VERIFIER_FILE=str(verifier or ""),
                CLASSES="6,7", N_PER_CLASS=60, DRAW_BATCH=32, MAX_DRAWS=3000, VERIFIER_EPOCHS=3, VERIFIER_BATCH_SIZE=32,
                VERIFIER_SUBSET=2000, VERIFIER_VAL_SIZE=500, DROPOUT=0.2, MC_PASSES=30, MC_ROUND_PASSES=5,
                MC_MIN_PASSES=5, MC_PRECISION="float32", GALLERY_SIZE=2, VERBOSE=0,
                GENERATOR_DIR=str(root / "no_generators"), WEIGHTS_DIR=str(root / "weights"),
                OUTPUT_DIR=str(root / "out"))
    summary = json.loads((root / "out" / "summary.json").read_text())
    with np.load(root / "out" / "generated.npz") as f:
        arrays = {name: f[name] for name in ARRAYS}
    counts = np.array([[row[key] for key in COUNTS] for row in summary["classes"]])
    return arrays, counts, summary


def test_02_gives_the_stored_rates_and_verdicts(tmp_path):
    arrays, counts, summary = small_run(tmp_path, VERIFIER)
    with np.load(STORED) as f:
        stored = {name: f[name] for name in f.files}
    every = summary["all"]
    assert every["drawn"] > every["accepted"] > 0 and every["ambiguous"] > 0 and every["out_of_distribution"] > 0, \
        "the stored run has rejected, out-of-distribution and ambiguous images, so it tests every verdict"
    np.testing.assert_array_equal(counts, stored["counts"])
    np.testing.assert_array_equal(arrays["x_train"], stored["x_train"])
    np.testing.assert_array_equal(arrays["x_raw"], stored["x_raw"])
    for name in ("y_train", "passes", "ambiguous"):
        np.testing.assert_array_equal(arrays[name], stored[name], err_msg=name)
    for name in ("mean", "sd", "atypicality"):  # float32 sums: the same to rounding on another CPU
        np.testing.assert_allclose(arrays[name], stored[name], rtol=1e-3, atol=1e-4, err_msg=name)


if __name__ == "__main__":
    import tempfile

    from models.pretrained import float16_copy  # as the shipped weights: float16, no optimizer state

    with tempfile.TemporaryDirectory() as folder:
        small_run(Path(folder) / "trained")
        float16_copy(Path(folder) / "trained" / "weights" / "verifier_default.weights.h5", VERIFIER)
        arrays, counts, summary = small_run(Path(folder) / "stored", VERIFIER)
    np.savez_compressed(STORED, counts=counts, **arrays)
    print(f"stored {STORED}: {summary['all']}")
