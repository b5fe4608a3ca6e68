"""The training loop, 01, 02 and 03 on the JAX backend, in a subprocess (a backend is chosen at import)."""

import importlib.util
import os
import subprocess
import sys

import keras
import pytest

from conftest import REPO

BACKEND_TESTS = ["tests/test_gan_training.py", "tests/test_01_train_class_gans.py",
                 "tests/test_02_generate_and_verify.py", "tests/test_03_train_acgan.py"]


@pytest.mark.parametrize("backend", ["jax"])
def test_gan_tests_pass_on_another_backend(backend):
    if keras.backend.backend() == backend:
        pytest.skip(f"this run already uses {backend}")
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed (requirements-dev.txt installs it)")
    env = {**os.environ, "KERAS_BACKEND": backend}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *BACKEND_TESTS],
                            cwd=REPO, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "failed" not in result.stdout
