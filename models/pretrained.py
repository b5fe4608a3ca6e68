"""The shipped weights: float16 copies of trained weights in weights/pretrained/, each file's
SHA256 in its MANIFEST.json, so a fresh clone can draw and verify digits without training.

The folder mirrors weights/ (``class_gans/generator_{k}.weights.h5``, ``acgan/mnist/...``,
``verifier_default.weights.h5``, and the light verifier ``verifier_light.weights.h5`` that
``--VERIFIER=light`` selects, 04's two judges ``independent_classifier.weights.h5`` and
``independent_resnet.weights.h5``, each with its
``.json``). ``choose`` picks a file trained here or its shipped copy; a shipped file is
used only after it and its ``.json`` match their SHA256 in the manifest. ``python -m models.pretrained`` ships
the weights trained here at the default places (maintainers, once the defaults are final).
The verifier's density (``verifier_default.density.npz``, see ``models.typicality``) and its
floors, its verdicts on the real test digits under the settings a CPU run at the defaults uses
(``verifier_default.floors.json``, one per precision), are measured on the shipped float16
verifier itself: 02, 05 or 07 on the shipped weights writes what is not shipped yet to
weights/shipped/; ``python -m models.pretrained --density`` or ``--floors`` ships it.
"""

import hashlib
import json
import sys
from pathlib import Path

import h5py
import numpy as np

from models import defaults, paths
from models.config import UserError
from models.files import atomic_path, write_json

MANIFEST = "MANIFEST.json"
SHIPPED_VERIFIERS = ("default", "light")  # the verifiers weights/pretrained holds
SOURCES = {"auto": "weights trained here where they exist, else the shipped ones",
           "shipped": "only the shipped weights", "trained": "only weights trained here (train what is missing)"}


def choose(trained, shipped, source, usable=lambda path: True):
    """``(path, "trained here" | "shipped")`` for one weights file: ``trained`` (where this
    repo trains it) or ``shipped`` (its copy in weights/pretrained/), per ``source`` (a key
    of SOURCES). "auto" takes the trained file when it exists, else the shipped copy when it
    is in its manifest and ``usable(copy)`` (e.g. made with the constants in force), else
    ``trained`` (to be trained). A shipped copy is checked against the manifest first, also where
    ``trained`` itself lies in a shipped tree (e.g. GENERATOR_DIR=weights/pretrained/class_gans)."""
    trained, shipped = Path(trained), Path(shipped)
    if source != "trained" and _listed(trained):
        check(trained)
        return trained, "shipped"
    if source == "trained" or (source == "auto" and (trained.is_file() or not _listed(shipped))):
        return trained, "trained here"
    check(shipped)
    if source == "auto" and not usable(shipped):
        return trained, "trained here"
    return shipped, "shipped"


def check(path, *also):
    """Raise a UserError unless ``path`` (a shipped ``*.weights.h5``), its ``.json`` and the files
    ``also`` (e.g. its density) are in the manifest of the folder above them and match their SHA256 there."""
    path = Path(path)
    manifest_path = _manifest_of(path)
    if manifest_path is None:
        raise UserError(f"{paths.shown(path)} has no {MANIFEST} in a folder above it: restore the shipped "
                        f"weights with `git checkout -- {paths.PRETRAINED_WEIGHTS}`.")
    root, listed = manifest_path.parent, json.loads(manifest_path.read_text())
    for file in (path, sidecar(path), *map(Path, also)):
        name = file.relative_to(root).as_posix()
        if name not in listed:
            raise UserError(f"{paths.shown(file)} is not listed in {paths.shown(manifest_path)}: restore the "
                            f"shipped weights with `git checkout -- {paths.shown(root)}`.")
        if not file.is_file() or sha256(file) != listed[name]:
            raise UserError(f"{paths.shown(file)} is missing or damaged (its SHA256 does not match "
                            f"{paths.shown(manifest_path)}): restore it with `git checkout -- {paths.shown(file)}`.")


def ship(weights_files, from_dir, to_dir):
    """Copy each ``*.weights.h5`` (a path under ``from_dir``) with float32 arrays stored as
    float16 and without optimizer state (nothing trains on from a shipped file), and its
    ``.json`` beside it, to the same place under ``to_dir``; then rewrite ``to_dir``'s
    manifest with the SHA256 of every file it lists."""
    to_dir = Path(to_dir)
    manifest_path = to_dir / MANIFEST
    listed = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    for source in map(Path, weights_files):
        target = to_dir / source.relative_to(from_dir)
        float16_copy(source, target)
        sidecar(target).write_bytes(sidecar(source).read_bytes())
        for file in (target, sidecar(target)):
            listed[file.relative_to(to_dir).as_posix()] = sha256(file)
            print(f"shipped {paths.shown(file)} ({file.stat().st_size / 1e6:.2f} MB)")
    write_json(manifest_path, dict(sorted(listed.items())))


