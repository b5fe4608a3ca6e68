"""UPPER_CASE constants at the top of a script, overridable as ``--NAME=value``, and the
errors a user can fix (bad constants, missing or damaged files).

A script calls ``cfg = resolve(globals(), overrides)`` first thing in ``main`` so every
override is type-checked before any heavy work, and ends with
``main(**parse_args(sys.argv[1:], globals()))``.
"""

import ast
import re
import sys
from pathlib import Path
from types import SimpleNamespace

CONSTANT = re.compile(r"^[A-Z][A-Z0-9_]*$")
SHARED = "models.defaults"  # knobs several scripts share: a script imports them by name under a heading
_SHARED_FILE = Path(__file__).with_name("defaults.py")
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


class UserError(ValueError):
    """Bad input, a missing or damaged file, an impossible setting: its sentence says what to do.
    Scripts print that sentence instead of a traceback."""


class ConfigError(UserError):
    """An override names no constant or has the wrong type."""


def constants(namespace):
    """The knobs of a script's ``globals()``, in order: the UPPER_CASE constants its file assigns
    or imports from ``models.defaults`` (any other UPPER_CASE table it imports is not a knob)."""
    path = namespace.get("__file__")
    own = knob_names(path) if path else None
    names = [name for name, value in namespace.items() if CONSTANT.match(name)
             and isinstance(value, (bool, int, float, str, tuple)) and (own is None or name in own)]
    shared = {name: i for i, name in enumerate(re.findall(r"^([A-Z][A-Z0-9_]*) =", _SHARED_FILE.read_text(), re.M))}
    assigned = _assigned(path) if path else set(names)
    slots = [i for i, name in enumerate(names) if name in shared and name not in assigned]
    for i, name in zip(slots, sorted((names[i] for i in slots), key=shared.get)):  # in models/defaults.py's order
        names[i] = name
    return {name: namespace[name] for name in names}


def _assigned(path):
    return set(re.findall(r"^([A-Z][A-Z0-9_]*)\s*=", Path(path).read_text(), flags=re.M))


