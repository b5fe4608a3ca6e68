"""Benchmark one class's DCGAN training step; prints one JSON line.

    python bench/bench_train.py [--STEPS=60] [--BATCH_SIZE=64]

images/s counts real images consumed (each drives one D step and one G step on a
batch of the same size). FLOPs per image, counted from layer shapes (bench/flops.py):
D step = G forward + D forward and backward on real and fake (F_G + 6 F_D);
G step = G forward and backward + D forward and input-gradient (3 F_G + 2 F_D).
The roofline fraction compares that with a float32 matmul timed in the same process.
"""

import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models import config  # noqa: E402  (first: it quiets TensorFlow's C++ logging)

import keras  # noqa: E402
import numpy as np  # noqa: E402
from models.data import load_dataset, select_class, to_gan_range  # noqa: E402
from models.dcgan import build_discriminator, build_generator  # noqa: E402
from models.gan import GAN  # noqa: E402

from flops import forward_flops, matmul_flops_per_second  # noqa: E402

STEPS = 60  # timed training steps
WARMUP = 5  # untimed steps first (tracing / compilation)
BATCH_SIZE = 32  # as in 01
LATENT_DIM = 100  # as in 01
WIDTH = 32  # as in 01
DIGIT = 1  # the class trained (the largest, 6742 images)
SEED = 0  # weights and noise


def main(**overrides):
    cfg = config.resolve(globals(), overrides)
    (x_train, y_train), _ = load_dataset("mnist")
    images = to_gan_range(select_class(x_train, y_train, cfg.DIGIT))
    keras.utils.set_random_seed(cfg.SEED)
    generator, discriminator = build_generator(cfg.LATENT_DIM, cfg.WIDTH), build_discriminator(cfg.WIDTH)
    gan = GAN(generator, discriminator)
    rng = np.random.default_rng(cfg.SEED)
    batches = [images[rng.choice(len(images), cfg.BATCH_SIZE, replace=False)] for _ in range(cfg.WARMUP + cfg.STEPS)]

    for batch in batches[: cfg.WARMUP]:
        gan.train_step(batch, None, rng)
    start = time.perf_counter()
    for batch in batches[cfg.WARMUP :]:
        gan.train_step(batch, None, rng)
    gan.metrics()  # the metrics stay on the device: reading them waits for the last step
    seconds = time.perf_counter() - start
    matmul = matmul_flops_per_second()

    f_g, f_d = forward_flops(generator), forward_flops(discriminator)
    flops_per_image = (f_g + 6 * f_d) + (3 * f_g + 2 * f_d)
    images_per_s = cfg.STEPS * cfg.BATCH_SIZE / seconds
    achieved = images_per_s * flops_per_image
    print(json.dumps({
        "bench": "train_dcgan_one_class",
        "backend": keras.backend.backend(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "batch_size": cfg.BATCH_SIZE,
        "steps": cfg.STEPS,
        "images_per_s": round(images_per_s, 1),
        "s_per_epoch_one_class": round((len(images) // cfg.BATCH_SIZE) * cfg.BATCH_SIZE / images_per_s, 2),
        "train_mflops_per_image": round(flops_per_image / 1e6, 2),
        "achieved_gflops": round(achieved / 1e9, 2),
        "matmul_gflops": round(matmul / 1e9, 2),
        "roofline_fraction": round(achieved / matmul, 3),
    }))


if __name__ == "__main__":
    config.run_main(main, globals())
