"""Generated data: how many images to draw for a wanted count, and the files 04 reads,
checked (02's generated.npz and 05's ambiguous.npz)."""

import numpy as np

from models.config import UserError

GENERATED_ARRAYS = ("x_train", "y_train", "ambiguous", "x_raw", "y_raw")  # what 04 reads from a generated.npz
AMBIGUOUS_ARRAYS = ("x_train", "y_train", "mean", "x_clear", "clear", "test_ambiguous")  # what 04 reads from 05's


def draws_needed(missing, kept, drawn):
    """How many images to draw so that about ``missing`` more are kept, at the share kept so far
    (``kept`` of ``drawn``; all, before the first draw), with 2% and 8 images to spare."""
    share = (kept + 1) / (drawn + 1)
    return int(np.ceil(missing / share * 1.02)) + 8


def load_generated(path, producer):
    """``x_train``, ``y_train``, ``ambiguous`` and the raw draws ``x_raw``, ``y_raw`` of a
    generated.npz, checked; a bad file is a UserError."""
    if not path.is_file():
        raise UserError(f"Missing generated data {path}: run {producer} first.")
    try:
        with np.load(path) as f:
            arrays = {name: f[name] for name in GENERATED_ARRAYS if name in f.files}
    except Exception as err:  # zip, pickle and format errors all mean the same to a user
        raise UserError(f"Cannot read generated data {path} ({err}); rerun {producer} to recreate it.") from err
    problem = generated_problem(arrays)
    if problem:
        raise UserError(f"{path} is not generated data as {producer} writes it ({problem}); rerun it to recreate it.")
    return arrays


def generated_problem(arrays):
    """What is wrong with the arrays of a generated.npz, or None."""
    missing = [name for name in GENERATED_ARRAYS if name not in arrays]
    if missing:
        return f"no {', '.join(missing)}"
    for x_name, y_name in (("x_train", "y_train"), ("x_raw", "y_raw")):
        x, y = arrays[x_name], arrays[y_name]
        if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != (28, 28) or len(x) == 0:
            return f"{x_name} is {x.dtype} {x.shape}, expected uint8 (N, 28, 28) with N > 0"
        if y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() > 9:
            return f"{y_name} is {y.dtype} {y.shape}, expected one digit 0-9 per image"
    x, ambiguous = arrays["x_train"], arrays["ambiguous"]
    if ambiguous.shape != (len(x),) or ambiguous.dtype != bool:
        return f"ambiguous is {ambiguous.dtype} {ambiguous.shape}, expected one bool per image"
    return None


def load_ambiguous(path, n_test):
    """05's between-class digits (checked) with the verifier's flags on the first ``n_test`` real
    test images, or None when ``path`` is None or not there yet."""
    if path is None or not path.is_file():
        return None
    try:
        with np.load(path) as f:
            data = {name: f[name] for name in AMBIGUOUS_ARRAYS if name in f.files}
    except Exception as err:  # zip, pickle and format errors all mean the same to a user
        raise UserError(f"Cannot read {path} ({err}); rerun 05_make_ambiguous_digits.py to recreate it.") from err
    missing = [name for name in AMBIGUOUS_ARRAYS if name not in data]
    if missing or len(data["test_ambiguous"]) < n_test:
        problem = f"no {', '.join(missing)}" if missing else f"flags for {len(data['test_ambiguous'])} test images"
        raise UserError(f"{path} is not what this 04 needs ({problem}); rerun 05_make_ambiguous_digits.py "
                        "(TEST_SUBSET=0) to recreate it.")
    return {**data, "path": path, "test_ambiguous": data["test_ambiguous"][:n_test]}


def load_images(path):
    """A user's images to verify: ``x`` uint8 (N, 28, 28) and, when the file has it, ``y`` (the
    intended digits) from an .npz; a bad file is a UserError in one sentence."""
    if not path.is_file():
        raise UserError(f"IMAGES names {path}, which does not exist: give an .npz file with key x (uint8 (N, 28, 28)).")
    try:
        with np.load(path) as f:
            arrays = {name: f[name] for name in ("x", "y") if name in f.files}
    except Exception as err:  # zip, pickle and format errors all mean the same to a user
        raise UserError(f"Cannot read {path} as an .npz file ({err}): save the images with "
                        "numpy.savez(path, x=...).") from err
    x, y = arrays.get("x"), arrays.get("y")
    if x is None or x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != (28, 28) or len(x) == 0:
        found = "no key x" if x is None else f"x is {x.dtype} {x.shape}"
        raise UserError(f"{path}: {found}, expected x uint8 (N, 28, 28) with N > 0 (pixel values 0-255, "
                        "white on black).")
    if y is not None and (y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() > 9):
        raise UserError(f"{path}: y is {y.dtype} {y.shape}, expected one intended digit 0-9 per image of x ({len(x)}).")
    return x, y
