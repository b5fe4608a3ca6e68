"""01's training step with D's dropout masks from Keras' Dropout (01's) against cheaper ones
(Dropout16: 16 random bits per value); prints one JSON line.

    python bench/bench_dropout.py [--STEPS=200] [--ROUNDS=5]

Two GANs of 01's default recipe, the same but for D's dropout layers, train here on one
thread, as each of 01's two worker processes does on a 2-core CPU, STEPS_PER_CALL steps per
compiled call as in 01. Their timed rounds alternate (each goes first in every other round),
so a slower spell of the machine falls on both; each reports its median ms per step, and the
speed-up is their ratio. Keras' Dropout draws a float32 uniform per value on TensorFlow, and
bench/profile_steps.py finds D's masks a sixth of a step's op time. Checks beside the times:
``dropout16_kept``, the share of a million values a Dropout16 of 01's rate keeps (1 - rate
expected), and ``dropout16_scale`` their value (1 / (1 - rate)); ``dropout16_masks_differ``,
whether two training calls of its D on the same images differ. TensorFlow on a CPU only;
``matmul_gflops_one_thread``: a float32 matmul on the same one thread.
"""

import json
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from models.workers import process_env  # noqa: E402

os.environ.update(process_env(os.cpu_count() or 1))  # one thread, set before TensorFlow starts

from models import config  # noqa: E402  (first: it quiets TensorFlow's C++ logging)

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers  # noqa: E402
from models.data import load_dataset, select_class, to_gan_range  # noqa: E402
from models.gan import negatives_per_batch  # noqa: E402

from bench_train import recipe_gan, with_layers  # noqa: E402
from flops import matmul_flops_per_second  # noqa: E402

STEPS = 200  # timed steps per round and GAN
ROUNDS = 5  # timed rounds per GAN, alternating
WARMUP = 16  # untimed steps first (tracing)
BATCH_SIZE = 32  # as in 01
WIDTH = 32  # as in 01
STEPS_PER_CALL = 8  # as in 01
DIGIT = 1  # the class trained
SEED = 0


class Dropout16(layers.Dropout):
    """Dropout whose masks come from 16 random bits per value (half the random numbers of a
    float32 uniform), its rate exact to 1/65536: the same masks in distribution."""

    def call(self, inputs, training=False):
        if self.noise_shape is not None:
            raise ValueError("Dropout16 draws a mask value per input value: it takes no noise_shape")
        if not training or self.rate == 0:
            return inputs
        import tensorflow as tf

        seed = tf.cast(tf.math.floormod(self.seed_generator.next(), 2**31 - 1), "int32")
        n = tf.size(inputs)
        bits = tf.random.stateless_uniform([(n + 1) // 2], seed, minval=None, maxval=None, dtype=tf.uint32)
        bits = tf.reshape(tf.bitcast(bits, tf.uint16), [-1])[:n]
        keep = tf.reshape(bits >= tf.constant(round(self.rate * 2**16), tf.uint16), tf.shape(inputs))
        return tf.where(keep, inputs * (1 / (1 - self.rate)), tf.zeros([], inputs.dtype))  # as Keras' does


def with_dropout16(d):
    """A copy of D (fresh weights: only speed counts here) with a Dropout16 for every Dropout."""
    return with_layers(d, lambda layer: Dropout16(layer.rate, name=layer.name) if isinstance(layer, layers.Dropout)
                       else None)


def main(**overrides):
    cfg = config.resolve(globals(), overrides)
    if keras.backend.backend() != "tensorflow":
        raise config.UserError("bench_dropout.py times TensorFlow's masks: run it with KERAS_BACKEND=tensorflow.")
    (x_train, y_train), _ = load_dataset("mnist")
    images = to_gan_range(select_class(x_train, y_train, cfg.DIGIT))
    others = to_gan_range(x_train[y_train != cfg.DIGIT])
    latent_dim = config.script_defaults(REPO / "01_train_class_gans.py")["LATENT_DIM"]
    keras.utils.set_random_seed(cfg.SEED)
    gans = {"keras_dropout": recipe_gan(latent_dim, cfg.WIDTH, cfg.DIGIT),
            "dropout16": recipe_gan(latent_dim, cfg.WIDTH, cfg.DIGIT, with_dropout16)}
    d = gans["dropout16"].discriminator
    rate = next(layer.rate for layer in d.layers if isinstance(layer, Dropout16))
    masked = keras.ops.convert_to_numpy(Dropout16(rate, seed=cfg.SEED)(np.ones((1000, 1000), "float32"), training=True))
    twice = [keras.ops.convert_to_numpy(d(images[:cfg.BATCH_SIZE], training=True)) for _ in range(2)]
    rng = np.random.default_rng(cfg.SEED)
    n = negatives_per_batch(gans["dropout16"].negative_share, cfg.BATCH_SIZE)
    calls = [[(images[rng.choice(len(images), cfg.BATCH_SIZE, replace=False)],
               others[rng.integers(0, len(others), n)] if n else None) for _ in range(cfg.STEPS_PER_CALL)]
             for _ in range(-(-cfg.STEPS // cfg.STEPS_PER_CALL))]

    def train(gan, calls):
        for batches in calls:
            gan.train_steps([gan.step_inputs(batch, None, rng, negatives=negatives) for batch, negatives in batches])
        gan.metrics()  # the metrics stay on the device: reading them waits for the last step

    ms = {name: [] for name in gans}
    for gan in gans.values():
        train(gan, calls[: -(-cfg.WARMUP // cfg.STEPS_PER_CALL)])
    for i in range(cfg.ROUNDS):
        for name, gan in (reversed if i % 2 else list)(gans.items()):  # each goes first in every other round
            start = time.perf_counter()
            train(gan, calls)
            ms[name].append(1000 * (time.perf_counter() - start) / (len(calls) * cfg.STEPS_PER_CALL))
    median = {name: float(np.median(times)) for name, times in ms.items()}
    print(json.dumps({
        "bench": "dropout_masks", "backend": keras.backend.backend(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "threads": 1,
        "batch_size": cfg.BATCH_SIZE, "steps_per_call": cfg.STEPS_PER_CALL, "steps": len(calls) * cfg.STEPS_PER_CALL,
        "rounds": cfg.ROUNDS,
        **{f"{name}_ms_per_step": round(value, 2) for name, value in median.items()},
        "speedup": round(median["keras_dropout"] / median["dropout16"], 3),
        "dropout_rate": rate, "dropout16_kept": float(np.mean(masked > 0)), "dropout16_scale": float(masked.max()),
        "dropout16_masks_differ": bool(np.any(twice[0] != twice[1])),
        "matmul_gflops_one_thread": round(matmul_flops_per_second() / 1e9, 1),
    }))


if __name__ == "__main__":
    config.run_main(main, globals())
