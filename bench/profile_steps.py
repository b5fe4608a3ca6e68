"""Where the time of one GAN step and of one MC verify batch goes; prints one JSON line.

    python bench/profile_steps.py [--BATCH_SIZE=32] [--MC_ROWS=500]

GAN step (01's DCGAN and recipe, one digit): one step (the D and the G update in one
compiled call), the D and G updates alone (a call each), and per step when STEPS_PER_CALL
steps share a call (as 01 runs them); then, from TensorFlow's profiler over
PROFILED_STEPS steps, each kind of op's share of the op time (convolutions; the two
layers with one channel, G's last and D's first, among them; dropout masks: random
numbers, compare, select; the rest) and how busy the executor's threads were (their time
in ops over wall time x threads).
MC verify (02's verifier): the head (everything after the first dropout) on
MC_ROWS repeated rows with dropout on and off (the cost of the masks), through
``predict_on_batch`` and as a direct compiled call (Keras's per-call overhead), and
mc_predict per image at 400 and 4000 rows per call. Per epoch, outside the steps: writing
the resumable checkpoint and redrawing an 85-epoch loss curve. All times in ms, best of
REPEATS. TensorFlow backend only (the profiler).
"""

import json
import os
import platform
import re
import sys
import tempfile
import time
from collections import Counter
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models import config  # noqa: E402  (first: it quiets TensorFlow's C++ logging)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from models.checkpoint import save_checkpoint  # noqa: E402
from models.data import load_dataset, select_class, to_gan_range  # noqa: E402
from models.files import save_figure  # noqa: E402
from models.gan import negatives_per_batch  # noqa: E402
from models.plots import loss_curves  # noqa: E402
from tensorflow.tsl.profiler.protobuf import xplane_pb2  # noqa: E402

from models.data import to_classifier_input  # noqa: E402
from models.mc import mc_predict, split_at_first_dropout  # noqa: E402
from models.defaults import VERIFIER  # noqa: E402
from models.verifier import VERIFIERS  # noqa: E402

from bench_train import recipe_gan, with_layers  # noqa: E402
from flops import matmul_flops_per_second  # noqa: E402

BATCH_SIZE = 32  # GAN batch, as in 01
WIDTH = 32  # as in 01
PROFILED_STEPS = 50  # GAN steps under the profiler
STEPS_PER_CALL = 8  # GAN steps in one compiled call, as in 01 (gan_step_ms_with_steps_per_call)
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


ONE_CHANNEL = {"generator": "g_last_one_channel", "discriminator": "d_first_one_channel"}  # their names here


def renamed(model, index, name):
    """A copy of ``model`` (fresh weights) whose layer ``index`` (of those with a kernel) is called
    ``name``: the profiler's op scopes carry layer names that TensorFlow makes unique with
    suffixes, so Keras' own names (conv2d_transpose_1, ...) can match a neighbour's."""
    target = [layer for layer in model.layers if hasattr(layer, "kernel")][index]
    return with_layers(model, lambda layer: layer.__class__.from_config({**layer.get_config(), "name": name})
                       if layer is target else None)


def gan_figures(cfg, images, others, rng):
    keras.utils.set_random_seed(cfg.SEED)
    gan = recipe_gan(100, cfg.WIDTH, 1,  # digit 1, as main() feeds it
                     discriminator=partial(renamed, index=0, name=ONE_CHANNEL["discriminator"]),
                     generator=partial(renamed, index=-1, name=ONE_CHANNEL["generator"]))
    batch = images[:cfg.BATCH_SIZE]
    n = negatives_per_batch(gan.negative_share, cfg.BATCH_SIZE)
    negatives = others[:n] if n else None  # the other digits' images in D's batch, as in 01

    def inputs():  # one step's (d_args, g_args), its noise drawn as 01 draws it
        return gan.step_inputs(batch, None, rng, negatives=negatives)

    def step():
        gan.train_step(batch, None, rng, negatives=negatives)

    def steps():
        gan.train_steps([inputs() for _ in range(cfg.STEPS_PER_CALL)])

    def synced(fn):
        return lambda: (fn(), gan.metrics())  # reading the metrics waits for the step to finish

    return {
        **op_shares(synced(step), cfg.PROFILED_STEPS, ONE_CHANNEL.values()),
        "gan_step_ms": best_ms(synced(step), cfg.REPEATS),
        "gan_d_update_ms": best_ms(synced(lambda: gan.d_update(*inputs()[0])), cfg.REPEATS),
        "gan_g_update_ms": best_ms(synced(lambda: gan.g_update(*inputs()[1])), cfg.REPEATS),
        "gan_steps_per_call": cfg.STEPS_PER_CALL,
        "gan_step_ms_with_steps_per_call": round(best_ms(synced(steps), cfg.REPEATS) / cfg.STEPS_PER_CALL, 2),
        **epoch_end_figures(gan, rng, cfg.REPEATS),
    }


