"""02 end to end with tiny generators and a tiny verifier."""

import json
import shutil
from collections import Counter

import keras
import numpy as np
import pytest

from models.checkpoint import export_generator, load_generator
from models.config import ConfigError, UserError
from models.data import select_class, to_gan_range, to_uint8
from models.gan import generate_images
from models.generated import draws_needed
from models.record import read_record

from conftest import TINY_VERIFIER, load_script


def image_generator(image, latent_dim=4, seed=0):
    """A real Keras generator that draws small variations of one real image."""
    z = keras.Input((latent_dim,))
    bias = np.arctanh(np.clip(image.ravel(), -0.99, 0.99))
    x = keras.layers.Dense(28 * 28, kernel_initializer=keras.initializers.RandomNormal(stddev=0.02, seed=seed),
                           bias_initializer=keras.initializers.Constant(bias), activation="tanh")(z)
    return keras.Model(z, keras.layers.Reshape((28, 28, 1))(x))


def conditional_image_generator(images, latent_dim=4):
    """A real conditional Keras generator (like the AC-GAN's): label k -> variations of images[k]."""
    z, label = keras.Input((latent_dim,)), keras.Input((), dtype="int32")
    table = np.arctanh(np.clip(images.reshape(len(images), -1), -0.99, 0.99))
    base = keras.layers.Embedding(len(images), 28 * 28,
                                  embeddings_initializer=keras.initializers.Constant(table))(label)
    jitter = keras.layers.Dense(28 * 28, kernel_initializer=keras.initializers.RandomNormal(stddev=0.02, seed=10))(z)
    x = keras.layers.Activation("tanh")(keras.layers.Add()([base, jitter]))
    return keras.Model([z, label], keras.layers.Reshape((28, 28, 1))(x))


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, mnist, tiny_verifier):
    """Per-digit generators for 1 and 7, a conditional one for all digits (each drawing one
    typical real image), and a copy of the tiny verifier (with its density and floor)."""
    root = tmp_path_factory.mktemp("w02")
    shutil.copytree(tiny_verifier["WEIGHTS_DIR"], root / "weights")
    (x_train, y_train), _ = mnist
    firsts = np.stack([to_gan_range(select_class(x_train, y_train, k)[:1])[0] for k in range(10)])
    record = {"constants": {}, "inputs": {}}
    for k in (1, 7):
        export_generator(image_generator(firsts[k], seed=k), root / "gens" / f"generator_{k}.weights.h5", record)
    export_generator(conditional_image_generator(firsts), root / "acgan" / "generator.weights.h5", record)
    return root


def run(script, root, **overrides):
    settings = dict(CLASSES="1,7", N_PER_CLASS=20, DRAW_BATCH=16, MAX_DRAWS=400, **TINY_VERIFIER, GALLERY_SIZE=4,
                    VERBOSE=0,
                    GENERATOR_DIR=str(root / "gens"), WEIGHTS_DIR=str(root / "weights"),
                    SHIPPED_DIR=str(root / "shipped"), OUTPUT_DIR=str(root / "out"))
    return script.main(**{**settings, **overrides})


@pytest.fixture(scope="module")
def script():
    return load_script("02_generate_and_verify.py")


@pytest.fixture(scope="module")
def base(script, workspace):
    """02 at the settings of ``run``: its output folder."""
    run(script, workspace)
    return workspace / "out"


