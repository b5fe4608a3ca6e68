"""Benchmark the adaptive MC rule against the fixed 100-pass one; prints one JSON line.

    python bench/bench_adaptive_mc.py [--GENERATED_PER_DIGIT=500] [--REAL=5000]

On the shipped verifier (or VERIFIER_FILE's), 02's generated digits (raw draws of the shipped per-digit
generators) and real MNIST test images, all in this process:
- two fixed-rule runs with different dropout seeds, A and B: their disagreement (top class
  or ambiguous flag) is the noise floor of the verdict itself;
- the adaptive rule under SEEDS_PER_RULE other seeds: its disagreement with A and with B
  (mean over seeds), to be held against the floor (the same images, the same comparison);
- the rule's own error: the adaptive rule applied to A's passes, each image stopping where
  the rule says, against A's verdict from all 100 (no dropout noise between the two);
- the same in bfloat16 (``MC_PRECISION``): its disagreement with A and B against float32's,
  paired image by image, and its verdicts per second;
- the share of images flagged ambiguous by each run (a shift the disagreement could hide);
- mean passes per image, and verdicts per second of the fixed and the adaptive rule.
``sweep``: the same on A's passes for other margins of the rule (``settled``'s ``z`` and
``clear_z``): mean passes, the error on its own passes, and the disagreement with B.
``levers``: ways to make the verdict cheaper, each against the adaptive rule at the defaults
(``SEEDS_PER_RULE`` float32 runs above): rounds' size and minimum passes and the futility stop
(``sequential``'s ``futility_passes``) on A's passes (``on_a``), and, timed on every image in
this process (one dropout seed, ``LEVER_SEED``), the rounds in ``TIMED_LEVERS``: verdicts per
second as a speed-up over the defaults, and the disagreement with A and B (mean of the two) to
hold against the floor. (XLA is measured by running the bench under the JAX backend: Keras on
TensorFlow refuses ``jit_compile`` for a model whose dropout draws random masks.)
``se_*``: bootstrap SEs (over images) of the differences they name.
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
from models import paths  # noqa: E402
from models.verdict import mc_options  # noqa: E402
from models.checkpoint import load_generator  # noqa: E402
from models.data import load_dataset, to_classifier_input, to_uint8  # noqa: E402
from models.device import devices, tuned  # noqa: E402
from models.gan import generate_images  # noqa: E402
from models.mc import mc_model, mc_predict, reseed_dropout, sequential  # noqa: E402
from models.verifier import ambiguity  # noqa: E402
from shipped import shipped_verifier  # noqa: E402

GENERATED_PER_DIGIT = 500  # raw draws of each shipped per-digit generator
REAL = 5000  # real MNIST test images (the first ones)
# the verdict measured: 02's (defaults in models/defaults.py); MC_PASSES is also the fixed rule's
from models.defaults import MC_BATCH, MC_MIN_PASSES, MC_PASSES, MC_ROUND_PASSES  # noqa: E402, F401
SWEEP_Z = (2.0, 3.0, 4.0)  # settled's z (ambiguous stops) tried on A's passes
SWEEP_CLEAR_Z = (0.0, 0.5, 1.0, 2.0, 3.0)  # settled's clear_z (clear stops) tried on A's passes
BOOTSTRAP = 2000  # resamples of the images for the SE of the difference
SEEDS_PER_RULE = 3  # dropout seeds of the adaptive rule, in float32 and in bfloat16 each
# the levers: "rounds=R/M" (MC_ROUND_PASSES R, MC_MIN_PASSES M), "futility=F" (stop hopeless images from F passes on)
SWEEP_LEVERS = ("rounds=5/5", "rounds=5/10", "rounds=10/20", "rounds=20/20", "futility=20", "futility=30",
                "futility=50")  # tried on A's passes
TIMED_LEVERS = ("rounds=10/10", "rounds=5/10")  # timed on every image
LEVER_SEED = 30  # the dropout seed of the timed levers
SEED = 0  # the draws' noise; the dropout seeds are SEED + 1 and 2 (fixed), + 10... and + 20... (adaptive)
VERIFIER_FILE = ""  # a verifier's weights file (e.g. from bench/train_verifier_variant.py; "" = the shipped verifier)


def images(cfg):
    """``(generated, real)`` uint8 images."""
    shipped = paths.resolve(paths.PRETRAINED_WEIGHTS)
    generated = []
    for k, path in paths.shipped_generator_files("class_gans", shipped, range(10)).items():
        generator = load_generator(path, "restore the shipped weights")
        shape = (cfg.GENERATED_PER_DIGIT, generator.inputs[0].shape[-1])
        z = np.random.default_rng((cfg.SEED, k)).standard_normal(shape, dtype=np.float32)
        generated.append(to_uint8(generate_images(generator, z)))
    return np.concatenate(generated), load_dataset("mnist")[1][0][: cfg.REAL]


def verdict(mean, sd):
    top, _, ambiguous = ambiguity(mean, sd)
    return np.stack([top, ambiguous])


def disagree(a, b):
    """(N,) bool: the top class or the flag differs."""
    return (a != b).any(axis=0)


def keywords(lever):
    """A lever's name -> its keywords: ``mc_predict``'s for "rounds=R/M", ``sequential``'s for
    "futility=F" (on A's passes only)."""
    kind, _, value = lever.partition("=")
    try:
        if kind == "rounds":
            round_passes, min_passes = map(int, value.split("/"))
            return {"round_passes": round_passes, "min_passes": min_passes}
        if kind == "futility" and int(value) > 0:
            return {"futility_passes": int(value)}
    except ValueError as err:
        raise config.ConfigError(f"SWEEP_LEVERS and TIMED_LEVERS: cannot read {lever!r}: use rounds=R/M or "
                                 "futility=F (whole numbers, F at least 1)") from err
    raise config.ConfigError(f"SWEEP_LEVERS and TIMED_LEVERS: unknown lever {lever!r}: use rounds=R/M or futility=F "
                             "(whole numbers, F at least 1)")


def timed(function):
    start = time.perf_counter()
    out = function()
    return out, time.perf_counter() - start


def main(**overrides):
    cfg = config.resolve(globals(), overrides)
    for lever in (*cfg.SWEEP_LEVERS, *cfg.TIMED_LEVERS):
        keywords(lever)  # an unknown lever is refused before any work
    if any(lever.startswith("futility") for lever in cfg.TIMED_LEVERS):
        raise config.ConfigError("TIMED_LEVERS: the futility stop is measured on A's passes only (SWEEP_LEVERS)")
    cfg.MC_BATCH = cfg.MC_BATCH or tuned("MC_BATCH", *devices(), os.cpu_count() or 1)  # as 02 chooses it
    mnist = load_dataset("mnist")
    verifier, half = (shipped_verifier(p, cfg.VERIFIER_FILE, ood=False, mnist=mnist).model
                      for p in ("float32", "bfloat16"))
    generated, real = images(cfg)
    x = np.concatenate([generated, real])
    rule, adaptive = mc_options(cfg, "fixed"), mc_options(cfg, "adaptive")
    mc_predict(verifier, x[:64], **rule)  # warm-up: compile both rules' calls
    mc_predict(verifier, x[:64], **adaptive)
    mc_predict(half, x[:64], **adaptive)

    reseed_dropout(verifier, cfg.SEED + 1)  # A, every pass kept
    per_pass, per_call = mc_model(verifier, cfg.MC_PASSES, per_pass=True), max(1, cfg.MC_BATCH // cfg.MC_PASSES)
    xf = to_classifier_input(x)
    passes_a = np.concatenate([np.asarray(per_pass.predict_on_batch(xf[i : i + per_call]))
                               for i in range(0, len(x), per_call)])
    full_a = verdict(passes_a.mean(axis=1), passes_a.std(axis=1))
    reseed_dropout(verifier, cfg.SEED + 2)  # B, the fixed rule as the scripts run it
    (mean, sd, _), full_seconds = timed(lambda: mc_predict(verifier, x, **rule))
    full_b = verdict(mean, sd)
    runs = {}  # the adaptive rule, SEEDS_PER_RULE dropout seeds each, in float32 (C) and in bfloat16 (D)
    for name, model, first_seed in (("float32", verifier, 10), ("bfloat16", half, 20)):
        runs[name] = []
        for seed in range(cfg.SEED + first_seed, cfg.SEED + first_seed + cfg.SEEDS_PER_RULE):
            reseed_dropout(model, seed)
            (mean, sd, used), seconds = timed(lambda: mc_predict(model, x, **adaptive))  # noqa: B023
            runs[name].append({"verdict": verdict(mean, sd), "used": used, "seconds": seconds})

    def on_passes_of_a(round_passes=cfg.MC_ROUND_PASSES, min_passes=cfg.MC_MIN_PASSES, **margins):
        mean, sd, used = sequential(lambda rows, done, count: passes_a[rows, done : done + count], len(x),
                                    passes_a.shape[-1], cfg.MC_PASSES, round_passes, min_passes, **margins)
        return verdict(mean, sd), used

    own = disagree(on_passes_of_a()[0], full_a)

    def on_a(**change):
        swept, used_swept = on_passes_of_a(**change)
        return {**change, "mean_passes": round(used_swept.mean(), 2),
                "error_on_own_passes": round(disagree(swept, full_a).mean(), 5),
                "vs_full_b": round(disagree(swept, full_b).mean(), 5)}

    sweep = [on_a(z=z, clear_z=clear_z) for z in cfg.SWEEP_Z for clear_z in cfg.SWEEP_CLEAR_Z]
    levers = {"on_a": [{"lever": name, **on_a(**keywords(name))} for name in cfg.SWEEP_LEVERS], "timed": []}
    baseline = np.mean([r["seconds"] for r in runs["float32"]])
    for name in cfg.TIMED_LEVERS:
        change = keywords(name)
        mc_predict(verifier, x[:64], **{**adaptive, **change})  # warm-up: its calls compiled
        reseed_dropout(verifier, cfg.SEED + cfg.LEVER_SEED)
        (mean, sd, used), seconds = timed(lambda: mc_predict(verifier, x, **{**adaptive, **change}))  # noqa: B023
        v = verdict(mean, sd)
        levers["timed"].append({"lever": name, "speedup": round(baseline / seconds, 2),
                                "verdicts_per_s": round(len(x) / seconds, 1), "mean_passes": round(used.mean(), 2),
                                "vs_full": round((disagree(v, full_a).mean() + disagree(v, full_b).mean()) / 2, 5)})

    floor = disagree(full_a, full_b).astype(float)
    versus = {name: np.mean([(disagree(r["verdict"], full_a).astype(float) + disagree(r["verdict"], full_b)) / 2
                             for r in rs], axis=0) for name, rs in runs.items()}  # per image, over seeds and A, B
    rng = np.random.default_rng(cfg.SEED)
    resamples = rng.integers(0, len(x), (cfg.BOOTSTRAP, len(x)))

    def se(values):
        return round(float(values[resamples].mean(axis=1).std()), 5)

    used = runs["float32"][0]["used"]
    seconds = {name: np.mean([r["seconds"] for r in rs]) for name, rs in runs.items()}
    parts = {"generated": slice(0, len(generated)), "real": slice(len(generated), len(x))}
    print(json.dumps({
        "bench": "adaptive_mc",
        "backend": keras.backend.backend(),
        "machine": machine(),
        "matmul_gflops": round(matmul_flops_per_second() / 1e9, 1),
        "images": {name: part.stop - part.start for name, part in parts.items()},
        "floor_full_vs_full": round(floor.mean(), 5),
        "adaptive_vs_full": round(versus["float32"].mean(), 5),
        "se_adaptive_minus_floor": se(versus["float32"] - floor),
        "rule_error_on_its_own_passes": round(own.mean(), 5),
        "by_set": {name: {"floor": round(floor[part].mean(), 5),
                          "adaptive_vs_full": round(versus["float32"][part].mean(), 5),
                          "mean_passes": round(used[part].mean(), 2)} for name, part in parts.items()},
        "mean_passes": round(used.mean(), 2),
        "passes_histogram": {int(p): int(n) for p, n in zip(*np.unique(used, return_counts=True))},
        "full_verdicts_per_s": round(len(x) / full_seconds, 1),
        "adaptive_verdicts_per_s": round(len(x) / seconds["float32"], 1),
        "speedup": round(full_seconds / seconds["float32"], 2),
        "bfloat16_adaptive_vs_full": round(versus["bfloat16"].mean(), 5),
        "se_bfloat16_minus_float32_adaptive": se(versus["bfloat16"] - versus["float32"]),
        "ambiguous_share": {"full_a": round(full_a[1].mean(), 5), "full_b": round(full_b[1].mean(), 5),
                            **{f"{name}_adaptive": round(np.mean([r["verdict"][1].mean() for r in rs]), 5)
                               for name, rs in runs.items()}},
        "bfloat16_mean_passes": round(np.mean([r["used"].mean() for r in runs["bfloat16"]]), 2),
        "bfloat16_adaptive_verdicts_per_s": round(len(x) / seconds["bfloat16"], 1),
        "bfloat16_speedup_over_float32_adaptive": round(seconds["float32"] / seconds["bfloat16"], 2),
        "sweep": sweep,
        "levers": levers,
        "constants": vars(cfg),
    }))


if __name__ == "__main__":
    config.run_main(main, globals())
