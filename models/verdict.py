"""The verdict: its settings as a script holds them (their defaults: ``models/defaults.py``), and
``verdicts``, the one path every script's verdicts take (the MC passes, the ambiguity rule and the
out-of-distribution score together; ``mc_scores``: the same on images of known class).

``problems`` checks them before any work, ``prepare`` resolves what depends on the
device, ``options`` turns them into ``verdicts``' keywords, and
``constants`` names the ones a verdict depends on (for records); ``mc_text`` and
``ood_text`` say them in words for reports. Every script and benchmark that gives 02's
verdict goes through these, so none can run a rule with half its settings (06 and
bench/bench_adaptive_mc.py also run the fixed rule and the rule's parts, on purpose).
"""

import re

import numpy as np

from models.data import to_classifier_input
from models.device import tune_for_device, use_all_devices
from models.mc import IMAGES_PER_BLOCK, MC_RULES, PRECISIONS, mc_predict, split_at_first_dropout, trunk_output
from models.typicality import COVARIANCES, after_trunk, atypicality, features
from models.verifier import ambiguity, resolve_precision

MC_KEYWORDS = {"MC_PASSES": "passes", "MC_BATCH": "batch", "MC_RULE": "rule", "MC_ROUND_PASSES": "round_passes",
               "MC_MIN_PASSES": "min_passes"}  # the MC constants -> mc_predict's keywords
MC_CONSTANTS = (*MC_KEYWORDS, "MC_PRECISION")  # what an MC verdict depends on besides the verifier and the images
OOD_CONSTANTS = ("OOD_LAYER", "OOD_GRID", "OOD_COVARIANCE", "OOD_RATE")  # what the verifier's density depends on
PRODUCT_VERIFIERS = ("default", "light", "reference")  # VERIFIER's choices (bench/train_verifier_variant.py: others)


def constants(cfg):
    """The constants a script's verdicts depend on besides the verifier and the images."""
    return (*MC_CONSTANTS, "ONE_PASS_CONFIDENCE") if cfg.MC_RULE == "one_pass" else MC_CONSTANTS


def options(cfg):
    """The verdict settings as ``verdicts``' keywords: ``mc_options`` and, under the
    one-pass rule, the confidence below which an image is ambiguous."""
    return {**mc_options(cfg), "confidence": cfg.ONE_PASS_CONFIDENCE if cfg.MC_RULE == "one_pass" else None}


def mc_options(cfg, rule=None):
    """The MC constants as ``mc_predict``'s keywords; ``rule`` in place of MC_RULE (for a measurement
    of one rule whatever the script's)."""
    mc = {keyword: getattr(cfg, name) for name, keyword in MC_KEYWORDS.items() if name != "MC_RULE"}
    return {**mc, "rule": rule or cfg.MC_RULE}


def prepare(cfg):
    """Resolve the settings that depend on the device, in place (so records hold them as they
    run): MC_BATCH=0 is chosen for it, MC_PRECISION="auto" becomes float32 or bfloat16. Spreads
    work over every GPU under JAX. Returns the device, for the run's record."""
    use_all_devices()
    device = tune_for_device(cfg, "MC_BATCH")
    cfg.MC_PRECISION = resolve_precision(cfg.MC_PRECISION)
    print(f"verdicts: {mc_text(cfg)}")
    return device


def problems(cfg, ood=True):
    """Problem sentences for the verifier's, the verdict's and (``ood``) the out-of-distribution
    settings, checked before any work."""
    found = [] if cfg.VERIFIER in PRODUCT_VERIFIERS else [
        f"VERIFIER must be one of {', '.join(PRODUCT_VERIFIERS)}, got {cfg.VERIFIER!r} (other architectures: "
        "bench/train_verifier_variant.py, then VERIFIER_FILE)"]
    found += [] if 0 <= cfg.DROPOUT < 1 else [f"DROPOUT must lie in [0, 1), got {cfg.DROPOUT}"]
    found += [f"{name} must be at least 1, got {getattr(cfg, name)}" for name in
              ("VERIFIER_EPOCHS", "VERIFIER_BATCH_SIZE", "VERIFIER_VAL_SIZE") if getattr(cfg, name) < 1]
    found += mc_problems(cfg)
    if ood:
        found += ood_problems(cfg)
    return found


