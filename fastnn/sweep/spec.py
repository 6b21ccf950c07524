"""A sweep's specification: a TOML file read with tomllib, checked, with clear errors.

    [sweep]                 # all optional
    seed = 0                # trial seeds and random draws derive from it
    trials = 100            # random search: configurations drawn per grid point
    seeds = 1               # runs per configuration, each with its own seed
    metric = "val_acc"      # what ranks the trials: val_acc (higher) or val_loss (lower)
    best = 20               # trials in the summary table and the figure
    [data]
    dataset = "mnist"       # mnist, mnist-sample, fashion-mnist
    data_dir = "..."        # optional: the four IDX files (as fastnn train --data-dir)
    train_size = 500        # optional: the first N training images
    validation = 0.2        # fraction of them held out to score the trials
    [train]                 # fixed fastnn train options: epochs = 50, batch_size = 100
    [axes]                  # varied fastnn train options:
    batch_size = [32, 100]                  # a list: a grid axis
    lr = {log_uniform = [1e-6, 1e-2]}       # 10**U(log10 low, log10 high), needs trials
    momentum = {uniform = [0.5, 0.99]}      # U(low, high)
    activation = {choice = ["relu", "sigmoid"]}

Option names are fastnn train's, with ``_`` or ``-`` (batch_size, batch-size).
"""
import hashlib
import json
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .options import RESERVED, option_names

__all__ = ["Axis", "Spec", "SpecError", "load_spec", "parse_spec", "RANDOM_KINDS"]

#: Random axis kinds: {kind = [...]}.
RANDOM_KINDS = ("log_uniform", "uniform", "choice")
SECTIONS = ("sweep", "data", "train", "axes")
SWEEP_KEYS = {"seed": 0, "trials": None, "seeds": 1, "metric": "val_acc", "best": 20}
DATA_KEYS = {"dataset": "mnist", "data_dir": None, "train_size": None, "validation": 0.2}
METRICS = ("val_acc", "val_loss")
DATASETS = ("mnist", "mnist-sample", "fashion-mnist")


