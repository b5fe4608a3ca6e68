"""The shared GAN step and loop on tiny real Keras models (runs on every backend)."""

import keras
import numpy as np
import pytest

from models.acgan import build_acgan
from models.checkpoint import export_generator, load_checkpoint, load_generator, save_checkpoint
from models.config import UserError
from models.data import to_gan_range
from models.augment import CUTOUT, KINDS, augment
from models.dcgan import MinibatchStd, build_discriminator, build_generator, spectral_kernel
from models.gan import GAN, generate_images
from models.gan_training import Diverged, divergence, fit, run_epoch
from models.plots import epoch_reporter
from models.record import read_record
from models.update import input_gradient

RECORD = {"constants": {"WIDTH": 4}, "inputs": {}}


def make_gan(seed=0, latent_dim=8, width=4, kind="dcgan", ema_decay=0.9, d_options=None, **options):
    keras.utils.set_random_seed(seed)
    if kind == "acgan":
        networks = build_acgan(10, latent_dim, width)
    else:
        networks = build_generator(latent_dim, width), build_discriminator(width, **d_options or {})
    return GAN(*networks, ema_decay=ema_decay, **options)


def snapshot(variables):
    return [keras.ops.convert_to_numpy(v).copy() for v in variables]


def changed(before, variables):
    return [not np.array_equal(b, a) for b, a in zip(before, snapshot(variables))]


def test_model_shapes_and_ranges():
    generator, discriminator = build_generator(100, 8), build_discriminator(8)
    z = np.random.default_rng(0).standard_normal((5, 100)).astype("float32")
    images = generate_images(generator, z)
    assert images.shape == (5, 28, 28, 1) and images.dtype == np.float32
    assert images.min() >= -1 and images.max() <= 1
    assert keras.ops.convert_to_numpy(discriminator(images)).shape == (5, 1)


STRONGER = dict(d_options={"spectral_norm": True, "minibatch_std": True}, loss="hinge", r1_gamma=1.0,
                augment=("translation", "cutout"))  # every lever of 01's recipe study at once


@pytest.mark.parametrize("kind, options", [("dcgan", {}), ("acgan", {}), ("dcgan", STRONGER)])
def test_d_step_moves_d_only_and_g_step_moves_g_only(tiny_real, kind, options):
    gan = make_gan(kind=kind, **options)
    g, d = gan.generator, gan.discriminator
    rng = np.random.default_rng(1)
    real, labels = tiny_real
    labels = labels if gan.conditional else None

    g_before, d_before = snapshot(g.trainable_variables), snapshot(d.trainable_variables)
    gan.d_update(*gan.step_inputs(real, labels, rng)[0])
    assert all(changed(d_before, d.trainable_variables)), "every D weight should move in a D step"
    assert not any(changed(g_before, g.trainable_variables)), "no G weight may move in a D step"

    g_before, d_before = snapshot(g.trainable_variables), snapshot(d.trainable_variables)
    gan.g_update(*gan.step_inputs(real, labels, rng)[1])
    assert all(changed(g_before, g.trainable_variables)), "every G weight should move in a G step"
    assert not any(changed(d_before, d.trainable_variables)), "no D weight may move in a G step"


def one_step_metrics(gan, real, labels, rng):
    gan.reset_metrics()
    gan.train_step(real, labels, rng)
    return gan.metrics()


def test_metrics_accumulate_on_the_device_as_running_means(tiny_real):
    real, _ = tiny_real
    steps = [one_step_metrics(make_gan(seed=3), real, None, np.random.default_rng(4))]
    gan, rng = make_gan(seed=3), np.random.default_rng(4)
    gan.train_step(real, None, rng)
    steps.append(one_step_metrics(gan, real, None, rng))
    gan, rng = make_gan(seed=3), np.random.default_rng(4)
    for _ in range(2):
        gan.train_step(real, None, rng)
    for name, value in gan.metrics().items():
        np.testing.assert_allclose(value, (steps[0][name] + steps[1][name]) / 2, rtol=1e-5, err_msg=name)


