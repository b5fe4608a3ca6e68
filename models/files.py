"""Atomic file writes (a temp file in the same folder, then ``os.replace``) and reads that
turn a damaged file into one sentence.

An interrupted run therefore never leaves a half-written file that a later run trusts.
Weights and npz files can carry a config record (models/record.py), stored inside the
file itself so the two can never drift apart.
"""

import contextlib
import csv
import json
import os
import tempfile
from pathlib import Path

import h5py
import numpy as np

from models.config import UserError
from models.paths import shown

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temp path beside ``path``; on success it replaces ``path``, on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp" + "".join(path.suffixes))
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give them the usual permissions
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_text(path, text):
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)


def write_json(path, obj):
    write_text(path, json.dumps(obj, indent=2) + "\n")


def write_csv(path, rows):
    """``rows``: a list of dicts, written with a header line of every key in them (a row
    without a key leaves its cell empty)."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(dict.fromkeys(key for row in rows for key in row)))
        writer.writeheader()
        writer.writerows(rows)


def save_npz(path, record=None, **arrays):
    """``np.savez_compressed``, atomically; ``record`` (a dict) is stored as the JSON string ``record``."""
    if record is not None:
        arrays["record"] = json.dumps(record)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)


def save_weights(model, path, record=None):
    """``model.save_weights`` to ``path`` (a ``*.weights.h5``), atomically, with ``record`` as an HDF5 attribute."""
    with atomic_path(path) as tmp:
        model.save_weights(tmp)
        if record is not None:
            with h5py.File(tmp, "a") as f:
                f.attrs["record"] = json.dumps(record)


@contextlib.contextmanager
def open_h5(path, fix):
    """``h5py.File(path, "r")``; a truncated or foreign file is a UserError naming it and ``fix``."""
    try:
        with h5py.File(path, "r") as f:
            yield f
    except UserError:
        raise
    except (OSError, KeyError, ValueError) as err:
        raise UserError(f"{shown(path)} is damaged or not what this repo wrote ({type(err).__name__}: {err}): "
                        f"{fix}.") from err


def load_weights(model, path, fix):
    """``model.load_weights(path)``; a damaged or mismatching file is a UserError naming it and ``fix``."""
    try:
        model.load_weights(path)
    except Exception as err:  # h5py, shape and layer-count errors all mean the same to a user
        raise UserError(f"Cannot load {shown(path)} into {model.name} ({type(err).__name__}: {err}): {fix}.") from err


def save_figure(fig, path):
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=Path(path).suffix.lstrip("."), dpi=100, bbox_inches="tight")
    plt.close(fig)
