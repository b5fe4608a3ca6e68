"""02's mechanism: draw a digit's images, verify each, keep those that pass, count the verdicts.

A digit's draws and verdicts depend only on its own seeds (``SEED + k``), so a digit drawn
alone gives the images and verdicts it gives among the others, and a finished digit is read
back (``load_finished_digit``) when its record matches.
"""

import json
from collections import Counter

import numpy as np

from models import paths
from models.checkpoint import load_generator
from models.config import UserError
from models.data import to_uint8
from models.gan import generate_images
from models.generated import draws_needed
from models.mc import reseed_dropout
from models.pretrained import choose
from models.record import reusable
from models.verdict import options, verdicts

GENERATOR_HINTS = {"class_gans": "run 01_train_class_gans.py first.", "acgan": "run 03_train_acgan.py first."}
KEEP_MODES = {"all": "every accepted image", "clear": "accepted, not ambiguous", "ambiguous": "accepted and ambiguous"}
KEPT = ["x", "mean", "sd", "passes", "challenger", "ambiguous", "atypicality"]  # per digit, one row per kept image
SAVED = tuple(name for name in KEPT if name != "x")  # the verdicts generated.npz keeps beside the images


def load_generators(cfg):
    """{digit: (generator, its weights file)}, all loaded up front, so a missing one fails before
    hours of work; each is the one trained here or the shipped one (WEIGHTS_FROM)."""
    trained = paths.generator_files(cfg.GENERATOR, cfg.GENERATOR_DIR, cfg.CLASSES)
    shipped = paths.shipped_generator_files(cfg.GENERATOR, paths.resolve(cfg.SHIPPED_DIR), cfg.CLASSES)
    chosen = {k: choose(trained[k], shipped[k], cfg.WEIGHTS_FROM) for k in cfg.CLASSES}
    for source in sorted({source for _, source in chosen.values()}):
        digits = [k for k, (_, s) in chosen.items() if s == source]
        folders = sorted({paths.shown(path.parent) for path, s in chosen.values() if s == source})
        print(f"generators of {cfg.GENERATOR} for {digits_text(digits)}: {', '.join(folders)} ({source})")
    files = {k: path for k, (path, _) in chosen.items()}
    missing = sorted({paths.shown(p) for p in files.values() if not p.is_file()})
    if missing:
        raise UserError(f"Missing generator weights {', '.join(missing)}: {GENERATOR_HINTS[cfg.GENERATOR]}")
    loaded = {path: load_generator(path, GENERATOR_HINTS[cfg.GENERATOR]) for path in set(files.values())}
    return {k: (loaded[path], path) for k, path in files.items()}


def digits_text(digits):
    return f"digit {digits[0]}" if len(digits) == 1 else f"digits {', '.join(map(str, digits))}"


def keep_mask(accepted, ambiguous, keep):
    """Which verified images to keep under KEEP."""
    if keep == "clear":
        return accepted & ~ambiguous
    if keep == "ambiguous":
        return accepted & ambiguous
    return accepted


