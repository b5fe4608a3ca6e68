"""The per-digit GANs of 01_train_class_gans.py: their constants' checks, each digit's
training images and negatives (other digits' real images shown to D as generated ones),
and the record of what made each digit's generator.

``cfg`` is 01's resolved constants (``config.resolve``); a benchmark that starts from 01's
defaults reads them with ``config.script_defaults`` and uses these same functions.
"""

from models import config, selection
from models.augment import KINDS
from models.data import select_class, to_gan_range
from models.gan import LOSSES, negatives_per_batch
from models.record import make_record


def problems(cfg):
    """One sentence for each impossible constant (empty if there is none), before any data is loaded."""
    return (config.distinct_digits(cfg) + config.distinct_digits(cfg, "NEGATIVE_DIGITS")
            + config.at_least_one(cfg, "EPOCHS", "BATCH_SIZE", "LATENT_DIM", "WIDTH", "D_STEPS", "EMA_WARMUP",
                                  "NEGATIVE_FROM_EPOCH", "SAMPLE_EVERY", "CHECKPOINT_EVERY", "STEPS_PER_CALL",
                                  "SELECT_FROM")
            + config.in_range(cfg, "SELECT_EVERY", 0, float("inf"), high_open=True)
            + config.in_range(cfg, "SELECT_LATENT_SCALE", 0, float("inf"), low_open=True, high_open=True)
            + selection_problem(cfg)
            + config.in_range(cfg, "REAL_LABEL", 0, 1, low_open=True)
            + config.in_range(cfg, "EMA_DECAY", 0, 1, high_open=True)
            + config.in_range(cfg, "D_DROPOUT", 0, 1, high_open=True)
            + config.in_range(cfg, "NEGATIVE_SHARE", 0, 1, high_open=True)
            + config.one_of(cfg, "LOSS", LOSSES)
            + config.in_range(cfg, "R1_GAMMA", 0, float("inf"), high_open=True)
            + config.in_range(cfg, "G_CONVS", 0, float("inf"), high_open=True)
            + config.each_one_of(cfg, "AUGMENT", KINDS)
            + config.zero_or_at_least(cfg, "MAX_IMAGES", "BATCH_SIZE")
            + negatives_problem(cfg))


def selection_problem(cfg):
    """A sentence where selection is on but scores no epoch, or with too few draws for a covariance."""
    if not cfg.SELECT_EVERY:
        return []
    if cfg.SELECT_FROM > cfg.EPOCHS:
        return [f"SELECT_FROM={cfg.SELECT_FROM} is after the last epoch (EPOCHS={cfg.EPOCHS}): lower it, or set "
                "SELECT_EVERY=0 to export the last epoch"]
    if cfg.SELECT_DRAWS < 2:
        return [f"SELECT_DRAWS={cfg.SELECT_DRAWS} is too few for an FID: give at least 2 (2000 by default)"]
    return []


def negatives_problem(cfg):
    """A sentence unless NEGATIVE_SHARE is 0 or gives at least one negative and one generated image per D step."""
    n = negatives_per_batch(cfg.NEGATIVE_SHARE, cfg.BATCH_SIZE)
    if cfg.NEGATIVE_SHARE and not 1 <= n < cfg.BATCH_SIZE:
        return [f"NEGATIVE_SHARE={cfg.NEGATIVE_SHARE} gives {n} of BATCH_SIZE={cfg.BATCH_SIZE} images per D step: "
                f"set it between 1/{cfg.BATCH_SIZE} and 1 - 1/{cfg.BATCH_SIZE}, or 0 for none"]
    return []


def digit_images(x_train, y_train, k, cfg):
    """Digit ``k``'s training images, at most MAX_IMAGES of them, in the GAN's range."""
    return to_gan_range(select_class(x_train, y_train, k)[: cfg.MAX_IMAGES or None])


def negative_share(k, cfg):
    """Digit ``k``'s NEGATIVE_SHARE: 0 unless it is one of NEGATIVE_DIGITS."""
    return cfg.NEGATIVE_SHARE if k in cfg.NEGATIVE_DIGITS else 0.0


def other_digits(x_train, y_train, k, cfg):
    """Digit ``k``'s negatives: the training images of every other digit (None where it has no negative share)."""
    return x_train[y_train != k] if negative_share(k, cfg) else None


LEVERS_OFF = {"G_CONVS": 0, "D_SPECTRAL_NORM": False, "D_MINIBATCH_STD": False, "R1_GAMMA": 0.0, "AUGMENT": (),
              "SELECT_EVERY": 0}
# the recipe study's levers, off: recorded only when on, so generators made before they existed still match
SELECTION = ("SELECT_FROM", "SELECT_DRAWS", "SELECT_LATENT_SCALE")  # recorded only with SELECT_EVERY


def digit_record(k, images, negatives, cfg):
    """What made digit ``k``'s generator: its own negative share (NEGATIVE_FROM_EPOCH only where
    it has negatives; the recipe study's levers only where they are on; with selection, the
    verifier whose features choose the epoch)."""
    inputs = {"training images": images, **({"other digits' images": negatives} if negatives is not None else {})}
    if cfg.SELECT_EVERY:
        inputs["selection verifier"] = selection.verifier_file()
    unused = () if negative_share(k, cfg) else ("NEGATIVE_FROM_EPOCH",)
    unused += tuple(name for name, off in LEVERS_OFF.items() if getattr(cfg, name) == off)
    unused += () if cfg.SELECT_EVERY else SELECTION
    return make_record(cfg, skip=("CLASSES", "NEGATIVE_DIGITS", *unused), inputs=inputs, digit=k,
                       NEGATIVE_SHARE=negative_share(k, cfg))
