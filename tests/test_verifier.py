"""MC-dropout layer, mc_predict's fixed rule, the ambiguity rule and the verifier's training."""

import sys
from types import SimpleNamespace

import keras
import numpy as np
import pytest

from models.data import scrambled
from models.mc import MCDropout, mc_predict, reseed_dropout, split_at_first_dropout
from models.typicality import feature_layers
from models.verifier import (OUTLIER_CONSTANTS, SPECTRAL_BOUND, VERIFIER_CONSTANTS, ambiguity, build_light_verifier,
                             build_narrow_verifier, build_reference_verifier, build_spectral_verifier, build_verifier,
                             rule_width, train_verifier, verifier_record)
from models.verdict import mc_scores

from conftest import REPO

sys.path.insert(0, str(REPO / "bench"))
from flops import forward_flops  # noqa: E402


def tiny_verifier(dropout, seed=0):
    """A small real CNN with BatchNorm and MC dropout in two places."""
    keras.utils.set_random_seed(seed)
    image = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(4, 3, strides=2)(image)
    x = keras.layers.BatchNormalization()(x)
    x = MCDropout(dropout)(keras.layers.ReLU()(x))
    x = keras.layers.Dense(16, activation="relu")(keras.layers.Flatten()(x))
    x = MCDropout(dropout)(x)
    model = keras.Model(image, keras.layers.Dense(10, activation="softmax")(x))
    # Give BatchNorm non-trivial moving statistics so that using batch statistics would show.
    bn = model.layers[2]
    bn.moving_mean.assign(np.full(4, 0.3, "float32"))
    bn.moving_variance.assign(np.full(4, 2.0, "float32"))
    return model


@pytest.fixture
def images():
    return np.random.default_rng(0).integers(0, 256, (6, 28, 28), dtype=np.uint8)


def test_dropout_is_random_at_prediction_and_batchnorm_is_not(images):
    model = tiny_verifier(0.5)
    x = images[..., None].astype("float32") / 255
    bn = model.layers[2]
    stats = [keras.ops.convert_to_numpy(v).copy() for v in (bn.moving_mean, bn.moving_variance)]
    first, second = model.predict_on_batch(x), model.predict_on_batch(x)
    assert not np.allclose(first, second), "two MC passes of the same input should differ"
    for before, v in zip(stats, (bn.moving_mean, bn.moving_variance)):
        np.testing.assert_array_equal(before, keras.ops.convert_to_numpy(v))


def test_rate_zero_gives_zero_sd_and_the_plain_forward_pass(images):
    model = tiny_verifier(0.0)
    mean, sd, _ = mc_predict(model, images, passes=7, batch=14)
    plain = keras.ops.convert_to_numpy(model(images[..., None].astype("float32") / 255, training=False))
    assert np.all(sd < 1e-6)
    np.testing.assert_allclose(mean, plain, rtol=1e-5, atol=1e-6)


def test_chunking_does_not_change_results(images):
    model = tiny_verifier(0.0)
    whole = mc_predict(model, images, passes=5, batch=1000)
    for batch in (5, 10, 15, 4):  # 1, 2, 3 images per call (and fewer rows than passes)
        for a, b in zip(whole, mc_predict(model, images, passes=5, batch=batch)):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_mc_scores_per_class_are_the_rates_of_each_class_images(images):
    model = tiny_verifier(0.0)  # no dropout: the verdicts are the plain forward pass
    top = model.predict_on_batch(images[..., None].astype("float32") / 255).argmax(axis=1)
    labels = top.copy()
    labels[3:] = (top[3:] + 1) % 10  # the first 3 images named as the model names them, the last 3 not
    scores = mc_scores(model, images, labels, passes=3, batch=6)
    assert scores["rejection_rate"] == pytest.approx(np.mean(top != labels))
    for k, rates in enumerate(scores["per_class"]):
        rows = labels == k
        if not rows.any():
            assert rates is None, "a class without images has no rates"
            continue
        assert rates["rejection_rate"] == pytest.approx(np.mean(top[rows] != k))
        assert rates["ambiguity_rate"] == 0.0, "no dropout: every interval is a point, none overlap"


def test_reseeding_repeats_the_passes_exactly(images):
    model = tiny_verifier(0.5)
    reseed_dropout(model, 9)
    first = mc_predict(model, images, passes=4, batch=8)
    second = mc_predict(model, images, passes=4, batch=8)
    reseed_dropout(model, 9)
    again = mc_predict(model, images, passes=4, batch=8)
    assert not np.array_equal(first[1], second[1]), "without a reseed the stream goes on"
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    reseed_dropout(tiny_verifier(0.0), 9)  # a rate-0 dropout has no random stream to reseed: no error


