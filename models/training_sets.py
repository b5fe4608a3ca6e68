"""04's training sets: real, synthetic and mixed data, and the ambiguity experiment's sets."""

import numpy as np

from models import paths
from models.config import UserError


def training_sets(x_real, y_real, generated, names, share, seed):
    """{name: (uint8 images, labels)} of the training sets ``names`` (of TRAINING_SETS); in real +
    synthetic, ``share`` of the images are synthetic: all real ones and a random subset (``seed``)
    of the verified ones; DCGANs + AC-GAN: a random half (``seed``) of each one's verified images
    of every digit, as many in all as the DCGANs' set."""
    synthetic = generated["class_gans"]
    x_syn, y_syn, ambiguous = synthetic["x_train"], synthetic["y_train"].astype(np.uint8), synthetic["ambiguous"]
    if {"acgan", "dcgan+acgan"} & set(names) and "acgan" not in generated:
        raise UserError("SETS names AC-GAN training sets but GENERATED_ACGAN names no file: run "
                        "02_generate_and_verify.py --GENERATOR=acgan first, or leave them out of SETS.")
    rng = np.random.default_rng(seed)
    sets = {"real": (x_real, y_real), "synthetic": (x_syn, y_syn),
            "synthetic-clear": (x_syn[~ambiguous], y_syn[~ambiguous]),
            "raw": (synthetic["x_raw"], synthetic["y_raw"].astype(np.uint8)),
            "real+ambiguous": (np.concatenate([x_real, x_syn[ambiguous]]), np.concatenate([y_real, y_syn[ambiguous]]))}
    if "real+synthetic" in names:
        n_mixed = round(len(x_real) * share / (1 - share))
        if n_mixed > len(x_syn):
            raise UserError(f"SYNTHETIC_SHARE={share} needs {n_mixed} synthetic images beside {len(x_real)} real "
                            f"ones, but {paths.shown(synthetic['path'])} has {len(x_syn)}: lower it, or generate "
                            "more with 02.")
        mixed = np.sort(rng.choice(len(x_syn), n_mixed, replace=False))
        sets["real+synthetic"] = (np.concatenate([x_real, x_syn[mixed]]), np.concatenate([y_real, y_syn[mixed]]))
    if "acgan" in generated:
        acgan = generated["acgan"]
        sets["acgan"] = (acgan["x_train"], acgan["y_train"].astype(np.uint8))
        sets["dcgan+acgan"] = half_each((x_syn, y_syn), sets["acgan"], rng)
    return {name: sets[name] for name in names}


def half_each(a, b, rng):
    """Of every digit, a random half of its count in ``a`` from ``a`` and the other half from ``b``."""
    parts = []
    for k in np.unique(a[1]):
        n = int(np.sum(a[1] == k))
        for (x, y), take in ((a, n // 2), (b, n - n // 2)):
            rows = np.flatnonzero(y == k)
            if len(rows) < take:
                raise UserError(f"the AC-GAN's data has {len(rows)} images of digit {k}, the half-and-half set "
                                f"needs {take}: generate more with 02 --GENERATOR=acgan.")
            parts.append((x[np.sort(rng.choice(rows, take, replace=False))], np.full(take, k, np.uint8)))
    return np.concatenate([x for x, _ in parts]), np.concatenate([y for _, y in parts])


def ambiguity_sets(x_real, y_real, data):
    """The experiment's training sets: real, and real plus each of three kinds of 05's images,
    as many of each (the between-class digits whose clear twin passed the verifier)."""
    rows = data["clear"]
    x_between, y_between, soft = data["x_train"][rows], data["y_train"][rows], data["mean"][rows]
    soft_real = np.eye(10, dtype=np.float32)[y_real]
    return {
        "real": (x_real, y_real),
        "real+between": (np.concatenate([x_real, x_between]), np.concatenate([y_real, y_between])),
        "real+between-soft": (np.concatenate([x_real, x_between]),
                              np.concatenate([soft_real, soft / soft.sum(axis=1, keepdims=True)])),
        "real+twins": (np.concatenate([x_real, data["x_clear"][rows]]), np.concatenate([y_real, y_between])),
    }
