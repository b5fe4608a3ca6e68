"""Ambiguous digits on demand: digits between two given classes, verified like 02's.

For each class pair in PAIRS, the MNIST AC-GAN (03) draws from noise z with its class
label mixed between the two classes, at the mix t where the verifier (dropout off) ranks
both classes equally: a bisection per z (models/ambiguous.py). Each image then gets the
same MC_PASSES-pass verifier as 02. Kept: images the verifier flags ambiguous between
exactly the pair asked for (the yield, their share of the drawn images, is reported),
labelled with the verifier's top class, its MC mean (a soft label) kept beside it. For
04's experiment each kept image gets a clear twin: the same z drawn as its label's pure
class (t = 0 or 1), marked ``clear`` where the verifier accepts it and does not flag it.
ambiguous.npz has 02's fields (x_train, y_train, mean, sd, passes, challenger, ambiguous) plus
mix, pair, x_clear, clear, and test_ambiguous: the verifier's flags on the real MNIST
test images (04 scores its classifiers on those, the hardest real digits). Rerun to
resume: pairs finished with the same constants, generator and verifier are read back, and so
are the verifier's verdicts on the test images (test_verdicts.npz).

    python 05_make_ambiguous_digits.py
    python 05_make_ambiguous_digits.py --PAIRS=4-9,1-7 --N_PER_PAIR=200
"""

from models import config  # first: it quiets TensorFlow's C++ start-up logging before keras loads

import json

import keras
import numpy as np

from models import paths, verdict
from models.ambiguous import draw_mixed, find_mix, mixed_label_generator, verify_between
from models.checkpoint import load_generator
from models.config import UserError
from models.data import load_dataset
from models.files import save_figure, save_npz, write_json, write_text
from models.generated import draws_needed
from models.judges import get_verifier
from models.mc import reseed_dropout
from models.plots import ambiguity_gallery, slide_figure
from models.pretrained import SOURCES, choose
from models.record import fingerprint, make_record, matches, reusable
from models.verdict import verdicts
from models.verifier import without_dropout

# what to make
PAIRS = ("4-9", "3-5", "7-9", "3-8", "2-7")  # class pairs "a-b" to draw between: MNIST's usual confusions
N_PER_PAIR = 1200  # ambiguous images kept per pair
SEARCH_STEPS = 8  # bisection steps of each image's mix t (to within 1/512)
SEED = 5050  # pair i draws its noise (and its verifier's dropout) with seed SEED + i
DRAW_BATCH = 500  # noise vectors per search-and-verify round (fewer at the end: about as many as still needed)
MAX_DRAWS = 20000  # give up on a pair after drawing this many images

# the verifier and its verdict: defaults in models/defaults.py, shared with 02, 06, 07 and bench/ (--help lists them)
from models.defaults import (DROPOUT, MC_BATCH, MC_MIN_PASSES, MC_PASSES, MC_PRECISION,  # noqa: E402, F401
                             MC_ROUND_PASSES, MC_RULE, ONE_PASS_CONFIDENCE, OOD_COVARIANCE, OOD_GRID, OOD_LAYER,
                             OOD_RATE, VERIFIER, VERIFIER_BATCH_SIZE, VERIFIER_EPOCHS, VERIFIER_SEED,
                             VERIFIER_SUBSET, VERIFIER_VAL_SIZE)
TEST_SUBSET = 0  # flag at most this many real MNIST test images ambiguous (0 = all; for quick tests)

# files and figures
WEIGHTS_FROM = "auto"  # "auto": weights trained here where they exist, else the shipped ones; or "shipped", "trained"
DATA_DIR = ""  # folder of the MNIST IDX gz files ("" = data/mnist)
GENERATOR_DIR = ""  # the MNIST AC-GAN's generator.weights.h5 ("" = weights/acgan/mnist)
WEIGHTS_DIR = paths.VERIFIER_WEIGHTS  # verifier_{VERIFIER}.weights.h5 (+ .json): 02's, or trained here if missing
SHIPPED_DIR = paths.PRETRAINED_WEIGHTS  # the shipped weights (float16, in git, checked against MANIFEST.json)
OUTPUT_DIR = paths.AMBIGUOUS_OUTPUT  # pair_{a}_{b}.npz, ambiguous.npz, summary, figures
SLIDE_STEPS = 9  # images per row of the figure sliding from one class to the other (the middle ones +-0.15 around t*)
GALLERY_SIZE = 12  # kept images shown with their MC bars
VERBOSE = 1  # 1 = progress bar, 0 = silent

KEPT_ARRAYS = ["x", "y", "mean", "sd", "passes", "challenger", "mix", "x_clear", "clear"]  # one row per kept image


