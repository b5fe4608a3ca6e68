"""mc_predict's adaptive rule: when an image stops, what it stores, and the fixed rule's old verdicts."""

import os
from pathlib import Path

import keras
import numpy as np
import pytest

from models import defaults, paths
from models.data import load_dataset
from models.files import load_weights
from models.mc import MCDropout, call_size, mc_model, mc_predict, reseed_dropout, sequential, settled
from models.verifier import ambiguity, build, resolve_precision

GOLDEN = Path(__file__).parent / "data" / "fixed_rule_verdicts.npz"
SHIPPED_VERIFIER = paths.verifier(paths.resolve(paths.PRETRAINED_WEIGHTS), defaults.VERIFIER)


def two_pixel_model():
    """A real Keras model whose MC passes are known: pixel 0 votes for class 0 and pixel 1 for
    class 1 (logit 20 each, when the dropout (rate 0.5) keeps the pixel); every other pixel
    votes for class 2 with a small weight, so an image of many lit pixels is a sure 2."""
    image = keras.Input((28, 28, 1))
    x = MCDropout(0.5)(keras.layers.Flatten()(image))
    dense = keras.layers.Dense(10)
    model = keras.Model(image, keras.layers.Softmax()(dense(x)))
    weights = np.zeros((784, 10), np.float32)
    weights[0, 0] = weights[1, 1] = 10.0
    weights[2:, 2] = 0.05
    dense.set_weights([weights, np.zeros(10, np.float32)])
    return model


def known_images():
    """Image 0: 700 lit pixels voting for class 2 (each pass about 35 votes of logit 0.1: a clear 2).
    Image 1: pixels 0 and 1 lit, nothing else: each pass keeps either, both or neither, class 0
    and 1 equally likely on top (undecided whatever the number of passes)."""
    images = np.zeros((2, 28, 28), np.uint8)
    images[0].flat[84:784] = 255
    images[1].flat[:2] = 255
    return images


def test_a_settled_image_stops_at_the_first_look_and_an_undecided_one_gets_every_pass():
    keras.utils.set_random_seed(0)
    model = two_pixel_model()
    mean, sd, used = mc_predict(model, known_images(), passes=60, batch=40, rule="adaptive", round_passes=10,
                                min_passes=10)
    assert used.tolist() == [10, 60]
    top, _, ambiguous = ambiguity(mean, sd)
    assert top[0] == 2 and not ambiguous[0]
    assert set(np.argsort(-mean[1])[:2]) == {0, 1} and ambiguous[1]


def test_a_round_pads_its_last_call_to_a_power_of_two_images_not_to_a_full_call():
    assert [call_size(n, 102) for n in (1, 8, 9, 33, 64, 65, 101, 102)] == [8, 8, 16, 64, 64, 102, 102, 102]


def test_the_adaptive_rule_gives_each_image_its_verdict_however_many_share_its_calls():
    """A call of many images and one of few (its rows padded to another size) give an image
    verdicts of the same kind: the easy image settles at the first look in both."""
    keras.utils.set_random_seed(2)
    model = two_pixel_model()
    many = np.concatenate([known_images()] * 30)  # 60 images: calls of 64
    for images in (many, known_images()):  # 2 images: calls of 8
        mean, sd, used = mc_predict(model, images, passes=60, batch=640, rule="adaptive", round_passes=10,
                                    min_passes=10)
        top, _, ambiguous = ambiguity(mean, sd)
        assert (used[0::2] == 10).all() and (top[0::2] == 2).all() and not ambiguous[0::2].any()
        assert (used[1::2] > 10).all() and ambiguous[1::2].all(), "the undecided ones go on, and end ambiguous"


def test_pass_counts_are_the_passes_that_ran_and_the_statistics_are_over_them():
    """Every pass the rule asks for, counted per image, against what it stores."""
    keras.utils.set_random_seed(1)
    model = two_pixel_model()
    images = np.concatenate([known_images()] * 3)
    x = images[..., None].astype("float32") / 255
    asked, seen = np.zeros(len(x), int), {}

    def next_passes(rows, done, count):
        out = np.asarray(mc_model(model, count, per_pass=True).predict_on_batch(x[rows]))
        asked[rows] += count
        for row, probs in zip(rows, out):
            seen.setdefault(row, []).append(probs)
        return out

    mean, sd, used = sequential(next_passes, len(x), 10, passes=25, round_passes=10, min_passes=10)
    np.testing.assert_array_equal(used, asked)
    assert set(used) == {10, 25}, "the last round is cut to what is left of MC_PASSES"
    for row, parts in seen.items():
        probs = np.concatenate(parts)
        np.testing.assert_allclose(mean[row], probs.mean(axis=0), atol=1e-6)
        np.testing.assert_allclose(sd[row], probs.std(axis=0), atol=1e-6)