def ship_measured(source, to_dir):
    """Copy a file measured on the shipped verifier by 02, 05 or 07 (its density; its floors, added to
    those shipped, a floor measured with the same settings replaced) beside it in ``to_dir`` and
    list it in the manifest."""
    if not source.is_file():
        sys.exit(f"Missing {paths.shown(source)}: run 02_generate_and_verify.py or 07_verify_your_images.py on the "
                 "shipped verifier with the settings to ship first.")
    target = Path(to_dir) / source.name
    if source.name.endswith(".floors.json") and target.is_file() and target.resolve() != source.resolve():
        new = json.loads(source.read_text())
        replaced = [info["measured_with"] for info in new]
        write_json(target, [info for info in json.loads(target.read_text()) if info["measured_with"] not in replaced]
                   + new)
    else:
        target.write_bytes(source.read_bytes())
    manifest_path = Path(to_dir) / MANIFEST
    listed = {**json.loads(manifest_path.read_text()), target.name: sha256(target)}
    write_json(manifest_path, dict(sorted(listed.items())))
    print(f"shipped {paths.shown(target)} ({target.stat().st_size / 1e6:.2f} MB)")


def sidecar(weights_file):
    """The ``.json`` beside a ``*.weights.h5``: a generator's architecture, a classifier's record and scores."""
    weights_file = Path(weights_file)
    return weights_file.with_name(weights_file.name.removesuffix(".weights.h5") + ".json")


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def float16_copy(source, target):
    """``source`` (a Keras weights file) with every float32 array as float16 (gzipped),
    attributes kept, and its optimizer group (Adam's moments: twice the weights) left out."""
    with atomic_path(target) as tmp, h5py.File(source, "r") as f, h5py.File(tmp, "w") as g:
        def copy(name, item):
            if name.split("/")[0] == "optimizer":
                return
            if isinstance(item, h5py.Dataset):
                data = item[()]
                data = data.astype(np.float16) if data.dtype == np.float32 else data
                g.create_dataset(name, data=data, **({"compression": "gzip", "shuffle": True} if data.ndim else {}))
            else:
                g.require_group(name)
            g[name].attrs.update(item.attrs)

        g.attrs.update(f.attrs)
        f.visititems(copy)


def _listed(path):
    manifest_path = _manifest_of(path)
    return manifest_path is not None and path.relative_to(manifest_path.parent).as_posix() in json.loads(
        manifest_path.read_text())


def _manifest_of(path):
    """The manifest of the shipped tree ``path`` lies in: the nearest MANIFEST.json above it."""
    for folder in Path(path).parents:
        if (folder / MANIFEST).is_file():
            return folder / MANIFEST
    return None


def main(args=None):
    """Ship the weights trained here at the default places (run once the defaults are final);
    with arguments, only those files (``python -m models.pretrained weights/class_gans/*.weights.h5``)."""
    args = sys.argv[1:] if args is None else args
    measured = {"--density": "density.npz", "--floors": "floors.json"}
    if len(args) == 1 and args[0] in measured:  # of each shipped verifier measured here (02's, if none is)
        sources = [paths.resolve(paths.VERIFIER_WEIGHTS) / "shipped" / f"verifier_{name}.{measured[args[0]]}"
                   for name in SHIPPED_VERIFIERS]
        for source in [f for f in sources if f.is_file()] or [sources[SHIPPED_VERIFIERS.index(defaults.VERIFIER)]]:
            ship_measured(source, paths.resolve(paths.PRETRAINED_WEIGHTS))  # (a missing file: says what to run)
        return None
    weights = paths.resolve(paths.VERIFIER_WEIGHTS)
    files = [paths.class_gan_generator(paths.resolve(paths.CLASS_GANS_WEIGHTS), k) for k in range(10)]
    files += [paths.acgan_generator(paths.resolve(paths.ACGAN_WEIGHTS), "mnist"),
              paths.verifier(weights, defaults.VERIFIER), paths.independent_classifier(weights),
              paths.independent_classifier(weights, "resnet")]
    chosen = [paths.resolve(a) for a in args]
    if any(f not in files for f in chosen):
        sys.exit(f"Only these can be shipped: {', '.join(paths.shown(f) for f in files)}.")
    files = chosen or files
    missing = [paths.shown(f) for f in files if not f.is_file()]
    if missing:
        sys.exit(f"Missing {', '.join(missing)}: train them with 01-04 at their defaults first.")
    ship(files, weights, paths.resolve(paths.PRETRAINED_WEIGHTS))


if __name__ == "__main__":
    main()