def test_losses_are_finite_and_d_learns_to_separate(tiny_real):
    gan = make_gan()
    rng = np.random.default_rng(2)
    real, _ = tiny_real
    history = [one_step_metrics(gan, real, None, rng) for _ in range(30)]
    assert set(history[0]) == {"d_loss_real", "d_loss_fake", "g_loss", "d_acc_real", "d_acc_fake"}
    assert all(np.isfinite(v) for row in history for v in row.values())
    # Uniform noise is easy to tell from a fresh generator's output: D's real loss falls.
    assert history[-1]["d_loss_real"] < history[0]["d_loss_real"]


@pytest.mark.parametrize("decay, warmup", [(0.9, 10), (0.5, 1)])
def test_generator_average_follows_its_formula_after_every_step(tiny_real, decay, warmup):
    gan, rng = make_gan(seed=2, ema_decay=decay, ema_warmup=warmup), np.random.default_rng(2)
    expected = snapshot(gan.generator.variables)
    for t in range(1, 5):
        gan.train_step(tiny_real[0], None, rng)
        rate = min(decay, (1 + t) / (warmup + t))
        expected = [rate * e + (1 - rate) * w for e, w in zip(expected, snapshot(gan.generator.variables))]
    for e, a in zip(expected, snapshot(gan.ema)):
        np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-6)
    averaged = gan.averaged_generator()
    assert averaged is not gan.generator
    for e, a in zip(expected, snapshot(averaged.variables)):
        np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-6)
    assert not np.allclose(snapshot(gan.ema)[0], snapshot(gan.generator.variables)[0])


def test_without_an_average_the_generator_is_exported_as_trained(tiny_real):
    gan, rng = make_gan(ema_decay=0.0), np.random.default_rng(0)
    before = snapshot(gan.ema)
    gan.train_step(tiny_real[0], None, rng)
    assert gan.averaged_generator() is gan.generator
    assert not any(changed(before, gan.ema))


def test_d_steps_gives_d_that_many_updates_per_g_update(tiny_real):
    gan = make_gan(d_steps=3)
    run_epoch(gan, tiny_real[0], None, batch_size=8, rng=np.random.default_rng(0), verbose=0)
    steps = len(tiny_real[0]) // 8
    iterations = [int(keras.ops.convert_to_numpy(o.iterations)) for o in (gan.d_optimizer, gan.g_optimizer)]
    assert iterations == [steps, steps // 3]


def test_least_squares_loss_is_the_mean_squared_distance_to_the_target(tiny_real):
    gan = make_gan(loss="least_squares")
    output = np.array([[0.9], [1.9], [-0.1]], "float32")
    assert float(gan.adversarial_loss(0.9, output)) == pytest.approx((0 + 1 + 1) / 3)
    history = [one_step_metrics(gan, tiny_real[0], None, np.random.default_rng(0)) for _ in range(3)]
    assert all(np.isfinite(v) for row in history for v in row.values())
    with pytest.raises(ValueError, match="loss must be one of"):
        make_gan(loss="wasserstein")


def test_hinge_loss_asks_d_for_plus_one_on_real_and_minus_one_on_generated_images(tiny_real):
    gan = make_gan(loss="hinge", ema_decay=0.0, d_options={"dropout": 0.0})  # D deterministic
    real = tiny_real[0][:16]
    z, _ = gan.noise(np.random.default_rng(0), 16)
    fake = gan.generator(z, training=True)  # BatchNorm on the batch's statistics, as in the steps
    d_real, d_fake = (keras.ops.convert_to_numpy(gan.discriminator(x, training=True)) for x in (real, fake))
    _, metrics = gan.d_loss(real, None, z, None)
    g_loss, _ = gan.g_loss(z, None)
    assert float(metrics["d_loss_real"]) == pytest.approx(np.mean(np.maximum(0, 1 - d_real)), rel=1e-5)
    assert float(metrics["d_loss_fake"]) == pytest.approx(np.mean(np.maximum(0, 1 + d_fake)), rel=1e-5)
    assert float(g_loss) == pytest.approx(-np.mean(d_fake), rel=1e-5, abs=1e-6)


def test_r1_penalty_is_the_squared_slope_of_d_at_the_real_images(tiny_real):
    """A linear D's slope is its kernel wherever it is taken: the penalty is gamma / 2 times its squared norm."""
    keras.utils.set_random_seed(0)
    image = keras.Input((28, 28, 1))
    linear = keras.Model(image, keras.layers.Dense(1)(keras.layers.Flatten()(image)))
    gan = GAN(build_generator(8, 4), linear, r1_gamma=4.0)
    z, _ = gan.noise(np.random.default_rng(0), 16)
    loss, metrics = gan.d_loss(tiny_real[0][:16], None, z, None)
    squared_norm = float(np.sum(keras.ops.convert_to_numpy(linear.layers[-1].kernel) ** 2))
    assert float(metrics["r1"]) == pytest.approx(squared_norm, rel=1e-4)
    without = float(metrics["d_loss_real"] + metrics["d_loss_fake"])
    assert float(loss) == pytest.approx(without + 2.0 * squared_norm, rel=1e-4)


def test_spectral_norm_divides_each_kernel_by_its_largest_singular_value():
    keras.utils.set_random_seed(0)
    discriminator = build_discriminator(4, dropout=0.0, spectral_norm=True)
    x = np.random.default_rng(0).uniform(-1, 1, (8, 28, 28, 1)).astype("float32")
    for _ in range(30):  # the power iteration runs once per training call
        discriminator(x, training=True)
    layers = [layer for layer in discriminator.layers if hasattr(layer, "power_vector")]
    assert len(layers) == 3, "both convolutions and the real/fake layer"
    for layer in layers:
        kernel = keras.ops.convert_to_numpy(spectral_kernel(layer, training=False))
        top = np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]), compute_uv=False)[0]
        assert top == pytest.approx(1.0, rel=1e-3), layer.name
    before = snapshot(discriminator.variables)
    discriminator(x, training=False)
    assert not any(changed(before, discriminator.variables)), "an inference call moves no power vector"


