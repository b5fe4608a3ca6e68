"""The adversarial step, written once for both GANs here: the per-digit DCGAN and the AC-GAN.

D learns to say ``real_label`` (one-sided label smoothing) on real images and 0 on
generated ones; G learns to make D say 1 on its images (the non-saturating loss, or both
as least squares: LSGAN). With the hinge loss (SNGAN's) D pushes its output above +1 on real
images and below -1 on generated ones, and G raises it on its own. ``augment`` changes every
image D sees in the same random ways, real or generated (DiffAugment, ``models/augment.py``);
``r1_gamma`` adds the R1 penalty to D's loss: ``r1_gamma / 2`` times the squared gradient
of D's output with respect to the real images it is shown (Mescheder et al. 2018).

An AC-GAN (a generator with a label input, a discriminator with a class head) adds the
auxiliary class loss to both (G's weighted by ``g_class_weight``). With a twin class head
on D (TAC-GAN, Gong et al. 2019), D's class head learns real images only and the twin
learns generated ones, and G's class loss is the first head's minus the twin's, meant to
cancel AC-GAN's pull towards the most classifiable images of each class.
``class_smoothing`` softens D's class targets (G's stay hard). Each network has its own
optimizer over its own weights, so a D update cannot move G and vice versa: no
``trainable = False`` toggling, the Keras-2 pattern that silently stops training D in Keras 3.
"""

import weakref

import keras
import numpy as np
from keras import ops

from models import augment as diffaugment
from models.update import compile_calls, input_gradient, make_update

_AVERAGED = weakref.WeakKeyDictionary()  # GAN -> its averaged generator (averaged_generator)