def generate_digit(k, generator, verifier, density, cfg, scale, progbar):
    """Draw from ``generator`` (noise from N(0, ``scale``^2)) until N_PER_CLASS images pass KEEP;
    returns arrays (with the GALLERY_SIZE most atypical rejected images) and counts."""
    rng = np.random.default_rng(cfg.SEED + k)
    reseed_dropout(verifier, cfg.SEED + k)  # digit k's verdicts do not depend on the digits drawn before it
    latent_dim = generator.inputs[0].shape[-1]
    kept = {name: [] for name in KEPT}
    atypical = {"x": np.zeros((0, 28, 28), np.uint8), "atypicality": np.zeros(0)}  # the most atypical rejected
    counts = Counter()
    n_kept = 0
    while n_kept < cfg.N_PER_CLASS:
        if counts["drawn"] >= cfg.MAX_DRAWS:
            raise UserError(
                f"digit {k}: drew {counts['drawn']} images (MAX_DRAWS) but only {n_kept} of the "
                f"{cfg.N_PER_CLASS} wanted passed KEEP={cfg.KEEP!r} ({counts['rejected']} rejected by the "
                f"verifier, {counts['out_of_distribution']} of them unlike any training digit, {counts['ambiguous']} "
                "ambiguous). Train the generator longer, relax KEEP, "
                "or raise MAX_DRAWS."
            )
        n = min(draws_needed(cfg.N_PER_CLASS - n_kept, counts["kept"], counts["drawn"]), cfg.DRAW_BATCH,
                cfg.MAX_DRAWS - counts["drawn"])
        z = rng.standard_normal((n, latent_dim), dtype=np.float32) * np.float32(scale)
        x = to_uint8(generate_images(generator, z, np.full(n, k, "int32")))
        verdict = {"x": x, **with_ood_fields(verdicts(verifier, x, density, ood_first=True, **options(cfg)))}
        ood, ambiguous = verdict["out_of_distribution"], verdict["ambiguous"]
        accepted = (verdict["top"] == k) & ~ood
        mask = keep_mask(accepted, ambiguous, cfg.KEEP)
        counts.update(drawn=n, rejected=int((~accepted).sum()), accepted=int(accepted.sum()),
                      ambiguous=int((accepted & ambiguous).sum()), kept=int(mask.sum()),
                      out_of_distribution=int(ood.sum()))
        counts.update(f"challenger_{c}" for c in verdict["challenger"][accepted & ambiguous])
        counts.update(f"passes_{p}" for p in verdict["passes"])
        for name in KEPT:
            kept[name].append(verdict[name][mask])
        atypical = {name: np.concatenate([atypical[name], verdict[name][~accepted]]) for name in atypical}
        worst = np.argsort(-atypical["atypicality"], kind="stable")[: cfg.GALLERY_SIZE]
        atypical = {name: values[worst] for name, values in atypical.items()}
        step = min(int(mask.sum()), cfg.N_PER_CLASS - n_kept)
        n_kept += step
        progbar.add(step)
    arrays = {name: np.concatenate(parts)[: cfg.N_PER_CLASS] for name, parts in kept.items()}
    arrays["y"] = np.full(cfg.N_PER_CLASS, k, np.uint8)
    arrays["x_atypical_rejected"], arrays["atypicality_rejected"] = atypical["x"], atypical["atypicality"]
    arrays["x_raw"] = raw_draws(k, generator, cfg, scale)
    return arrays, counts


def with_ood_fields(verdict):
    """``verdict`` with ``out_of_distribution`` and ``atypicality`` (all False and 0 without a density)."""
    n = len(verdict["top"])
    return {"out_of_distribution": np.zeros(n, bool), "atypicality": np.zeros(n), **verdict}


def raw_draws(k, generator, cfg, scale):
    """N_PER_CLASS fresh draws of digit ``k``, not verified (the original experiment's protocol),
    from a noise stream of their own: 04 trains on them to show what verification buys."""
    z = np.random.default_rng((cfg.SEED + k, 1)).standard_normal((cfg.N_PER_CLASS, generator.inputs[0].shape[-1]),
                                                                dtype=np.float32) * np.float32(scale)
    return to_uint8(generate_images(generator, z, np.full(cfg.N_PER_CLASS, k, "int32")))


def load_finished_digit(k, path, record):
    """``(arrays, counts)`` of digit ``k`` generated earlier with ``record``, else ``(None, None)``
    (saying why, when a file made with other settings is there)."""
    if not reusable(path, record, f"digit {k}"):
        return None, None
    with np.load(path) as f:
        arrays = {name: f[name] for name in f.files if name not in ("record", "counts")}
        return arrays, Counter(json.loads(str(f["counts"])))


def class_summary(k, counts):
    challengers = Counter({int(key.split("_")[1]): n for key, n in counts.items() if key.startswith("challenger_")})
    passes = {int(key.split("_")[1]): n for key, n in counts.items() if key.startswith("passes_")}
    return {
        "digit": k,
        "drawn": counts["drawn"],
        "rejected": counts["rejected"],
        "rejection_rate": counts["rejected"] / counts["drawn"],
        "out_of_distribution": counts["out_of_distribution"],
        "ood_rate": counts["out_of_distribution"] / counts["drawn"],
        "accepted": counts["accepted"],
        "ambiguous": counts["ambiguous"],
        "ambiguity_rate": counts["ambiguous"] / max(counts["accepted"], 1),
        "top_challenger": challengers.most_common(1)[0][0] if challengers else None,
        "passes": dict(sorted(passes.items())),  # {passes: images verified with that many}
    }


def total_row(rows):
    """The summary row of all digits together."""
    total = {key: sum(r[key] for r in rows) for key in ("drawn", "rejected", "out_of_distribution", "accepted",
                                                        "ambiguous")}
    passes = sum((Counter(r["passes"]) for r in rows), Counter())
    return {"digit": "all", **total, "rejection_rate": total["rejected"] / total["drawn"],
            "ood_rate": total["out_of_distribution"] / total["drawn"],
            "ambiguity_rate": total["ambiguous"] / max(total["accepted"], 1), "top_challenger": None,
            "passes": dict(sorted(passes.items()))}