def test_augmentation_shifts_and_cuts_out_with_background_and_passes_gradients():
    images = np.full((2, 28, 28, 1), -1.0, "float32")
    images[:, 10:14, 12:16] = 1.0  # a 4 x 4 square, rows 10-13, columns 12-15
    changes = np.array([[3, -2, 0, 0], [0, 0, 12, 14]], "int32")  # (row shift, column shift, cutout row, column)
    shifted = keras.ops.convert_to_numpy(augment(images, changes, ("translation",)))
    np.testing.assert_array_equal(np.argwhere(shifted[0, ..., 0] > 0)[[0, -1]], [[13, 10], [16, 13]])
    np.testing.assert_array_equal(shifted[1], images[1])
    assert set(np.unique(shifted)) == {-1.0, 1.0}, "pixels shifted in are background"
    cut = keras.ops.convert_to_numpy(augment(np.ones_like(images), changes, ("cutout",)))
    assert (cut[1] == -1).sum() == CUTOUT * CUTOUT and cut[1, 12, 14, 0] == -1
    assert (cut[0] == -1).sum() == (CUTOUT - CUTOUT // 2) ** 2, "a square at the corner is clipped"
    weights = np.arange(images.size, dtype="float32").reshape(images.shape)
    gradient = keras.ops.convert_to_numpy(
        input_gradient(lambda x: keras.ops.sum(augment(x, changes, KINDS) * weights), images))
    assert np.count_nonzero(gradient) > 0.5 * gradient.size, "kept pixels pass the gradient on"


def test_augmentation_draws_come_from_the_loops_generator_and_are_refused_when_unknown(tiny_real):
    """Without augmentation a step draws exactly the noise it drew before there was any (runs repeat)."""
    rng, expected = np.random.default_rng(4), np.random.default_rng(4)
    d_args, g_args = make_gan().step_inputs(tiny_real[0], None, rng)
    np.testing.assert_array_equal(d_args[2], expected.standard_normal((64, 8), dtype=np.float32))
    np.testing.assert_array_equal(g_args[0], expected.standard_normal((64, 8), dtype=np.float32))
    assert d_args[-1] is None and d_args[-2] is None and g_args[-1] is None
    assert rng.bit_generator.state == expected.bit_generator.state, "no draw more"
    d_args, g_args = make_gan(augment=("cutout",)).step_inputs(tiny_real[0], None, rng)
    for changes in (d_args[-2], d_args[-1], g_args[-1]):
        assert changes.shape == (64, 4) and np.abs(changes[:, :2]).max() <= 4 and changes[:, 2:].max() < 28
    with pytest.raises(ValueError, match="augment takes kinds from"):
        make_gan(augment=("rotation",))


def all_state(gan):
    return {name: snapshot(variables) for name, variables in gan.state_groups().items()}


def assert_same_state(a, b):
    for name in a:
        assert len(a[name]) == len(b[name])
        for x, y in zip(a[name], b[name]):
            np.testing.assert_array_equal(x, y, err_msg=name)


def test_checkpoint_restores_every_variable_and_the_rng(tmp_path, tiny_real):
    gan = make_gan(seed=0)
    rng = np.random.default_rng(3)
    for _ in range(3):
        gan.train_step(tiny_real[0], None, rng)
    path = tmp_path / "ckpt.h5"
    save_checkpoint(path, gan, epoch=7, rng=rng, history=[{"epoch": 7, "g_loss": 1.0}], record=RECORD)

    other, other_rng = make_gan(seed=99), np.random.default_rng(0)
    epoch, history = load_checkpoint(path, other, other_rng)
    assert epoch == 7 and history == [{"epoch": 7, "g_loss": 1.0}]
    assert_same_state(all_state(gan), all_state(other))
    for optimizer in (other.g_optimizer, other.d_optimizer):
        assert int(keras.ops.convert_to_numpy(optimizer.iterations)) == 3
    assert other_rng.random() == rng.random()


def test_checkpoint_of_another_architecture_is_refused(tmp_path):
    gan = make_gan(width=4)
    save_checkpoint(tmp_path / "c.h5", gan, 1, np.random.default_rng(0), [], RECORD)
    with pytest.raises(UserError, match="does not match"):
        load_checkpoint(tmp_path / "c.h5", make_gan(width=8), np.random.default_rng(0))


def test_checkpoint_made_with_other_constants_is_refused_unless_retrain(tmp_path, tiny_real):
    fit(make_gan(), tiny_real[0], epochs=1, batch_size=32, seed=0, verbose=0, checkpoint_path=tmp_path / "c.h5",
        record=RECORD)
    other = {"constants": {"WIDTH": 4, "LEARNING_RATE": 0.1}, "inputs": {}}
    with pytest.raises(UserError, match=r"c.h5 was made with other settings: LEARNING_RATE='unset' \(now 0.1\)"
                                        r".*--RETRAIN=1"):
        fit(make_gan(), tiny_real[0], epochs=2, batch_size=32, seed=0, verbose=0, checkpoint_path=tmp_path / "c.h5",
            record=other)
    history = fit(make_gan(), tiny_real[0], epochs=2, batch_size=32, seed=0, verbose=0,
                  checkpoint_path=tmp_path / "c.h5", record=other, retrain=True)
    assert [row["epoch"] for row in history] == [1, 2], "RETRAIN starts from epoch 1"
    assert read_record(tmp_path / "c.h5") == other


def test_checkpoint_with_more_epochs_than_asked_is_refused(tmp_path, tiny_real):
    fit(make_gan(), tiny_real[0], epochs=2, batch_size=32, seed=0, verbose=0, checkpoint_path=tmp_path / "c.h5",
        record=RECORD)
    with pytest.raises(UserError, match=r"has trained 2 epochs, more than EPOCHS=1: set --EPOCHS=2"):
        fit(make_gan(), tiny_real[0], epochs=1, batch_size=32, seed=0, verbose=0, checkpoint_path=tmp_path / "c.h5",
            record=RECORD)


def test_damaged_checkpoint_names_the_file(tmp_path, tiny_real):
    path = tmp_path / "c.h5"
    fit(make_gan(), tiny_real[0], epochs=1, batch_size=32, seed=0, verbose=0, checkpoint_path=path, record=RECORD)
    path.write_bytes(path.read_bytes()[:2000])  # truncated, as by a full disk or a copy cut short
    with pytest.raises(UserError, match=r"c.h5 is damaged .*: delete it, or rerun with --RETRAIN=1") as err:
        fit(make_gan(), tiny_real[0], epochs=2, batch_size=32, seed=0, verbose=0, checkpoint_path=path,
            record=RECORD)
    assert isinstance(err.value.__cause__, OSError), "the h5py error stays chained"


def test_exploding_run_stops_before_its_checkpoint(tmp_path, tiny_real):
    keras.utils.set_random_seed(0)
    gan = GAN(build_generator(8, 4), build_discriminator(4), learning_rate=1000.0)
    path = tmp_path / "c.h5"
    with pytest.raises(Diverged, match=r"^tiny, epoch 1: training diverged \((non-finite|losses above)"):
        fit(gan, tiny_real[0], epochs=3, batch_size=32, seed=0, verbose=0, checkpoint_path=path, record=RECORD,
            name="tiny")
    assert not path.exists(), "a diverged epoch writes no checkpoint"


def row(**values):
    return {"epoch": 1, "d_loss_real": 0.5, "d_loss_fake": 0.5, "g_loss": 1.0, "d_acc_real": 0.7,
            "d_acc_fake": 0.7, **values}


def test_divergence_rules():
    assert divergence([row()]) is None
    assert "non-finite g_loss=nan" in divergence([row(g_loss=float("nan"))])
    assert "losses above 100: d_loss_fake=1e+16" in divergence([row(d_loss_fake=1e16)])
    winning = row(d_acc_real=1.0, d_acc_fake=0.995)
    assert divergence([row(), winning, winning]) is None, "two epochs of D winning are not yet a failure"
    assert "3 epochs in a row" in divergence([winning, winning, winning])
    assert divergence([winning, winning, row()]) is None


@pytest.mark.parametrize("negative_share, options", [(0.0, {}), (0.25, {}), (0.0, STRONGER)])
def test_interrupted_fit_resumes_at_the_next_epoch_and_matches_an_uninterrupted_run(tmp_path, tiny_real,
                                                                                     negative_share, options):
    """Every variable, G's moving average included, ends as if the run had never stopped
    (with negatives, or the augmentation's draws, too: they come from the checkpointed random
    state; D's power vectors are checkpointed with its weights)."""
    real, _ = tiny_real
    negatives = -real[::-1] if negative_share else None
    kwargs = dict(epochs=3, batch_size=32, seed=5, verbose=0, record=RECORD, negatives=negatives)

    def gan_with_share(seed):
        return make_gan(seed=seed, negative_share=negative_share, **options)

    straight = gan_with_share(seed=0)
    fit(straight, real, checkpoint_path=tmp_path / "a.h5", **kwargs)

    class Killed(Exception):
        pass

    def die_in_epoch_2(epoch, history):
        if epoch == 2:
            raise Killed  # dies after epoch 2's steps, before its checkpoint: epoch 2 is lost

    interrupted = gan_with_share(seed=0)
    with pytest.raises(Killed):
        fit(interrupted, real, checkpoint_path=tmp_path / "b.h5", on_epoch_end=die_in_epoch_2, **kwargs)

    resumed, epochs_run = gan_with_share(seed=42), []
    history = fit(resumed, real, checkpoint_path=tmp_path / "b.h5",
                  on_epoch_end=lambda epoch, history: epochs_run.append(epoch), **kwargs)
    assert epochs_run == [2, 3]
    assert [row["epoch"] for row in history] == [1, 2, 3]
    a, b = all_state(straight), all_state(resumed)
    assert "generator_ema" in a and not np.allclose(a["generator_ema"][0], a["generator"][0])
    for name in a:
        for x, y in zip(a[name], b[name]):
            np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("kind, options", [("dcgan", {"d_steps": 2, "negative_share": 0.25}), ("acgan", {}),
                                           ("dcgan", STRONGER)])
def test_steps_in_one_compiled_call_make_the_updates_of_one_call_each(tmp_path, tiny_real, kind, options):
    """3 steps per call over 8-step epochs (calls of 3, 3 and 2; with G every other step, and
    negatives; or an AC-GAN's labels) end where one step per call ends."""
    real, labels = tiny_real
    negatives = -real[::-1] if options.get("negative_share") else None
    states = []
    for steps_per_call in (1, 3):
        gan = make_gan(seed=0, kind=kind, **options)
        history = fit(gan, real, labels if kind == "acgan" else None, epochs=2, batch_size=8, seed=5, verbose=0,
                      record=RECORD, checkpoint_path=tmp_path / f"{steps_per_call}.h5", negatives=negatives,
                      steps_per_call=steps_per_call)
        states.append((all_state(gan), history))
    (a, history_a), (b, history_b) = states
    assert not np.allclose(a["generator"][0], snapshot(make_gan(seed=0, kind=kind, **options).generator.variables)[0])
    for name in a:
        for x, y in zip(a[name], b[name]):
            np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6, err_msg=name)
    for row_a, row_b in zip(history_a, history_b):
        assert row_a.keys() == row_b.keys()
        np.testing.assert_allclose([row_a[k] for k in row_a if k != "seconds"],
                                   [row_b[k] for k in row_b if k != "seconds"], rtol=1e-5, atol=1e-6)