class GAN:
    """A generator and a discriminator, an Adam optimizer each, and their compiled updates.

    With ``ema_decay`` > 0, ``ema`` holds an exponential moving average of G's variables,
    updated after every G step: ``average = decay * average + (1 - decay) * weight``, with
    ``decay = min(ema_decay, (1 + t) / (ema_warmup + t))`` at step t, so early averages
    forget the random start quickly. ``averaged_generator()`` is G with those weights.
    """

    def __init__(self, generator, discriminator, learning_rate=2e-4, beta_1=0.5, real_label=0.9,
                 ema_decay=0.0, ema_warmup=10, loss="non_saturating", d_steps=1, g_class_weight=1.0,
                 class_smoothing=0.0, negative_share=0.0, augment=(), r1_gamma=0.0):
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
        self.generator, self.discriminator, self.real_label = generator, discriminator, real_label
        self.loss, self.d_steps, self.g_class_weight = loss, d_steps, g_class_weight
        self.class_smoothing = class_smoothing  # D's class targets: 1 - s on the label, s spread over all classes
        self.negative_share = negative_share  # share of D's "generated" batch that is other classes' real images
        self.ema_decay, self.ema_warmup = ema_decay, ema_warmup
        if set(augment) - set(diffaugment.KINDS):
            raise ValueError(f"augment takes kinds from {diffaugment.KINDS}, got {tuple(augment)!r}")
        self.augment, self.r1_gamma = tuple(augment), r1_gamma
        self.ema = [keras.Variable(ops.convert_to_numpy(v), trainable=False, name=f"ema_{i}")
                    for i, v in enumerate(generator.variables)]
        self.ema_steps = keras.Variable(0, dtype="int32", trainable=False, name="ema_steps")
        self.conditional = len(generator.inputs) == 2  # G([z, label]) and D -> (real/fake, class[, twin])
        self.n_classes = discriminator.outputs[1].shape[-1] if self.conditional else 0
        self.twin = self.conditional and len(discriminator.outputs) == 3  # TAC-GAN: D -> (real/fake, class, twin)
        if negative_share and self.conditional:
            raise ValueError("negative_share is for a per-class GAN (an AC-GAN's class head already sees every "
                             "class): leave it at 0 for an AC-GAN")
        self.latent_dim = generator.inputs[0].shape[-1]
        self.d_optimizer = keras.optimizers.Adam(learning_rate, beta_1=beta_1, name="d_adam")
        self.g_optimizer = keras.optimizers.Adam(learning_rate, beta_1=beta_1, name="g_adam")
        self.d_optimizer.build(discriminator.trainable_variables)
        self.g_optimizer.build(generator.trainable_variables)
        names = ["d_loss_real", "d_loss_fake", "g_loss", "d_acc_real", "d_acc_fake"]
        names += ["d_class", "g_class", "d_class_acc_real"] if self.conditional else []
        names += ["d_acc_negative"] if negative_share else []
        names += ["r1"] if r1_gamma else []
        self.trackers = {name: keras.metrics.Mean(name=name) for name in names}  # running means, on the device
        self.d_update = self._compile(self.d_loss, discriminator, self.d_optimizer)
        self.g_update = self._compile(self.g_loss, generator, self.g_optimizer,
                                      after=self.update_ema if ema_decay else None)
        self.run_steps = compile_calls(self._steps, self.variables())

    def train_step(self, real, labels, rng, update_g=True, negatives=None):
        """One adversarial step: update D on ``real`` and as many fakes (``negatives``, other
        classes' real images, take the place of some), then (unless told not to: D gets
        ``d_steps`` steps per G step) G on fresh noise. Its metrics go into ``trackers``;
        ``metrics()`` reads them."""
        self.train_steps([self.step_inputs(real, labels, rng, update_g, negatives)])

    def train_steps(self, steps):
        """Several adversarial steps, each ``step_inputs``' pair, in one compiled call: the
        same updates as one ``train_step`` after another, without a call per step."""
        self.run_steps(steps)

    def step_inputs(self, real, labels, rng, update_g=True, negatives=None):
        """A step's inputs, ``(d_args, g_args)``, its noise drawn from ``rng`` (``g_args`` None
        without a G update)."""
        n_fake = len(real) - (0 if negatives is None else len(negatives))
        d_args = (real, labels, *self.noise(rng, n_fake), negatives, self.changes(rng, len(real)),
                  self.changes(rng, len(real)))
        return d_args, (*self.noise(rng, len(real)), self.changes(rng, len(real))) if update_g else None

    def _steps(self, steps):
        for d_args, g_args in steps:
            self.d_update(*d_args)
            if g_args is not None:
                self.g_update(*g_args)

    def d_loss(self, real, labels, z, fake_labels, negatives=None, real_changes=None, fake_changes=None):
        """D's loss on a batch of real images and as many "fake" ones: generated from ``z``,
        then ``negatives`` (real images of other classes), if any -> ``(loss, metrics)``.
        ``real_changes``, ``fake_changes``: the augmentation's draws for each batch (``changes``)."""
        fake = ops.stop_gradient(self.generate(z, fake_labels, training=True))
        if negatives is not None:
            fake = ops.concatenate([fake, negatives])
        real, fake = self.augmented(real, real_changes), self.augmented(fake, fake_changes)
        real_out = self.discriminator(real, training=True)
        fake_out = self.discriminator(fake, training=True)
        real_logit, fake_logit = first(real_out), first(fake_out)
        if self.loss == "hinge":
            d_loss_real = ops.mean(ops.relu(1.0 - real_logit))
            d_loss_fake = ops.mean(ops.relu(1.0 + fake_logit))
        else:
            d_loss_real = self.adversarial_loss(self.real_label, real_logit)
            d_loss_fake = self.adversarial_loss(0.0, fake_logit)
        boundary = 0.5 if self.loss == "least_squares" else 0.0  # where D's output says "real" (p = 0.5)
        says_fake, n_generated = ops.cast(fake_logit < boundary, "float32"), ops.shape(z)[0]
        metrics = {"d_loss_real": d_loss_real, "d_loss_fake": d_loss_fake,
                   "d_acc_real": ops.mean(ops.cast(real_logit > boundary, "float32")),
                   "d_acc_fake": ops.mean(says_fake[:n_generated])}
        if negatives is not None:
            metrics["d_acc_negative"] = ops.mean(says_fake[n_generated:])
        d_loss = d_loss_real + d_loss_fake
        if self.r1_gamma:  # D's slope at the real images, with its dropout off
            slope = input_gradient(lambda x: ops.sum(first(self.discriminator(x, training=False))), real)
            metrics["r1"] = ops.mean(ops.sum(ops.square(slope), axis=(1, 2, 3)))
            d_loss = d_loss + self.r1_gamma / 2 * metrics["r1"]
        if self.conditional:  # AC-GAN: D also names the class of real and of generated images (TAC: with the twin)
            fake_class = fake_out[2 if self.twin else 1]
            d_class = (class_loss(labels, real_out[1], self.class_smoothing)
                       + class_loss(fake_labels, fake_class, self.class_smoothing))
            metrics.update(d_class=d_class, d_class_acc_real=class_accuracy(labels, real_out[1]))
            d_loss = d_loss + d_class
        return d_loss, metrics

    def g_loss(self, z, fake_labels, changes=None):
        """G's loss on a batch of generated images (augmented by ``changes``, if any) -> ``(loss, metrics)``."""
        fake = self.augmented(self.generate(z, fake_labels, training=True), changes)
        fake_out = self.discriminator(fake, training=True)
        if self.loss == "hinge":
            g_loss = -ops.mean(first(fake_out))
        else:
            g_loss = self.adversarial_loss(1.0, first(fake_out))
        metrics = {"g_loss": g_loss}
        if self.conditional:  # AC-GAN: G also wants D to read the class it was asked for
            g_class = class_loss(fake_labels, fake_out[1])
            if self.twin:  # ... and that the twin, which knows generated images, cannot
                g_class = g_class - class_loss(fake_labels, fake_out[2])
            metrics["g_class"] = g_class
            g_loss = g_loss + self.g_class_weight * g_class
        return g_loss, metrics

    def adversarial_loss(self, target, output):
        """How far D's real/fake ``output`` is from ``target`` (1 = real, 0 = fake): cross-entropy
        on a logit (the non-saturating GAN) or squared error (least-squares GAN)."""
        if self.loss == "least_squares":
            return ops.mean(ops.square(output - target))
        return bce(target, output)

    def update_ema(self):
        """Move the average of G's variables towards their values after this G step."""
        self.ema_steps.assign_add(1)
        t = ops.cast(self.ema_steps, "float32")
        decay = ops.minimum(self.ema_decay, (1.0 + t) / (self.ema_warmup + t))
        for average, variable in zip(self.ema, self.generator.variables):
            average.assign(decay * average + (1.0 - decay) * variable)

    def averaged_generator(self):
        """G with the averaged weights (a copy, the same one each call: its compiled calls are kept),
        or G itself when there is no average."""
        if not self.ema_decay:
            return self.generator
        if self not in _AVERAGED:  # kept outside the model, so its weights are no part of the GAN's
            _AVERAGED[self] = keras.models.clone_model(self.generator)
        _AVERAGED[self].set_weights([ops.convert_to_numpy(average) for average in self.ema])
        return _AVERAGED[self]

    def noise(self, rng, n):
        """``(z, fake_labels)``: standard-normal latents, and uniform class labels for an AC-GAN (else None)."""
        z = rng.standard_normal((n, self.latent_dim), dtype=np.float32)
        return z, rng.integers(0, self.n_classes, size=n).astype("int32") if self.conditional else None

    def changes(self, rng, n):
        """The augmentation's random draws for a batch of ``n`` images (None without augmentation)."""
        return diffaugment.draw(rng, n) if self.augment else None

    def augmented(self, images, changes):
        return images if changes is None else diffaugment.augment(images, changes, self.augment)

    def generate(self, z, labels, training):
        return self.generator(generator_inputs(self.generator, z, labels), training=training)

    def metrics(self):
        """The running means since ``reset_metrics()`` of the metrics that had values (a step
        without negatives gives no ``d_acc_negative``), as Python floats (one host sync)."""
        values = ops.convert_to_numpy(ops.stack([ops.stack([tracker.result(), ops.cast(tracker.count, "float32")])
                                                 for tracker in self.trackers.values()]))
        return {name: float(mean) for name, (mean, count) in zip(self.trackers, values) if count}

    def reset_metrics(self):
        for tracker in self.trackers.values():
            tracker.reset_state()

    def variables(self):
        """Every variable a step reads or writes."""
        trackers = [v for tracker in self.trackers.values() for v in tracker.variables]
        return [*self.generator.variables, *self.discriminator.variables, *self.g_optimizer.variables,
                *self.d_optimizer.variables, *trackers, *self.ema, self.ema_steps]

    def state_groups(self):
        """Every variable a checkpoint must hold, by group name."""
        return {"generator": self.generator.variables, "discriminator": self.discriminator.variables,
                "g_optimizer": self.g_optimizer.variables, "d_optimizer": self.d_optimizer.variables,
                "generator_ema": [*self.ema, self.ema_steps]}

    def _compile(self, loss_fn, network, optimizer, after=None):
        trained = {id(v) for v in network.trainable_variables}
        tracked = [v for tracker in self.trackers.values() for v in tracker.variables]
        everything = {id(v): v for v in self.generator.variables + self.discriminator.variables + tracked
                      + self.ema + [self.ema_steps]}
        others = [v for key, v in everything.items() if key not in trained]
        return make_update(loss_fn, network.trainable_variables, optimizer, others, self.trackers, after)


