"""The two one-channel layers of 01's networks against equivalent channel-richer forms; prints one JSON line.

    python bench/bench_one_channel.py [--BATCH_SIZE=32] [--WIDTH=32]

bench/profile_steps.py finds G's last transposed convolution (WIDTH -> 1 channel) and D's
first convolution (1 -> WIDTH) taking about a third of a GAN step's op time for a few
percent of its FLOPs. Each is timed here, forward and backward (input and kernel
gradients, as in training), against the same function with the same kernel written with
more channels: D's first conv as space-to-depth then a 2x2 conv over 4 channels; G's last
as a 3x3 conv to the 4 output phases then depth-to-space. Each pair is checked equal
first. Times in ms, best of REPEATS x CALLS. TensorFlow backend only.
"""

import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models import config  # noqa: E402  (first: it quiets TensorFlow's C++ logging)

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

BATCH_SIZE = 32  # as in 01
WIDTH = 32  # as in 01
REPEATS = 5  # timed rounds (the best is kept)
CALLS = 200  # compiled calls per round
TAPS = {0: {0: 3, 1: 1}, 1: {1: 2, 2: 0}}  # output phase -> {input offset + 1: kernel row} of a stride-2, 4-tap ConvT


def d_first_pair(w):
    def direct(x):
        return tf.nn.conv2d(x, w, 2, "SAME")

    def space_to_depth(x):  # pad to 30x30, fold 2x2 blocks into 4 channels, then a 2x2 conv
        blocks = tf.nn.space_to_depth(tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]), 2)
        kernel = tf.transpose(tf.reshape(w, (2, 2, 2, 2, -1)), (0, 2, 1, 3, 4))
        return tf.nn.conv2d(blocks, tf.reshape(kernel, (2, 2, 4, -1)), 1, "VALID")

    return direct, space_to_depth


def g_last_pair(w, batch):
    def direct(x):
        return tf.nn.conv2d_transpose(x, w, (batch, 28, 28, 1), 2, "SAME")

    def phases(x):  # each output pixel phase (row parity, column parity) is a 3x3 conv of the input
        zero = tf.zeros_like(w[0, 0, 0])
        kernel = tf.stack([tf.stack([tf.stack([w[TAPS[rr][du], TAPS[rc][dv], 0] if du in TAPS[rr] and dv in TAPS[rc]
                                               else zero for dv in range(3)]) for du in range(3)])
                           for rr in (0, 1) for rc in (0, 1)], axis=-1)
        return tf.nn.depth_to_space(tf.nn.conv2d(tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]), kernel, 1, "VALID"), 2)

    return direct, phases


def best_ms(fn, x, w, cfg):
    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(tf.square(fn(x)))
        return tape.gradient(loss, [x, w])

    step(x)
    best = float("inf")
    for _ in range(cfg.REPEATS):
        start = time.perf_counter()
        for _ in range(cfg.CALLS):
            grads = step(x)
        grads[0].numpy()
        best = min(best, (time.perf_counter() - start) / cfg.CALLS)
    return round(1000 * best, 3)


def main(**overrides):
    cfg = config.resolve(globals(), overrides)
    rng = np.random.default_rng(0)
    out = {"bench": "one_channel_layers", "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
           "batch_size": cfg.BATCH_SIZE, "width": cfg.WIDTH}
    cases = {"d_first_conv": ((cfg.BATCH_SIZE, 28, 28, 1), (4, 4, 1, cfg.WIDTH), d_first_pair),
             "g_last_conv_transpose": ((cfg.BATCH_SIZE, 14, 14, cfg.WIDTH), (4, 4, 1, cfg.WIDTH),
                                       lambda w: g_last_pair(w, cfg.BATCH_SIZE))}
    for name, (x_shape, w_shape, pair) in cases.items():
        x = tf.constant(rng.standard_normal(x_shape, dtype=np.float32))
        w = tf.Variable(0.1 * rng.standard_normal(w_shape, dtype=np.float32))
        direct, rewritten = pair(w)
        np.testing.assert_allclose(direct(x).numpy(), rewritten(x).numpy(), rtol=1e-4, atol=1e-4)
        out[f"{name}_ms"] = best_ms(direct, x, w, cfg)
        out[f"{name}_rewritten_ms"] = best_ms(rewritten, x, w, cfg)
    print(json.dumps(out))


if __name__ == "__main__":
    config.run_main(main, globals())
