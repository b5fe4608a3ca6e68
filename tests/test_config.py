import pytest

from models.config import ConfigError, describe, parse_args, resolve, script_defaults

from conftest import REPO, load_script

DEFAULTS = {"EPOCHS": 30, "LEARNING_RATE": 2e-4, "NAME": "mnist", "CLASSES": (0, 1, 2), "VERBOSE": True,
            "lowercase": 1}


def test_defaults_are_the_upper_case_constants():
    cfg = resolve(DEFAULTS, {})
    assert vars(cfg) == {"EPOCHS": 30, "LEARNING_RATE": 2e-4, "NAME": "mnist", "CLASSES": (0, 1, 2), "VERBOSE": True}


def test_shell_strings_take_the_type_of_the_default():
    cfg = resolve(DEFAULTS, {"EPOCHS": "5", "LEARNING_RATE": "1e-3", "NAME": "fashion_mnist",
                             "CLASSES": "3,4", "VERBOSE": "false"})
    values = (cfg.EPOCHS, cfg.LEARNING_RATE, cfg.NAME, cfg.CLASSES, cfg.VERBOSE)
    assert values == (5, 1e-3, "fashion_mnist", (3, 4), False)


def test_python_values_from_tests_are_accepted():
    cfg = resolve(DEFAULTS, {"EPOCHS": 2, "LEARNING_RATE": 1, "CLASSES": [7], "VERBOSE": False})
    assert (cfg.EPOCHS, cfg.LEARNING_RATE, cfg.CLASSES, cfg.VERBOSE) == (2, 1.0, (7,), False)


def test_unknown_name_lists_the_valid_ones():
    valid = "EPOCHS, LEARNING_RATE, NAME, CLASSES, VERBOSE"
    with pytest.raises(ConfigError, match=f"Unknown constant EPOCH. Valid names: {valid}"):
        resolve(DEFAULTS, {"EPOCH": "5"})


@pytest.mark.parametrize("name, value", [("EPOCHS", "five"), ("EPOCHS", "2.5"), ("EPOCHS", 2.5),
                                         ("LEARNING_RATE", "fast"), ("CLASSES", "1,x"), ("VERBOSE", "maybe"),
                                         ("EPOCHS", True)])
def test_ill_typed_value_is_a_clear_error(name, value):
    with pytest.raises(ConfigError, match=f"--{name} must be"):
        resolve(DEFAULTS, {name: value})


def test_parse_args_and_help(capsys):
    assert parse_args(["--EPOCHS=3", "--CLASSES=1,2"], DEFAULTS) == {"EPOCHS": "3", "CLASSES": "1,2"}
    with pytest.raises(SystemExit):
        parse_args(["EPOCHS=3"], DEFAULTS)
    with pytest.raises(SystemExit):
        parse_args(["--help"], DEFAULTS)
    assert "EPOCHS" in capsys.readouterr().out


def test_only_the_scripts_own_constants_are_knobs():
    for filename, imported in (("03_train_acgan.py", "DATASETS"),):
        namespace = vars(load_script(filename))
        assert isinstance(namespace[imported], tuple), "the premise: an UPPER_CASE tuple imported from models/"
        assert imported not in vars(resolve(namespace, {})) and "EPOCHS" in vars(resolve(namespace, {}))
        with pytest.raises(ConfigError, match=f"Unknown constant {imported}"):
            resolve(namespace, {imported: "a,b"})


def test_the_shared_defaults_a_script_imports_are_its_knobs(capsys):
    namespace = vars(load_script("02_generate_and_verify.py"))
    cfg = resolve(namespace, {"MC_RULE": "fixed"})
    assert cfg.MC_RULE == "fixed" and cfg.MC_PASSES == 100 and cfg.N_PER_CLASS == 6000
    assert "ONE_PASS_CONFIDENCE" in vars(cfg) and "SAVED" not in vars(cfg), "a tuple imported from elsewhere is none"
    with pytest.raises(ConfigError, match="--MC_PASSES must be int"):
        resolve(namespace, {"MC_PASSES": "many"})
    assert "ambiguous below this top probability" in describe(namespace), "the comment in models/defaults.py"


def test_script_defaults_are_read_without_running_the_script():
    namespace = script_defaults(REPO / "01_train_class_gans.py")
    assert namespace["EPOCHS"] == 85 and namespace["CLASSES"] == tuple(range(10))
    assert "WEIGHTS_DIR" not in namespace, "set from models.paths: an expression, not a literal"
    assert vars(resolve(namespace, {"EPOCHS": "3"}))["EPOCHS"] == 3


def test_help_shows_each_constant_with_its_comment():
    script = load_script("01_train_class_gans.py")
    text = describe(vars(script))
    assert "SAMPLE_EVERY" in text and "redraw the sample grid and loss curve every this many epochs" in text


@pytest.mark.parametrize("overrides, message", [
    ({"CLASSES": "3,11"}, "CLASSES must be distinct digits"),
    ({"EPOCHS": 0}, "EPOCHS must be at least 1"),
    ({"REAL_LABEL": 1.5}, "REAL_LABEL must lie in"),
    ({"MAX_IMAGES": 10, "BATCH_SIZE": 64}, "MAX_IMAGES"),
])
def test_01_rejects_bad_constants_before_loading_data(overrides, message, tmp_path):
    script = load_script("01_train_class_gans.py")
    with pytest.raises(ConfigError, match=message):
        script.main(DATA_DIR=str(tmp_path / "does-not-exist"), **overrides)