def mc_problems(cfg):
    """Problem sentences for the MC constants."""
    found = [] if cfg.MC_RULE in MC_RULES else [f"MC_RULE must be one of {', '.join(MC_RULES)}, got {cfg.MC_RULE!r}"]
    if cfg.MC_PRECISION not in PRECISIONS:
        found.append(f"MC_PRECISION must be one of {', '.join(PRECISIONS)}, got {cfg.MC_PRECISION!r}")
    if cfg.MC_BATCH < 0:
        found.append(f"MC_BATCH must be at least 1, or 0 to choose it for the device, got {cfg.MC_BATCH}")
    if cfg.MC_PASSES < 2:
        found.append(f"MC_PASSES must be at least 2, got {cfg.MC_PASSES}: one pass has no SD, so the ambiguity "
                     "rule would call every image clear")
    if cfg.MC_RULE == "adaptive" and cfg.MC_MIN_PASSES < 2:
        found.append(f"MC_MIN_PASSES must be at least 2 (the first look needs an SD), got {cfg.MC_MIN_PASSES}")
    if cfg.MC_RULE == "adaptive" and cfg.MC_ROUND_PASSES < 1:
        found.append(f"MC_ROUND_PASSES must be at least 1, got {cfg.MC_ROUND_PASSES}")
    if cfg.MC_RULE == "one_pass" and not 0 < cfg.ONE_PASS_CONFIDENCE <= 1:
        found.append(f"ONE_PASS_CONFIDENCE must lie in (0, 1] for MC_RULE='one_pass', got {cfg.ONE_PASS_CONFIDENCE}")
    return found


def ood_problems(cfg):
    """Problem sentences for the out-of-distribution constants."""
    found = [] if cfg.OOD_COVARIANCE in COVARIANCES else [
        f"OOD_COVARIANCE must be one of {', '.join(COVARIANCES)}, got {cfg.OOD_COVARIANCE!r}"]
    if not re.fullmatch(r"conv[1-9]|dense", cfg.OOD_LAYER):
        found.append(f"OOD_LAYER must be conv1, conv2, ... or dense, got {cfg.OOD_LAYER!r}")
    if cfg.OOD_GRID < 1:
        found.append(f"OOD_GRID must be at least 1, got {cfg.OOD_GRID}")
    if not 0 <= cfg.OOD_RATE < 1:
        found.append(f"OOD_RATE must lie in [0, 1), got {cfg.OOD_RATE}")
    return found


def mc_text(cfg):
    """How a script's images are verified, in words, e.g. '5 to 100 MC passes each, stopping once settled'."""
    if cfg.MC_RULE == "fixed":
        return f"{cfg.MC_PASSES} MC passes each, {cfg.MC_PRECISION}"
    if cfg.MC_RULE == "one_pass":
        return f"one pass each, dropout off, ambiguous below top probability {cfg.ONE_PASS_CONFIDENCE}, " \
               f"{cfg.MC_PRECISION}"
    return (f"{min(cfg.MC_MIN_PASSES, cfg.MC_PASSES)} to {cfg.MC_PASSES} MC passes each, stopping once settled, "
            f"{cfg.MC_PRECISION}")


def ood_text(cfg):
    """The out-of-distribution verdict, in words."""
    if cfg.OOD_RATE == 0:
        return "No out-of-distribution verdict (OOD_RATE=0)."
    return (f"Out of distribution (OOD): the verifier's {cfg.OOD_LAYER} features on a {cfg.OOD_GRID}x{cfg.OOD_GRID} "
            f"grid are less typical of its training digits ({cfg.OOD_COVARIANCE}-covariance Gaussian per class) than "
            f"all but {cfg.OOD_RATE:.1%} of held-out real digits.")


