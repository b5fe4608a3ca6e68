"""What Keras's backend runs on, and the speed constants chosen for it.

A script's speed constants (01's WORKERS, 02's and 05's MC_BATCH) default to 0, "chosen for
the device": ``tune_for_device`` fills each 0 from what ``keras.distribution.list_devices()`` sees and
prints the choice; a value given on the command line is kept. They cut the same work into
other calls, so they change no result beyond float noise, except that MC_BATCH also cuts the
dropout masks differently: another draw of the same verdict distribution.

With several accelerators under JAX, ``use_all_devices`` sets Keras's ``DataParallel`` over all of
them before any model is built: every batch is split across the devices, the weights are
copied to each, and the numbers are those of one device.
"""

import os

import keras
import numpy as np

# Measured on one NVIDIA H200 under JAX (docs/gpu.md): 01 at WORKERS=10 takes 184 s against
# 9-10 min at 2; 02 at MC_BATCH=16384 takes 68.5 s against over 110 s at 512. On a 2-core CPU
# 512 rows per call is fastest (bench/bench_mc.py) and two one-thread trainings beat one
# two-thread training by 1.5x (models/workers.py).
CPU_MC_BATCH = 512  # MC rows (images x passes) per verifier call on a CPU
ACCELERATOR_MC_BATCH = 16384  # ... per accelerator
MAX_WORKERS = 10  # one digit per worker: there are ten


def devices():
    """``(kind, count)``: "cpu", "gpu" or "tpu", and how many of them the backend sees. Looking
    claims no accelerator memory (JAX and TensorFlow would otherwise take most of it here,
    before 01's worker processes start)."""
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    found = keras.distribution.list_devices()
    return found[0].split(":")[0].lower(), len(found)


def tuned(name, kind, count, cores):
    """The value of speed constant ``name`` for ``count`` devices of ``kind`` and ``cores`` CPU cores."""
    if name == "MC_BATCH":
        return CPU_MC_BATCH if kind == "cpu" else ACCELERATOR_MC_BATCH * count
    if name == "WORKERS":  # a CPU: one one-thread process per core; accelerators: every digit at once
        return max(1, min(MAX_WORKERS, cores)) if kind == "cpu" else MAX_WORKERS
    raise ValueError(f"{name} is not a speed constant chosen for the device.")


def tune_for_device(cfg, *names, found=None):
    """Fill each of ``cfg``'s constants ``names`` that is 0 for the device (``found`` =
    ``(kind, count)``, default ``devices()``), print the device and the choice, and return
    ``{"device": "1 x cpu, 2 cores", "chosen": {name: value}}`` for the run's record."""
    kind, count = found or devices()
    cores = os.cpu_count() or 1
    chosen = {}
    for name in names:
        if getattr(cfg, name) == 0:
            chosen[name] = tuned(name, kind, count, cores)
            setattr(cfg, name, chosen[name])
    device = f"{count} x {kind}, {cores} CPU cores"
    given = [name for name in names if name not in chosen]
    print(f"device: {device}; chosen for it: {', '.join(f'{n}={v}' for n, v in chosen.items()) or 'nothing'}"
          + (f"; as given: {', '.join(f'{n}={getattr(cfg, n)}' for n in given)}" if given else ""))
    return {"device": device, "chosen": chosen}


def use_all_devices():
    """Under JAX with several devices, split every batch over all of them with Keras's
    DataParallel (call before building any model) -> the device count (1: nothing set)."""
    found = keras.distribution.list_devices()
    if len(found) < 2:
        return 1
    if keras.backend.backend() != "jax":
        print(f"{len(found)} devices found: run with KERAS_BACKEND=jax to use them all; this run uses one.")
        return 1
    if keras.distribution.distribution() is None:
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=found))
    print(f"data parallel over {len(found)} devices: {', '.join(found)}")
    return len(found)


def split_count():
    """How many devices each batch is split over (1 without a distribution)."""
    distribution = keras.distribution.distribution()
    return 1 if distribution is None else distribution.device_mesh.devices.size


def split_evenly(rows):
    """``rows`` padded at the end (with repeats, thrown away after the call) to a multiple of
    the devices a distribution splits each call over. The padding comes last, so the real
    rows keep the dropout masks they get on one device."""
    split = split_count()
    return rows if len(rows) % split == 0 else np.resize(rows, (-(-len(rows) // split) * split, *rows.shape[1:]))


def predict_split(model, x, batch_size):
    """``model.predict(x, batch_size)``, with ``x`` and the batch padded to split evenly over
    the devices a distribution uses (every batch, the last too); the padding's rows dropped."""
    split = split_count()
    return model.predict(split_evenly(x), batch_size=-(-batch_size // split) * split, verbose=0)[: len(x)]


def predict_in_full_calls(model, x, batch):
    """``model.predict_on_batch`` over ``x`` in calls of ``batch`` rows (rounded up to split evenly over
    the devices), the last padded with repeats that are dropped: one compiled shape for any length."""
    batch = -(-batch // split_count()) * split_count()
    parts = [np.asarray(model.predict_on_batch(on_devices(x[np.resize(np.arange(start, min(start + batch, len(x))),
                                                                      batch)])))[: len(x) - start]
             for start in range(0, len(x), batch)]
    return np.concatenate(parts) if parts else np.zeros((0, *model.output.shape[1:]), np.float32)


def on_devices(x):
    """A batch laid out as the distribution wants it (split over the devices), or as it is."""
    distribution = keras.distribution.distribution()
    if distribution is None:
        return x
    return keras.distribution.distribute_tensor(x, distribution.get_data_layout(x.shape))