def test_same_seed_same_samples(tiny_real, tmp_path):
    samples = []
    for run in range(2):
        gan = make_gan(seed=11)
        fit(gan, tiny_real[0], epochs=1, batch_size=32, seed=11, verbose=0,
            checkpoint_path=tmp_path / f"run{run}.h5", record=RECORD)
        z = np.random.default_rng(11).standard_normal((16, 8)).astype("float32")
        samples.append(generate_images(gan.generator, z))
    np.testing.assert_array_equal(samples[0], samples[1])


def test_exported_generator_reloads_identically(tmp_path):
    gan = make_gan()
    export_generator(gan.generator, tmp_path / "generator_3.weights.h5", RECORD)
    loaded = load_generator(tmp_path / "generator_3.weights.h5", "run 01 first")
    z = np.random.default_rng(0).standard_normal((4, 8)).astype("float32")
    np.testing.assert_array_equal(generate_images(gan.generator, z), generate_images(loaded, z))
    assert read_record(tmp_path / "generator_3.weights.h5") == RECORD


def test_damaged_generator_names_the_file_and_the_fix(tmp_path):
    path = tmp_path / "generator_3.weights.h5"
    export_generator(make_gan().generator, path, RECORD)
    path.write_bytes(b"not an HDF5 file")
    with pytest.raises(UserError, match=r"generator_3.weights.h5.*run 01_train_class_gans.py first") as err:
        load_generator(path, "run 01_train_class_gans.py first.")
    assert err.value.__cause__ is not None


