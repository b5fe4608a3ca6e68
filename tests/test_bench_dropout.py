"""bench/bench_dropout.py: 01's step with Keras' dropout masks against 16-bit ones, one JSON line."""

import json
import subprocess
import sys

import keras
import pytest

from conftest import REPO

pytestmark = pytest.mark.slow  # a benchmark's JSON line: .ci/run runs them after the rest


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="it times TensorFlow's masks")
def test_times_both_masks_and_the_cheaper_ones_keep_the_rate():
    # a process of its own: the bench holds TensorFlow to one thread before it starts
    result = subprocess.run([sys.executable, "bench/bench_dropout.py", "--STEPS=8", "--ROUNDS=1", "--WARMUP=8"],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    row = json.loads(result.stdout.strip().splitlines()[-1])
    assert row["keras_dropout_ms_per_step"] > 0 and row["dropout16_ms_per_step"] > 0 and row["threads"] == 1
    assert row["dropout16_kept"] == pytest.approx(1 - row["dropout_rate"], abs=0.003)  # SD 0.0004 at a million
    assert row["dropout16_scale"] == pytest.approx(1 / (1 - row["dropout_rate"]))
    assert row["dropout16_masks_differ"], "D with the cheaper masks draws new ones at every training call"
