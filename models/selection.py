"""Which epoch's generator 01 exports: model selection by FID in the verifier's features.

From an epoch on, every few epochs, the averaged generator draws digits from fixed noise;
their FID against the digit's real training images, in the features that 02's
out-of-distribution verdict scores (the shipped verifier's ``OOD_LAYER`` averaged over an
``OOD_GRID`` grid), says how typical and how varied the draws are. The epoch with the
lowest is exported. Neither independent judge of 04 plays a part, so they stay
independent of the choice, and MNIST's test digits are never seen.
"""

import json

import numpy as np

from models import defaults, paths
from models.config import UserError
from models.data import to_uint8
from models.files import load_weights, save_weights
from models.gan import generate_images
from models.metrics import frechet_distance
from models import pretrained
from models.record import read_record
from models.typicality import feature_model, features


def verifier_file(architecture=defaults.VERIFIER):
    """The shipped verifier whose features score the draws."""
    return paths.verifier(paths.resolve(paths.PRETRAINED_WEIGHTS), architecture)


def shipped_feature_model(architecture=defaults.VERIFIER, layer=defaults.OOD_LAYER, grid=defaults.OOD_GRID):
    """(the shipped verifier's feature model, its weights file): image -> the features the OOD verdict scores."""
    from models.verifier import build  # here: the verifier's module is only needed when selection is on

    path = verifier_file(architecture)
    sidecar = pretrained.sidecar(path)
    fix = f"restore the shipped verifier with `git checkout -- {paths.PRETRAINED_WEIGHTS}`"
    try:
        dropout = json.loads(sidecar.read_text())["dropout"]
    except (OSError, ValueError, KeyError) as err:
        raise UserError(f"Cannot read {paths.shown(sidecar)} ({err}): {fix}.") from err
    model = build(architecture, dropout, "float32")
    load_weights(model, path, fix)
    return feature_model(model, layer, grid), path


def statistics(extractor, images):
    """(mean, covariance) of ``extractor``'s features of uint8 ``images``."""
    feats = features(extractor, images)
    return feats.mean(axis=0), np.cov(feats, rowvar=False)


def draws_fid(generator, z, extractor, real):
    """FID of ``generator``'s draws from noise ``z`` against ``real`` = ``statistics`` of real images."""
    return frechet_distance(*statistics(extractor, to_uint8(generate_images(generator, z))), *real)


def noise(seed, k, n, latent_dim, scale=1.0):
    """The fixed noise digit ``k``'s generator is scored on at every scored epoch: ``n`` draws at ``scale``."""
    return scale * np.random.default_rng([seed, k]).standard_normal((n, latent_dim), dtype=np.float32)


def best_epoch(history):
    """(epoch, FID) of the lowest ``selection_fid`` in a training history, or None where none was scored."""
    scored = [(row["selection_fid"], row["epoch"]) for row in history if "selection_fid" in row]
    return (min(scored)[1], min(scored)[0]) if scored else None


def scored(epoch, first, every, last):
    """Whether ``epoch`` is scored: ``first``, ``first + every``, ... and the ``last``."""
    return epoch >= first and ((epoch - first) % every == 0 or epoch == last)


def epoch_scorer(averaged_generator, z, extractor, real, best_path, record, first, every, last):
    """``on_epoch_end(epoch, history)`` for ``fit``: at each ``scored`` epoch, the FID of
    ``averaged_generator()``'s draws from ``z`` goes into the epoch's history row as
    ``selection_fid`` (so the checkpoint keeps it), and the best so far is saved at
    ``best_path`` with ``record`` and its epoch."""

    def on_epoch_end(epoch, history):
        if scored(epoch, first, every, last):
            generator = averaged_generator()
            history[-1]["selection_fid"] = draws_fid(generator, z, extractor, real)
            if best_epoch(history)[0] == epoch:
                save_weights(generator, best_path, {**record, "epoch": epoch})

    return on_epoch_end


def chosen(generator, history, best_path, record):
    """``generator`` with the best scored epoch's weights loaded from ``best_path`` -> (generator, epoch, FID)."""
    best = best_epoch(history)
    if best is None:
        raise ValueError("no epoch of this history was scored for selection")
    stored = read_record(best_path, "rerun with --RETRAIN=1") if best_path.is_file() else None
    if stored != {**record, "epoch": best[0]}:
        raise UserError(f"{paths.shown(best_path)} does not hold epoch {best[0]}'s generator, the best this run "
                        "scored: rerun with --RETRAIN=1.")
    load_weights(generator, best_path, "rerun with --RETRAIN=1")
    return generator, *best