def test_missing_generator_names_the_file_and_the_fix(tmp_path):
    with pytest.raises(UserError, match=r"generator_5.weights.h5.*run 01_train_class_gans.py first"):
        load_generator(tmp_path / "generator_5.weights.h5", "run 01_train_class_gans.py first")


def test_acgan_class_head_learns_on_real_digits(mnist):
    (x_train, y_train), _ = mnist
    images, labels = to_gan_range(x_train[:1024]), y_train[:1024].astype("int32")
    gan = make_gan(kind="acgan", width=8)
    rng = np.random.default_rng(0)
    accuracies = []
    for _ in range(200):
        idx = rng.choice(len(images), 32, replace=False)
        metrics = one_step_metrics(gan, images[idx], labels[idx], rng)
        assert all(np.isfinite(v) for v in metrics.values())
        accuracies.append(metrics["d_class_acc_real"])
    early, late = np.mean(accuracies[:10]), np.mean(accuracies[-20:])
    assert early < 0.2, "a fresh class head should be near chance (0.1)"
    assert late > 0.2 and late > early + 0.1, "the class head should learn the digits"


def count_noise(gan):
    """A list that gets the number of latents ``gan`` draws each time: how many images G makes for a step."""
    counts, noise = [], gan.noise

    def counted(rng, n):
        counts.append(n)
        return noise(rng, n)

    gan.noise = counted
    return counts


