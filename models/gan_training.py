"""One adversarial training loop for every GAN here (per-class DCGAN and AC-GAN).

The losses are written once, as ordinary stateful Keras code; ``make_update`` turns a
loss into one optimizer step over an explicit list of variables for the active backend.
Each network has its own optimizer over its own variables, so a discriminator step
cannot move the generator and vice versa: no ``trainable = False`` toggling (that
Keras-2 pattern silently stops training D in Keras 3).
"""

from pathlib import Path

import keras
import numpy as np
from keras import ops

from models.checkpoint import load_checkpoint, save_checkpoint
from models.config import at_least_one
from models.data import to_uint8
from models.files import save_figure, write_csv
from models.plots import image_grid, loss_curves


def gan_constant_problems(cfg):
    """Problems with the constants every GAN script has (01 and 03)."""
    problems = at_least_one(cfg, "EPOCHS", "BATCH_SIZE", "LATENT_DIM", "WIDTH", "SAMPLE_EVERY", "CHECKPOINT_EVERY")
    if not 0 < cfg.REAL_LABEL <= 1:
        problems.append(f"REAL_LABEL must lie in (0, 1], got {cfg.REAL_LABEL}")
    if cfg.MAX_IMAGES and cfg.MAX_IMAGES < cfg.BATCH_SIZE:
        problems.append(f"MAX_IMAGES ({cfg.MAX_IMAGES}) must be 0 or at least BATCH_SIZE ({cfg.BATCH_SIZE})")
    return problems


