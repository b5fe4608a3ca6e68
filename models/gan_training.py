"""The training loop every GAN here shares: epochs of ``GAN.train_steps``, resumable
checkpoints that carry their config record, and a watch for runs that diverge."""

import time
from pathlib import Path

import keras
import numpy as np

from models.checkpoint import checkpoint_epoch, load_checkpoint, save_checkpoint
from models.config import UserError
from models.gan import negatives_per_batch
from models.paths import shown
from models.record import require_match

LOSS_LIMIT = 100.0  # an epoch-mean loss above this has exploded (healthy runs stay below about 10)
D_WINS_ACCURACY = 0.99  # D this accurate on both real and fake images for a whole epoch is winning outright...
D_WINS_EPOCHS = 3  # ...and this many epochs of it in a row stop the run: G gets no useful gradient


class Diverged(UserError):
    """A GAN run went wrong (non-finite or exploding losses, D winning outright)."""


def run_epoch(gan, images, labels, batch_size, rng, verbose=1, refresh_seconds=1.0, negatives=None,
              steps_per_call=1):
    """One shuffled pass over ``images`` (float32, GAN range) in full batches, ``steps_per_call``
    steps per compiled call -> the epoch's mean metrics. The running means stay on the device;
    the progress bar reads them about every ``refresh_seconds`` (``verbose`` 1), the only host
    syncs besides the epoch's end.
    With ``negatives`` (other classes' images), each D step gets ``gan.negative_share`` of
    its batch drawn from them at random, in place of as many generated images (without, a
    GAN with a ``negative_share`` trains on generated images alone this epoch)."""
    if negatives is not None and not gan.negative_share:
        raise ValueError("negatives were given to a GAN without a negative_share: give it one, or no negatives")
    order = rng.permutation(len(images))
    steps = len(images) // batch_size
    n_negative = 0 if negatives is None else negatives_per_batch(gan.negative_share, batch_size)
    show = verbose == 1
    progbar = keras.utils.Progbar(steps, verbose=int(show), unit_name="step", stateful_metrics=list(gan.trackers))
    gan.reset_metrics()
    shown_at = time.monotonic()
    for first in range(0, steps, steps_per_call):
        calls = []
        for step in range(first, min(first + steps_per_call, steps)):  # the random draws in step order
            idx = order[step * batch_size : (step + 1) * batch_size]
            batch_labels = None if labels is None else labels[idx]
            batch_negatives = negatives[rng.integers(0, len(negatives), n_negative)] if n_negative else None
            calls.append(gan.step_inputs(images[idx], batch_labels, rng, update_g=(step + 1) % gan.d_steps == 0,
                                         negatives=batch_negatives))
        gan.train_steps(calls)
        if show and (time.monotonic() - shown_at >= refresh_seconds or step + 1 == steps):
            progbar.update(step + 1, values=list(gan.metrics().items()))
            shown_at = time.monotonic()
    return gan.metrics()


def fit(gan, images, labels=None, *, epochs, batch_size, seed, checkpoint_path, record, retrain=False,
        checkpoint_every=1, on_epoch_end=None, name="", verbose=1, negatives=None, negatives_from_epoch=1,
        steps_per_call=1):
    """Train for ``epochs`` epochs, resuming from ``checkpoint_path`` when it holds a run made
    with ``record`` (another record is refused, unless ``retrain`` starts over).

    ``images``: float32 in [-1, 1], (N, 28, 28, 1); ``labels``: int32 (N,) for an AC-GAN,
    None for a per-class GAN; ``negatives``: other classes' images (float32, GAN range) for a
    GAN with a ``negative_share``, else None, used from epoch ``negatives_from_epoch`` on.
    After each epoch ``on_epoch_end(epoch, history)`` runs, then (every ``checkpoint_every``
    epochs and at the last) the checkpoint is written, so a crash loses at most the epochs
    since. A diverged epoch raises ``Diverged`` before its checkpoint is written. Returns the
    history: per epoch, a dict of its mean metrics and its wall time (``seconds``).
    ``verbose``: 1 = a progress bar per epoch, 2 = one line per epoch, 0 = silent.
    ``steps_per_call``: steps in one compiled call (the same updates, fewer calls).
    """
    if bool(gan.negative_share) != (negatives is not None):
        raise ValueError("give the other classes' images as negatives exactly when the GAN has a negative_share "
                         f"(it has {gan.negative_share})")
    rng = np.random.default_rng(seed)
    start, history = 0, []
    if Path(checkpoint_path).is_file() and not retrain:
        require_match(checkpoint_path, record, "rerun with --RETRAIN=1 to train from scratch")
        done = checkpoint_epoch(checkpoint_path)
        if done > epochs:
            raise UserError(f"{shown(checkpoint_path)} has trained {done} epochs, more than EPOCHS={epochs}: "
                            f"set --EPOCHS={done} to use it, or rerun with --RETRAIN=1 to train {epochs} from scratch.")
        start, history = load_checkpoint(checkpoint_path, gan, rng)
        if verbose and start < epochs:
            print(f"{name}: resuming after epoch {start} from {shown(checkpoint_path)}")
    saved = start
    for epoch in range(start + 1, epochs + 1):
        if verbose == 1:
            print(f"{name}: epoch {epoch}/{epochs}")
        started = time.monotonic()
        metrics = run_epoch(gan, images, labels, batch_size, rng, verbose, steps_per_call=steps_per_call,
                            negatives=negatives if epoch >= negatives_from_epoch else None)
        history.append({"epoch": epoch, **metrics, "seconds": round(time.monotonic() - started, 2)})
        if verbose == 2:
            print(f"{name}: epoch {epoch}/{epochs}, {history[-1]['seconds']:.0f} s, "
                  + ", ".join(f"{key} {value:.3f}" for key, value in metrics.items()))
        problem = divergence(history)
        if problem:
            kept = f"the checkpoint of epoch {saved} is kept" if saved else "this run wrote no checkpoint"
            raise Diverged(f"{name}, epoch {epoch}: training diverged ({problem}); {kept} and no generator was "
                           "exported. Lower LEARNING_RATE (or change the recipe) and rerun with --RETRAIN=1.")
        if on_epoch_end is not None:
            on_epoch_end(epoch, history)
        if epoch % checkpoint_every == 0 or epoch == epochs:
            save_checkpoint(checkpoint_path, gan, epoch, rng, history, record)
            saved = epoch
    return history


def divergence(history):
    """Why the run in ``history`` (per-epoch mean metrics) has diverged, or None."""
    last = history[-1]
    bad = [f"{key}={value:.3g}" for key, value in last.items() if not np.isfinite(value)]
    if bad:
        return "non-finite " + ", ".join(bad)
    exploded = [f"{key}={value:.3g}" for key, value in last.items() if "loss" in key and abs(value) > LOSS_LIMIT]
    if exploded:
        return f"losses above {LOSS_LIMIT:g}: " + ", ".join(exploded)
    recent = history[-D_WINS_EPOCHS:]
    if len(recent) == D_WINS_EPOCHS and all(min(row["d_acc_real"], row["d_acc_fake"]) >= D_WINS_ACCURACY
                                            for row in recent):
        return (f"D told real from fake with at least {D_WINS_ACCURACY:.0%} accuracy for {D_WINS_EPOCHS} "
                "epochs in a row, so G learns nothing")
    return None