def check(cfg):
    """Reject impossible constants before anything is loaded."""
    problems = config.at_least_one(cfg, "N_PER_PAIR", "DRAW_BATCH", "MAX_DRAWS", "SEARCH_STEPS",
                                   "GALLERY_SIZE")
    problems += config.one_of(cfg, "WEIGHTS_FROM", SOURCES) + verdict.problems(cfg)
    if cfg.TEST_SUBSET < 0:
        problems.append(f"TEST_SUBSET must be 0 (all) or positive, got {cfg.TEST_SUBSET}")
    pairs = class_pairs(cfg.PAIRS)
    if not pairs:
        problems.append(f"PAIRS must name pairs of two different digits, e.g. 4-9,3-5; got {','.join(cfg.PAIRS)!r}")
    elif len({frozenset(p) for p in pairs}) < len(pairs):
        problems.append(f"PAIRS names a pair twice: {','.join(cfg.PAIRS)!r}")
    if cfg.SLIDE_STEPS < 3:
        problems.append(f"SLIDE_STEPS must be at least 3 (the two pure classes and the middle), got {cfg.SLIDE_STEPS}")
    config.reject(problems)


def class_pairs(names):
    """("4-9", "3-5") -> [(4, 9), (3, 5)]; [] if any is not two different digits joined by "-"."""
    pairs = [tuple(name.split("-")) for name in names]
    if not pairs or any(len(p) != 2 or not all(c.strip() in tuple("0123456789") for c in p) for p in pairs):
        return []
    pairs = [(int(a), int(b)) for a, b in pairs]
    return [] if any(a == b for a, b in pairs) else pairs


def load_acgan(cfg):
    """The MNIST AC-GAN's generator (trained here or shipped) -> ``(generator, weights file)``."""
    hint = "run 03_train_acgan.py first."
    trained = paths.generator_files("acgan", cfg.GENERATOR_DIR, [0])[0]
    shipped = paths.shipped_generator_files("acgan", paths.resolve(cfg.SHIPPED_DIR), [0])[0]
    path, source = choose(trained, shipped, cfg.WEIGHTS_FROM)
    if not path.is_file():
        raise UserError(f"Missing AC-GAN generator {paths.shown(path)}: {hint}")
    print(f"generator: {paths.shown(path)} ({source})")
    return load_generator(path, hint), path


def make_pair(i, a, b, mixed, verifier, density, deterministic, cfg, progbar):
    """Search, verify and keep N_PER_PAIR images between ``a`` and ``b`` (and their clear twins);
    returns ``(arrays, counts)``."""
    rng = np.random.default_rng(cfg.SEED + i)
    reseed_dropout(verifier, cfg.SEED + i)  # a pair's verdicts do not depend on the pairs made before it
    latent_dim = mixed.inputs[0].shape[-1]
    kept = {name: [] for name in KEPT_ARRAYS}
    counts = {"drawn": 0, "ambiguous": 0, "out_of_distribution": 0, "on_pair": 0, "clear_twins": 0}
    n_kept = 0
    while n_kept < cfg.N_PER_PAIR:
        if counts["drawn"] >= cfg.MAX_DRAWS:
            raise UserError(f"pair {a}-{b}: drew {counts['drawn']} images (MAX_DRAWS) but only {counts['on_pair']} "
                            f"of the {cfg.N_PER_PAIR} wanted were ambiguous between {a} and {b}; raise MAX_DRAWS, "
                            "lower N_PER_PAIR or pick another pair.")
        n = min(draws_needed(cfg.N_PER_PAIR - n_kept, counts["on_pair"], counts["drawn"]), cfg.DRAW_BATCH,
                cfg.MAX_DRAWS - counts["drawn"])
        z = rng.standard_normal((n, latent_dim), dtype=np.float32)
        t = find_mix(mixed, deterministic, z, a, b, cfg.SEARCH_STEPS)
        x = draw_mixed(mixed, z, a, b, t)
        judged = verify_between(verifier, x, a, b, density, **verdict.options(cfg))
        counts["drawn"] += len(z)
        counts["out_of_distribution"] += int(judged["out_of_distribution"].sum())
        counts["ambiguous"] += int(judged["ambiguous"].sum())
        counts["on_pair"] += int(judged["on_pair"].sum())
        keep = np.flatnonzero(judged["on_pair"])[: cfg.N_PER_PAIR - n_kept]
        z, x, t = z[keep], x[keep], t[keep]
        judged = {name: value[keep] for name, value in judged.items()}
        top = judged["top"]
        x_clear = draw_mixed(mixed, z, a, b, (top == b).astype(np.float32))  # the same z as its label's pure class
        twin = verdicts(verifier, x_clear, density, **verdict.options(cfg))
        clear = (twin["top"] == top) & ~twin["ambiguous"] & ~twin["out_of_distribution"]
        for name, value in zip(KEPT_ARRAYS, (x, top.astype(np.uint8), judged["mean"], judged["sd"], judged["passes"],
                                             judged["challenger"], t, x_clear, clear)):
            kept[name].append(value)
        n_kept += len(keep)
        progbar.add(len(keep))
    arrays = {name: np.concatenate(parts) for name, parts in kept.items()}
    counts["clear_twins"] = int(arrays["clear"].sum())
    return arrays, counts


