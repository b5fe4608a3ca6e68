"""Benchmark MC-dropout verification (100 passes per image); prints one JSON line.

    python bench/bench_mc.py [--IMAGES=500] [--LOOP_IMAGES=3] [--VERIFIER=reference]

(a) the original experiment's way: per image, MC_PASSES separate ``model.predict`` calls;
(b) ``mc_predict``: all passes as one batched computation, the deterministic layers
before the first dropout run once per image. Both in this process, on the same model;
(b)'s FLOPs (counted from layer shapes) against a float32 matmul timed here too.
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

from models.data import load_dataset  # noqa: E402
from models.device import devices, tuned  # noqa: E402
from flops import forward_flops, matmul_flops_per_second  # noqa: E402
from models.data import to_classifier_input  # noqa: E402
from models.mc import mc_predict, split_at_first_dropout  # noqa: E402
from models.verifier import VERIFIERS  # noqa: E402

IMAGES = 500  # images verified by mc_predict
LOOP_IMAGES = 3  # images verified by the per-image predict loop (it is slow)
SEED = 0  # weights and dropout
# the verifier's architecture, its passes per image and rows per call: 02's (defaults in models/defaults.py)
from models.defaults import MC_BATCH, MC_PASSES, VERIFIER  # noqa: E402, F401


def main(**overrides):
    cfg = config.resolve(globals(), overrides)
    cfg.MC_BATCH = cfg.MC_BATCH or tuned("MC_BATCH", *devices(), os.cpu_count() or 1)  # as 02 chooses it
    keras.utils.set_random_seed(cfg.SEED)
    model = VERIFIERS[cfg.VERIFIER]()
    _, (x_test, _) = load_dataset("mnist")
    images = x_test[: cfg.IMAGES]

    mc_predict(model, images[:50], cfg.MC_PASSES, cfg.MC_BATCH)  # warm-up: compile both parts
    start = time.perf_counter()
    mc_predict(model, images, cfg.MC_PASSES, cfg.MC_BATCH)
    batched_per_s = len(images) / (time.perf_counter() - start)

    x = to_classifier_input(images[: cfg.LOOP_IMAGES])
    model.predict(x[:1], verbose=0)  # warm-up
    start = time.perf_counter()
    for image in x:
        np.mean([model.predict(image[None], verbose=0) for _ in range(cfg.MC_PASSES)], axis=0)
    loop_per_s = len(x) / (time.perf_counter() - start)

    trunk, head = split_at_first_dropout(model)
    flops_per_image = forward_flops(trunk) + cfg.MC_PASSES * forward_flops(head)
    achieved, matmul = batched_per_s * flops_per_image, matmul_flops_per_second()
    print(json.dumps({
        "bench": "mc_dropout_verify",
        "backend": keras.backend.backend(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "verifier": cfg.VERIFIER,
        "mc_passes": cfg.MC_PASSES, "mc_batch": cfg.MC_BATCH,
        "loop_images_per_s": round(loop_per_s, 3),
        "mc_predict_images_per_s": round(batched_per_s, 1),
        "speedup": round(batched_per_s / loop_per_s, 1),
        "mflops_per_image": round(flops_per_image / 1e6, 1),
        "achieved_gflops": round(achieved / 1e9, 2),
        "matmul_gflops": round(matmul / 1e9, 2),
        "roofline_fraction": round(achieved / matmul, 3),
    }))


if __name__ == "__main__":
    config.run_main(main, globals())