def test_negatives_take_the_place_of_generated_images_and_d_learns_to_call_them_fake(mnist):
    """With a negative share, part of D's "generated" side is real images of other digits
    (here 1s for a GAN of 0s): D learns to score 1s as fake, where the plain GAN's D, never
    shown a 1, scores them as real."""
    (x_train, y_train), _ = mnist
    zeros, ones = to_gan_range(x_train[y_train == 0][:512]), to_gan_range(x_train[y_train == 1][:544])
    held_out_ones = ones[512:]
    scores = {}
    for share in (0.0, 0.25):
        gan = make_gan(seed=0, width=8, loss="least_squares", negative_share=share)
        rng, generated = np.random.default_rng(0), count_noise(gan)
        for _ in range(60):
            real = zeros[rng.integers(0, len(zeros), 32)]
            negatives = ones[rng.integers(0, 512, 8)] if share else None
            gan.reset_metrics()
            gan.train_step(real, None, rng, update_g=False, negatives=negatives)
        assert set(generated) == {24 if share else 32}
        assert ("d_acc_negative" in gan.metrics()) == bool(share)
        scores[share] = float(np.mean(keras.ops.convert_to_numpy(gan.discriminator(held_out_ones))))
    # 0.5 is where an LSGAN D's score turns from "fake" (0) to "real" (1)
    assert scores[0.25] < 0.5 < scores[0.0], f"D's mean score of unseen 1s: {scores}"


