"""Train one conditional AC-GAN on MNIST, Fashion-MNIST or EMNIST letters.

The generator takes a class label and noise; the discriminator says real/fake and which
class. Rerun to resume from the last checkpoint. 02 uses the MNIST one with
--GENERATOR=acgan.

    python 03_train_acgan.py
    python 03_train_acgan.py --DATASET=fashion_mnist
    python 03_train_acgan.py --DATASET=emnist_letters --DATA_DIR=/path/to/emnist/gzip
"""

from models import config  # first: it quiets TensorFlow's C++ start-up logging before keras loads

import keras
import numpy as np

from models.acgan import ACGANObjective, build_acgan
from models.checkpoint import export_generator
from models.data import DATASETS, REPO_ROOT, load_dataset, to_gan_range
from models.gan_training import GANTrainer, epoch_reporter, fit, gan_constant_problems, generate_images

DATASET = "mnist"  # "mnist", "fashion_mnist" or "emnist_letters"
EPOCHS = 20  # passes over the training set
BATCH_SIZE = 64  # images per D step and per G step
LATENT_DIM = 100  # length of the generator's noise vector z
WIDTH = 64  # filters of D's first / G's last conv layer (the other has twice as many)
LEARNING_RATE = 2e-4  # Adam step size, both networks
BETA_1 = 0.5  # Adam first-moment decay
REAL_LABEL = 0.9  # one-sided label smoothing: D's target for real images
MAX_IMAGES = 0  # train on at most this many images (0 = all of them)
SAMPLE_EVERY = 2  # save a grid (one row per class) every this many epochs
CHECKPOINT_EVERY = 1  # write a resumable checkpoint every this many epochs
SEED = 4321  # weights, noise and shuffling
DATA_DIR = ""  # folder of the dataset's IDX gz files ("" = its default place)
WEIGHTS_DIR = "weights/acgan"  # {DATASET}/generator.weights.h5 (+ .json) and checkpoint.h5
OUTPUT_DIR = "outputs/acgan"  # {DATASET}/losses.csv, loss_curve.png, samples_epoch_NNN.png
VERBOSE = 1  # 1 = progress bar per epoch, 0 = silent

CLASS_NAMES = {
    "mnist": [str(d) for d in range(10)],
    "fashion_mnist": ["T-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"],
    "emnist_letters": [chr(ord("a") + i) for i in range(26)],
}


def check(cfg):
    """Reject impossible constants before any data is loaded."""
    config.reject(config.one_of(cfg, "DATASET", DATASETS) + gan_constant_problems(cfg))


def main(**overrides):
    cfg = config.resolve(globals(), overrides)
    check(cfg)
    weights_dir, output_dir = REPO_ROOT / cfg.WEIGHTS_DIR / cfg.DATASET, REPO_ROOT / cfg.OUTPUT_DIR / cfg.DATASET
    (x_train, y_train), _ = load_dataset(cfg.DATASET, cfg.DATA_DIR or None)
    x_train, y_train = x_train[: cfg.MAX_IMAGES or None], y_train[: cfg.MAX_IMAGES or None].astype("int32")
    n_classes = len(CLASS_NAMES[cfg.DATASET])

    keras.utils.set_random_seed(cfg.SEED)
    generator, discriminator = build_acgan(n_classes, cfg.LATENT_DIM, cfg.WIDTH)
    trainer = GANTrainer(generator, discriminator, ACGANObjective(cfg.REAL_LABEL), cfg.LEARNING_RATE, cfg.BETA_1)
    grid_z = np.random.default_rng(cfg.SEED).standard_normal((n_classes * 10, cfg.LATENT_DIM), dtype=np.float32)
    grid_labels = np.repeat(np.arange(n_classes, dtype="int32"), 10)
    title = f"AC-GAN {cfg.DATASET}"
    report = epoch_reporter(output_dir, title, lambda: generate_images(generator, grid_z, grid_labels),
                            cfg.SAMPLE_EVERY, cfg.EPOCHS, row_labels=CLASS_NAMES[cfg.DATASET])
    fit(trainer, to_gan_range(x_train), y_train, epochs=cfg.EPOCHS, batch_size=cfg.BATCH_SIZE, n_classes=n_classes,
        seed=cfg.SEED, checkpoint_path=weights_dir / "checkpoint.h5", checkpoint_every=cfg.CHECKPOINT_EVERY,
        on_epoch_end=report, name=f"{title} ", verbose=cfg.VERBOSE)
    export_generator(generator, weights_dir / "generator.weights.h5")
    print(f"generator in {weights_dir}, figures in {output_dir}")


if __name__ == "__main__":
    config.run_main(main, globals())
