"""Shipped weights: float16 copies with a SHA256 manifest, chosen by 02 and 04 when none are trained here."""

import json
import shutil

import h5py
import numpy as np
import pytest

from models.checkpoint import export_generator
from models import defaults, paths
from models.classifier import build_classifier, predict_classes
from models.data import to_classifier_input
from models.config import UserError
from models.data import select_class, to_gan_range
from models.files import save_weights, write_json
from models.pretrained import MANIFEST, check, choose, main, sha256, ship, ship_measured

from conftest import TINY_VERIFIER, load_script
from test_02_generate_and_verify import image_generator


@pytest.fixture
def classifier_files(tmp_path):
    """A tiny classifier saved as trained here (weights with a record, and its .json), and its shipped copy."""
    trained = tmp_path / "weights" / "independent_classifier.weights.h5"
    model = build_classifier((4, 8), 256)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(np.zeros((4, 28, 28, 1), "float32"), np.zeros(4, "int32"), verbose=0)  # Adam state in the file
    save_weights(model, trained, {"constants": {"DENSE_UNITS": 256}, "inputs": {}})
    write_json(trained.with_name("independent_classifier.json"), {"test_accuracy": 0.5})
    ship([trained], tmp_path / "weights", tmp_path / "shipped")
    return model, trained, tmp_path / "shipped" / "independent_classifier.weights.h5"


def test_ship_stores_float16_without_optimizer_state_with_the_record_and_a_manifest(classifier_files):
    model, trained, shipped = classifier_files
    with h5py.File(trained) as f:
        assert "optimizer" in f
    with h5py.File(shipped) as f:
        assert "optimizer" not in f
        assert json.loads(f.attrs["record"])["constants"] == {"DENSE_UNITS": 256}
        arrays = []
        f.visititems(lambda name, item: arrays.append(item.dtype) if isinstance(item, h5py.Dataset) else None)
        assert len(arrays) == 8 and set(arrays) == {np.dtype("float16")}
    listed = json.loads((shipped.parent / MANIFEST).read_text())
    assert listed == {name: sha256(shipped.parent / name)
                      for name in ("independent_classifier.json", "independent_classifier.weights.h5")}
    assert shipped.stat().st_size < 0.25 * trained.stat().st_size
    again = build_classifier((4, 8), 256)
    again.load_weights(shipped)
    images = to_classifier_input(np.random.default_rng(0).integers(0, 256, (8, 28, 28), dtype=np.uint8))
    np.testing.assert_allclose(again.predict(images, verbose=0), model.predict(images, verbose=0), atol=2e-3)


def test_shipping_a_file_that_is_not_a_default_weights_file_is_refused():
    with pytest.raises(SystemExit, match=r"Only these can be shipped: weights/class_gans/generator_0.weights.h5"):
        main(["weights/ablations/x/generator_0.weights.h5"])


def test_choose_prefers_weights_trained_here_unless_told(classifier_files):
    _, trained, shipped = classifier_files
    assert choose(trained, shipped, "auto") == (trained, "trained here")
    assert choose(trained, shipped, "shipped") == (shipped, "shipped")
    trained.unlink()
    assert choose(trained, shipped, "auto") == (shipped, "shipped")
    assert choose(trained, shipped, "auto", usable=lambda path: False) == (trained, "trained here")
    assert choose(trained, shipped, "trained") == (trained, "trained here")
    assert choose(trained, shipped.with_name("nothing.weights.h5"), "auto") == (trained, "trained here")
    assert choose(shipped, shipped, "auto") == (shipped, "shipped"), "a shipped file named as one trained here"