def test_end_to_end_writes_data_summary_and_figures(base, workspace, mnist):
    out = base
    info = json.loads((out / "summary.json").read_text())["verifier"]  # the verifier's floor, as this run used it
    assert info["measured_with"]["MC_RULE"] == "adaptive" and info["measured_with"]["MC_PASSES"] == 20
    density = workspace / "weights" / "verifier_default.density.npz"
    assert read_record(density)["constants"]["OOD_LAYER"] == "conv4", "the density is kept beside the verifier"
    with np.load(density) as f:
        threshold = float(f["threshold"])
    assert 0.5 < info["mc_test_accuracy"] <= 1 and info["test_images"] == 2000
    assert info["test_rejection_rate"] >= 1 - info["mc_test_accuracy"] - 1e-9, "misclassified or OOD"
    assert info["test_ood_rate"] < 0.05, "about OOD_RATE of real digits"
    assert 0 <= info["test_ambiguity_rate"] <= 1
    per_class, y_test = info["test_per_class"], mnist[1][1][:2000]
    assert len(per_class) == 10, "the floor of every digit"
    assert sum(c["rejection_rate"] * np.sum(y_test == k) for k, c in enumerate(per_class)) == pytest.approx(
        info["test_rejection_rate"] * 2000), "the digits' floors add up to the overall one"
    for k in (1, 7):
        with np.load(out / f"digit_{k}.npz") as f:
            assert f["x"].shape == (20, 28, 28) and f["x"].dtype == np.uint8
            assert (f["y"] == k).all() and f["mean"].shape == f["sd"].shape == (20, 10)
            assert f["challenger"].shape == f["ambiguous"].shape == f["passes"].shape == (20,)
            assert set(f["passes"]) <= {5, 10, 15, 20}, "rounds of 5 passes, 20 at most"
            assert (f["mean"].argmax(axis=1) == k).all(), "kept images must be accepted"
            assert (f["atypicality"] <= threshold).all(), "and in distribution"
            assert f["x_atypical_rejected"].shape[0] == len(f["atypicality_rejected"]) <= 4, "GALLERY_SIZE at most"
            np.testing.assert_allclose(f["mean"].sum(axis=1), 1, atol=1e-4)
    with np.load(out / "generated.npz") as f:
        assert f["x_train"].shape == (40, 28, 28) and f["x_train"].dtype == np.uint8
        assert f["y_train"].tolist() == [1] * 20 + [7] * 20
        assert f["x_raw"].shape == (40, 28, 28) and f["y_raw"].tolist() == f["y_train"].tolist()
        assert not np.array_equal(f["x_raw"], f["x_train"]), "raw draws come from a noise stream of their own"
    summary = json.loads((out / "summary.json").read_text())
    row = summary["classes"][0]
    assert row["digit"] == 1 and row["accepted"] + row["rejected"] == row["drawn"] >= 20
    assert 0 <= row["out_of_distribution"] <= row["rejected"]
    assert row["ambiguous"] <= row["accepted"]
    assert summary["all"]["drawn"] == sum(r["drawn"] for r in summary["classes"])
    with np.load(out / "digit_1.npz") as f:
        kept = Counter(f["passes"].tolist())
    drawn = {int(p): n for p, n in row["passes"].items()}
    assert sum(drawn.values()) == row["drawn"], "every drawn image's pass count is in the summary"
    assert drawn.get(0, 0) == row["out_of_distribution"], "02 gives an image out of distribution no passes"
    assert all(n <= drawn.get(p, 0) for p, n in kept.items()), "the kept images are among the drawn"
    markdown = (out / "summary.md").read_text()
    assert "| digit | drawn |" in markdown and "| all |" in markdown and "| passes |" in markdown
    def floor_cells(digit):
        cells = next(line for line in markdown.splitlines() if line.startswith(f"| {digit} |")).split("|")
        return [cells[5].strip(), cells[7].strip(), cells[11].strip()]

    assert floor_cells(7) == [f"{per_class[7][name]:.2%}" for name in ("rejection_rate", "ood_rate", "ambiguity_rate")]
    assert floor_cells("all") == ["", "", ""], "two digits drawn: the ten digits' floor is not theirs"
    for name in ("accepted_samples.png", "ambiguity_rate.png", "passes.png", "atypical.png"):
        assert (out / name).stat().st_size > 1000


def test_acgan_generator_gives_the_same_outputs(script, workspace):
    run(script, workspace, GENERATOR="acgan", GENERATOR_DIR=str(workspace / "acgan"),
        OUTPUT_DIR=str(workspace / "out_acgan"))
    with np.load(workspace / "out_acgan" / "generated.npz") as f:
        assert f["x_train"].shape == (40, 28, 28) and f["y_train"].tolist() == [1] * 20 + [7] * 20
        assert (f["mean"].argmax(axis=1) == f["y_train"]).all()