def knob_names(path):
    """The UPPER_CASE names a script file assigns at its top level or imports from ``models.defaults``."""
    names = set()
    for node in ast.parse(Path(path).read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.module == SHARED:
            names.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return {name for name in names if CONSTANT.match(name)}


def shared_defaults(**overrides):
    """``models/defaults.py``'s knobs as a namespace, with ``overrides``: for a benchmark or a test
    that needs the verifier's, the verdict's or the judges' settings without a script."""
    from models import defaults

    return SimpleNamespace(**{**{name: getattr(defaults, name) for name in dir(defaults) if CONSTANT.match(name)},
                              **overrides})


def script_defaults(path):
    """The knobs a script file sets to literal values or imports from ``models.defaults``, read as
    data (the script is not run), as a namespace ``resolve`` takes: how a benchmark starts from a
    script's defaults without importing it. Knobs set by an expression (paths from
    ``models.paths``) are left out."""
    namespace = {"__file__": str(path)}
    shared = vars(shared_defaults())
    for node in ast.parse(Path(path).read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.module == SHARED:
            namespace.update({alias.asname or alias.name: shared[alias.name] for alias in node.names})
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                namespace[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                continue
    return namespace


def resolve(namespace, overrides):
    """Defaults from ``namespace`` with ``overrides`` applied and converted to their types."""
    values = constants(namespace)
    unknown = sorted(set(overrides) - set(values))
    if unknown:
        raise ConfigError(
            f"Unknown constant{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}. "
            f"Valid names: {', '.join(values)}."
        )
    for name, raw in overrides.items():
        values[name] = convert(name, raw, values[name])
    return SimpleNamespace(**values)


def convert(name, raw, default):
    """``raw`` (a string from the shell, or a Python value from a test) as ``default``'s type."""
    kind = type(default)
    try:
        if isinstance(default, tuple):
            item = type(default[0]) if default else str
            parts = raw.split(",") if isinstance(raw, str) else list(raw)
            return tuple(_scalar(item, p) for p in parts if not (isinstance(p, str) and not p.strip()))
        return _scalar(kind, raw)
    except (TypeError, ValueError) as err:
        shown = f"a tuple of {type(default[0]).__name__}" if isinstance(default, tuple) and default else kind.__name__
        raise ConfigError(f"--{name} must be {shown} (default {default!r}); got {raw!r}.") from err


def _scalar(kind, raw):
    if isinstance(raw, str):
        raw = raw.strip()
        if kind is bool:
            if raw.lower() not in _TRUE | _FALSE:
                raise ValueError(raw)
            return raw.lower() in _TRUE
        return kind(raw)
    if kind is bool and not isinstance(raw, bool):
        raise TypeError(raw)
    if kind is int and (isinstance(raw, bool) or not isinstance(raw, int)):
        raise TypeError(raw)
    if kind is float and (isinstance(raw, bool) or not isinstance(raw, (int, float))):
        raise TypeError(raw)
    return kind(raw)


def at_least_one(cfg, *names):
    """One problem sentence for each named constant below 1."""
    return [f"{name} must be at least 1, got {getattr(cfg, name)}" for name in names if getattr(cfg, name) < 1]


def in_range(cfg, name, low, high, low_open=False, high_open=False):
    """A problem sentence unless constant ``name`` lies in the interval from ``low`` to ``high``."""
    value = getattr(cfg, name)
    above = value > low if low_open else value >= low
    below = value < high if high_open else value <= high
    if above and below:
        return []
    return [f"{name} must lie in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}, got {value}"]


def zero_or_at_least(cfg, name, other):
    """A problem sentence unless constant ``name`` is 0 (off) or at least constant ``other``."""
    value, minimum = getattr(cfg, name), getattr(cfg, other)
    return [] if value == 0 or value >= minimum else [f"{name} ({value}) must be 0 or at least {other} ({minimum})"]


def one_of(cfg, name, choices):
    """A problem sentence if constant ``name`` is not one of ``choices``."""
    value = getattr(cfg, name)
    return [] if value in choices else [f"{name} must be one of {', '.join(choices)}, got {value!r}"]


def each_one_of(cfg, name, choices):
    """A problem sentence unless every item of tuple constant ``name`` is one of ``choices``."""
    wrong = [item for item in getattr(cfg, name) if item not in choices]
    return [f"{name} takes items from {', '.join(choices)}, got {', '.join(map(repr, wrong))}"] if wrong else []


def distinct_digits(cfg, name="CLASSES"):
    """A problem sentence unless constant ``name`` is a non-empty tuple of distinct digits 0-9."""
    value = getattr(cfg, name)
    if value and len(set(value)) == len(value) and set(value) <= set(range(10)):
        return []
    return [f"{name} must be distinct digits 0-9, got {value}"]


def reject(problems):
    """Raise one ConfigError listing ``problems`` (sentences), if there are any."""
    if problems:
        raise ConfigError("; ".join(problems) + ".")


def parse_args(argv, namespace):
    """``["--EPOCHS=5", ...]`` -> ``{"EPOCHS": "5", ...}``; ``--help`` lists the constants."""
    overrides = {}
    for arg in argv:
        if arg in ("-h", "--help"):
            print(describe(namespace))
            sys.exit(0)
        match = re.match(r"^--([A-Za-z0-9_]+)=(.*)$", arg)
        if not match:
            sys.exit(f"Arguments look like --NAME=value (got {arg!r}); --help lists the names.")
        overrides[match.group(1)] = match.group(2)
    return overrides


def describe(namespace):
    """One line per constant: name, default and the comment beside it in the script."""
    source = _SHARED_FILE.read_text()  # a script's own comment wins
    source += Path(namespace["__file__"]).read_text() if "__file__" in namespace else ""
    comments = dict(re.findall(r"^([A-Z][A-Z0-9_]*) = .*?#\s*(.*)$", source, flags=re.M))
    lines = [f"{(namespace.get('__doc__') or '').strip()}\n", "Constants (override as --NAME=value):"]
    for name, value in constants(namespace).items():
        lines.append(f"  {name:<18} {value!r:<24} {comments.get(name, '')}")
    return "\n".join(lines)


def command_line(script, overrides):
    """The shell command that runs ``script`` with ``overrides`` (as ``--NAME=value``), for a report."""
    def shown(value):
        return ",".join(map(str, value)) if isinstance(value, (tuple, list)) else str(value)

    return " ".join(["python", Path(script).name, *(f"--{name}={shown(value)}" for name, value in overrides.items())])


def run_main(main, namespace):
    """Run a script's ``main`` with shell overrides; a UserError exits with its sentence."""
    try:
        main(**parse_args(sys.argv[1:], namespace))
    except UserError as err:
        sys.exit(f"error: {err}")
