"""Per-digit generators that draw their latent noise wider than they were trained on.

Each of 01's generators gets a first layer that multiplies its noise by SCALE, so that 02
drawing z ~ N(0, 1) feeds it N(0, SCALE^2): more varied digits, more of them rejected by
the verifier. The wrapped generators are saved as a generator folder 02 reads
(--GENERATOR_DIR), each with a record naming its source file's hash and SCALE.

    python bench/wider_latent.py --SCALE=1.3 --OUTPUT_DIR=weights/class_gans_z1.3
    python 02_generate_and_verify.py --GENERATOR_DIR=weights/class_gans_z1.3 --OUTPUT_DIR=outputs/generated_z1.3
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models import config  # noqa: E402  (first of the models: it quiets TensorFlow's start-up logging)

import keras  # noqa: E402

from models import paths  # noqa: E402
from models.checkpoint import export_generator, load_generator  # noqa: E402
from models.config import UserError  # noqa: E402
from models.record import fingerprint  # noqa: E402

SCALE = 1.3  # the latent noise's SD as the wrapped generator sees it
GENERATOR_DIR = f"{paths.PRETRAINED_WEIGHTS}/class_gans"  # 01's generators (default: the shipped ones)
OUTPUT_DIR = "weights/class_gans_z1.3"


def wider(generator, scale):
    """``generator`` behind a layer that multiplies its noise by ``scale``."""
    z = keras.Input(generator.inputs[0].shape[1:], name="z")
    return keras.Model(z, generator(keras.layers.Rescaling(scale, name="latent_scale")(z)),
                       name=f"{generator.name}_z{scale}")


def main(**overrides):
    cfg = config.resolve(globals(), overrides)
    if cfg.SCALE <= 0:
        raise UserError(f"SCALE must be positive, got {cfg.SCALE}.")
    source, output = paths.resolve(cfg.GENERATOR_DIR), paths.resolve(cfg.OUTPUT_DIR)
    for k in range(10):
        path = paths.class_gan_generator(source, k)
        generator = load_generator(path, f"{paths.shown(path)} is missing: run 01 or name another GENERATOR_DIR.")
        export_generator(wider(generator, cfg.SCALE), paths.class_gan_generator(output, k),
                         {"constants": {"SCALE": cfg.SCALE}, "inputs": {"generator": fingerprint(path)}})
    print(f"ten generators drawing N(0, {cfg.SCALE}^2) noise in {paths.shown(output)}")


if __name__ == "__main__":
    config.run_main(main, globals())