def test_latent_scale_draws_the_noise_wider(script, workspace):
    run(script, workspace, CLASSES="7", LATENT_SCALE=3.0, OUTPUT_DIR=str(workspace / "wide"))
    generator = load_generator(workspace / "gens" / "generator_7.weights.h5", "made by the fixture")
    z = np.random.default_rng((2024 + 7, 1)).standard_normal((20, 4), dtype=np.float32)  # 02's raw-draw stream
    wider = to_uint8(generate_images(generator, z * np.float32(3.0), np.full(20, 7, "int32")))
    narrow = to_uint8(generate_images(generator, z, np.full(20, 7, "int32")))
    with np.load(workspace / "wide" / "digit_7.npz") as f:
        np.testing.assert_array_equal(f["x_raw"], wider)
        assert not np.array_equal(f["x_raw"], narrow)
        assert json.loads(str(f["record"]))["constants"]["LATENT_SCALE"] == 3.0
    with pytest.raises(ConfigError, match=r"LATENT_SCALE must be positive, got -1"):
        run(script, workspace, LATENT_SCALE=-1)


def test_keep_modes_filter_on_the_verdict(script, workspace):
    """Each mode, run on a digit whose draws (KEEP="all") give that verdict, keeps only images of it."""
    run(script, workspace, OUTPUT_DIR=str(workspace / "all"))
    with np.load(workspace / "all" / "generated.npz") as f:
        drawn = {keep: Counter(f["y_train"][f["ambiguous"] == (keep == "ambiguous")].tolist())
                 for keep in ("clear", "ambiguous")}
    for keep, digits in drawn.items():
        k, count = digits.most_common(1)[0]  # these generators draw variations of one image: mostly one verdict
        assert count >= 3, (keep, drawn)
        run(script, workspace, KEEP=keep, CLASSES=str(k), N_PER_CLASS=3, OUTPUT_DIR=str(workspace / keep))
        with np.load(workspace / keep / "generated.npz") as f:
            assert len(f["y_train"]) == 3 and (f["ambiguous"] == (keep == "ambiguous")).all()


def test_the_fixed_rule_gives_every_image_all_passes(script, workspace):
    run(script, workspace, MC_RULE="fixed", N_PER_CLASS=5, OUTPUT_DIR=str(workspace / "fixed"))
    with np.load(workspace / "fixed" / "generated.npz") as f:
        assert (f["passes"] == 20).all()
    summary = json.loads((workspace / "fixed" / "summary.json").read_text())
    every = summary["all"]
    assert every["passes"] == {"20": every["drawn"] - every["out_of_distribution"],
                               **({"0": every["out_of_distribution"]} if every["out_of_distribution"] else {})}, \
        "all passes, but none for an image out of distribution"


def test_max_draws_stops_with_the_counts(script, workspace):
    with pytest.raises(UserError, match=r"digit 1: drew 32 images \(MAX_DRAWS\) but only \d+ of the 1000"):
        run(script, workspace, N_PER_CLASS=1000, MAX_DRAWS=32, OUTPUT_DIR=str(workspace / "stop"))


def test_rerun_skips_finished_digits_and_redraws_stale_ones(script, workspace, base, tmp_path, capsys):
    out = tmp_path / "out"
    shutil.copytree(base, out)
    stamp = (out / "digit_1.npz").stat().st_mtime_ns
    run(script, workspace, OUTPUT_DIR=str(out))
    assert (out / "digit_1.npz").stat().st_mtime_ns == stamp
    record = read_record(out / "digit_1.npz")
    assert record["constants"]["digit"] == 1 and record["constants"]["SEED"] == 2024
    assert set(record["inputs"]) == {"generator", "verifier"}
    assert set(read_record(out / "generated.npz")["inputs"]) == {
        "verifier", "generator of digit 1", "generator of digit 7"}

    capsys.readouterr()
    run(script, workspace, SEED=5, OUTPUT_DIR=str(out))
    assert "digit 1: out/digit_1.npz was made with SEED=2024 (now 5): drawing it again" in \
        capsys.readouterr().out.replace(str(tmp_path) + "/", "")
    assert read_record(out / "digit_1.npz")["constants"]["SEED"] == 5