def epoch_end_figures(gan, rng, repeats):
    """What 01's loop does after an epoch besides the steps: write a checkpoint (every epoch) and
    redraw the loss curve of an 85-epoch run (every epoch until it moved to every SAMPLE_EVERY)."""
    history = [{"epoch": e, **gan.metrics(), "seconds": 1.0} for e in range(1, 86)]
    with tempfile.TemporaryDirectory() as folder:
        return {
            "checkpoint_write_ms": best_ms(lambda: save_checkpoint(Path(folder) / "c.h5", gan, 1, rng, history,
                                                                   {"constants": {}}), repeats),
            "loss_curve_redraw_ms": best_ms(lambda: save_figure(loss_curves(history, title="digit 1"),
                                                                Path(folder) / "loss_curve.png"), repeats),
        }


def op_shares(step, steps, one_channel_layers):
    """Run ``step()`` ``steps`` times under TensorFlow's profiler -> each kind of op's share of
    the time in ops, and the executor threads' busy fraction."""
    step()
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        start = time.perf_counter()
        for _ in range(steps):
            step()
        wall = time.perf_counter() - start
        tf.profiler.experimental.stop()
        space = xplane_pb2.XSpace()
        space.ParseFromString(next(Path(logdir).rglob("*.xplane.pb")).read_bytes())
    in_layer = re.compile("|".join(rf"/{re.escape(name)}(_\d+)*/" for name in one_channel_layers))
    kinds, busy = Counter(), 0
    for plane in space.planes:
        for line in (line for line in plane.lines if line.name.startswith("tf_Compute")):
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name  # "scope/op:OpType"
                if name == "ExecutorState::Process":  # one thread running ops
                    busy += event.duration_ps
                elif ":" in name:
                    kinds[op_kind(name, in_layer)] += event.duration_ps
    total = sum(kinds.values())
    shares = {f"gan_op_share_{kind}": round(kinds[kind] / total, 3)
              for kind in ("convolution", "one_channel_convolution", "dropout_mask", "other")}
    threads = tf.config.threading.get_inter_op_parallelism_threads() or os.cpu_count()
    return {**shares, "gan_threads_busy": round(busy / 1e12 / (wall * threads), 3)}


def op_kind(name, one_channel):
    op_type = name.rsplit(":", 1)[1]
    if "Conv" in op_type:
        return "one_channel_convolution" if one_channel.search(name) else "convolution"
    if op_type.startswith("StatelessRandom") or op_type in ("GreaterEqual", "SelectV2"):
        return "dropout_mask"
    return "other"


def mc_figures(cfg, images):
    out = {}
    for rate in (0.4, 0.0):
        keras.utils.set_random_seed(cfg.SEED)
        trunk, head = split_at_first_dropout(VERIFIERS[VERIFIER](rate))
        features = np.repeat(trunk.predict_on_batch(to_classifier_input(images[:5])), cfg.MC_ROWS // 5, axis=0)
        out[f"mc_head_dropout_{rate}_predict_on_batch_ms"] = best_ms(partial(head.predict_on_batch, features),
                                                                     cfg.REPEATS)
        direct, tensor = tf.function(partial(head, training=False)), tf.constant(features)
        out[f"mc_head_dropout_{rate}_direct_ms"] = best_ms(lambda f=direct, x=tensor: f(x).numpy(), cfg.REPEATS)
    model = VERIFIERS[VERIFIER]()
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
    ones, others = to_gan_range(select_class(x_train, y_train, 1)), to_gan_range(x_train[y_train != 1])
    figures.update(gan_figures(cfg, ones, others, rng))
    figures.update(mc_figures(cfg, x_test))
    figures["matmul_gflops"] = round(matmul_flops_per_second() / 1e9, 2)
    print(json.dumps(figures))


if __name__ == "__main__":
    config.run_main(main, globals())