LOSSES = ("non_saturating", "least_squares", "hinge")


def negatives_per_batch(share, batch_size):
    """How many of a D batch's ``batch_size`` "generated" images are other classes' real images."""
    return round(share * batch_size)


def bce(target, logits):
    """Mean binary cross-entropy of ``logits`` against a constant ``target`` probability."""
    return ops.mean(ops.binary_crossentropy(ops.full_like(logits, target), logits, from_logits=True))


def class_loss(labels, logits, smoothing=0.0):
    """Cross-entropy of class ``logits`` against ``labels``, with ``smoothing`` of the one-hot targets
    spread evenly over all classes (0 = none)."""
    if not smoothing:
        return ops.mean(ops.sparse_categorical_crossentropy(labels, logits, from_logits=True))
    targets = ops.one_hot(labels, logits.shape[-1]) * (1.0 - smoothing) + smoothing / logits.shape[-1]
    return ops.mean(ops.categorical_crossentropy(targets, logits, from_logits=True))


def class_accuracy(labels, logits):
    return ops.mean(ops.cast(ops.argmax(logits, axis=-1) == ops.cast(labels, "int32"), "float32"))


def first(outputs):
    """The real/fake logit: D's only output, or the first of an AC-GAN's two (three with a twin head)."""
    return outputs[0] if isinstance(outputs, (list, tuple)) else outputs


def generate_images(generator, z, labels=None, batch_size=500):
    """Run ``generator`` in inference mode over ``z`` (and ``labels``) in batches -> float32 numpy: one
    compiled call per batch, 1.4x as fast as calling the model eagerly on a CPU; every call of
    ``min(batch_size, len(z))`` rows (the last padded), so a generator compiles one shape."""
    size, out = min(batch_size, len(z)), []
    for start in range(0, len(z), size):
        rows = np.resize(np.arange(start, min(start + size, len(z))), size)  # the padding repeats rows
        inputs = generator_inputs(generator, z[rows], None if labels is None else np.asarray(labels)[rows])
        out.append(np.asarray(generator.predict_on_batch(inputs), np.float32)[: min(size, len(z) - start)])
    return np.concatenate(out) if out else np.zeros((0, *generator.output.shape[1:]), np.float32)


def generator_inputs(generator, z, labels):
    """A conditional generator (two inputs) takes ``[z, labels]``; a plain one takes ``z``."""
    return [z, labels] if len(generator.inputs) == 2 else z
