"""The config record: which constants and which inputs made an artefact.

Every artefact the scripts write (generator weights, checkpoints, the verifier, generated
npz files, reports) carries a record, stored inside the file. Before a script reuses a
finished artefact it compares that record with the one its constants would write now:
equal, it reuses it; different, it redoes the work or refuses with a sentence naming
the constants that differ and the flag that redoes it. Never a silent reuse.

Constants that cannot change a result (where files go, progress bars, how often to
checkpoint or draw samples) are left out of every record.
"""

import hashlib
import json
from pathlib import Path

import numpy as np

from models.config import UserError
from models.files import open_h5
from models.paths import shown

LOGISTICS = ("VERBOSE", "WEIGHTS_DIR", "OUTPUT_DIR", "DATA_DIR", "GENERATOR_DIR", "RETRAIN", "SAMPLE_EVERY",
             "CHECKPOINT_EVERY", "GALLERY_SIZE", "WEIGHTS_FROM", "SHIPPED_DIR", "WORKERS",
             "STEPS_PER_CALL")


def make_record(cfg, names=None, skip=(), inputs=None, **extra):
    """``{"constants": {...}, "inputs": {name: sha256}}``.

    ``names``: the constants of ``cfg`` that matter (default: all but LOGISTICS and
    ``skip``); ``extra``: more settings, e.g. ``digit=3``; ``inputs``: {name: a file path,
    a numpy array, or a sha256 already computed}.
    """
    constants = {name: getattr(cfg, name) for name in (sorted(names) if names else vars(cfg))
                 if name not in LOGISTICS and name not in skip}
    record = {"constants": {**constants, **extra},
              "inputs": {name: fingerprint(value) for name, value in (inputs or {}).items()}}
    return json.loads(json.dumps(record))  # tuples become lists, as they come back from a file


def without(record, *names):
    """``record`` less the constants ``names``."""
    return {**record, "constants": {k: v for k, v in record["constants"].items() if k not in names}}


def fingerprint(value):
    """sha256 hex digest of a file (a Path) or an array (dtype, shape and bytes); a string is taken as a digest."""
    if isinstance(value, str):
        return value
    digest = hashlib.sha256()
    if isinstance(value, Path):
        with open(value, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()
    array = np.ascontiguousarray(value)
    digest.update(f"{array.dtype.str}{array.shape}".encode())
    digest.update(array.data)
    return digest.hexdigest()


def read_record(path, fix="delete it and rerun to make it again"):
    """The record stored in ``path`` (``.h5`` or ``.npz``), or None for a file without one;
    a damaged file is a UserError naming it and ``fix``."""
    path = Path(path)
    if path.suffix == ".h5":
        with open_h5(path, fix) as f:
            raw = f.attrs.get("record")
    else:
        try:
            with np.load(path) as f:
                raw = str(f["record"]) if "record" in f.files else None
        except (OSError, ValueError, EOFError) as err:
            raise UserError(f"{shown(path)} is damaged ({type(err).__name__}: {err}): {fix}.") from err
    return json.loads(raw) if raw else None


def differences(stored, wanted):
    """What differs between two records, as short phrases: ``["WIDTH=32 (now 64)", ...]``."""
    if not stored:
        return ["no config record (an older version of this repo made it)"]
    out = []
    old, new = stored.get("constants", {}), wanted["constants"]
    for name in [*new, *(n for n in old if n not in new)]:
        if old.get(name, "unset") != new.get(name, "unset"):
            out.append(f"{name}={old.get(name, 'unset')!r} (now {new.get(name, 'unset')!r})")
    old, new = stored.get("inputs", {}), wanted["inputs"]
    for name in [*new, *(n for n in old if n not in new)]:
        if old.get(name) != new.get(name):
            out.append(f"another {name} (sha256 {str(old.get(name))[:12]}, now {str(new.get(name))[:12]})")
    return out


def matches(path, wanted):
    """True if ``path`` exists and was made with the record ``wanted``."""
    return Path(path).is_file() and not differences(read_record(path), wanted)


def reusable(path, wanted, label):
    """True if ``path`` exists and was made with the record ``wanted``; where a file made with
    other settings is there, says so (``label``: what it holds, e.g. "digit 3")."""
    if not Path(path).is_file():
        return False
    stale = differences(read_record(path), wanted)
    if stale:
        print(f"{label}: {shown(path)} was made with {', '.join(stale)}: drawing it again")
    return not stale


def require_match(path, wanted, redo):
    """Raise a UserError unless ``path`` was made with ``wanted``; ``redo`` says how to redo it."""
    problems = differences(read_record(path, f"delete it, or {redo}"), wanted)
    if problems:
        raise UserError(f"{shown(path)} was made with other settings: {', '.join(problems)}. "
                        f"Restore those constants to use it, or {redo}.")
