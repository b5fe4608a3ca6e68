"""Where every script reads and writes: the one place that names weights and output files.

Folder constants (``WEIGHTS_DIR``, ``OUTPUT_DIR``, ...) are relative to the repository
unless absolute; the functions below name the files inside them.
"""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

CLASS_GANS_WEIGHTS = "weights/class_gans"  # 01 writes, 02 reads
CLASS_GANS_OUTPUT = "outputs/class_gans"
ACGAN_WEIGHTS = "weights/acgan"  # 03 writes {dataset}/ here, 02 reads mnist/
ACGAN_OUTPUT = "outputs/acgan"
VERIFIER_WEIGHTS = "weights"  # 02's verifier, 04's independent classifier
PRETRAINED_WEIGHTS = "weights/pretrained"  # the shipped copies (float16, in git), laid out as weights/
GENERATED_OUTPUT = {"class_gans": "outputs/generated", "acgan": "outputs/generated_acgan"}  # 02 writes, 04 reads
REPORT_OUTPUT = "outputs/report"
AMBIGUOUS_OUTPUT = "outputs/ambiguous"  # 05 writes, 04 reads
VERDICTS_OUTPUT = "outputs/verdicts"  # 07 --IMAGES=x.npz writes x/ here


def resolve(folder):
    """A folder constant as a path: relative ones are taken from the repository root."""
    return REPO_ROOT / folder


def shown(path):
    """``path`` relative to the repository when it lies inside it (messages and reports stay
    machine-independent)."""
    path = Path(path)
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def class_gan_generator(weights_dir, k):
    """Digit ``k``'s exported generator (``*.weights.h5``; its architecture beside it as ``.json``)."""
    return Path(weights_dir) / f"generator_{k}.weights.h5"


def class_gan_checkpoint(weights_dir, k):
    return Path(weights_dir) / "checkpoints" / f"digit_{k}.h5"


def class_gan_best(weights_dir, k):
    """Digit ``k``'s best generator so far, by 01's selection (``SELECT_EVERY``)."""
    return Path(weights_dir) / "checkpoints" / f"digit_{k}_best.weights.h5"


def acgan_generator(weights_dir, dataset):
    return Path(weights_dir) / dataset / "generator.weights.h5"


def acgan_checkpoint(weights_dir, dataset):
    return Path(weights_dir) / dataset / "checkpoint.h5"


def generator_files(generator, generator_dir, classes):
    """{class: weights file} that 02 draws from: 01's per-digit generators or 03's MNIST AC-GAN."""
    if generator == "acgan":
        return {k: resolve(generator_dir or f"{ACGAN_WEIGHTS}/mnist") / "generator.weights.h5" for k in classes}
    folder = resolve(generator_dir or CLASS_GANS_WEIGHTS)
    return {k: class_gan_generator(folder, k) for k in classes}


def shipped_generator_files(generator, shipped_dir, classes):
    """The shipped copies of ``generator_files(generator, "", classes)``: the same places under ``shipped_dir``."""
    defaults = generator_files(generator, "", classes)
    return {k: Path(shipped_dir) / path.relative_to(resolve(VERIFIER_WEIGHTS)) for k, path in defaults.items()}


def verifier(weights_dir, name):
    return Path(weights_dir) / f"verifier_{name}.weights.h5"


def independent_classifier(weights_dir, kind="cnn"):
    """04's independent judge ``kind``: "cnn" (the one 06 also reads) or "resnet"."""
    name = "independent_resnet" if kind == "resnet" else "independent_classifier"
    return Path(weights_dir) / f"{name}.weights.h5"


def generated_npz(output_dir):
    return Path(output_dir) / "generated.npz"