def make_update(loss_fn, variables, optimizer, state_variables):
    """Return ``update(*args) -> metrics``: one ``optimizer`` step on ``variables`` down
    ``loss_fn(*args) -> (loss, metrics)``.

    ``state_variables`` are all other variables ``loss_fn`` reads or writes (the other
    network's weights, BatchNorm statistics, dropout seeds): the JAX step threads them
    through explicitly instead of baking them in as constants.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        return _tensorflow_update(loss_fn, variables, optimizer)
    if backend == "jax":
        return _jax_update(loss_fn, variables, optimizer, state_variables)
    raise NotImplementedError(
        f"GAN training runs on the tensorflow and jax backends, not {backend!r}: set KERAS_BACKEND."
    )


def _tensorflow_update(loss_fn, variables, optimizer):
    import tensorflow as tf

    @tf.function
    def update(*args):
        with tf.GradientTape() as tape:
            loss, metrics = loss_fn(*args)
        optimizer.apply(tape.gradient(loss, variables), variables)
        return metrics

    return update


def _jax_update(loss_fn, variables, optimizer, state_variables):
    import jax

    def stateless_loss(values, state_values, args):
        mapping = list(zip(variables, values)) + list(zip(state_variables, state_values))
        with keras.StatelessScope(state_mapping=mapping) as scope:
            loss, metrics = loss_fn(*args)
        return loss, (metrics, [scope.get_current_value(v) for v in state_variables])

    @jax.jit
    def step(values, state_values, optimizer_values, args):
        grad_fn = jax.value_and_grad(stateless_loss, has_aux=True)
        (_, (metrics, state_values)), grads = grad_fn(values, state_values, args)
        values, optimizer_values = optimizer.stateless_apply(optimizer_values, grads, values)
        return values, state_values, optimizer_values, metrics

    def update(*args):
        groups = (variables, state_variables, optimizer.variables)
        *new_values, metrics = step(*([v.value for v in group] for group in groups), args)
        for group, values in zip(groups, new_values):
            for variable, value in zip(group, values):
                variable.assign(value)
        return metrics

    return update


def _unique(variables):
    seen, out = set(), []
    for v in variables:
        if id(v) not in seen:
            seen.add(id(v))
            out.append(v)
    return out


class GANTrainer:
    """Alternating D and G steps for a generator, a discriminator and an objective.

    The objective supplies ``discriminator_loss(real_out, fake_out, labels, fake_labels)``
    and ``generator_loss(fake_out, fake_labels)``, each returning ``(loss, metrics)``.
    A generator with two inputs is conditional and is called as ``G([z, labels])``.
    """

    def __init__(self, generator, discriminator, objective, learning_rate=2e-4, beta_1=0.5):
        self.generator, self.discriminator, self.objective = generator, discriminator, objective
        self.latent_dim = generator.inputs[0].shape[-1]
        self.g_optimizer = keras.optimizers.Adam(learning_rate, beta_1=beta_1, name="g_adam")
        self.d_optimizer = keras.optimizers.Adam(learning_rate, beta_1=beta_1, name="d_adam")
        self.g_optimizer.build(generator.trainable_variables)
        self.d_optimizer.build(discriminator.trainable_variables)
        everything = _unique(generator.variables + discriminator.variables)
        self.d_update = self._update(self._d_loss, discriminator.trainable_variables, self.d_optimizer, everything)
        self.g_update = self._update(self._g_loss, generator.trainable_variables, self.g_optimizer, everything)

    @staticmethod
    def _update(loss_fn, variables, optimizer, everything):
        trained = {id(v) for v in variables}
        return make_update(loss_fn, variables, optimizer, [v for v in everything if id(v) not in trained])

    def generate(self, z, labels, training):
        return self.generator(generator_inputs(self.generator, z, labels), training=training)

    def _d_loss(self, real, labels, z, fake_labels):
        fake = ops.stop_gradient(self.generate(z, fake_labels, training=True))
        real_out = self.discriminator(real, training=True)
        fake_out = self.discriminator(fake, training=True)
        return self.objective.discriminator_loss(real_out, fake_out, labels, fake_labels)

    def _g_loss(self, z, fake_labels):
        fake_out = self.discriminator(self.generate(z, fake_labels, training=True), training=True)
        return self.objective.generator_loss(fake_out, fake_labels)

    def d_step(self, real, labels, z, fake_labels):
        """One discriminator update; returns its metrics as floats."""
        return _floats(self.d_update(real, labels, z, fake_labels))

    def g_step(self, z, fake_labels):
        """One generator update; returns its metrics as floats."""
        return _floats(self.g_update(z, fake_labels))

    def train_step(self, real, labels, rng, n_classes):
        """A D step on ``real`` then a G step, each on fresh noise and fake labels from ``rng``."""
        n = len(real)
        metrics = self.d_step(real, labels, *self.noise(rng, n, n_classes))
        metrics.update(self.g_step(*self.noise(rng, n, n_classes)))
        return metrics

    def noise(self, rng, n, n_classes):
        """``(z, fake_labels)``: standard-normal latents and uniform class labels."""
        z = rng.standard_normal((n, self.latent_dim), dtype=np.float32)
        return z, rng.integers(0, n_classes, size=n).astype("int32")

    def state_groups(self):
        """Every variable a checkpoint must hold, by group name."""
        return {
            "generator": self.generator.variables,
            "discriminator": self.discriminator.variables,
            "g_optimizer": self.g_optimizer.variables,
            "d_optimizer": self.d_optimizer.variables,
        }


def _floats(metrics):
    """Metrics as Python floats, losses before accuracies, the same order on every backend."""
    names = sorted(metrics, key=lambda name: ("acc" in name, name))
    return {name: float(ops.convert_to_numpy(metrics[name])) for name in names}


def run_epoch(trainer, images, labels, batch_size, rng, n_classes, verbose=1):
    """One shuffled pass over ``images`` (float32, GAN range) in full batches; mean metrics."""
    order = rng.permutation(len(images))
    steps = len(images) // batch_size
    progbar = keras.utils.Progbar(steps, verbose=verbose, unit_name="step")
    totals = {}
    for step in range(steps):
        idx = order[step * batch_size : (step + 1) * batch_size]
        metrics = trainer.train_step(images[idx], labels[idx], rng, n_classes)
        for name, value in metrics.items():
            totals[name] = totals.get(name, 0.0) + value
        progbar.update(step + 1, values=list(metrics.items()))
    return {name: total / steps for name, total in totals.items()}


def fit(trainer, images, labels, *, epochs, batch_size, n_classes, seed, checkpoint_path,
        checkpoint_every=1, on_epoch_end=None, name="", verbose=1):
    """Train for ``epochs`` epochs, resuming from ``checkpoint_path`` when it exists.

    ``images``: float32 in [-1, 1], (N, 28, 28, 1); ``labels``: int32 (N,). After each
    epoch ``on_epoch_end(epoch, history)`` runs, then (every ``checkpoint_every`` epochs
    and at the last) the checkpoint is written, so a crash loses at most the epoch in
    flight. Returns the history: one dict of mean metrics per epoch.
    """
    rng = np.random.default_rng(seed)
    start, history = 0, []
    if Path(checkpoint_path).is_file():
        start, history = load_checkpoint(checkpoint_path, trainer, rng)
        if verbose and start < epochs:
            print(f"{name}resuming after epoch {start} from {checkpoint_path}")
    for epoch in range(start + 1, epochs + 1):
        if verbose:
            print(f"{name}epoch {epoch}/{epochs}")
        metrics = run_epoch(trainer, images, labels, batch_size, rng, n_classes, verbose)
        history.append({"epoch": epoch, **metrics})
        if on_epoch_end is not None:
            on_epoch_end(epoch, history)
        if epoch % checkpoint_every == 0 or epoch == epochs:
            save_checkpoint(checkpoint_path, trainer, epoch, rng, history)
    return history


def epoch_reporter(out_dir, title, sample, sample_every, epochs, ncols=10, row_labels=None):
    """An ``on_epoch_end`` for ``fit``: rewrites ``losses.csv`` and ``loss_curve.png`` in
    ``out_dir`` every epoch, and saves ``samples_epoch_NNN.png`` from ``sample()`` (GAN
    range images) every ``sample_every`` epochs and at the last."""

    def on_epoch_end(epoch, history):
        write_csv(out_dir / "losses.csv", history)
        save_figure(loss_curves(history, title=title), out_dir / "loss_curve.png")
        if epoch % sample_every == 0 or epoch == epochs:
            grid = image_grid(to_uint8(sample()), ncols, title=f"{title}, epoch {epoch}", row_labels=row_labels)
            save_figure(grid, out_dir / f"samples_epoch_{epoch:03d}.png")

    return on_epoch_end


def generate_images(generator, z, labels=None, batch_size=500):
    """Run ``generator`` in inference mode over ``z`` (and ``labels``) in batches -> float32 numpy."""
    out = []
    for start in range(0, len(z), batch_size):
        batch_labels = None if labels is None else labels[start : start + batch_size]
        inputs = generator_inputs(generator, z[start : start + batch_size], batch_labels)
        out.append(ops.convert_to_numpy(generator(inputs, training=False)))
    return np.concatenate(out)


def generator_inputs(generator, z, labels):
    """A conditional generator (two inputs) takes ``[z, labels]``; a plain one takes ``z``."""
    return [z, labels] if len(generator.inputs) == 2 else z
