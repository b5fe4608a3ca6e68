"""bench/score_generators.py, the scorer behind every ablation row: on the shipped weights,
a trained generator must outscore an untrained one of the same architecture."""

import json
import sys
from types import SimpleNamespace

import keras
import pytest

from models import paths
from models.checkpoint import load_generator
from models.classifier import build_classifier
from models.config import shared_defaults
from models.files import load_weights

from conftest import REPO, shipped_verifier

sys.path.insert(0, str(REPO / "bench"))
import score_generators  # noqa: E402

pytestmark = pytest.mark.slow  # a benchmark's JSON line, on the shipped judges: .ci/run runs them after the rest

SHIPPED = paths.resolve(paths.PRETRAINED_WEIGHTS)
CFG = shared_defaults(SEED=0, N_PER_CLASS=120, MC_PASSES=10, MC_BATCH=512, NEAREST_K=3,  # 02's verdict, fewer passes
                      LATENT_SCALE_02=1.5)


@pytest.fixture(scope="module")
def judged(mnist):
    """(verifier, its density, independent classifier, real test 7s, held-out real train 7s): the shipped judges."""
    verifier, density = shipped_verifier()
    classifier = build_classifier(dense_units=512)
    load_weights(classifier, paths.independent_classifier(SHIPPED), "")
    (x_train, y_train), (x_test, y_test) = mnist
    return verifier, density, classifier, x_test[y_test == 7], x_train[y_train == 7][-500:]


@pytest.fixture(scope="module")
def trained():
    return load_generator(paths.class_gan_generator(SHIPPED / "class_gans", 7), "")


@pytest.fixture(scope="module")
def scores(judged, trained):
    keras.utils.set_random_seed(0)
    untrained = keras.models.clone_model(trained)  # the same layers, freshly initialised
    return {name: score_generators.score_class(7, generator, *judged, CFG)
            for name, generator in (("trained", trained), ("untrained", untrained))}


def test_a_trained_generator_draws_its_digit_and_an_untrained_one_does_not(scores):
    trained, untrained = scores["trained"], scores["untrained"]
    assert trained["label_fidelity"] >= 0.9 and trained["rejection_rate"] <= 0.1
    assert untrained["label_fidelity"] <= 0.5 and untrained["rejection_rate"] >= 0.5
    assert untrained["ood_rate"] >= 0.9 and trained["ood_rate"] <= 0.1, "an untrained generator draws no digits"
    assert trained["rejection_rate_02"] > trained["rejection_rate"], "02's wider noise draws less typical digits"
    for r in scores.values():
        assert r["class"] == 7 and r["fid_images"] == CFG.N_PER_CLASS
        assert 0 <= r["ambiguity_rate"] <= 1 and 0 <= r["precision"] <= 1 and 0 <= r["recall"] <= 1


def test_fid_and_recall_put_the_trained_generator_near_the_real_floor(scores):
    trained, untrained = scores["trained"], scores["untrained"]
    assert trained["fid_floor"] == untrained["fid_floor"]  # the same real images on both sides
    assert trained["fid"] < 2 * trained["fid_floor"] and untrained["fid"] > 5 * trained["fid"]
    assert untrained["recall"] < trained["recall"] <= trained["recall_floor"] + 0.1


def test_a_row_repeats_for_the_same_seed(scores, judged, trained):
    assert score_generators.score_class(7, trained, *judged, CFG) == scores["trained"]


def test_the_one_pass_rule_comes_with_its_threshold(judged, trained):
    """MC_RULE="one_pass" flags an image as 02 does, below ONE_PASS_CONFIDENCE; without the threshold,
    one pass has SD 0 and the 2-SD rule would flag next to nothing."""
    def rate(**settings):
        return score_generators.score_class(7, trained, *judged, SimpleNamespace(**{**vars(CFG), **settings}))[
            "ambiguity_rate"]

    everything, shipped = rate(MC_RULE="one_pass", ONE_PASS_CONFIDENCE=1.0), rate(MC_RULE="one_pass")
    assert everything > 0.5 > shipped > 0, (everything, shipped)


@pytest.mark.parametrize("judge", ["cnn", "resnet"])
def test_stdout_is_one_json_line_for_appending_to_a_table(judge, capsys, tmp_path):
    """The rows are made with ``>> docs/....jsonl``: which weights the judges come from goes to stderr.
    Either of 04's judges scores the draws."""
    score_generators.main(GENERATOR_DIR=str(SHIPPED / "class_gans"), CLASSES="7", N_PER_CLASS=20, MC_PASSES=2,
                          NAME="one_line", JUDGE=judge, WEIGHTS_FROM="shipped", WEIGHTS_DIR=str(tmp_path / "weights"),
                          OUTPUT_DIR=str(tmp_path))
    out, err = capsys.readouterr()
    row = json.loads(out)
    assert out.count("\n") == 1 and row["name"] == "one_line" and row["judge"] == judge
    assert f"independent {judge} judge: " in err, "the judge named is the one loaded"
    assert row["min_label_fidelity"] >= 0.8, "the shipped 7s are read as 7s by either judge"
