"""Benchmark 01's DCGAN training step; prints one JSON line.

    python bench/bench_train.py [--PROCESSES=1] [--STEPS=200] [--BATCH_SIZE=64]

PROCESSES copies of one class's training (01's recipe) run at once, each in its own
process on cpu_count // PROCESSES threads, as 01 trains WORKERS digits at once; they start
their timed steps together and images/s counts all of them. 1 = one training here, on
every thread. images/s counts real images consumed (each drives one D step and one G step
on a batch of the same size); s_per_epoch_one_class is one class's epoch while PROCESSES
run. Each D step gets 01's negative share for DIGIT of other digits' images in place of as many
generated ones, as in 01. FLOPs per image, counted from layer shapes (bench/flops.py):
D step = G forward (less the negatives' share s) + D forward and backward on real and fake
((1 - s) F_G + 6 F_D);
G step = G forward and backward + D forward and input-gradient (3 F_G + 2 F_D).
The roofline fraction compares that with a float32 matmul timed in the parent process
(on every thread, the children gone).
"""

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from models import config  # noqa: E402  (first: it quiets TensorFlow's C++ logging)

import keras  # noqa: E402
import numpy as np  # noqa: E402
from models.class_gans import negative_share  # noqa: E402
from models.data import load_dataset, select_class, to_gan_range  # noqa: E402
from models.dcgan import build_discriminator, build_generator  # noqa: E402
from models.gan import GAN, negatives_per_batch  # noqa: E402
from models.workers import as_arguments, process_env  # noqa: E402

from flops import forward_flops, matmul_flops_per_second  # noqa: E402

STEPS = 200  # timed training steps (per process)
WARMUP = 16  # untimed steps first (tracing / compilation)
BATCH_SIZE = 32  # as in 01
LATENT_DIM = 100  # as in 01
WIDTH = 32  # as in 01
STEPS_PER_CALL = 8  # training steps per compiled call, as in 01
DIGIT = 1  # the class trained (the largest, 6742 images)
SEED = 0  # weights and noise (process i: SEED + i)
PROCESSES = 2  # trainings at once, each in its own process (as 01's WORKERS); 1 = one, on every thread
CHILD = "BENCH_TRAIN_CHILD"  # set in a child's environment: warm up, say "ready", time the steps on "go"


def recipe_gan(latent_dim, width, digit, discriminator=None, generator=None):
    """A GAN with 01's default recipe for ``digit`` (G's depth, D dropout, loss, EMA, negatives) at
    this size; ``discriminator``, ``generator``: functions of D and of G that return the ones to train."""
    c01 = config.resolve(config.script_defaults(REPO / "01_train_class_gans.py"), {})
    g, d = build_generator(latent_dim, width, convs=c01.G_CONVS), build_discriminator(width, c01.D_DROPOUT)
    return GAN(generator(g) if generator else g, discriminator(d) if discriminator else d,
               c01.LEARNING_RATE, c01.BETA_1, c01.REAL_LABEL, c01.EMA_DECAY, c01.EMA_WARMUP, c01.LOSS, c01.D_STEPS,
               negative_share=negative_share(digit, c01))


def with_layers(model, replace):
    """A copy of ``model`` (fresh weights) with ``replace(layer)`` where it gives a layer, and a layer of
    the same config elsewhere."""
    return keras.models.clone_model(
        model, clone_function=lambda layer: replace(layer) or layer.__class__.from_config(layer.get_config()))


