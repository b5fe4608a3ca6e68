"""Speed constants chosen for the device, and the verdicts on two devices against one."""

import json
import os
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from conftest import REPO
from models.device import ACCELERATOR_MC_BATCH, CPU_MC_BATCH, tune_for_device, tuned


def test_each_device_gets_its_measured_setting():
    assert tuned("MC_BATCH", "cpu", 1, 2) == CPU_MC_BATCH == tuned("MC_BATCH", "cpu", 2, 16)
    assert tuned("MC_BATCH", "gpu", 1, 16) == ACCELERATOR_MC_BATCH
    assert tuned("MC_BATCH", "gpu", 4, 16) == 4 * ACCELERATOR_MC_BATCH, "one full batch per device"
    assert tuned("WORKERS", "cpu", 1, 2) == 2, "a 2-core CPU keeps the two one-thread trainings it had"
    assert tuned("WORKERS", "cpu", 1, 64) == 10 and tuned("WORKERS", "cpu", 1, 1) == 1
    assert tuned("WORKERS", "gpu", 1, 16) == 10, "on a GPU every digit trains at once"
    with pytest.raises(ValueError, match="LATENT_DIM is not a speed constant"):
        tuned("LATENT_DIM", "cpu", 1, 2)


def test_a_constant_given_on_the_command_line_wins(capsys):
    cfg = SimpleNamespace(MC_BATCH=0, WORKERS=3)
    info = tune_for_device(cfg, "MC_BATCH", "WORKERS", found=("gpu", 2))
    assert cfg.MC_BATCH == 2 * ACCELERATOR_MC_BATCH and cfg.WORKERS == 3
    assert info["chosen"] == {"MC_BATCH": 2 * ACCELERATOR_MC_BATCH} and info["device"].startswith("2 x gpu")
    printed = capsys.readouterr().out
    assert f"chosen for it: MC_BATCH={2 * ACCELERATOR_MC_BATCH}" in printed and "as given: WORKERS=3" in printed


def verify_on(devices, images, out):
    """07 on ``images`` under JAX with ``devices`` CPU devices -> (verdicts, summary)."""
    env = {**os.environ, "KERAS_BACKEND": "jax", "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}
    command = [sys.executable, "07_verify_your_images.py", f"--IMAGES={images}", f"--OUTPUT_DIR={out}", "--VERBOSE=0"]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    with np.load(out / "verdicts.npz") as f:
        verdicts = {name: f[name] for name in f.files}
    return verdicts, json.loads((out / "summary.json").read_text()), result.stdout


@pytest.mark.slow  # JAX in a subprocess
def test_two_devices_give_the_verdicts_of_one(mnist, tmp_path):
    pytest.importorskip("jax")
    _, (x, y) = mnist
    # 120 images: 51 per 10-pass call (padded to 52 on two devices), the last call 18
    np.savez(tmp_path / "mix.npz", x=np.concatenate([x[:115], np.zeros((5, 28, 28), np.uint8)]),
             y=np.concatenate([y[:115], np.full(5, 3, y.dtype)]))
    one, one_summary, _ = verify_on(1, tmp_path / "mix.npz", tmp_path / "one")
    two, two_summary, printed = verify_on(2, tmp_path / "mix.npz", tmp_path / "two")
    assert "data parallel over 2 devices" in printed
    assert one_summary["device"]["device"].startswith("1 x cpu") and two_summary["device"]["device"].startswith("2 x")
    assert str(one["record"]) == str(two["record"])
    for name in ("top", "passes", "ambiguous", "out_of_distribution", "accepted"):
        np.testing.assert_array_equal(one[name], two[name], err_msg=name)
    for name in ("mean", "sd", "atypicality"):
        np.testing.assert_allclose(one[name], two[name], rtol=1e-4, atol=1e-5, err_msg=name)


SNIPPET = """
import json, keras, numpy as np
from models.device import use_all_devices
use_all_devices()
from models.classifier import build_classifier, extract_features, predict_classes
keras.utils.set_random_seed(0)
model = build_classifier((4, 8), 16)
images = np.random.default_rng(0).integers(0, 256, (7, 28, 28), dtype=np.uint8)
print(json.dumps({"classes": predict_classes(model, images, batch_size=4).tolist(),
                  "features": extract_features(model, images, batch_size=4).round(4).tolist()}))
"""


@pytest.mark.slow  # JAX in a subprocess
def test_a_classifier_predicts_an_odd_count_on_two_devices():
    """04's predictions: 7 images in batches of 4 (3 in the last) split over two devices."""
    pytest.importorskip("jax")
    out = {}
    for devices in (1, 2):
        env = {**os.environ, "KERAS_BACKEND": "jax", "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}
        result = subprocess.run([sys.executable, "-c", SNIPPET], cwd=REPO, env=env, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr[-3000:]
        out[devices] = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(out[2]["classes"]) == 7 and out[1]["classes"] == out[2]["classes"]
    np.testing.assert_allclose(out[1]["features"], out[2]["features"], atol=2e-4)