def test_float_images_in_0_1_give_the_uint8_verdicts(images):
    model = tiny_verifier(0.0)
    from_uint8 = mc_predict(model, images, passes=3)
    from_floats = mc_predict(model, images.astype("float32") / 255, passes=3)
    for a, b in zip(from_uint8, from_floats):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("scale, dtype, shown", [(1.0, "float32", r"float32 values in \[\d+, 255\]"),
                                                 (1 / 127.5, "float32", r"float32 values in \[-1, 1\]"),
                                                 (1.0, "int64", r"int64 values in \[\d+, 255\]")])
def test_images_in_another_range_are_refused(images, scale, dtype, shown):
    x = images.astype(dtype) if dtype == "int64" else (images.astype(dtype) * scale - (1 if scale < 1 else 0))
    with pytest.raises(ValueError, match=f"uint8 in \\[0, 255\\] or floats in \\[0, 1\\]; got {shown}"):
        mc_predict(tiny_verifier(0.5), x, passes=3)


def slow_reference(model, images, passes):
    """The original experiment's way: one full forward pass per MC sample."""
    x = images[..., None].astype("float32") / 255
    probs = np.stack([keras.ops.convert_to_numpy(model(x, training=False)) for _ in range(passes)])
    return probs.mean(axis=0), probs.std(axis=0)


@pytest.mark.parametrize("batch", [400 * 6, 400 * 2])
def test_mc_predict_matches_the_slow_loop_in_distribution(images, batch):
    model = tiny_verifier(0.5, seed=3)
    passes = 400
    mean, sd, _ = mc_predict(model, images, passes=passes, batch=batch)
    ref_mean, ref_sd = slow_reference(model, images, passes)
    tolerance = 5 * np.sqrt((sd**2 + ref_sd**2) / passes) + 1e-4
    assert np.all(np.abs(mean - ref_mean) <= tolerance)
    assert sd.mean() > 1e-3, "the passes should differ"
    np.testing.assert_allclose(sd, ref_sd, rtol=0.25, atol=1e-3)


def test_ambiguity_rule_on_hand_built_cases():
    mean = np.array([
        [0.90, 0.05, 0.05],  # clear
        [0.60, 0.30, 0.10],  # intervals overlap
        [0.50, 0.25, 0.25],  # exactly touching (exact in binary): 0.25 + 2*0.0625 == 0.5 - 2*0.0625
        [0.60, 0.30, 0.10],  # a hair apart: not ambiguous
        [0.45, 0.10, 0.45],  # tie: top is the lower index, challenger the other; ambiguous
        [0.10, 0.20, 0.70],  # top is not class 0
    ])
    sd = np.array([
        [0.01, 0.01, 0.01],
        [0.10, 0.10, 0.00],
        [0.0625, 0.0625, 0.00],
        [0.10, 0.0499, 0.00],
        [0.00, 0.00, 0.00],
        [0.05, 0.05, 0.05],
    ])
    top, challenger, ambiguous = ambiguity(mean, sd)
    assert top.tolist() == [0, 0, 0, 0, 0, 2]
    assert challenger.tolist() == [1, 1, 1, 1, 2, 1]  # row 2: classes 1 and 2 tie, the lower wins
    assert ambiguous.tolist() == [False, True, True, False, True, False]
    width = rule_width(mean, sd)
    np.testing.assert_allclose(width[[0, 1, 2, 5]], [42.5, 1.5, 2.0, 5.0])
    assert width[4] == 0 and width[3] > 2, "a tie is ambiguous at any width; a hair apart is clear at 2"
    assert ((width <= 2) == ambiguous).all(), "02's verdict is the width at k = 2"


def test_verifier_architectures_output_probabilities(images):
    x = images[..., None].astype("float32") / 255
    for build in (build_verifier, build_reference_verifier, build_spectral_verifier, build_light_verifier,
                  build_narrow_verifier):
        probs = keras.ops.convert_to_numpy(build()(x, training=False))
        assert probs.shape == (6, 10)
        np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-5)