def test_negatives_from_a_later_epoch_continue_a_run_made_without_them(tmp_path, tiny_real):
    """Negatives from epoch 3 on: epochs 1-2 are the run without negatives, so its epoch-2
    checkpoint, resumed with them, ends where the run with them from the start of the
    schedule ends (what bench/late_negatives.py relies on)."""
    real, _ = tiny_real
    kwargs = dict(batch_size=32, seed=5, verbose=0, record=RECORD)
    late = make_gan(seed=0, negative_share=0.25)
    history = fit(late, real, epochs=3, checkpoint_path=tmp_path / "a.h5", negatives=-real[::-1],
                  negatives_from_epoch=3, **kwargs)
    assert ["d_acc_negative" in row for row in history] == [False, False, True]
    fit(make_gan(seed=0), real, epochs=2, checkpoint_path=tmp_path / "b.h5", **kwargs)
    continued = make_gan(seed=42, negative_share=0.25)
    fit(continued, real, epochs=3, checkpoint_path=tmp_path / "b.h5", negatives=-real[::-1],
        negatives_from_epoch=3, **kwargs)
    a, b = all_state(late), all_state(continued)
    for name in a:
        for x, y in zip(a[name], b[name]):
            np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6, err_msg=name)


def test_negatives_are_refused_for_an_acgan_and_go_exactly_with_a_negative_share(tmp_path, tiny_real):
    with pytest.raises(ValueError, match="negative_share is for a per-class GAN .*leave it at 0"):
        make_gan(kind="acgan", negative_share=0.25)
    real = tiny_real[0]
    for share, negatives in ((0.25, None), (0.0, -real)):
        with pytest.raises(ValueError, match=f"exactly when the GAN has a negative_share \\(it has {share}\\)"):
            fit(make_gan(negative_share=share), real, epochs=1, batch_size=32, seed=0, record=RECORD, verbose=0,
                checkpoint_path=tmp_path / "c.h5", negatives=negatives)
    assert not (tmp_path / "c.h5").exists()


def test_acgan_generator_is_conditional():
    generator, discriminator = build_acgan(26, latent_dim=8, width=4)
    z = np.zeros((3, 8), "float32")
    images = generate_images(generator, z, np.array([0, 5, 25], "int32"))
    assert images.shape == (3, 28, 28, 1)
    assert not np.allclose(images[0], images[1]), "the same z with another label should give another image"
    real_fake, classes = discriminator(images)
    assert tuple(real_fake.shape) == (3, 1) and tuple(classes.shape) == (3, 26)


def test_acgan_discriminator_width_is_its_own():
    generator, discriminator = build_acgan(10, latent_dim=8, width=4, d_width=6)
    g_convs = [layer.filters for layer in generator.layers if hasattr(layer, "filters")]
    d_convs = [layer.filters for layer in discriminator.layers if hasattr(layer, "filters")]
    assert g_convs == [4, 1] and d_convs == [6, 12]


