"""Train ten per-class DCGANs: one generator per MNIST digit, so every sample's label is
known by construction. Rerun to resume; finished digits are skipped.

    python 01_train_class_gans.py                       # all ten digits, defaults
    python 01_train_class_gans.py --EPOCHS=5 --CLASSES=0,1
"""

from models import config  # first: it quiets TensorFlow's C++ start-up logging before keras loads

import keras
import numpy as np

from models.checkpoint import checkpoint_epoch, export_generator, load_generator
from models.data import REPO_ROOT, load_dataset, select_class, to_gan_range, to_uint8
from models.dcgan import DCGANObjective, build_discriminator, build_generator
from models.files import save_figure
from models.gan_training import GANTrainer, epoch_reporter, fit, gan_constant_problems, generate_images
from models.plots import image_grid

CLASSES = tuple(range(10))  # digits to train, one GAN each
EPOCHS = 30  # passes over one digit's ~6000 training images
BATCH_SIZE = 64  # images per D step and per G step
LATENT_DIM = 100  # length of the generator's noise vector z
WIDTH = 64  # filters of D's first / G's last conv layer (the other has twice as many)
LEARNING_RATE = 2e-4  # Adam step size, both networks
BETA_1 = 0.5  # Adam first-moment decay (the DCGAN paper's value)
REAL_LABEL = 0.9  # one-sided label smoothing: D's target for real images
MAX_IMAGES = 0  # train on at most this many images per digit (0 = all of them)
SAMPLE_EVERY = 5  # save a sample grid every this many epochs
CHECKPOINT_EVERY = 1  # write a resumable checkpoint every this many epochs
SEED = 1234  # digit k trains with seed SEED + k
DATA_DIR = ""  # folder of the MNIST IDX gz files ("" = data/mnist)
WEIGHTS_DIR = "weights/class_gans"  # generator_{k}.weights.h5 (+ .json) and checkpoints/
OUTPUT_DIR = "outputs/class_gans"  # per-digit CSV, loss curves, sample grids
VERBOSE = 1  # 1 = progress bar per epoch, 0 = silent


def check(cfg):
    """Reject impossible constants before any data is loaded."""
    config.reject(config.distinct_digits(cfg) + gan_constant_problems(cfg))


def generator_path(weights_dir, k):
    """Where 02 finds digit k's generator (``*.weights.h5``, architecture beside it as ``.json``)."""
    return weights_dir / f"generator_{k}.weights.h5"


def train_digit(k, images, cfg, weights_dir, output_dir):
    """Train (or resume) the GAN of digit ``k`` and export its generator."""
    keras.utils.set_random_seed(cfg.SEED + k)
    generator = build_generator(cfg.LATENT_DIM, cfg.WIDTH, name=f"generator_{k}")
    discriminator = build_discriminator(cfg.WIDTH, name=f"discriminator_{k}")
    trainer = GANTrainer(generator, discriminator, DCGANObjective(cfg.REAL_LABEL), cfg.LEARNING_RATE, cfg.BETA_1)
    fixed_z = np.random.default_rng(cfg.SEED).standard_normal((50, cfg.LATENT_DIM), dtype=np.float32)
    report = epoch_reporter(output_dir / f"digit_{k}", f"digit {k}", lambda: generate_images(generator, fixed_z),
                            cfg.SAMPLE_EVERY, cfg.EPOCHS)
    labels = np.full(len(images), k, dtype="int32")
    fit(trainer, images, labels, epochs=cfg.EPOCHS, batch_size=cfg.BATCH_SIZE, n_classes=10, seed=cfg.SEED + k,
        checkpoint_path=weights_dir / "checkpoints" / f"digit_{k}.h5", checkpoint_every=cfg.CHECKPOINT_EVERY,
        on_epoch_end=report, name=f"digit {k} ", verbose=cfg.VERBOSE)
    export_generator(generator, generator_path(weights_dir, k))


def save_overview(weights_dir, output_dir, seed):
    """One PNG: a row of samples from every digit whose generator exists."""
    rows, digits = [], []
    for k in range(10):
        if generator_path(weights_dir, k).is_file():
            generator = load_generator(generator_path(weights_dir, k), "run 01_train_class_gans.py")
            z = np.random.default_rng(seed).standard_normal((10, generator.inputs[0].shape[-1]), dtype=np.float32)
            rows.append(to_uint8(generate_images(generator, z)))
            digits.append(k)
    save_figure(image_grid(np.concatenate(rows), row_labels=digits, title="one generator per digit"),
                output_dir / "all_digits.png")


def main(**overrides):
    cfg = config.resolve(globals(), overrides)
    check(cfg)
    weights_dir, output_dir = REPO_ROOT / cfg.WEIGHTS_DIR, REPO_ROOT / cfg.OUTPUT_DIR
    (x_train, y_train), _ = load_dataset("mnist", cfg.DATA_DIR or None)
    for k in cfg.CLASSES:
        checkpoint = weights_dir / "checkpoints" / f"digit_{k}.h5"
        if checkpoint_epoch(checkpoint) >= cfg.EPOCHS and generator_path(weights_dir, k).is_file():
            print(f"digit {k}: already trained for {cfg.EPOCHS} epochs, skipping")
            continue
        images = select_class(x_train, y_train, k)[: cfg.MAX_IMAGES or None]
        train_digit(k, to_gan_range(images), cfg, weights_dir, output_dir)
    save_overview(weights_dir, output_dir, cfg.SEED)
    print(f"generators in {weights_dir}, figures in {output_dir}")


if __name__ == "__main__":
    config.run_main(main, globals())
