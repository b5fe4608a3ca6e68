"""Training checkpoints (one HDF5 file, written atomically) and exported generators.

A checkpoint holds every variable of both networks and both optimizers (by position),
the finished epoch, the numpy RNG state, the per-epoch history and the config record,
so a rerun continues exactly where the last checkpoint left off, and only if it was
made with the same constants.
"""

import json
from pathlib import Path

import h5py
import keras

from models.config import UserError
from models.files import atomic_path, load_weights, open_h5, save_weights, write_text
from models.paths import shown

RESTART = "delete it to train from scratch (or rerun with --RETRAIN=1)"


def save_checkpoint(path, gan, epoch, rng, history, record):
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        for group_name, variables in gan.state_groups().items():
            group = f.create_group(group_name)
            for i, variable in enumerate(variables):
                group.create_dataset(str(i), data=keras.ops.convert_to_numpy(variable))
        f.attrs["epoch"] = epoch
        f.attrs["rng_state"] = json.dumps(rng.bit_generator.state)
        f.attrs["history"] = json.dumps(history)
        f.attrs["record"] = json.dumps(record)


def load_checkpoint(path, gan, rng):
    """Restore ``gan`` and ``rng`` from ``path``; return ``(epoch, history)``."""
    with open_h5(path, RESTART) as f:
        values = {}
        for group_name, variables in gan.state_groups().items():
            group = f.get(group_name)
            stored = [group[str(i)][()] for i in range(len(group))] if group is not None else []
            if [s.shape for s in stored] != [tuple(v.shape) for v in variables]:
                raise UserError(
                    f"Checkpoint {shown(path)} does not match the model being trained ({group_name} differs): "
                    f"{RESTART}."
                )
            values[group_name] = stored
        epoch, rng_state, history = int(f.attrs["epoch"]), f.attrs["rng_state"], f.attrs["history"]
    for group_name, variables in gan.state_groups().items():
        for variable, value in zip(variables, values[group_name]):
            variable.assign(value)
    rng.bit_generator.state = json.loads(rng_state)
    return epoch, json.loads(history)


def checkpoint_epoch(path):
    """The epoch a checkpoint finished, or 0 when there is none."""
    if not Path(path).is_file():
        return 0
    with open_h5(path, RESTART) as f:
        return int(f.attrs["epoch"])


def export_generator(generator, weights_path, record):
    """Save ``weights_path`` (``*.weights.h5``, with ``record`` inside) and the architecture beside it as ``*.json``."""
    write_text(_architecture_path(weights_path), generator.to_json())
    save_weights(generator, weights_path, record)


def load_generator(weights_path, hint):
    """Rebuild a generator saved by ``export_generator``; ``hint`` says how to make one."""
    weights_path, architecture = Path(weights_path), _architecture_path(weights_path)
    missing = [shown(p) for p in (weights_path, architecture) if not p.is_file()]
    if missing:
        raise UserError(f"Missing generator file {', '.join(missing)}: {hint}")
    try:
        generator = keras.models.model_from_json(architecture.read_text())
    except Exception as err:  # JSON and layer-config errors all mean the same to a user
        raise UserError(f"Cannot read generator architecture {shown(architecture)} ({err}): {hint}") from err
    load_weights(generator, weights_path, hint.rstrip("."))
    return generator


def _architecture_path(weights_path):
    return Path(str(weights_path).removesuffix(".weights.h5") + ".json")