@pytest.mark.parametrize("weight", [0.0, 0.3, 1.0])
def test_acgan_g_loss_weighs_the_class_loss_by_g_class_weight(weight):
    gan = make_gan(kind="acgan", g_class_weight=weight)
    z = np.random.default_rng(0).standard_normal((16, 8)).astype("float32")
    labels = np.arange(16, dtype="int32") % 10
    loss, metrics = gan.g_loss(z, labels)  # metrics["g_loss"]: the adversarial part alone
    assert float(metrics["g_class"]) > 0.5  # an untrained D names the class near chance: about ln 10
    assert float(loss) == pytest.approx(float(metrics["g_loss"]) + weight * float(metrics["g_class"]), rel=1e-5)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_tac_gan_twin_head_learns_generated_images_and_g_plays_the_heads_off(smoothing):
    keras.utils.set_random_seed(0)
    # no dropout: D is deterministic
    gan = GAN(*build_acgan(10, latent_dim=8, width=4, dropout=0.0, twin=True), class_smoothing=smoothing)
    rng = np.random.default_rng(0)
    real = rng.uniform(-1, 1, (16, 28, 28, 1)).astype("float32")
    labels, z, fake_labels = np.arange(16, dtype="int32") % 10, *gan.noise(rng, 16)

    def ce(labels, logits, smoothing=0.0):  # by hand: targets 1 - s + s/10 on the label, s/10 elsewhere
        log_p = np.log(softmax(keras.ops.convert_to_numpy(logits)))
        targets = np.eye(10)[labels] * (1 - smoothing) + smoothing / 10
        return float(np.mean(-np.sum(targets * log_p, axis=-1)))

    _, d_metrics = gan.d_loss(real, labels, z, fake_labels)
    _, real_class, _ = gan.discriminator(real)
    _, fake_class, fake_twin = gan.discriminator(gan.generate(z, fake_labels, training=True))
    assert float(d_metrics["d_class"]) == pytest.approx(
        ce(labels, real_class, smoothing) + ce(fake_labels, fake_twin, smoothing), rel=1e-5)
    if smoothing:  # the smoothed loss is told apart from the hard one at this tolerance
        assert abs(ce(labels, real_class, smoothing) - ce(labels, real_class)) > 1e-3
    # G's class loss keeps the hard labels: it wants the class named, the twin fooled
    _, g_metrics = gan.g_loss(z, fake_labels)
    assert float(g_metrics["g_class"]) == pytest.approx(ce(fake_labels, fake_class) - ce(fake_labels, fake_twin),
                                                        abs=1e-5)


def softmax(logits):
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_minibatch_std_channel_measures_the_batch_variety():
    x = np.random.default_rng(0).standard_normal((8, 7, 7, 3)).astype("float32")
    varied = keras.ops.convert_to_numpy(MinibatchStd()(x))
    assert varied.shape == (8, 7, 7, 4)
    np.testing.assert_allclose(varied[..., :3], x)
    np.testing.assert_allclose(varied[..., 3], np.mean(np.std(x, axis=0)), rtol=1e-4)
    repeated = keras.ops.convert_to_numpy(MinibatchStd()(np.repeat(x[:1], 8, axis=0)))
    assert np.all(repeated[..., 3] < 1e-3), "one image drawn eight times has no variety"


def test_epoch_reporter_writes_the_csv_every_epoch_and_figures_every_few(tmp_path):
    report = epoch_reporter(tmp_path, "digit 0", lambda: np.zeros((2, 28, 28), np.uint8), sample_every=3, epochs=4)
    history, drawn = [], []
    for epoch in range(1, 5):
        history.append({"epoch": epoch, "g_loss": 1.0 / epoch, "d_acc_real": 0.5, "seconds": 0.1})
        (tmp_path / "loss_curve.png").unlink(missing_ok=True)
        report(epoch, history)
        assert len((tmp_path / "losses.csv").read_text().splitlines()) == epoch + 1
        drawn.append((tmp_path / "loss_curve.png").is_file())
    assert drawn == [False, False, True, True]  # every 3rd epoch and the last
    assert sorted(p.name for p in tmp_path.glob("samples_*")) == ["samples_epoch_003.png", "samples_epoch_004.png"]
