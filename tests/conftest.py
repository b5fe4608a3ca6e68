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


@pytest.fixture(scope="session")
def mnist():
    from models.data import load_dataset

    return load_dataset("mnist")


@pytest.fixture
def tiny_real():
    """64 real-looking images in GAN range, all labelled 3."""
    rng = np.random.default_rng(0)
    return rng.uniform(-1, 1, (64, 28, 28, 1)).astype("float32"), np.full(64, 3, "int32")
