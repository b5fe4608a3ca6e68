"""Benchmark what makes 02's verdicts cheaper, one lever switched on after another; prints one JSON line.

    python bench/bench_02_verdicts.py [--DRAWS_PER_DIGIT=1000]

On raw draws of the shipped per-digit generators at 02's latent scale, the shipped verifier
(float32 unless MC_PRECISION says otherwise) with its density, in this process: ``verdicts``
as 02 calls it, timed ``REPEATS`` times per setting, each setting adding one lever to the one
before (``LEVERS``):

- ``before``: calls of 1,000 images (02's DRAW_BATCH before), every call of a round padded to
  a full call, every image its passes, the layers before the first dropout run twice;
- ``power_of_two_calls``: the last call of a round padded to a power of two of images
  (``models.mc.call_size``), not to a full call;
- ``ood_first``: no passes for an image out of distribution (``verdicts(..., ood_first=True)``);
- ``draw_batch``: ``DRAW_BATCH`` images a call (02's default);
- ``one_trunk``: the layers before the first dropout once, for the features and the passes.

Speed-ups are against the first of ``LEVERS`` (``before``), in the same process; ``mean_passes`` per image.
"""

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models import config  # noqa: E402  (first: it quiets TensorFlow's C++ logging)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from flops import machine, matmul_flops_per_second  # noqa: E402
from models import mc, paths, verdict  # noqa: E402
from models.checkpoint import load_generator  # noqa: E402
from models.data import load_dataset, to_uint8  # noqa: E402
from models.device import devices, tuned  # noqa: E402
from models.gan import generate_images  # noqa: E402
from shipped import shipped_verifier  # noqa: E402

DRAWS_PER_DIGIT = 1000  # raw draws of each shipped per-digit generator
LATENT_SCALE = 1.5  # 02's
DRAW_BATCH = 4096  # 02's images per verdicts call
OLD_DRAW_BATCH = 1000  # the same before
REPEATS = 2  # timed runs of each setting
SEED = 0  # the draws' noise; run r's dropout seed is SEED + r
# the verdict: 02's (defaults in models/defaults.py)
from models.defaults import MC_BATCH, MC_MIN_PASSES, MC_PASSES, MC_PRECISION, MC_ROUND_PASSES  # noqa: E402, F401
MC_RULE = "adaptive"  # the levers are the adaptive rule's
LEVERS = ("before", "power_of_two_calls", "ood_first", "draw_batch", "one_trunk")  # each adds one to the one before


def draws(cfg):
    files = paths.shipped_generator_files("class_gans", paths.resolve(paths.PRETRAINED_WEIGHTS), range(10))
    x = []
    for k, path in files.items():
        generator = load_generator(path, "restore the shipped weights")
        z = np.random.default_rng((cfg.SEED, k)).standard_normal((cfg.DRAWS_PER_DIGIT, generator.inputs[0].shape[-1]),
                                                                  dtype=np.float32) * np.float32(cfg.LATENT_SCALE)
        x.append(to_uint8(generate_images(generator, z)))
    return np.concatenate(x)


def setting(lever, cfg):
    """The module settings and the ``(images per call, ood_first)`` of ``lever`` (and those before it)."""
    on = set(LEVERS[: LEVERS.index(lever) + 1])
    mc.MIN_CALL_IMAGES = 8 if "power_of_two_calls" in on else 2**31  # a full call, however few images go on
    verdict.IMAGES_PER_BLOCK = mc.IMAGES_PER_BLOCK if "one_trunk" in on else 0  # 0: no call shares the trunk
    return (cfg.DRAW_BATCH if "draw_batch" in on else cfg.OLD_DRAW_BATCH), "ood_first" in on


def main(**overrides):
    cfg = config.resolve(globals(), overrides)
    unknown = [lever for lever in cfg.LEVERS if lever not in LEVERS]
    if unknown:
        raise config.ConfigError(f"LEVERS: unknown {', '.join(unknown)}; use some of {', '.join(LEVERS)}")
    cfg.MC_PRECISION = cfg.MC_PRECISION if cfg.MC_PRECISION != "auto" else "float32"
    found = shipped_verifier(cfg.MC_PRECISION, mnist=load_dataset("mnist"))
    x = draws(cfg)
    cfg.MC_BATCH = cfg.MC_BATCH or tuned("MC_BATCH", *devices(), os.cpu_count() or 1)  # as 02 chooses it
    options = verdict.mc_options(cfg)

    def run(lever, seed, images=x):
        per_call, ood_first = setting(lever, cfg)
        mc.reseed_dropout(found.model, seed)
        start, passes = time.perf_counter(), []
        for i in range(0, len(images), per_call):
            passes.append(verdict.verdicts(found.model, images[i : i + per_call], found.density, ood_first=ood_first,
                                            **options)["passes"])
        return time.perf_counter() - start, float(np.concatenate(passes).mean())

    block, min_call = mc.IMAGES_PER_BLOCK, mc.MIN_CALL_IMAGES
    try:
        for lever in cfg.LEVERS:  # warm-up: its call shapes compiled
            run(lever, cfg.SEED, x[: cfg.DRAW_BATCH])
        timed = {lever: [run(lever, cfg.SEED + r + 1) for r in range(cfg.REPEATS)] for lever in cfg.LEVERS}
    finally:
        mc.MIN_CALL_IMAGES, verdict.IMAGES_PER_BLOCK = min_call, block
    first = np.mean([s for s, _ in timed[cfg.LEVERS[0]]])
    print(json.dumps({
        "bench": "02_verdicts",
        "backend": keras.backend.backend(),
        "machine": machine(),
        "matmul_gflops": round(matmul_flops_per_second() / 1e9, 1),
        "images": len(x),
        "levers": [{"lever": lever, "seconds": [round(s, 2) for s, _ in runs],
                    "mean_passes": round(np.mean([p for _, p in runs]), 2),
                    "speedup": round(first / np.mean([s for s, _ in runs]), 2)} for lever, runs in timed.items()],
        "constants": vars(cfg),
    }))


if __name__ == "__main__":
    config.run_main(main, globals())
