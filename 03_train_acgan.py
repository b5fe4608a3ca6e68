"""Train one conditional AC-GAN on MNIST, Fashion-MNIST or EMNIST letters.

The generator takes a class label and noise; the discriminator says real/fake and which
class. Rerun to resume from the last checkpoint; a generator already trained with the
same constants is kept, and a checkpoint made with other constants is refused
(--RETRAIN=1 redoes it). 02 uses the MNIST one with --GENERATOR=acgan.

    python 03_train_acgan.py
    python 03_train_acgan.py --DATASET=fashion_mnist
    python 03_train_acgan.py --DATASET=emnist_letters --DATA_DIR=/path/to/emnist/gzip
"""

from models import config  # first: it quiets TensorFlow's C++ start-up logging before keras loads

import keras
import numpy as np

from models import paths
from models.acgan import build_acgan
from models.checkpoint import export_generator
from models.data import DATASETS, load_dataset, to_gan_range, to_uint8
from models.device import tune_for_device
from models.gan import GAN, LOSSES, generate_images
from models.gan_training import fit
from models.plots import epoch_reporter
from models.record import make_record, matches, without

# data
DATASET = "mnist"  # "mnist", "fashion_mnist" or "emnist_letters"
MAX_IMAGES = 0  # train on at most this many images (0 = all of them)
DATA_DIR = ""  # folder of the dataset's IDX gz files ("" = its default place)
# model
LATENT_DIM = 100  # length of the generator's noise vector z
WIDTH = 64  # filters of G's last conv layer (its first has twice as many)
D_WIDTH = 64  # filters of D's first conv layer (its second has twice as many)
D_DROPOUT = 0.2  # dropout rate after each of D's conv layers
D_MINIBATCH_STD = False  # give D each batch's variety as one more feature channel (against G drawing few kinds)
# training
EPOCHS = 18  # passes over the training set
BATCH_SIZE = 32  # images per D step and per G step
LEARNING_RATE = 2e-4  # Adam step size, both networks
BETA_1 = 0.5  # Adam first-moment decay
LOSS = "least_squares"  # adversarial loss: "non_saturating" (cross-entropy) or "least_squares" (LSGAN)
REAL_LABEL = 0.9  # one-sided label smoothing: D's target for real images
D_STEPS = 1  # D steps (each on a new real batch) per G step
SEED = 4321  # weights, noise and shuffling
# the class heads and their losses
TWIN_CLASSIFIER = True  # TAC-GAN: D's class head learns real images, a twin head generated ones; G's class loss is
#                         the first's minus the twin's (against AC-GAN's pull to the most classifiable images)
G_CLASS_WEIGHT = 1.0  # weight of G's auxiliary class loss (below 1: less pull towards the most classifiable digit)
CLASS_SMOOTHING = 0.2  # D's class heads learn 1 - s on the label, s spread over all classes: capped below
#                         certainty, the twin's term keeps a gradient
# the exported generator
EMA_DECAY = 0.999  # exported G = moving average of G's weights, updated every G step (0 = G's last weights)
EMA_WARMUP = 10  # the average's decay at G step t is min(EMA_DECAY, (1 + t) / (EMA_WARMUP + t)); 1 = none
# output
WEIGHTS_DIR = paths.ACGAN_WEIGHTS  # {DATASET}/generator.weights.h5 (+ .json) and checkpoint.h5
OUTPUT_DIR = paths.ACGAN_OUTPUT  # {DATASET}/losses.csv, loss_curve.png, samples_epoch_NNN.png
SAMPLE_EVERY = 2  # redraw the sample grid (a row per class) and loss curve every this many epochs and at the last
CHECKPOINT_EVERY = 1  # write a resumable checkpoint every this many epochs
RETRAIN = False  # train from scratch even where a checkpoint or generator for DATASET exists
VERBOSE = 1  # 1 = progress bar per epoch, 2 = one line per epoch, 0 = silent
# speed
STEPS_PER_CALL = 8  # training steps per compiled call (more: fewer calls, the same updates)

CLASS_NAMES = {
    "mnist": [str(d) for d in range(10)],
    "fashion_mnist": ["T-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"],
    "emnist_letters": [chr(ord("a") + i) for i in range(26)],
}


