"""Where the time of one GAN step and of one MC verify batch goes; prints one JSON line.

    python bench/profile_steps.py [--BATCH_SIZE=64] [--MC_ROWS=500]

GAN step (01's DCGAN, one digit): the step as 01 runs it, the D and G updates alone, and
the two updates fused into one compiled call (what fusing steps would save on a CPU).
MC verify (02's default verifier): the head (everything after the first dropout) on
MC_ROWS repeated rows with dropout on and off (the cost of the masks), through
``predict_on_batch`` and as a direct compiled call (Keras's per-call overhead), and
mc_predict per image at 400 and 4000 rows per call. All times in ms, best of REPEATS.
TensorFlow backend only (the fused call is a ``tf.function``).
"""

import json
import os
import platform
import sys
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models import config  # noqa: E402  (first: it quiets TensorFlow's C++ logging)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from models.data import load_dataset, select_class, to_gan_range  # noqa: E402
from models.dcgan import build_discriminator, build_generator  # noqa: E402
from models.gan import GAN  # noqa: E402
from models.verifier import VERIFIERS, mc_predict, split_at_first_dropout, to_classifier_input  # noqa: E402

from flops import matmul_flops_per_second  # noqa: E402

BATCH_SIZE = 64  # GAN batch, as in 01
MC_ROWS = 500  # rows (images x passes) of one verify batch
REPEATS = 10  # timed calls per figure (the best is kept)
SEED = 0  # weights, noise and dropout


def best_ms(fn, repeats):
    """Best wall time of ``fn()`` in ms over ``repeats`` calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return round(1000 * min(times), 2)


def gan_figures(cfg, images, rng):
    keras.utils.set_random_seed(cfg.SEED)
    gan = GAN(build_generator(100, 64), build_discriminator(64))
    batch = images[:cfg.BATCH_SIZE]

    def noise():
        return rng.standard_normal((cfg.BATCH_SIZE, 100), dtype=np.float32)

    @tf.function
    def fused(real, z_d, z_g):
        gan.d_update(real, None, z_d, None)
        gan.g_update(z_g, None)

    def synced(fn):
        return lambda: (fn(), gan.metrics())  # reading the metrics waits for the step to finish

    return {
        "gan_step_ms": best_ms(synced(lambda: gan.train_step(batch, None, rng)), cfg.REPEATS),
        "gan_d_update_ms": best_ms(synced(lambda: gan.d_update(batch, None, noise(), None)), cfg.REPEATS),
        "gan_g_update_ms": best_ms(synced(lambda: gan.g_update(noise(), None)), cfg.REPEATS),
        "gan_fused_step_ms": best_ms(synced(lambda: fused(batch, noise(), noise())), cfg.REPEATS),
    }


def mc_figures(cfg, images):
    out = {}
    for rate in (0.4, 0.0):
        keras.utils.set_random_seed(cfg.SEED)
        trunk, head = split_at_first_dropout(VERIFIERS["default"](rate))
        features = np.repeat(trunk.predict_on_batch(to_classifier_input(images[:5])), cfg.MC_ROWS // 5, axis=0)
        out[f"mc_head_dropout_{rate}_predict_on_batch_ms"] = best_ms(partial(head.predict_on_batch, features),
                                                                     cfg.REPEATS)
        direct, tensor = tf.function(partial(head, training=False)), tf.constant(features)
        out[f"mc_head_dropout_{rate}_direct_ms"] = best_ms(lambda f=direct, x=tensor: f(x).numpy(), cfg.REPEATS)
    model = VERIFIERS["default"]()
    for rows in (400, 4000):
        ms = best_ms(partial(mc_predict, model, images[:40], 100, rows), max(2, cfg.REPEATS // 4))
        out[f"mc_predict_ms_per_image_{rows}_rows"] = round(ms / 40, 2)
    return out


def main(**overrides):
    cfg = config.resolve(globals(), overrides)
    (x_train, y_train), (x_test, _) = load_dataset("mnist")
    rng = np.random.default_rng(cfg.SEED)
    figures = {"bench": "profile_steps", "backend": keras.backend.backend(),
               "machine": f"{platform.machine()}, {os.cpu_count()} CPUs"}
    figures.update(gan_figures(cfg, to_gan_range(select_class(x_train, y_train, 1)), rng))
    figures.update(mc_figures(cfg, x_test))
    figures["matmul_gflops"] = round(matmul_flops_per_second() / 1e9, 2)
    print(json.dumps(figures))


if __name__ == "__main__":
    config.run_main(main, globals())
