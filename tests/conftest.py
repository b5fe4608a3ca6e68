import fcntl
import gzip
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def load_script(filename):
    """Import a numbered script (its name starts with a digit) as a module."""
    spec = importlib.util.spec_from_file_location("script_" + filename.removesuffix(".py"), REPO / filename)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_idx(path, array):
    """``array`` as a gzipped IDX file, as MNIST, Fashion-MNIST and EMNIST are distributed."""
    header = (0x800 + array.ndim).to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


@pytest.fixture(scope="session")
def mnist():
    from models.data import load_dataset

    return load_dataset("mnist")


@pytest.fixture
def tiny_real():
    """64 real-looking images in GAN range, all labelled 3."""
    rng = np.random.default_rng(0)
    return rng.uniform(-1, 1, (64, 28, 28, 1)).astype("float32"), np.full(64, 3, "int32")


def shipped_verifier(architecture=None):
    """(model, density) of a shipped verifier (02's by default), its layers in float32 and its dropout on."""
    import json

    from models import defaults, paths
    from models.files import load_weights
    from models.pretrained import sidecar
    from models.typicality import saved_density
    from models.verifier import build

    architecture = architecture or defaults.VERIFIER
    path = paths.verifier(paths.resolve(paths.PRETRAINED_WEIGHTS), architecture)
    model = build(architecture, json.loads(sidecar(path).read_text())["dropout"], "float32")
    load_weights(model, path, "restore it with `git checkout -- weights/pretrained`")
    return model, saved_density(path, model)


TINY_VERIFIER = dict(VERIFIER_EPOCHS=2, VERIFIER_BATCH_SIZE=32, VERIFIER_SUBSET=2000, VERIFIER_VAL_SIZE=500,
                     MC_PASSES=20, MC_ROUND_PASSES=5, MC_MIN_PASSES=5)  # a verifier recipe that trains in seconds


@pytest.fixture(scope="session")
def tiny_verifier(tmp_path_factory, mnist, request):
    """A verifier of the TINY_VERIFIER recipe, trained once for every test that needs one (with its
    density and its floor under those MC settings): the overrides that make a script find it.
    Under pytest-xdist the workers share it: the first to ask trains it, the others wait for it."""
    from models import verdict
    from models.config import shared_defaults
    from models.judges import get_verifier

    base = tmp_path_factory.getbasetemp()
    root = (base.parent if hasattr(request.config, "workerinput") else base) / "tiny_verifier"  # a worker's: shared
    root.mkdir(exist_ok=True)
    found = {"WEIGHTS_DIR": str(root / "weights"), "SHIPPED_DIR": str(root / "none"), **TINY_VERIFIER}
    with open(root / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if training fails
        if not (root / "done").is_file():
            cfg = shared_defaults(**found, WEIGHTS_FROM="auto", VERBOSE=0)
            verdict.prepare(cfg)
            get_verifier(cfg, mnist, root / "out")
            (root / "done").touch()
    return found
