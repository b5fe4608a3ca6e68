"""Run a script once per value of one constant, several processes at a time.

Two CPU cores run two GAN trainings, each on one thread, at about 1.5x the images per
second of one training using both (`python bench/bench_train.py --PROCESSES=1` against
`--PROCESSES=2`): the small convolutions of these networks leave a second thread idle much
of the time. Each child is the same script, run for one value, so it resumes, skips and
fails exactly as a run by hand would.
"""

import os
import subprocess
import sys
import threading
import time


def process_env(processes):
    """Environment variables for one of ``processes`` processes sharing this machine: each
    holds TensorFlow to cpu_count // processes CPU threads (JAX's XLA to one, when that is
    1), and claims GPU memory as it needs it instead of all of it."""
    threads = max(1, (os.cpu_count() or 1) // processes)
    env = {"TF_NUM_INTRAOP_THREADS": str(threads), "TF_NUM_INTEROP_THREADS": str(threads),
           "XLA_PYTHON_CLIENT_PREALLOCATE": "false", "TF_FORCE_GPU_ALLOW_GROWTH": "true", "PYTHONUNBUFFERED": "1"}
    if threads == 1:
        env["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --xla_cpu_multi_thread_eigen=false".strip()
    return env


def as_arguments(constants):
    """``{"EPOCHS": 5, "CLASSES": (0, 1)}`` -> ``["--EPOCHS=5", "--CLASSES=0,1"]``, as the
    script's command line reads them back."""
    def text(value):
        if isinstance(value, tuple):
            return ",".join(map(text, value))
        return str(int(value)) if isinstance(value, bool) else str(value)

    return [f"--{name}={text(value)}" for name, value in constants.items()]


def run_each(script, constants, name, values, workers, gpus=0):
    """Run ``python script --NAME=value ...`` (every constant passed explicitly, ``name``
    set to one of ``values``) for each value, at most ``workers`` at once, each on
    ``cpu_count // workers`` threads; with ``gpus`` > 1, the i-th run sees only GPU
    i mod ``gpus``. Their output lines reach this process's stdout whole. Returns the
    values whose run failed."""
    env = {**os.environ, **process_env(workers)}
    pending, running, failed, started = list(values), {}, [], 0
    try:
        while pending or running:
            while pending and len(running) < workers:
                value = pending.pop(0)
                command = [sys.executable, str(script), *as_arguments({**constants, name: value})]
                placed = {"CUDA_VISIBLE_DEVICES": str(started % gpus)} if gpus > 1 else {}
                child = subprocess.Popen(command, env={**env, **placed}, stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT, text=True)
                started += 1
                copier = threading.Thread(target=_copy_lines, args=(child.stdout,))
                copier.start()
                running[value] = (child, copier)
            time.sleep(0.1)
            for value, (child, copier) in list(running.items()):
                if child.poll() is not None:
                    copier.join()
                    del running[value]
                    if child.returncode:
                        failed.append(value)
    finally:  # interrupted: stop the children (each keeps its last checkpoint)
        for child, copier in running.values():
            child.terminate()
            child.wait()
            copier.join()
    return failed


def _copy_lines(stream):
    for line in stream:
        print(line, end="", flush=True)