def test_a_digit_gets_the_same_images_and_verdicts_whatever_was_drawn_before(script, workspace):
    run(script, workspace, CLASSES="1,7", OUTPUT_DIR=str(workspace / "both"))
    run(script, workspace, CLASSES="7", OUTPUT_DIR=str(workspace / "only7"))
    with np.load(workspace / "both" / "digit_7.npz") as a, np.load(workspace / "only7" / "digit_7.npz") as b:
        for name in ("x", "mean", "sd", "passes", "ambiguous"):
            np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_verifier_of_other_constants_is_refused(script, workspace):
    with pytest.raises(UserError, match=r"verifier_default.weights.h5 was made with other settings: "
                                        r"DROPOUT=0.4 \(now 0.3\).*--RETRAIN=1"):
        run(script, workspace, DROPOUT=0.3)


def test_damaged_verifier_names_the_file(script, workspace, tmp_path):
    weights = tmp_path / "weights"
    weights.mkdir()
    (weights / "verifier_default.weights.h5").write_bytes(b"\x89HDF\r\n\x1a\n truncated")
    with pytest.raises(UserError, match=r"verifier_default.weights.h5 is damaged .*--RETRAIN=1"):
        run(script, workspace, WEIGHTS_DIR=str(weights))


def test_missing_generators_say_run_01(script, tmp_path):
    with pytest.raises(UserError, match=r"generator_3.weights.h5.*run 01_train_class_gans.py first"):
        script.main(CLASSES="3", GENERATOR_DIR=str(tmp_path), WEIGHTS_DIR=str(tmp_path), SHIPPED_DIR=str(tmp_path))


def test_bad_keep_is_rejected_before_work(script, tmp_path):
    with pytest.raises(ConfigError, match="KEEP must be one of all, clear, ambiguous"):
        script.main(KEEP="some", GENERATOR_DIR=str(tmp_path))


def test_one_pass_is_refused_in_one_sentence_before_work(script, tmp_path):
    with pytest.raises(ConfigError, match=r"^MC_PASSES must be at least 2, got 1: one pass has no SD, so the "
                                          r"ambiguity rule would call every image clear\.$"):
        script.main(MC_PASSES=1, GENERATOR_DIR=str(tmp_path))


def test_an_unknown_precision_is_refused(script, tmp_path):
    with pytest.raises(ConfigError, match="MC_PRECISION must be one of auto, float32, bfloat16, got 'float16'"):
        script.main(MC_PRECISION="float16", GENERATOR_DIR=str(tmp_path))


def test_draws_only_about_as_many_as_it_keeps():
    assert draws_needed(6000, 0, 0) == 6128, "before any draw: all kept, 2% and 8 to spare"
    assert draws_needed(56, 5944, 6128) == 67, "then at the share kept so far"


def test_no_ood_verdict_under_rate_zero_and_a_bad_layer_is_refused(script, workspace):
    run(script, workspace, OOD_RATE=0.0, N_PER_CLASS=5, OUTPUT_DIR=str(workspace / "no_ood"))
    assert json.loads((workspace / "no_ood" / "summary.json").read_text())["all"]["out_of_distribution"] == 0
    with pytest.raises(ConfigError, match="OOD_LAYER must be conv1, conv2, ... or dense"):
        script.main(OOD_LAYER="fc", GENERATOR_DIR=str(workspace))
    with pytest.raises(UserError, match="OOD_LAYER='conv9' is not a layer of the default verifier: choose one of "):
        run(script, workspace, OOD_LAYER="conv9", OUTPUT_DIR=str(workspace / "conv9"))
