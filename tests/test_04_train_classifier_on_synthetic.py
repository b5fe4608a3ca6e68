"""04 end to end on tiny data: real MNIST images stand in for 02's generated digits."""

import json
import shutil
import sys

import numpy as np
import pytest

from models.config import ConfigError
from models.config import UserError
from models.files import save_npz
from models.judges import JUDGE_CONSTANTS, judge_split
from models.training_sets import half_each

from conftest import REPO, load_script

TINY = dict(REPEATS=1, IMPRESSIONS=2560, INDEPENDENT_IMPRESSIONS=5000, BATCH_SIZE=32, FILTERS="8,16", DENSE_UNITS=64,
            METRIC_SAMPLES=120, JUDGE_HELD_OUT=120, REAL_SUBSET=600, GALLERY_SIZE=6, RESNET_WIDTHS="8,16", VERBOSE=0)
EVERY_SET = ("real", "synthetic", "synthetic-clear", "raw", "acgan", "dcgan+acgan", "real+synthetic", "real+ambiguous")


def write_generated(path, x, y, ambiguous, raw=None):
    """An npz with the keys and types 02 writes; ``raw = (x, y)`` (default: the verified images)."""
    n = len(x)
    mean = np.eye(10, dtype=np.float32)[y]
    save_npz(path, x_train=x, y_train=y.astype(np.uint8), mean=mean, sd=np.zeros((n, 10), np.float32),
             challenger=np.zeros(n, np.int64), ambiguous=ambiguous, x_raw=(raw or (x, y))[0],
             y_raw=(raw or (x, y))[1].astype(np.uint8))


@pytest.fixture(scope="module")
def script():
    return load_script("04_train_classifier_on_synthetic.py")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, mnist):
    """'class_gans': 400 real train images 04 does not use as real data (REAL_SUBSET=600),
    a quarter marked ambiguous, and 400 others as its raw draws; 'acgan': 300 images of pure
    noise, a deliberately bad generator."""
    root = tmp_path_factory.mktemp("w04")
    (x_train, y_train), _ = mnist
    ambiguous = np.arange(400) % 4 == 0
    write_generated(root / "generated.npz", x_train[1000:1400], y_train[1000:1400], ambiguous,
                    raw=(x_train[1400:1800], y_train[1400:1800]))
    noise = np.random.default_rng(0).integers(0, 256, (300, 28, 28), dtype=np.uint8)
    write_generated(root / "generated_acgan.npz", noise, np.arange(300) % 10, np.zeros(300, bool))
    return root


def paths(root, **more):
    return {"GENERATED": str(root / "generated.npz"), "GENERATED_ACGAN": str(root / "generated_acgan.npz"),
            "AMBIGUOUS": "", "WEIGHTS_DIR": str(root / "weights"), "SHIPPED_DIR": str(root / "shipped"),
            "OUTPUT_DIR": str(root / "report"), **more}


def copy_of(workspace, folder):
    """A copy of the workspace (its data, judges, report and finished runs), for a test that adds runs."""
    shutil.copytree(workspace, folder)
    return folder


@pytest.fixture(scope="module")
def report(script, workspace):
    script.main(**TINY, SETS=EVERY_SET, **paths(workspace))
    return json.loads((workspace / "report" / "report.json").read_text())


def test_accuracy_table_has_every_training_set_with_equal_impressions(report, mnist):
    rows = {r["training_set"]: r for r in report["accuracy"]}
    counts = np.bincount(mnist[1][1][:600], minlength=10)  # the real test digits of each class (REAL_SUBSET)
    assert list(rows) == list(EVERY_SET)
    assert [rows[name]["images"] for name in rows] == [600, 400, 300, 400, 300, 400, 667, 700]  # 67 synthetic: a tenth
    for r in rows.values():
        assert r["images_seen"] == 2560 and r["seeds"] == [100] and len(r["accuracies"]) == 1
        if "acgan" not in r["training_set"]:
            assert all(0.3 < a <= 1 for a in r["accuracies"]), r  # 80 steps of a tiny CNN: well above chance
        assert r["mean"] == r["accuracies"][0] and r["sd"] == 0  # one seed (the rerun below adds a second)
        assert np.average(r["per_class"], weights=counts) == pytest.approx(r["mean"]) and r["seconds"] > 0
    # the stand-in AC-GAN draws pure noise: near chance alone, and half of it costs accuracy
    assert rows["acgan"]["mean"] < 0.2 < rows["dcgan+acgan"]["mean"] < rows["synthetic"]["mean"]
    assert report["test_images"] == 600 and report["ambiguous_images"] == 100