def test_the_cheaper_verifiers_repeat_less_work_per_pass():
    """Their layers after the first dropout (what every MC pass repeats) cost half (light) and
    0.63 (narrow) of the default's FLOPs, and the density still finds four conv layers to read."""
    light, narrow, default = build_light_verifier(), build_narrow_verifier(), build_verifier()
    light_work, narrow_work, default_work = (forward_flops(split_at_first_dropout(model)[1])
                                             for model in (light, narrow, default))
    assert 0.45 < light_work / default_work < 0.55 and 0.6 < narrow_work / default_work < 0.66
    for model in (light, narrow):
        assert list(feature_layers(model)) == ["conv1", "conv2", "conv3", "conv4", "dense"]


def test_the_spectral_verifier_keeps_its_layers_contractive(images):
    """Each spectrally normalised kernel (as a matrix: inputs x outputs) has largest singular
    value about 1 after training steps (one power iteration a step), however large its start,
    and its output is scaled by the bound; the density reads four conv layers."""
    keras.utils.set_random_seed(0)
    model = build_spectral_verifier()
    wrapped = [layer for layer in model.layers if isinstance(layer, keras.layers.SpectralNormalization)]
    assert len(wrapped) == 5 and list(feature_layers(model)) == ["conv1", "conv2", "conv3", "conv4"]
    scales = [layer.scale for layer in model.layers if isinstance(layer, keras.layers.Rescaling)]
    assert scales == [SPECTRAL_BOUND] * 5
    for layer in wrapped:
        layer.kernel.assign(layer.kernel * 10.0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = images[..., None].astype("float32") / 255
    model.fit(np.repeat(x, 4, axis=0), np.arange(24) % 10, epochs=5, batch_size=8, verbose=0)  # 15 steps
    for layer in wrapped:
        kernel = keras.ops.convert_to_numpy(layer.kernel)
        sigma = np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]), compute_uv=False)[0]
        assert 0.9 < sigma < 1.1, (layer.name, sigma)


@pytest.mark.slow  # a research variant, trained
def test_outlier_exposure_flattens_the_softmax_on_non_digits(mnist, tmp_path):
    """Trained with scrambled digits toward a flat softmax, the verifier is less sure of other
    scrambled digits (not the ones it saw) than the same verifier trained without them, and
    still reads the digits."""
    (x, y), (x_test, y_test) = mnist
    unseen = scrambled(x_test[:300], 7, np.random.default_rng(1))
    confidence, accuracy = {}, {}
    for weight in (0.0, 1.0):
        keras.utils.set_random_seed(0)
        model = build_verifier(0.0)
        outliers = scrambled(x[:1000], 7, np.random.default_rng(0)) if weight else None
        train_verifier(model, (x[:1000], y[:1000]), (x[1000:1200], y[1000:1200]), epochs=4, batch_size=50,
                       best_path=tmp_path / "best.weights.h5", log_path=tmp_path / "log.csv", verbose=0,
                       outliers=outliers, outlier_weight=weight)
        confidence[weight] = model.predict(unseen[..., None] / 255, verbose=0).max(1).mean()
        predicted = model.predict(x_test[300:600, ..., None] / 255, verbose=0).argmax(1)
        accuracy[weight] = (predicted == y_test[300:600]).mean()
    assert confidence[1.0] < confidence[0.0] - 0.2, confidence
    assert accuracy[1.0] > 0.5 and accuracy[0.0] > 0.5, accuracy  # chance: 0.1


def test_outlier_constants_are_in_the_record_only_where_exposure_is_on():
    """So the shipped verifier, trained without outlier exposure, keeps matching the default constants."""
    recipe = dict(VERIFIER="default", DROPOUT=0.4, VERIFIER_EPOCHS=15, VERIFIER_BATCH_SIZE=128, VERIFIER_VAL_SIZE=5000,
                  VERIFIER_SUBSET=0, VERIFIER_SEED=2024, VERIFIER_OUTLIER_TILE=7)
    train = (np.zeros((2, 28, 28), np.uint8), np.zeros(2, np.uint8))
    off = verifier_record(SimpleNamespace(**recipe, VERIFIER_OUTLIERS=0.0), train)["constants"]
    on = verifier_record(SimpleNamespace(**recipe, VERIFIER_OUTLIERS=0.5), train)["constants"]
    assert set(off) == set(VERIFIER_CONSTANTS) and set(on) == set(VERIFIER_CONSTANTS) | set(OUTLIER_CONSTANTS)
    assert on["VERIFIER_OUTLIERS"] == 0.5 and on["VERIFIER_OUTLIER_TILE"] == 7