def load_finished_pair(a, b, path, record):
    """``(arrays, counts)`` of a pair made earlier with ``record``, else ``(None, None)``."""
    if not reusable(path, record, f"pair {a}-{b}"):
        return None, None
    with np.load(path) as f:
        return {name: f[name] for name in KEPT_ARRAYS}, json.loads(str(f["counts"]))


def flag_test_images(verifier, x_test, verifier_hash, path, cfg):
    """The verifier's ambiguity flags on the real test images, read back from ``path`` when it
    was made with the same verifier, images and MC constants (about 4 min on 2 cores otherwise)."""
    record = make_record(cfg, ("VERIFIER", *verdict.constants(cfg), "SEED"),
                         inputs={"verifier": verifier_hash, "MNIST test images": x_test})
    if matches(path, record):
        with np.load(path) as f:
            return f["ambiguous"]
    print(f"verifying the {len(x_test)} real MNIST test images ({verdict.mc_text(cfg)})")
    reseed_dropout(verifier, cfg.SEED)
    judged = verdicts(verifier, x_test, **verdict.options(cfg))
    save_npz(path, record, **{name: judged[name] for name in ("ambiguous", "mean", "sd", "passes")})
    return judged["ambiguous"]


def slide(mixed, verifier, deterministic, pairs, cfg):
    """Per pair, one z drawn from class a (t = 0) to b (t = 1), densest around its own undecided
    mix t*, with MC verdicts: the figure's data ``(images, mean, sd, mixes)``, each (pairs, SLIDE_STEPS, ...)."""
    z = np.random.default_rng(cfg.SEED - 1).standard_normal((len(pairs), mixed.inputs[0].shape[-1]), dtype=np.float32)
    offsets = np.linspace(-0.15, 0.15, cfg.SLIDE_STEPS - 2, dtype=np.float32)
    mixes, rows = [], []
    for p, (a, b) in enumerate(pairs):
        middle = find_mix(mixed, deterministic, z[p : p + 1], a, b, cfg.SEARCH_STEPS)[0]
        mixes.append(np.concatenate([[0], np.clip(middle + offsets, 0, 1), [1]]).astype(np.float32))
        rows.append(draw_mixed(mixed, np.repeat(z[p : p + 1], cfg.SLIDE_STEPS, 0), a, b, mixes[-1]))
    reseed_dropout(verifier, cfg.SEED - 1)
    judged = verdicts(verifier, np.concatenate(rows), **verdict.options(cfg))
    shape = (len(pairs), cfg.SLIDE_STEPS, -1)
    return np.stack(rows), judged["mean"].reshape(shape), judged["sd"].reshape(shape), np.stack(mixes)


def pair_row(a, b, counts):
    return {"pair": f"{a}-{b}", "drawn": counts["drawn"], "on_pair": counts["on_pair"],
            "yield": counts["on_pair"] / counts["drawn"], "ambiguous": counts["ambiguous"],
            "ambiguous_rate": counts["ambiguous"] / counts["drawn"], "clear_twins": counts["clear_twins"],
            "out_of_distribution": counts["out_of_distribution"]}