def test_half_each_takes_half_of_every_digit_from_each_generator(script):
    a = (np.zeros((9, 28, 28), np.uint8), np.array([0, 0, 0, 0, 1, 1, 1, 1, 1], np.uint8))
    b = (np.full((8, 28, 28), 255, np.uint8), np.array([0, 0, 0, 0, 1, 1, 1, 1], np.uint8))
    x, y = half_each(a, b, np.random.default_rng(0))
    assert list(y) == [0, 0, 0, 0, 1, 1, 1, 1, 1]  # a's count of every digit
    assert [int(x[y == k].max(axis=(1, 2)).sum()) // 255 for k in (0, 1)] == [2, 3]  # from b: 4 - 2, 5 - 2
    with pytest.raises(UserError, match="has 4 images of digit 1, the half-and-half set needs 5"):
        half_each((a[0], np.ones(9, np.uint8)), b, np.random.default_rng(0))


@pytest.mark.parametrize("judge", ["cnn", "resnet"])
def test_metrics_rank_the_noise_generator_below_real_looking_data(report, judge):
    rows = {r["data"]: r for r in report["metrics"] if r["judge"] == judge}
    assert list(rows) == ["per-class DCGANs, raw draws", "per-class DCGANs", "AC-GAN, raw draws", "AC-GAN",
                          "real (floor)"]
    assert report["metric_samples"] == 120 and report["judges"][judge]["settings"]["seed"] == 7
    good, noise, floor = rows["per-class DCGANs"], rows["AC-GAN"], rows["real (floor)"]
    assert good["images"] == 400 and noise["images"] == 300 and floor["images"] == 120
    assert rows["per-class DCGANs, raw draws"]["images"] == 400 and rows["AC-GAN, raw draws"]["fid"] == noise["fid"]
    assert 0.3 < good["label_fidelity"] <= 1 and 0.3 < floor["label_fidelity"] <= 1
    assert noise["label_fidelity"] < good["label_fidelity"]
    assert 0 <= good["fid"] < noise["fid"] and 0 <= floor["fid"] < noise["fid"]
    assert good["precision"] > 0.5 and noise["precision"] < 0.1
    for r in rows.values():
        assert 0 <= r["precision"] <= 1 and 0 <= r["recall"] <= 1
        assert len(r["label_fidelity_per_class"]) == 10


def test_report_and_figures_are_written(report, workspace):
    out = workspace / "report"
    markdown = (out / "report.md").read_text()
    assert "| real + ambiguous synthetic | 700 |" in markdown and "Real test accuracy per digit" in markdown
    assert "| real (floor) | cnn | 120 |" in markdown and "| real (floor) | resnet | 120 |" in markdown
    lowest = report["lowest_fidelity_per_class"]["per-class DCGANs"]
    by_judge = [r["label_fidelity_per_class"] for r in report["metrics"] if r["data"] == "per-class DCGANs"]
    assert lowest == [min(a, b) for a, b in zip(*by_judge)] and "lower of the judges'" in markdown
    assert "not to Inception-v3 features" in markdown and "not comparable to published" in markdown
    for name in ("confusion_matrix_synthetic.png", "disagreements_class_gans.png", "disagreements_acgan.png"):
        assert (out / name).stat().st_size > 1000 and f"]({name})" in markdown
    assert (workspace / "weights" / "independent_classifier.weights.h5").is_file()
    assert (workspace / "weights" / "independent_resnet.weights.h5").is_file()
    info = json.loads((workspace / "weights" / "independent_classifier.json").read_text())
    assert 0.3 < info["test_accuracy"] <= 1 and info["settings"]["train_images"] == 480  # 120 held out


def test_study_table_gives_each_training_set_once_with_the_command_that_made_it(report, workspace):
    sys.path.insert(0, str(REPO / "bench"))
    import study_table

    rows = study_table.rows([workspace / "report", workspace / "report"])  # the second copy adds nothing
    assert [r["training_set"] for r in rows] == [r["training_set"] for r in report["accuracy"]]
    command = rows[0]["command"]
    assert command.startswith("python 04_train_classifier_on_synthetic.py ") and "--SETS=real,synthetic," in command
    assert "--IMPRESSIONS=2560" in command and "--REPEATS=1" in command and "--SEED" not in command
    assert rows[1]["data"].endswith("generated.npz") and rows[0]["data"] is None
    assert "| synthetic only, clear images only (KEEP=clear) |" in study_table.markdown(rows)
    assert "| - | real (floor) | resnet |" in study_table.quality([workspace / "report"])


def test_rerun_trains_only_the_new_seed_and_reuses_the_independent_classifier(report, script, workspace, monkeypatch,
                                                                             tmp_path):
    workspace = copy_of(workspace, tmp_path / "w")
    weights = workspace / "weights" / "independent_classifier.weights.h5"
    stamp = weights.stat().st_mtime_ns
    trained = []
    original = script.train_classifier
    monkeypatch.setattr(script, "train_classifier", lambda model, x, *a, **k: trained.append(len(x)) or
                        original(model, x, *a, **k))
    script.main(**{**TINY, "REPEATS": 2}, **paths(workspace, GENERATED_ACGAN=""))
    assert sorted(trained) == [400, 400, 600, 667, 700]  # one new run (seed 101) per training set
    assert weights.stat().st_mtime_ns == stamp
    again = json.loads((workspace / "report" / "report.json").read_text())
    assert [(r["judge"], r["data"]) for r in again["metrics"]] == [
        (judge, data) for judge in ("cnn", "resnet") for data in ("per-class DCGANs, raw draws", "per-class DCGANs",
                                                              "real (floor)")]
    first = {r["training_set"]: r["accuracies"] for r in report["accuracy"]}
    assert [r["accuracies"][:1] for r in again["accuracy"]] == [first[r["training_set"]] for r in again["accuracy"]]
    for r in again["accuracy"]:
        assert r["seeds"] == [100, 101] and r["mean"] == pytest.approx(np.mean(r["accuracies"]))
        assert r["sd"] == pytest.approx(np.std(r["accuracies"], ddof=1)) and r["sd"] > 0


def test_a_new_shift_retrains_every_run_but_never_the_judge(report, script, workspace, monkeypatch, tmp_path):
    workspace = copy_of(workspace, tmp_path / "w")
    assert report["record"]["constants"]["SHIFT"] == 2 and report["settings"]["shift"] == 2
    stamp = (workspace / "weights" / "independent_classifier.weights.h5").stat().st_mtime_ns
    shifts = []
    original = script.train_classifier
    monkeypatch.setattr(script, "train_classifier", lambda *a, shift, **k: shifts.append(shift) or
                        original(*a, shift=shift, **k))
    script.main(**{**TINY, "SETS": "real,synthetic", "SHIFT": 0}, **paths(workspace))
    assert shifts == [0, 0]  # seed 100's runs of both training sets (on record, shifted) again, unshifted
    assert (workspace / "weights" / "independent_classifier.weights.h5").stat().st_mtime_ns == stamp


def test_a_new_synthetic_share_retrains_only_the_mixed_set(report, script, workspace, monkeypatch, tmp_path):
    workspace = copy_of(workspace, tmp_path / "w")
    assert report["record"]["constants"]["SYNTHETIC_SHARE"] == 0.1
    trained = []
    original = script.train_classifier
    monkeypatch.setattr(script, "train_classifier", lambda model, x, *a, **k: trained.append(len(x)) or
                        original(model, x, *a, **k))
    script.main(**{**TINY, "REPEATS": 1, "SYNTHETIC_SHARE": 0.4}, **paths(workspace, GENERATED_ACGAN=""))
    assert trained == [1000]  # 600 real + 400 synthetic; seed 100's other four runs are on record
    rows = {r["training_set"]: r for r in json.loads((workspace / "report" / "report.json").read_text())["accuracy"]}
    assert rows["real+synthetic"]["description"] == "real + synthetic (40% synthetic)"
    with pytest.raises(UserError, match=r"SYNTHETIC_SHARE=0.5 needs 600 synthetic images beside 600 real ones, but "
                                        r".*generated.npz has 400: lower it"):
        script.main(**{**TINY, "SYNTHETIC_SHARE": 0.5}, **paths(workspace))


def test_independent_classifier_trained_with_other_constants_is_refused(report, script, workspace):
    with pytest.raises(UserError, match=r"independent_classifier.weights.h5 was made with other settings: "
                                        r"DENSE_UNITS=64 \(now 32\).*--RETRAIN=1"):
        script.main(**{**TINY, "DENSE_UNITS": 32}, **paths(workspace))


def test_report_records_its_constants_and_inputs(report):
    assert report["record"]["constants"]["IMPRESSIONS"] == TINY["IMPRESSIONS"]
    assert set(report["record"]["inputs"]) == {"class_gans data", "acgan data", "independent cnn judge",
                                               "independent resnet judge"}


def test_missing_generated_data_says_run_02(script, tmp_path):
    missing = tmp_path / "nowhere" / "generated.npz"
    with pytest.raises(UserError, match=r"Missing generated data .*nowhere/generated.npz: run 02_generate_and_verify"):
        script.main(**TINY, **paths(tmp_path, GENERATED=str(missing)))


@pytest.mark.parametrize("x, raw, problem", [
    (np.zeros((5, 28, 28), np.float32), True, "x_train is float32"),
    (np.zeros((5, 28, 27), np.uint8), True, r"x_train is uint8 \(5, 28, 27\)"),
    (np.zeros((5, 28, 28), np.uint8), False, "no x_raw, y_raw"),  # an older 02's file
])
def test_wrongly_shaped_generated_data_names_the_file(script, tmp_path, x, raw, problem):
    path = tmp_path / "generated.npz"
    arrays = dict(x_raw=np.zeros((5, 28, 28), np.uint8), y_raw=np.zeros(5, np.uint8)) if raw else {}
    save_npz(path, x_train=x, y_train=np.zeros(5, np.uint8), ambiguous=np.zeros(5, bool), **arrays)
    with pytest.raises(UserError, match=rf"generated.npz is not generated data as 02_generate_and_verify.py writes "
                                        rf"it \({problem}"):
        script.main(**TINY, **paths(tmp_path))


def test_damaged_acgan_data_names_its_producer(script, tmp_path, workspace):
    (tmp_path / "generated_acgan.npz").write_bytes(b"not a zip file")
    with pytest.raises(UserError, match=r"generated_acgan.npz .*rerun 02_generate_and_verify.py --GENERATOR=acgan"):
        script.main(**TINY, **paths(tmp_path, GENERATED=str(workspace / "generated.npz")))


def test_bad_constants_are_rejected_before_work(script, tmp_path):
    with pytest.raises(ConfigError, match=r"IMPRESSIONS \(10\) must be at least BATCH_SIZE \(32\)"):
        script.main(**{**TINY, "IMPRESSIONS": 10}, **paths(tmp_path))
    with pytest.raises(ConfigError, match="SHIFT"):
        script.main(**{**TINY, "SHIFT": 28}, **paths(tmp_path))
    with pytest.raises(ConfigError, match=r"SYNTHETIC_SHARE must lie in \(0, 1\), got 1.0"):
        script.main(**{**TINY, "SYNTHETIC_SHARE": 1.0}, **paths(tmp_path))
    with pytest.raises(ConfigError, match=r"SETS must name real, synthetic and any of .*\('real', 'fresh'\)"):
        script.main(**{**TINY, "SETS": "real,fresh"}, **paths(tmp_path))


def test_acgan_training_sets_without_acgan_data_say_what_to_run(script, workspace):
    with pytest.raises(UserError, match="SETS names AC-GAN training sets but GENERATED_ACGAN names no file: run "
                                        "02_generate_and_verify.py --GENERATOR=acgan"):
        script.main(**TINY, SETS="real,synthetic,acgan", **paths(workspace, GENERATED_ACGAN=""))


def write_between(path, mnist, n_test=600):
    """An npz with the keys and types 05 writes: 100 real images as 'between-class' digits with
    soft labels split 0.6 / 0.4 with the next class, 100 others as their twins (80 clear), and
    every 12th real test image flagged ambiguous."""
    (x_train, y_train), _ = mnist
    y = y_train[1800:1900]
    mean = 0.6 * np.eye(10, dtype=np.float32)[y] + 0.4 * np.eye(10, dtype=np.float32)[(y + 1) % 10]
    save_npz(path, x_train=x_train[1800:1900], y_train=y, mean=mean, x_clear=x_train[1900:2000],
             clear=np.arange(100) < 80, test_ambiguous=np.arange(n_test) % 12 == 0)


@pytest.fixture(scope="module")
def ambiguity(report, script, workspace, mnist, tmp_path_factory):
    """The ambiguity experiment, run after the main table in a copy of its workspace: ``(folder, report)``."""
    root = copy_of(workspace, tmp_path_factory.mktemp("w04_ambiguity") / "w")
    write_between(root / "ambiguous.npz", mnist)
    script.main(**{**TINY, "AMBIGUITY_REPEATS": 2}, **paths(root, AMBIGUOUS=str(root / "ambiguous.npz")))
    return root, json.loads((root / "report" / "report.json").read_text())


def test_ambiguity_experiment_trains_hard_soft_and_twin_sets_at_equal_impressions(report, ambiguity):
    workspace, again = ambiguity
    rows = {r["training_set"]: r for r in again["ambiguity_experiment"]}
    assert list(rows) == ["real", "real+between", "real+between-soft", "real+twins"]
    assert [r["images"] for r in rows.values()] == [600, 680, 680, 680] and again["hard_test_images"] == 50
    real = rows["real"]
    assert real["accuracies"][:1] == report["accuracy"][0]["accuracies"]  # the main table's real-only run, shared
    for r in rows.values():
        assert r["images_seen"] == 2560 and r["seeds"] == [100, 101] and all(0.3 < a <= 1 for a in r["accuracies"])
        assert all(round(50 * h) == pytest.approx(50 * h) for h in r["hard_accuracies"])  # out of 50 hard images
        diffs = np.array(r["accuracies"]) - real["accuracies"]
        assert r["difference"] == pytest.approx(diffs.mean())
        assert r["difference_se"] == pytest.approx(diffs.std(ddof=1) / np.sqrt(2))
        assert r["hard_difference"] == pytest.approx(np.mean(np.array(r["hard_accuracies"]) - real["hard_accuracies"]))
    assert rows["real+between"]["accuracies"] != rows["real+between-soft"]["accuracies"]  # the soft labels are used
    assert "between-class data" in again["record"]["inputs"]
    markdown = (workspace / "report" / "report.md").read_text()
    assert "## Does ambiguous data help?" in markdown and "the 50 real test images the verifier flags" in markdown


def test_ambiguity_experiment_alone_needs_no_generated_data_and_reuses_its_runs(script, ambiguity, monkeypatch,
                                                                                tmp_path):
    workspace = copy_of(ambiguity[0], tmp_path / "w")
    trained = []
    monkeypatch.setattr(script, "train_classifier", lambda *a, **k: trained.append(1))
    script.main(**{**TINY, "AMBIGUITY_REPEATS": 2}, **paths(workspace, GENERATED="", GENERATED_ACGAN="",
                                                               AMBIGUOUS=str(workspace / "ambiguous.npz")))
    assert trained == []  # every run, real-only included, was finished with the experiment
    alone = json.loads((workspace / "report" / "report.json").read_text())
    assert alone["accuracy"] is None and alone["metrics"] is None and len(alone["ambiguity_experiment"]) == 4
    assert set(alone["record"]["inputs"]) == {"between-class data"}
    markdown = (workspace / "report" / "report.md").read_text()
    assert "## Does ambiguous data help?" in markdown and "Quality of the generated images" not in markdown


def test_no_generated_data_and_no_between_class_data_says_what_to_run(script, tmp_path):
    with pytest.raises(ConfigError, match=r"GENERATED \(02's generated.npz\) or AMBIGUOUS \(05's ambiguous.npz\)"):
        script.main(**TINY, **paths(tmp_path, GENERATED=""))
    with pytest.raises(UserError, match=r"GENERATED is empty and there is no .*ambiguous.npz: run 05_make_ambiguous"):
        script.main(**TINY, **paths(tmp_path, GENERATED="", AMBIGUOUS=str(tmp_path / "ambiguous.npz")))


def test_between_class_data_verified_on_too_few_test_images_is_refused(script, workspace, mnist, tmp_path):
    write_between(tmp_path / "ambiguous.npz", mnist, n_test=200)
    with pytest.raises(UserError, match=r"ambiguous.npz is not what this 04 needs \(flags for 200 test images\); "
                                        r"rerun 05_make_ambiguous_digits.py \(TEST_SUBSET=0\)"):
        script.main(**TINY, **paths(workspace, AMBIGUOUS=str(tmp_path / "ambiguous.npz")))



@pytest.mark.parametrize("kind", ["cnn", "resnet"])
def test_the_shipped_judges_are_the_ones_04_trains_at_its_defaults(script, mnist, kind):
    """So that 04 on a fresh clone reads both judges instead of training them."""
    from models import paths as where
    from models.config import resolve
    from models.record import make_record, matches

    cfg = resolve(vars(script), {})
    (x, y), _ = mnist
    fit_rows, _ = judge_split(cfg, len(x))
    record = make_record(cfg, JUDGE_CONSTANTS[kind], inputs={"training images": x[fit_rows],
                                                              "training labels": y[fit_rows]})
    assert matches(where.independent_classifier(where.resolve(where.PRETRAINED_WEIGHTS), kind), record)