def time_steps(cfg, images, others):
    """Seconds for STEPS training steps of one class's GAN on ``images`` (``others``: the
    other digits' images, its negatives), here."""
    keras.utils.set_random_seed(cfg.SEED)
    gan = recipe_gan(cfg.LATENT_DIM, cfg.WIDTH, cfg.DIGIT)
    rng = np.random.default_rng(cfg.SEED)
    n = negatives_per_batch(gan.negative_share, cfg.BATCH_SIZE)
    batches = [(images[rng.choice(len(images), cfg.BATCH_SIZE, replace=False)],
                others[rng.integers(0, len(others), n)] if n else None) for _ in range(cfg.WARMUP + cfg.STEPS)]

    def train(batches):  # STEPS_PER_CALL steps per compiled call, as 01 runs them
        for first in range(0, len(batches), cfg.STEPS_PER_CALL):
            gan.train_steps([gan.step_inputs(batch, None, rng, negatives=negatives)
                             for batch, negatives in batches[first : first + cfg.STEPS_PER_CALL]])

    train(batches[: cfg.WARMUP])
    gan.metrics()
    if os.environ.get(CHILD):
        print("ready", flush=True)
        sys.stdin.readline()
    start = time.perf_counter()
    train(batches[cfg.WARMUP :])
    gan.metrics()  # the metrics stay on the device: reading them waits for the last step
    seconds = time.perf_counter() - start
    if os.environ.get(CHILD):
        print("done", flush=True)
    return seconds


def time_children(cfg, children):
    """Seconds for STEPS steps of ``children`` trainings at once, each in a child process,
    from their common start to the last one's end."""
    env = {**os.environ, **process_env(children), CHILD: "1"}
    commands = [[sys.executable, __file__, *as_arguments({**vars(cfg), "PROCESSES": 1, "SEED": cfg.SEED + i})]
                for i in range(children)]
    procs = [subprocess.Popen(command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
             for command in commands]
    for proc in procs:
        wait_for(proc, "ready")
    start = time.perf_counter()
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    for proc in procs:
        wait_for(proc, "done")
    seconds = time.perf_counter() - start
    for proc in procs:
        proc.wait()
    return seconds


def wait_for(proc, word):
    for line in proc.stdout:
        if line.strip() == word:
            return
    raise RuntimeError(f"a benchmark child process exited (code {proc.wait()}) before saying {word!r}")


def main(**overrides):
    cfg = config.resolve(globals(), overrides)
    (x_train, y_train), _ = load_dataset("mnist")
    images = to_gan_range(select_class(x_train, y_train, cfg.DIGIT))
    if cfg.PROCESSES > 1:
        seconds = time_children(cfg, cfg.PROCESSES)
    else:
        seconds = time_steps(cfg, images, to_gan_range(x_train[y_train != cfg.DIGIT]))
    if os.environ.get(CHILD):
        return
    matmul = matmul_flops_per_second()
    gan = recipe_gan(cfg.LATENT_DIM, cfg.WIDTH, cfg.DIGIT)
    f_g, f_d = forward_flops(gan.generator), forward_flops(gan.discriminator)
    generated_share = 1 - negatives_per_batch(gan.negative_share, cfg.BATCH_SIZE) / cfg.BATCH_SIZE
    flops_per_image = (generated_share * f_g + 6 * f_d) + (3 * f_g + 2 * f_d)
    images_per_s = cfg.PROCESSES * cfg.STEPS * cfg.BATCH_SIZE / seconds
    achieved = images_per_s * flops_per_image
    epoch_images = (len(images) // cfg.BATCH_SIZE) * cfg.BATCH_SIZE  # one class's epoch, in full batches
    print(json.dumps({
        "bench": "train_dcgan_one_class",
        "backend": keras.backend.backend(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "processes": cfg.PROCESSES,
        "batch_size": cfg.BATCH_SIZE,
        "steps": cfg.STEPS,
        "steps_per_call": cfg.STEPS_PER_CALL,
        "images_per_s": round(images_per_s, 1),
        "s_per_epoch_one_class": round(epoch_images / (images_per_s / cfg.PROCESSES), 2),
        "train_mflops_per_image": round(flops_per_image / 1e6, 2),
        "achieved_gflops": round(achieved / 1e9, 2),
        "matmul_gflops": round(matmul / 1e9, 2),
        "roofline_fraction": round(achieved / matmul, 3),
    }))


if __name__ == "__main__":
    config.run_main(main, globals())
