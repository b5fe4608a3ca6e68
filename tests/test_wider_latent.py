"""bench/wider_latent.py: a shipped generator behind a latent scale draws what it draws from scaled noise."""

import sys

import numpy as np
import pytest

from models import paths
from models.checkpoint import load_generator
from models.config import UserError
from models.gan import generate_images

from conftest import REPO

sys.path.insert(0, str(REPO / "bench"))
import wider_latent  # noqa: E402


def test_the_wrapped_generator_sees_scaled_noise(tmp_path):
    shipped = paths.resolve(paths.PRETRAINED_WEIGHTS) / "class_gans"
    wider_latent.main(SCALE=2.0, GENERATOR_DIR=str(shipped), OUTPUT_DIR=str(tmp_path))
    wrapped = load_generator(paths.class_gan_generator(tmp_path, 7), "")
    original = load_generator(paths.class_gan_generator(shipped, 7), "")
    z = np.random.default_rng(0).standard_normal((3, original.inputs[0].shape[-1])).astype("float32")
    labels = np.full(3, 7, "int32")
    np.testing.assert_allclose(generate_images(wrapped, z, labels), generate_images(original, 2 * z, labels),
                               atol=1e-6)
    assert not np.allclose(generate_images(wrapped, z, labels), generate_images(original, z, labels), atol=1e-2)
    with pytest.raises(UserError, match="SCALE must be positive"):
        wider_latent.main(SCALE=0.0, OUTPUT_DIR=str(tmp_path))