@pytest.mark.parametrize("damaged", ["independent_classifier.weights.h5", "independent_classifier.json"])
def test_a_damaged_shipped_file_is_refused_with_how_to_restore_it(classifier_files, damaged):
    _, trained, shipped = classifier_files
    file = shipped.parent / damaged
    data = bytearray(file.read_bytes())
    data[len(data) // 2] ^= 1
    file.write_bytes(bytes(data))
    trained.unlink()
    for source in ("auto", "shipped"):
        with pytest.raises(UserError, match=rf"{damaged} is missing or damaged .*MANIFEST.json.*"
                                            rf"restore it with `git checkout -- .*shipped/{damaged}`"):
            choose(trained, shipped, source)


def test_a_file_the_manifest_does_not_list_is_refused(classifier_files):
    _, _, shipped = classifier_files
    with pytest.raises(UserError, match=r"other.weights.h5 is not listed in .*MANIFEST.json"):
        check(shipped.with_name("other.weights.h5"))


@pytest.fixture(scope="module")
def shipped_02(tmp_path_factory, mnist, tiny_verifier):
    """A digit-1 generator and the tiny verifier, found here by 02, then shipped to their own folder."""
    root = tmp_path_factory.mktemp("shipped02")
    shutil.copytree(tiny_verifier["WEIGHTS_DIR"], root / "weights")
    (x_train, y_train), _ = mnist
    first = to_gan_range(select_class(x_train, y_train, 1)[:1])[0]
    export_generator(image_generator(first), root / "weights" / "class_gans" / "generator_1.weights.h5",
                     {"constants": {}, "inputs": {}})
    s02 = load_script("02_generate_and_verify.py")
    run_02(s02, root, WEIGHTS_FROM="trained", GENERATOR_DIR=str(root / "weights" / "class_gans"),
           WEIGHTS_DIR=str(root / "weights"))
    ship([root / "weights" / "class_gans" / "generator_1.weights.h5", root / "weights" / "verifier_default.weights.h5"],
         root / "weights", root / "shipped")
    return s02, root


def run_02(s02, root, **overrides):
    settings = dict(CLASSES="1", N_PER_CLASS=20, DRAW_BATCH=16, MAX_DRAWS=400, **TINY_VERIFIER, GALLERY_SIZE=4,
                    VERBOSE=0, GENERATOR_DIR=str(root / "none"), WEIGHTS_DIR=str(root / "none"),
                    SHIPPED_DIR=str(root / "shipped"), OUTPUT_DIR=str(root / "out"))
    s02.main(**{**settings, **overrides})


def test_02_uses_the_shipped_weights_when_none_are_trained_here_and_says_so(shipped_02, capsys):
    s02, root = shipped_02
    run_02(s02, root)
    printed = capsys.readouterr().out
    assert "generators of class_gans for digit 1: " in printed and "shipped/class_gans (shipped)" in printed
    assert "shipped/verifier_default.weights.h5 (shipped)" in printed
    assert not list((root / "none").rglob("*.weights.h5")), "nothing may be trained when the shipped weights fit"
    with np.load(root / "out" / "generated.npz") as f:
        inputs = json.loads(str(f["record"]))["inputs"]
        assert (f["mean"].argmax(axis=1) == 1).all() and len(f["y_train"]) == 20
    assert inputs["verifier"] == sha256(root / "shipped" / "verifier_default.weights.h5")
    assert inputs["generator of digit 1"] == sha256(root / "shipped" / "class_gans" / "generator_1.weights.h5")
    # its floor was measured for other weights (the float32 ones it was shipped from): measured once, kept where
    # every output folder finds it, then read back
    assert "verifying the 2000 real MNIST test images" in printed
    kept = root / "none" / "shipped" / "verifier_default.floors.json"
    assert [info["measured_with"]["MC_PASSES"] for info in json.loads(kept.read_text())] == [20]
    run_02(s02, root, OUTPUT_DIR=str(root / "elsewhere"))
    assert "verifying the" not in capsys.readouterr().out
    run_02(s02, root, MC_PASSES=10, OUTPUT_DIR=str(root / "elsewhere"))  # another setting: one more floor
    assert [info["measured_with"]["MC_PASSES"] for info in json.loads(kept.read_text())] == [20, 10]


def test_02_reads_the_floors_shipped_beside_the_verifier(shipped_02, tmp_path, capsys):
    s02, root = shipped_02
    shipped = tmp_path / "shipped"
    shutil.copytree(root / "shipped", shipped)
    run_02(s02, root, SHIPPED_DIR=str(shipped), WEIGHTS_DIR=str(tmp_path / "w"), OUTPUT_DIR=str(tmp_path / "a"))
    assert "verifying the" in capsys.readouterr().out
    (tmp_path / "w" / "shipped" / "verifier_default.floors.json").rename(shipped / "verifier_default.floors.json")
    with pytest.raises(UserError, match=r"verifier_default.floors.json is not listed in .*MANIFEST.json"):
        run_02(s02, root, SHIPPED_DIR=str(shipped), WEIGHTS_DIR=str(tmp_path / "w"), OUTPUT_DIR=str(tmp_path / "b"))
    ship_measured(shipped / "verifier_default.floors.json", shipped)  # listed in the manifest: read, not measured
    run_02(s02, root, SHIPPED_DIR=str(shipped), WEIGHTS_DIR=str(tmp_path / "w"), OUTPUT_DIR=str(tmp_path / "b"))
    assert "verifying the" not in capsys.readouterr().out
    assert not (tmp_path / "w" / "shipped" / "verifier_default.floors.json").exists()


def test_02_refuses_a_damaged_shipped_verifier(shipped_02, tmp_path):
    s02, root = shipped_02
    copy = tmp_path / "shipped"
    copy.mkdir()
    for name in [*json.loads((root / "shipped" / MANIFEST).read_text()), MANIFEST]:
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        (copy / name).write_bytes((root / "shipped" / name).read_bytes())
    (copy / "verifier_default.weights.h5").write_bytes(b"\x89HDF\r\n\x1a\n truncated")
    with pytest.raises(UserError, match=r"verifier_default.weights.h5 is missing or damaged.*git checkout -- "):
        run_02(s02, root, SHIPPED_DIR=str(copy), OUTPUT_DIR=str(tmp_path / "out"))


@pytest.mark.slow  # a verifier trained
def test_02_trains_its_own_verifier_when_the_shipped_one_has_other_constants(shipped_02, tmp_path, capsys):
    s02, root = shipped_02
    run_02(s02, root, DROPOUT=0.3, WEIGHTS_DIR=str(tmp_path / "weights"), OUTPUT_DIR=str(tmp_path / "out"))
    assert (tmp_path / "weights" / "verifier_default.weights.h5").is_file()
    assert "training the default verifier" in capsys.readouterr().out


@pytest.mark.slow  # the shipped verifier on every real test digit where its floor is not shipped for this device
@pytest.mark.parametrize("generator", ["class_gans", "acgan"])
def test_02_on_the_shipped_weights_keeps_digits_the_shipped_independent_classifier_agrees_with(generator, tmp_path):
    """What a fresh clone gets: 02 draws and verifies with the weights in git, trains nothing,
    and 04's shipped independent classifier gives at least 98% of what it keeps the intended label."""
    s02 = load_script("02_generate_and_verify.py")
    s02.main(GENERATOR=generator, N_PER_CLASS=30, DRAW_BATCH=100, WEIGHTS_FROM="shipped",
             WEIGHTS_DIR=str(tmp_path / "untouched"), OUTPUT_DIR=str(tmp_path / "out"), VERBOSE=0)
    assert not list((tmp_path / "untouched").rglob("*.weights.h5")), "nothing may be trained"
    judge_file = paths.independent_classifier(paths.resolve(paths.PRETRAINED_WEIGHTS))
    check(judge_file)
    judge = build_classifier(defaults.FILTERS, defaults.DENSE_UNITS)
    judge.load_weights(judge_file)
    with np.load(tmp_path / "out" / "generated.npz") as f:
        x, y = f["x_train"], f["y_train"]
    assert np.bincount(y, minlength=10).tolist() == [30] * 10
    assert np.mean(predict_classes(judge, x) == y) >= 0.98


def test_shipping_floors_adds_them_to_those_shipped(tmp_path):
    shipped, measured = tmp_path / "shipped", tmp_path / "weights" / "shipped"
    measured.mkdir(parents=True)
    shipped.mkdir()
    (shipped / MANIFEST).write_text("{}")
    floor = {"float32": {"measured_with": {"MC_PRECISION": "float32"}, "test_ambiguity_rate": 0.02},
             "bfloat16": {"measured_with": {"MC_PRECISION": "bfloat16"}, "test_ambiguity_rate": 0.03}}
    write_json(shipped / "verifier_default.floors.json", [floor["float32"], floor["bfloat16"]])
    again = {**floor["bfloat16"], "test_ambiguity_rate": 0.025}  # the same settings, measured anew
    gpu = {"measured_with": {"MC_PRECISION": "bfloat16", "MC_BATCH": 16384}, "test_ambiguity_rate": 0.024}
    write_json(measured / "verifier_default.floors.json", [again, gpu])
    ship_measured(measured / "verifier_default.floors.json", shipped)
    assert json.loads((shipped / "verifier_default.floors.json").read_text()) == [floor["float32"], again, gpu]
    check_listed = json.loads((shipped / MANIFEST).read_text())
    assert check_listed == {"verifier_default.floors.json": sha256(shipped / "verifier_default.floors.json")}
