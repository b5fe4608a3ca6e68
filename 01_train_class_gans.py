"""Train ten per-class DCGANs: one generator per MNIST digit, so every sample's label is
known by construction. Rerun to resume; a digit already trained with the same constants
is skipped, and a checkpoint made with other constants is refused (--RETRAIN=1 redoes it).

    python 01_train_class_gans.py                       # all ten digits, defaults
    python 01_train_class_gans.py --EPOCHS=5 --CLASSES=0,1
    python 01_train_class_gans.py --WORKERS=1             # one digit at a time, in this process
    python 01_train_class_gans.py --SELECT_EVERY=5        # export each digit's best epoch (models/selection.py)
"""

from models import config  # first: it quiets TensorFlow's C++ start-up logging before keras loads

import keras
import numpy as np

from models import paths
from models.checkpoint import export_generator, load_generator
from models.class_gans import digit_images, digit_record, negative_share, other_digits, problems
from models.data import load_dataset, to_gan_range, to_uint8
from models.device import devices, tune_for_device
from models.dcgan import build_discriminator, build_generator
from models.files import save_figure
from models.gan import GAN, generate_images
from models.gan_training import Diverged, fit
from models.plots import epoch_reporter, image_grid
from models.record import matches, without
from models.selection import chosen, epoch_scorer, noise, shipped_feature_model, statistics
from models.workers import run_each

# data
CLASSES = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9)  # digits to train, one GAN each
MAX_IMAGES = 0  # train on at most this many images per digit (0 = all of them; the negatives: always all)
DATA_DIR = ""  # folder of the MNIST IDX gz files ("" = data/mnist)
# model
LATENT_DIM = 100  # length of the generator's noise vector z
WIDTH = 32  # filters of D's first / G's last conv layer (the other has twice as many)
G_CONVS = 1  # 3x3 convolutions G adds at 7x7 and at 14x14 each (0 = DCGAN's two transposed convolutions only)
D_DROPOUT = 0.2  # dropout rate after each of D's conv layers
D_SPECTRAL_NORM = False  # divide each of D's kernels by its largest singular value (SNGAN's spectral normalisation)
D_MINIBATCH_STD = False  # give D the batch's variety as one more feature channel (ProGAN's minibatch SD)
# training
EPOCHS = 85  # passes over the digit's training images (about 6000 of them)
BATCH_SIZE = 32  # images per D step and per G step
LEARNING_RATE = 2e-4  # Adam step size, both networks
BETA_1 = 0.5  # Adam first-moment decay
LOSS = "least_squares"  # adversarial loss: "non_saturating" (cross-entropy), "least_squares" (LSGAN) or "hinge"
REAL_LABEL = 0.9  # one-sided label smoothing: D's target for real images (not with the hinge loss)
D_STEPS = 1  # D steps (each on a new real batch) per G step
R1_GAMMA = 0.0  # weight of the R1 penalty on D's slope at the real images (0 = none)
AUGMENT = ()  # DiffAugment: changes made alike to every image D sees, of "translation", "cutout" (() = none)
SEED = 1234  # digit k trains with seed SEED + k (weights, noise, batch order)
# negatives: other digits' real images shown to D as generated ones
NEGATIVE_SHARE = 0.0  # share of D's generated batch replaced by other digits' real images (0 = none)
NEGATIVE_DIGITS = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9)  # the digits whose D gets those negatives (the others: none)
NEGATIVE_FROM_EPOCH = 1  # the first epoch whose D steps get those negatives (1 = all of them)
# the exported generator
EMA_DECAY = 0.999  # exported G = moving average of G's weights, updated every G step (0 = G's last weights)
EMA_WARMUP = 10  # the average's decay at G step t is min(EMA_DECAY, (1 + t) / (EMA_WARMUP + t)); 1 = none
SELECT_EVERY = 0  # score the averaged G every this many epochs from SELECT_FROM (and at the last), by the FID of
# its draws in the verifier's features (models/selection.py), and export the best epoch's (0 = the last epoch's)
SELECT_FROM = 50  # the first epoch scored
SELECT_DRAWS = 2000  # draws per score, from noise fixed per digit
SELECT_LATENT_SCALE = 1.5  # the latent scale of those draws: 02's LATENT_SCALE (1 = the noise G was trained on)
# output
WEIGHTS_DIR = paths.CLASS_GANS_WEIGHTS  # generator_{k}.weights.h5 (+ .json) and checkpoints/
OUTPUT_DIR = paths.CLASS_GANS_OUTPUT  # per-digit CSV, loss curves, sample grids
SAMPLE_EVERY = 5  # redraw the sample grid and loss curve every this many epochs (and at the last)
CHECKPOINT_EVERY = 1  # write a resumable checkpoint every this many epochs
RETRAIN = False  # train from scratch even where a checkpoint or generator of these digits exists
VERBOSE = 1  # 1 = progress bar per epoch, 2 = one line per epoch (what workers print), 0 = silent
# speed
WORKERS = 0  # digits trained at once, each in a process (1 = one after another, here; 0 = one per core, 10 on GPUs)
STEPS_PER_CALL = 8  # training steps per compiled call (more: fewer calls, the same updates)


def is_trained(k, images, negatives, cfg, weights_dir):
    """Whether digit ``k``'s generator was trained with these constants and images (then it is skipped)."""
    generator_file = paths.class_gan_generator(weights_dir, k)
    if not cfg.RETRAIN and matches(generator_file, digit_record(k, images, negatives, cfg)):
        print(f"digit {k}: {paths.shown(generator_file)} was trained with these constants, skipping")
        return True
    return False