def summary_markdown(rows, test_ambiguous, cfg):
    total = {key: sum(r[key] for r in rows) for key in ("drawn", "on_pair", "ambiguous", "clear_twins",
                                                        "out_of_distribution")}
    lines = [
        f"# Ambiguous digits on demand: {cfg.N_PER_PAIR} per pair",
        "",
        f"MNIST AC-GAN, class label mixed between the pair's two classes at the mix the verifier (dropout off) "
        f"cannot decide ({cfg.SEARCH_STEPS} bisection steps per image), then 02's verifier ({verdict.mc_text(cfg)}, "
        f"{cfg.VERIFIER} architecture). Yield: the share of drawn images flagged ambiguous with the pair asked for as "
        "their top two classes and typical of the verifier's training digits (not out of distribution, OOD); "
        "the first N_PER_PAIR of them are kept. Clear twins: the same noise drawn as the kept image's label, "
        "accepted, in distribution and not ambiguous.",
        "",
        "| pair | drawn | OOD | ambiguous | ambiguous between this pair | yield | kept | clear twins of the kept |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows + [{"pair": "all", **total, "yield": total["on_pair"] / total["drawn"]}]:
        kept = cfg.N_PER_PAIR * (len(rows) if r["pair"] == "all" else 1)
        lines.append(f"| {r['pair']} | {r['drawn']} | {r['out_of_distribution']} | {r['ambiguous']} | {r['on_pair']} "
                     f"| {r['yield']:.1%} | {kept} "
                     f"| {r['clear_twins']} |")
    lines += ["", f"Real MNIST test set: the verifier flags {test_ambiguous.sum()} of {len(test_ambiguous)} "
              "images ambiguous (04 tests its classifiers on them).", ""]
    return "\n".join(lines)


def main(**overrides):
    cfg = config.resolve(globals(), overrides)
    check(cfg)
    device = verdict.prepare(cfg)
    pairs = class_pairs(cfg.PAIRS)
    output_dir = paths.resolve(cfg.OUTPUT_DIR)
    generator, generator_file = load_acgan(cfg)
    mnist = load_dataset("mnist", cfg.DATA_DIR or None)
    verifier, density, _, verifier_file = get_verifier(cfg, mnist, output_dir, floor=False)
    mixed, deterministic = mixed_label_generator(generator), without_dropout(verifier, cfg.VERIFIER, cfg.MC_PRECISION)
    inputs = {"generator": fingerprint(generator_file), "verifier": fingerprint(verifier_file)}
    progbar = keras.utils.Progbar(cfg.N_PER_PAIR * len(pairs), verbose=cfg.VERBOSE, unit_name="image")
    per_pair, rows = {}, []
    for i, (a, b) in enumerate(pairs):
        record = make_record(cfg, skip=("PAIRS", "SLIDE_STEPS"), pair=[a, b], index=i, inputs=inputs)
        path = output_dir / f"pair_{a}_{b}.npz"
        arrays, counts = load_finished_pair(a, b, path, record)
        if arrays is None:
            arrays, counts = make_pair(i, a, b, mixed, verifier, density, deterministic, cfg, progbar)
            save_npz(path, record, **arrays, counts=json.dumps(counts))
        else:
            progbar.add(cfg.N_PER_PAIR)
        per_pair[(a, b)], rows = arrays, rows + [pair_row(a, b, counts)]

    x_test = mnist[1][0][: cfg.TEST_SUBSET or None]
    test_ambiguous = flag_test_images(verifier, x_test, inputs["verifier"], output_dir / "test_verdicts.npz", cfg)

    joined = {name: np.concatenate([per_pair[p][name] for p in pairs]) for name in KEPT_ARRAYS}
    pair_of = np.concatenate([np.full((cfg.N_PER_PAIR, 2), p, np.uint8) for p in pairs])
    record = make_record(cfg, inputs={**inputs, "MNIST test images": x_test})
    save_npz(output_dir / "ambiguous.npz", record, x_train=joined["x"], y_train=joined["y"], mean=joined["mean"],
             sd=joined["sd"], passes=joined["passes"], challenger=joined["challenger"],
             ambiguous=np.ones(len(joined["y"]), bool),
             mix=joined["mix"], pair=pair_of, x_clear=joined["x_clear"], clear=joined["clear"],
             test_ambiguous=test_ambiguous)
    write_json(output_dir / "summary.json", {"pairs": rows, "test_ambiguous": int(test_ambiguous.sum()),
                                             "test_images": len(x_test), "device": device, "record": record})
    write_text(output_dir / "summary.md", summary_markdown(rows, test_ambiguous, cfg))

    images, mean, sd, mixes = slide(mixed, verifier, deterministic, pairs, cfg)
    save_figure(slide_figure(images, mean, sd, pairs, mixes), output_dir / "slide.png")
    picks = np.linspace(0, len(joined["y"]) - 1, min(cfg.GALLERY_SIZE, len(joined["y"]))).astype(int)
    save_figure(ambiguity_gallery(joined["x"][picks], joined["mean"][picks], joined["sd"][picks],
                                  [f"{a}/{b} mix" for a, b in pair_of[picks]], passes=joined["passes"][picks],
                                  title="made between two classes: top classes, MC mean +- 2 SD"),
                output_dir / "gallery.png")
    print(summary_markdown(rows, test_ambiguous, cfg))
    print(f"data and figures in {paths.shown(output_dir)}")


if __name__ == "__main__":
    config.run_main(main, globals())