def verdicts(model, images, density=None, confidence=None, ood_first=False, **mc):
    """The verifier's verdict on each image: ``mc_predict(model, images, **mc)`` and the
    ambiguity rule (with ``confidence``, the one-pass rule's) -> a dict of ``mean``, ``sd``
    (N, classes), ``passes`` (the passes each image got), ``top``, ``challenger`` and
    ``ambiguous`` (N,). With a ``density`` (see ``models.typicality.make_density``) also
    ``atypicality`` and ``out_of_distribution`` (N,): unlike any training digit, whatever
    the passes say. ``ood_first``: an image out of distribution gets no passes at all (0
    passes, ``top`` and ``challenger`` -1, ``mean`` and ``sd`` NaN, not ambiguous), for a
    caller that rejects it whatever they say (02: 13% of its passes went to such images). Where it
    can (``_one_trunk``), the layers before the first dropout run once, for the features and the passes."""
    images, verdict, trunk = np.asarray(images), {}, None
    if density is not None:
        if _one_trunk(model, density, len(images), mc):
            trunk = trunk_output(model, to_classifier_input(images), mc.get("batch", 512))
        verdict["atypicality"] = atypicality(features(density["features"], images, trunk=trunk), density)
        verdict["out_of_distribution"] = verdict["atypicality"] > density["threshold"]
    rows = ~verdict["out_of_distribution"] if ood_first and density is not None else np.ones(len(images), bool)
    mean, sd, passes = mc_predict(model, images[rows], trunk=None if trunk is None else trunk[rows], **mc)
    top, challenger, ambiguous = ambiguity(mean, sd, confidence)
    judged = {"mean": mean, "sd": sd, "passes": passes, "top": top, "challenger": challenger, "ambiguous": ambiguous}
    fills = {"mean": np.nan, "sd": np.nan, "passes": 0, "top": -1, "challenger": -1, "ambiguous": False}
    for name, values in judged.items():
        verdict[name] = np.full((len(images), *values.shape[1:]), fills[name], values.dtype)
        verdict[name][rows] = values
    return verdict


def _one_trunk(model, density, n, mc):
    """Can the density's features and the MC passes of ``n`` images start from one run of the layers
    before the first dropout? Where the passes run in float32 under the adaptive rule, the features
    come after that point, and the images fit one of ``mc_predict``'s blocks."""
    return (mc.get("rule") == "adaptive" and n <= IMAGES_PER_BLOCK and after_trunk(density["features"]) is not None
            and split_at_first_dropout(model)[0].output.dtype == "float32")


def mc_scores(model, images, labels, density=None, **mc):
    """02's verdicts on images of known class: ``accuracy`` of the MC mean, ``rejection_rate``
    (wrong class or, with a ``density``, out of distribution), ``ood_rate``, ``ambiguity_rate``
    (ambiguous among the accepted, as 02 counts it), ``mean_passes``; ``per_class``: the
    rejection, ambiguity and out-of-distribution rates of the images of each class (a list
    indexed by class; None where there are no images of the class)."""
    verdict = verdicts(model, images, density=density, **mc)
    ambiguous, labels = verdict["ambiguous"], np.asarray(labels)
    ood = verdict.get("out_of_distribution", np.zeros(len(labels), bool))
    accepted = (verdict["top"] == labels) & ~ood

    def rates(rows):
        return {"rejection_rate": float(1 - accepted[rows].mean()), "ood_rate": float(ood[rows].mean()),
                "ambiguity_rate": float((ambiguous & accepted)[rows].sum() / max(accepted[rows].sum(), 1))}

    return {"accuracy": float((verdict["top"] == labels).mean()), **rates(slice(None)),
            "mean_passes": float(verdict["passes"].mean()),
            "per_class": [rates(labels == k) if (labels == k).any() else None for k in range(verdict["mean"].shape[1])]}