def test_settled_on_hand_built_passes():
    n = 10
    certain = np.tile([0.999] + [0.001 / 9] * 9, (n, 1))
    shaky = np.tile([0.95, 0.05] + [0.0] * 8, (n, 1))  # all 10 passes agree, but a 0.95 mean leaves room for flips
    coin = np.array([[1.0, 0.0] + [0.0] * 8, [0.0, 1.0] + [0.0] * 8] * (n // 2))  # two classes, equally often
    overlapping = np.array([[0.7, 0.3] + [0.0] * 8, [0.5, 0.5] + [0.0] * 8] * 10)  # 0.6 +- 0.1 against 0.4 +- 0.1
    result = settled(np.stack([certain, shaky, coin]))
    assert result.tolist() == [True, False, False], "clear for sure; clear only if no flip is unseen; tied"
    assert settled(overlapping[None]).tolist() == [True], "overlapping by 4.5 SEs, class 0 ahead by as many"


def test_the_futility_stop_ends_only_an_image_that_could_not_settle_by_the_cap():
    probs = np.zeros((3, 100, 10), np.float32)
    probs[0, :, 0] = 1.0  # a sure 0: settled at the first look
    probs[1, :, :3] = 0.5, 0.45, 0.05  # the same every pass: a lead but no SD, so it settles neither way, ever
    probs[2, 0::2, :2], probs[2, 1::2, :2] = (0.6, 0.4), (0.3, 0.7)  # 0.45 +- 0.15 against 0.55: settles late

    def next_passes(rows, done, count):
        return probs[rows, done : done + count]

    _, _, used = sequential(next_passes, 3, 10, 100, 5, 5)
    assert used.tolist() == [5, 100, 90]
    mean, _, stopped = sequential(next_passes, 3, 10, 100, 5, 5, futility_passes=30)
    assert stopped.tolist() == [5, 30, 90] and mean[1, 0] == 0.5  # the late one still settles
    assert not settled(probs[1:2, :30])[0] and not settled(probs[1:2, :30], n=100)[0]  # hopeless at the cap too


def fixed_rule_verdicts(images):
    """The mean and SD of 100 passes of the shipped verifier (dropout seed 2024, 512 rows per call)."""
    model = build(defaults.VERIFIER, 0.4)
    load_weights(model, SHIPPED_VERIFIER, "restore the shipped weights")
    reseed_dropout(model, 2024)
    mean, sd, used = mc_predict(model, images, passes=100, batch=512, rule="fixed")
    assert (used == 100).all()
    return mean, sd


def test_the_fixed_rule_gives_the_verdicts_it_gave_when_the_golden_file_was_written():
    """The golden file holds the fixed rule's mean and SD on 24 real test images
    (``PYTHONPATH=. python tests/test_mc.py`` writes it): a change in how the passes are drawn,
    batched or reduced shows here."""
    _, (x_test, _) = load_dataset("mnist")
    golden = np.load(GOLDEN)
    mean, sd = fixed_rule_verdicts(x_test[: len(golden["mean"])])
    np.testing.assert_allclose(mean, golden["mean"], atol=1e-6)
    np.testing.assert_allclose(sd, golden["sd"], atol=1e-6)


def test_one_pass_is_refused_by_mc_predict_too():
    with pytest.raises(ValueError, match="gives no SD"):
        mc_predict(two_pixel_model(), known_images(), passes=1)


def test_the_one_pass_rule_is_one_pass_with_dropout_off():
    model = two_pixel_model()
    mean, sd, used = mc_predict(model, known_images(), rule="one_pass", batch=1)
    logits = np.zeros((2, 10))
    logits[0, 2] = 700 * 0.05  # every lit pixel kept: image 0's 700 votes for 2
    logits[1, :2] = 10.0  # image 1: pixels 0 and 1 both kept, a tie of 0 and 1
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(mean, expected, rtol=1e-5, atol=1e-7)
    assert (sd == 0).all() and (used == 1).all()
    _, _, ambiguous = ambiguity(mean, sd, confidence=0.9)
    assert ambiguous.tolist() == [False, True], "a sure 2, and a tie below 0.9"
    assert ambiguity(mean, sd)[2].tolist() == [False, True], "SD 0: the 2-SD rule flags only the tie"


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="ONEDNN_MAX_CPU_ISA holds TensorFlow's oneDNN")
def test_auto_precision_is_float32_where_onednn_is_held_below_its_bfloat16_kernels(monkeypatch):
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")  # as on a CPU without AVX512-BF16: its convolutions fail
    assert resolve_precision("auto") == "float32" and resolve_precision("bfloat16") == "bfloat16"


@pytest.mark.skipif(keras.backend.backend() == "tensorflow" and resolve_precision("auto") == "float32"
                    and "ONEDNN_MAX_CPU_ISA" in os.environ, reason="oneDNN held below its bfloat16 convolutions")
def test_bfloat16_layers_keep_float32_weights_and_probabilities_and_the_verdicts_of_easy_digits():
    _, (x_test, _) = load_dataset("mnist")
    models = {}
    for precision in ("float32", "bfloat16"):
        models[precision] = build(defaults.VERIFIER, 0.0, precision)
        load_weights(models[precision], SHIPPED_VERIFIER, "restore the shipped weights")
    half = models["bfloat16"]
    assert half.layers[1].compute_dtype == "bfloat16" and all(w.dtype == "float32" for w in half.weights)
    x = x_test[:200, ..., None] / 255.0
    probs = {p: keras.ops.convert_to_numpy(m(x, training=False)) for p, m in models.items()}
    assert probs["bfloat16"].dtype == np.float32
    np.testing.assert_allclose(probs["bfloat16"].sum(axis=1), 1, atol=1e-5)
    sure = probs["float32"].max(axis=1) > 0.99
    assert sure.sum() > 150
    np.testing.assert_array_equal(probs["bfloat16"][sure].argmax(axis=1), probs["float32"][sure].argmax(axis=1))


if __name__ == "__main__":  # write the golden file again, after a deliberate change of the verdict or the verifier
    mean, sd = fixed_rule_verdicts(load_dataset("mnist")[1][0][:24])
    np.savez_compressed(GOLDEN, mean=mean, sd=sd)
    print(f"wrote {GOLDEN}")