def check(cfg):
    """Reject impossible constants before any data is loaded."""
    config.reject(config.one_of(cfg, "DATASET", DATASETS)
                  + config.at_least_one(cfg, "EPOCHS", "BATCH_SIZE", "LATENT_DIM", "WIDTH", "D_WIDTH", "D_STEPS",
                                        "EMA_WARMUP", "SAMPLE_EVERY", "CHECKPOINT_EVERY",
                                        "STEPS_PER_CALL")
                  + config.in_range(cfg, "REAL_LABEL", 0, 1, low_open=True)
                  + config.in_range(cfg, "EMA_DECAY", 0, 1, high_open=True)
                  + config.in_range(cfg, "D_DROPOUT", 0, 1, high_open=True)
                  + config.in_range(cfg, "G_CLASS_WEIGHT", 0, 10)
                  + config.in_range(cfg, "CLASS_SMOOTHING", 0, 1, high_open=True)
                  + config.one_of(cfg, "LOSS", LOSSES)
                  + config.zero_or_at_least(cfg, "MAX_IMAGES", "BATCH_SIZE"))


def main(**overrides):
    cfg = config.resolve(globals(), overrides)
    check(cfg)
    tune_for_device(cfg)  # nothing to choose here: the device, printed
    weights_dir, output_dir = paths.resolve(cfg.WEIGHTS_DIR), paths.resolve(cfg.OUTPUT_DIR) / cfg.DATASET
    (x_train, y_train), _ = load_dataset(cfg.DATASET, cfg.DATA_DIR or None)
    x_train, y_train = x_train[: cfg.MAX_IMAGES or None], y_train[: cfg.MAX_IMAGES or None].astype("int32")
    record = make_record(cfg, inputs={"training images": x_train, "training labels": y_train})
    generator_file = paths.acgan_generator(weights_dir, cfg.DATASET)
    if not cfg.RETRAIN and matches(generator_file, record):
        print(f"{paths.shown(generator_file)} was trained with these constants: nothing to do")
        return

    keras.utils.set_random_seed(cfg.SEED)
    n_classes = len(CLASS_NAMES[cfg.DATASET])
    networks = build_acgan(n_classes, cfg.LATENT_DIM, cfg.WIDTH, cfg.D_DROPOUT, cfg.D_MINIBATCH_STD, cfg.D_WIDTH,
                           cfg.TWIN_CLASSIFIER)
    gan = GAN(*networks, cfg.LEARNING_RATE, cfg.BETA_1, cfg.REAL_LABEL, cfg.EMA_DECAY, cfg.EMA_WARMUP, cfg.LOSS,
              cfg.D_STEPS, cfg.G_CLASS_WEIGHT, class_smoothing=cfg.CLASS_SMOOTHING)
    grid_z = np.random.default_rng(cfg.SEED).standard_normal((n_classes * 10, cfg.LATENT_DIM), dtype=np.float32)
    grid_labels = np.repeat(np.arange(n_classes, dtype="int32"), 10)
    title = f"AC-GAN {cfg.DATASET}"

    def samples():  # what the exported generator would draw now
        return to_uint8(generate_images(gan.averaged_generator(), grid_z, grid_labels))

    report = epoch_reporter(output_dir, title, samples, cfg.SAMPLE_EVERY, cfg.EPOCHS,
                            row_labels=CLASS_NAMES[cfg.DATASET])
    fit(gan, to_gan_range(x_train), y_train, epochs=cfg.EPOCHS, batch_size=cfg.BATCH_SIZE, seed=cfg.SEED,
        checkpoint_path=paths.acgan_checkpoint(weights_dir, cfg.DATASET), record=without(record, "EPOCHS"),
        retrain=cfg.RETRAIN, checkpoint_every=cfg.CHECKPOINT_EVERY, on_epoch_end=report, name=title,
        verbose=cfg.VERBOSE, steps_per_call=cfg.STEPS_PER_CALL)
    export_generator(gan.averaged_generator(), generator_file, record)
    print(f"generator in {paths.shown(generator_file.parent)}, figures in {paths.shown(output_dir)}")


if __name__ == "__main__":
    config.run_main(main, globals())