class SpecError(ValueError):
    """A sweep specification that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Axis:
    """One varied option: ``kind`` "grid" (``values``) or a RANDOM_KINDS draw
    (``values`` = (low, high) or the choices)."""
    name: str
    kind: str
    values: tuple

    @property
    def random(self):
        return self.kind != "grid"


@dataclass
class Spec:
    """A checked specification (see the module docstring)."""
    path: str
    seed: int = 0
    trials: int | None = None
    seeds: int = 1
    metric: str = "val_acc"
    best: int = 20
    data: dict = field(default_factory=lambda: dict(DATA_KEYS))
    train: dict = field(default_factory=dict)
    axes: list = field(default_factory=list)

    def identity(self):
        """What defines the sweep's trials (JSON-able): same identity, same table."""
        return {"seed": self.seed, "trials": self.trials, "seeds": self.seeds,
                "data": self.data, "train": self.train,
                "axes": [[a.name, a.kind, list(a.values)] for a in self.axes]}

    def digest(self):
        """A short hash of ``identity()``, recorded in the output folder."""
        text = json.dumps(self.identity(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def random_axes(self):
        return [a for a in self.axes if a.random]

    @property
    def grid_axes(self):
        return [a for a in self.axes if not a.random]


def load_spec(path):
    """The Spec in the TOML file ``path``; SpecError naming the file and line:column of a
    syntax error, or the section and key of a wrong setting."""
    p = Path(path)
    try:
        text = p.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise SpecError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SpecError(f"{path}: is a directory, expected a TOML file") from None
    except UnicodeDecodeError as e:
        raise SpecError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SpecError(_syntax_error(path, e, text)) from None
    return parse_spec(doc, str(path))


def _syntax_error(path, e, text):
    """``spec.toml:3:7: Expected '=' after a key ...``: file, line and column first (the
    end of the file's last line when the parser ran out of text)."""
    msg = str(e)
    line, col = getattr(e, "lineno", None), getattr(e, "colno", None)
    m = re.search(r"\s*\(at line (\d+), column (\d+)\)$", msg)
    if m:
        line, col = line or int(m.group(1)), col or int(m.group(2))
        msg = msg[:m.start()]
    elif m := re.search(r"\s*\(at end of document\)$", msg):
        lines = text.rstrip("\n").split("\n")
        line, col = len(lines), len(lines[-1]) + 1
        msg = msg[:m.start()] + " (at the end of the file)"
    where = f"{path}:{line}:{col}" if line else str(path)
    return f"{where}: TOML syntax error: {msg}"


def parse_spec(doc, path="<spec>"):
    """Check the parsed TOML ``doc`` (a dict) and return a Spec."""
    def fail(msg):
        raise SpecError(f"{path}: {msg}")

    unknown = [k for k in doc if k not in SECTIONS]
    if unknown:
        fail(f"unknown section {unknown[0]!r}; expected {', '.join('[' + s + ']' for s in SECTIONS)}")
    for s in SECTIONS:
        if s in doc and not isinstance(doc[s], dict):
            fail(f"{s}: expected a [{s}] table, got {_kind(doc[s])}")
    spec = Spec(path=path)

    sweep = _keys(doc.get("sweep", {}), SWEEP_KEYS, "sweep", fail)
    spec.seed = _int(sweep.get("seed", 0), "[sweep] seed", fail, low=0)
    if "trials" in sweep:
        spec.trials = _int(sweep["trials"], "[sweep] trials", fail, low=1)
    spec.seeds = _int(sweep.get("seeds", 1), "[sweep] seeds", fail, low=1)
    spec.metric = sweep.get("metric", "val_acc")
    if spec.metric not in METRICS:
        fail(f"[sweep] metric: expected one of {', '.join(METRICS)}, got {spec.metric!r}")
    spec.best = _int(sweep.get("best", 20), "[sweep] best", fail, low=1)

    data = _keys(doc.get("data", {}), DATA_KEYS, "data", fail)
    spec.data = {**DATA_KEYS, **data}
    if spec.data["dataset"] not in DATASETS:
        fail(f"[data] dataset: expected one of {', '.join(DATASETS)}, got {spec.data['dataset']!r}")
    if spec.data["data_dir"] is not None and not isinstance(spec.data["data_dir"], str):
        fail(f"[data] data_dir: expected a directory name, got {_kind(spec.data['data_dir'])}")
    if spec.data["train_size"] is not None:
        spec.data["train_size"] = _int(spec.data["train_size"], "[data] train_size", fail, low=2)
    v = spec.data["validation"]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= 0.5:
        fail(f"[data] validation: expected a fraction in (0, 0.5] of the training set, got {v!r}")
    spec.data["validation"] = float(v)

    names = option_names()
    valid = ", ".join(names)
    for section in ("train", "axes"):
        for key in doc.get(section, {}):
            dest = key.replace("-", "_")
            if dest in RESERVED:
                fail(f"[{section}] {key}: not a sweep setting: {RESERVED[dest]}")
            if dest not in names:
                fail(f"[{section}] {key}: unknown option; fastnn train options a sweep can "
                     f"set or vary: {valid}")
    spec.train = {k.replace("-", "_"): v for k, v in doc.get("train", {}).items()}
    for key, value in spec.train.items():
        if isinstance(value, dict):
            fail(f"[train] {key}: a fixed option takes a value, got a table (random draws "
                 f"belong in [axes])")
    for key, value in doc.get("axes", {}).items():
        dest = key.replace("-", "_")
        if dest in spec.train:
            fail(f"[axes] {key}: also set in [train]; give it in one of them")
        spec.axes.append(_axis(dest, key, value, fail))
    if spec.random_axes and spec.trials is None:
        fail(f"[sweep] trials: needed with random axes ({', '.join(a.name for a in spec.random_axes)}): "
             "how many configurations to draw")
    if spec.trials is not None and not spec.random_axes:
        fail("[sweep] trials: set, but no axis is random ({log_uniform = [low, high]}, "
             "{uniform = [low, high]} or {choice = [...]}); use lists for a grid")
    return spec


def _axis(dest, key, value, fail):
    where = f"[axes] {key}"
    if isinstance(value, list):
        if not value:
            fail(f"{where}: empty list; a grid axis needs at least one value")
        return Axis(dest, "grid", tuple(_hashable(v, where, fail) for v in value))
    if not isinstance(value, dict):
        fail(f"{where}: expected a list of values (grid) or a table "
             f"{{log_uniform | uniform | choice = [...]}} (random), got {_kind(value)}")
    if len(value) != 1 or next(iter(value)) not in RANDOM_KINDS:
        fail(f"{where}: expected one of {', '.join(RANDOM_KINDS)} in the table, got "
             f"{', '.join(value) or 'an empty table'}")
    kind, args = next(iter(value.items()))
    if not isinstance(args, list) or not args:
        fail(f"{where}: {kind} expects a non-empty list, got {args!r}")
    if kind == "choice":
        return Axis(dest, kind, tuple(_hashable(v, where, fail) for v in args))
    if len(args) != 2 or not all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                 and math.isfinite(x) for x in args):
        fail(f"{where}: {kind} expects [low, high], two finite numbers, got {args!r}")
    low, high = (float(x) for x in args)
    if low >= high:
        fail(f"{where}: {kind} low {args[0]!r} >= high {args[1]!r}; expected low < high")
    if kind == "log_uniform" and low <= 0:
        fail(f"{where}: log_uniform needs low > 0, got {args[0]!r}")
    return Axis(dest, kind, (low, high))


def _hashable(v, where, fail):
    """A value as a hashable: lists (hidden = [[100, 100], [50]]) as tuples."""
    if isinstance(v, list):
        return tuple(_hashable(x, where, fail) for x in v)
    if isinstance(v, dict):
        fail(f"{where}: a value cannot be a table, got {v!r}")
    return v


def _keys(table, allowed, section, fail):
    for k in table:
        if k not in allowed:
            fail(f"[{section}] {k}: unknown key; expected one of {', '.join(allowed)}")
    return table


def _int(v, where, fail, low):
    if isinstance(v, bool) or not isinstance(v, int) or v < low:
        fail(f"{where}: expected an integer >= {low}, got {v!r}")
    return v


def _kind(v):
    return {dict: "a table", list: "a list", str: "a string"}.get(type(v), type(v).__name__)
