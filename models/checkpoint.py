"""Training checkpoints (one HDF5 file, written atomically) and exported generators.

A checkpoint holds every variable of both networks and both optimizers (by position),
the finished epoch, the numpy RNG state and the per-epoch history, so a rerun continues
exactly where the last checkpoint left off.
"""

import json
from pathlib import Path

import h5py
import keras

from models.errors import UserError
from models.files import atomic_path, save_weights, write_text


def save_checkpoint(path, trainer, epoch, rng, history):
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        for group_name, variables in trainer.state_groups().items():
            group = f.create_group(group_name)
            for i, variable in enumerate(variables):
                group.create_dataset(str(i), data=keras.ops.convert_to_numpy(variable))
        f.attrs["epoch"] = epoch
        f.attrs["rng_state"] = json.dumps(rng.bit_generator.state)
        f.attrs["history"] = json.dumps(history)


def load_checkpoint(path, trainer, rng):
    """Restore ``trainer`` and ``rng`` from ``path``; return ``(epoch, history)``."""
    with h5py.File(path, "r") as f:
        values = {}
        for group_name, variables in trainer.state_groups().items():
            group = f.get(group_name)
            stored = [group[str(i)][()] for i in range(len(group))] if group is not None else []
            shapes = [tuple(v.shape) for v in variables]
            if [s.shape for s in stored] != shapes:
                raise UserError(
                    f"Checkpoint {path} does not match the model being trained ({group_name} differs: "
                    "were LATENT_DIM, WIDTH or the architecture changed?). Restore the old constants, "
                    "or delete the checkpoint to start this class over."
                )
            values[group_name] = stored
        epoch, rng_state, history = int(f.attrs["epoch"]), f.attrs["rng_state"], f.attrs["history"]
    for group_name, variables in trainer.state_groups().items():
        for variable, value in zip(variables, values[group_name]):
            variable.assign(value)
    rng.bit_generator.state = json.loads(rng_state)
    return epoch, json.loads(history)


def checkpoint_epoch(path):
    """The epoch a checkpoint finished, or 0 when there is none."""
    if not Path(path).is_file():
        return 0
    with h5py.File(path, "r") as f:
        return int(f.attrs["epoch"])


def export_generator(generator, weights_path):
    """Save ``weights_path`` (``*.weights.h5``) plus the architecture beside it as ``*.json``."""
    save_weights(generator, weights_path)
    write_text(_config_path(weights_path), generator.to_json())


def load_generator(weights_path, hint):
    """Rebuild a generator saved by ``export_generator``; ``hint`` says how to make one."""
    weights_path, config_path = Path(weights_path), _config_path(weights_path)
    missing = [str(p) for p in (weights_path, config_path) if not p.is_file()]
    if missing:
        raise UserError(f"Missing generator file {', '.join(missing)}: {hint}")
    try:
        generator = keras.models.model_from_json(config_path.read_text())
        generator.load_weights(weights_path)
    except Exception as err:  # h5py, JSON and shape errors all mean the same to a user
        raise UserError(f"Cannot read generator {weights_path} ({err}): {hint}") from None
    return generator


def _config_path(weights_path):
    return Path(str(weights_path).removesuffix(".weights.h5") + ".json")