def train_digit(k, images, negatives, cfg, weights_dir, output_dir):
    """Train (or resume) the GAN of digit ``k`` and export its generator."""
    record = digit_record(k, images, negatives, cfg)
    keras.utils.set_random_seed(cfg.SEED + k)
    gan = GAN(build_generator(cfg.LATENT_DIM, cfg.WIDTH, f"generator_{k}", cfg.G_CONVS),
              build_discriminator(cfg.WIDTH, cfg.D_DROPOUT, f"discriminator_{k}", cfg.D_MINIBATCH_STD,
                                  cfg.D_SPECTRAL_NORM),
              cfg.LEARNING_RATE, cfg.BETA_1, cfg.REAL_LABEL, cfg.EMA_DECAY, cfg.EMA_WARMUP, cfg.LOSS, cfg.D_STEPS,
              negative_share=negative_share(k, cfg), augment=cfg.AUGMENT, r1_gamma=cfg.R1_GAMMA)
    fixed_z = np.random.default_rng(cfg.SEED).standard_normal((50, cfg.LATENT_DIM), dtype=np.float32)

    def samples():  # what the exported generator would draw now
        return to_uint8(generate_images(gan.averaged_generator(), fixed_z))

    report = epoch_reporter(output_dir / f"digit_{k}", f"digit {k}", samples, cfg.SAMPLE_EVERY, cfg.EPOCHS)
    checkpoint_path, checkpoint_record = paths.class_gan_checkpoint(weights_dir, k), without(record, "EPOCHS")
    best_path = paths.class_gan_best(weights_dir, k)
    if cfg.SELECT_EVERY:  # score the averaged G's draws at the scored epochs, and keep the best
        extractor, _ = shipped_feature_model()
        score = epoch_scorer(gan.averaged_generator, noise(cfg.SEED, k, cfg.SELECT_DRAWS, cfg.LATENT_DIM,
                                                           cfg.SELECT_LATENT_SCALE),
                             extractor, statistics(extractor, to_uint8(images)), best_path, checkpoint_record,
                             cfg.SELECT_FROM, cfg.SELECT_EVERY, cfg.EPOCHS)

    def on_epoch_end(epoch, history):
        if cfg.SELECT_EVERY:
            score(epoch, history)
        report(epoch, history)

    history = fit(gan, images, epochs=cfg.EPOCHS, batch_size=cfg.BATCH_SIZE, seed=cfg.SEED + k,
                  checkpoint_path=checkpoint_path, record=checkpoint_record, retrain=cfg.RETRAIN,
                  checkpoint_every=cfg.CHECKPOINT_EVERY, on_epoch_end=on_epoch_end, name=f"digit {k}",
                  verbose=cfg.VERBOSE, negatives=None if negatives is None else to_gan_range(negatives),
                  negatives_from_epoch=cfg.NEGATIVE_FROM_EPOCH, steps_per_call=cfg.STEPS_PER_CALL)
    generator = gan.averaged_generator()
    if cfg.SELECT_EVERY:
        generator, epoch, fid = chosen(generator, history, best_path, checkpoint_record)
        record = {**record, "selected": {"epoch": epoch, "fid": fid}}
        if cfg.VERBOSE:
            print(f"digit {k}: exporting epoch {epoch}'s generator, the lowest FID of those scored ({fid:.4f})")
    export_generator(generator, paths.class_gan_generator(weights_dir, k), record)


def save_overview(weights_dir, output_dir, seed):
    """One PNG: a row of samples from every digit whose generator exists."""
    rows, digits = [], []
    for k in range(10):
        path = paths.class_gan_generator(weights_dir, k)
        if path.is_file():
            generator = load_generator(path, "run 01_train_class_gans.py")
            z = np.random.default_rng(seed).standard_normal((10, generator.inputs[0].shape[-1]), dtype=np.float32)
            rows.append(to_uint8(generate_images(generator, z)))
            digits.append(k)
    if rows:
        save_figure(image_grid(np.concatenate(rows), row_labels=digits, title="one generator per digit"),
                    output_dir / "all_digits.png")


def main(**overrides):
    cfg = config.resolve(globals(), overrides)
    config.reject(problems(cfg))
    kind, count = devices()
    tune_for_device(cfg, "WORKERS", found=(kind, count))
    weights_dir, output_dir = paths.resolve(cfg.WEIGHTS_DIR), paths.resolve(cfg.OUTPUT_DIR)
    (x_train, y_train), _ = load_dataset("mnist", cfg.DATA_DIR or None)
    images = {k: digit_images(x_train, y_train, k, cfg) for k in cfg.CLASSES}
    to_train = [k for k in cfg.CLASSES
                if not is_trained(k, images[k], other_digits(x_train, y_train, k, cfg), cfg, weights_dir)]
    failed = []
    if cfg.WORKERS > 1 and len(to_train) > 1:  # each digit by this script, in a process of its own
        constants = {**vars(cfg), "WORKERS": 1, "VERBOSE": min(cfg.VERBOSE, 1) * 2}
        failed = run_each(__file__, constants, "CLASSES", to_train, cfg.WORKERS, gpus=count * (kind == "gpu"))
    else:
        for k in to_train:
            try:
                train_digit(k, images[k], other_digits(x_train, y_train, k, cfg), cfg, weights_dir, output_dir)
            except Diverged as err:  # say so, and go on with the other digits
                print(f"error: {err}")
                failed.append(k)
    save_overview(weights_dir, output_dir, cfg.SEED)
    if failed:
        raise Diverged(f"digit{'s' if len(failed) > 1 else ''} {', '.join(map(str, failed))} stopped with "
                       "the error above and exported no generator.")
    print(f"generators in {paths.shown(weights_dir)}, figures in {paths.shown(output_dir)}")


if __name__ == "__main__":
    config.run_main(main, globals())
