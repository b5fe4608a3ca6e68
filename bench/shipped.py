"""The verifier the benchmarks measure: the shipped one (or a weights file of one), got the way
every script gets it (``models.judges.get_verifier``), at models/defaults.py's recipe."""

import contextlib
import sys
from models import paths
from models.config import shared_defaults
from models.data import load_dataset
from models.judges import get_verifier


def shipped_verifier(precision, verifier_file="", ood=True, mnist=None):
    """The shipped verifier (or ``verifier_file``, with the density 02 fitted beside it) with its
    layers in ``precision``; returns ``models.judges.Verifier`` (no floor). What it chose goes to
    stderr: a benchmark's stdout is its JSON line."""
    cfg = shared_defaults(MC_PRECISION=precision, VERIFIER_FILE=verifier_file, WEIGHTS_FROM="shipped",
                           WEIGHTS_DIR=paths.VERIFIER_WEIGHTS, SHIPPED_DIR=paths.PRETRAINED_WEIGHTS, VERBOSE=0,
                           **({} if ood else {"OOD_RATE": 0.0}))
    with contextlib.redirect_stdout(sys.stderr):
        return get_verifier(cfg, mnist or load_dataset("mnist"), paths.resolve("outputs/bench_verifier"), floor=False)
