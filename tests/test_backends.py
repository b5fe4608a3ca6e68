"""The backend-specific tests of the GAN loop, the verifier, 01, 02 and 03 on JAX, in a subprocess
(a backend is chosen at import)."""

import importlib.util
import os
import subprocess
import sys

import keras
import pytest

from conftest import REPO

pytestmark = pytest.mark.slow  # the JAX reruns: .ci/run runs them after the rest

# The tests whose code paths differ between backends (compiled updates, metrics threaded as
# state, checkpoints of optimizer and RNG state, the compiled MC models), not every test:
# JAX compiles each new GAN on the CPU for 10-20 s, and the suite must stay under 15 min.
# 01's and 03's scripts reach the backend only through the GAN loop tested here (its resume
# included), so their end-to-end tests run on the default backend alone.
BACKEND_TESTS = [
    "tests/test_gan_training.py::test_d_step_moves_d_only_and_g_step_moves_g_only",
    "tests/test_gan_training.py::test_metrics_accumulate_on_the_device_as_running_means",
    "tests/test_gan_training.py::test_generator_average_follows_its_formula_after_every_step",
    "tests/test_gan_training.py::test_interrupted_fit_resumes_at_the_next_epoch_and_matches_an_uninterrupted_run",
    "tests/test_gan_training.py::test_steps_in_one_compiled_call_make_the_updates_of_one_call_each",
    "tests/test_02_generate_and_verify.py::test_end_to_end_writes_data_summary_and_figures",
    "tests/test_02_generate_and_verify.py::test_a_digit_gets_the_same_images_and_verdicts_whatever_was_drawn_before",
    "tests/test_verifier.py::test_reseeding_repeats_the_passes_exactly",
    "tests/test_verifier.py::test_mc_predict_matches_the_slow_loop_in_distribution",
    "tests/test_mc.py::test_a_settled_image_stops_at_the_first_look_and_an_undecided_one_gets_every_pass",
]


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
