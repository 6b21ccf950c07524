"""Input checks at the API boundary.

Every check raises with a message that names the argument, what was
expected and what came, e.g.
``x: expected (N, 784) float32 or float64, got (100, 28, 28) uint8``.
Kernels behind these checks assume valid input.
"""
import numbers

import numpy as np

from kernels import checks

FLOATS = (np.float32, np.float64)


class ShapeError(ValueError):
    """An array argument has the wrong shape."""


def _shape_str(shape):
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def describe(a):
    """'(100, 28, 28) uint8' for an array, the type name for anything else."""
    if isinstance(a, np.ndarray):
        return f"{_shape_str(a.shape)} {a.dtype}"
    return type(a).__name__


def _expected(shape, dtype_text):
    if shape is None:
        return dtype_text
    dims = ", ".join("N" if s is None else str(s) for s in shape)
    if len(shape) == 1:
        dims += ","
    return f"({dims}) {dtype_text}"


class _Want:
    """The expected dtype in words, formatted only when a message needs it."""

    def __init__(self, dtype):
        self.dtype = dtype

    def __format__(self, spec):
        return np.dtype(self.dtype).name if self.dtype is not None else "float32 or float64"


def as_float_array(name, a, *, shape=None, ndim=None, dtype=None, finite=True):
    """Return ``a`` as a C-contiguous float32/float64 ndarray, or raise.

    shape: tuple with ``None`` for free dimensions, e.g. ``(None, 784)``.
    ndim: int or tuple of allowed ranks, when shape is not given.
    dtype: required float dtype; default either float32 or float64.
    finite: True rejects NaN and inf, "nan" rejects NaN only, False neither.
    Python lists and scalars are accepted and converted to float64.
    """
    want = _Want(dtype)
    if not isinstance(a, np.ndarray):
        try:
            a = np.asarray(a, dtype=dtype if dtype is not None else np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"{name}: expected {_expected(shape, want)} array, got {type(a).__name__}") from None
    if (dtype is not None and a.dtype != dtype) or (dtype is None and a.dtype not in FLOATS):
        raise TypeError(f"{name}: expected {_expected(shape or (None,) * a.ndim, want)}, got {describe(a)}")
    bad_rank = (shape is not None and a.ndim != len(shape)) or (
        ndim is not None and a.ndim not in (ndim if isinstance(ndim, tuple) else (ndim,)))
    bad_dim = shape is not None and not bad_rank and any(
        s is not None and s != d for s, d in zip(shape, a.shape))
    if bad_rank or bad_dim:
        if shape is not None:
            exp = _expected(shape, want)
        else:
            ranks = ndim if isinstance(ndim, tuple) else (ndim,)
            exp = " or ".join(f"{r}-D" for r in ranks) + f" {want}"
        raise ShapeError(f"{name}: expected {exp}, got {describe(a)}")
    if a.size == 0:
        raise ShapeError(f"{name}: expected a non-empty array, got {describe(a)}")
    if not a.flags.c_contiguous:
        a = np.copy(a, order="C")
    if finite:
        flat = a.reshape(-1)
        if not (checks.all_finite(flat) if finite is True else not checks.any_nan(flat)):
            ok = np.isfinite(flat) if finite is True else ~np.isnan(flat)
            bad = np.flatnonzero(~ok)
            what = "no NaN" if finite == "nan" else "finite values"
            raise ValueError(f"{name}: expected {what}, got {bad.size} non-finite "
                             f"(first {flat[bad[0]]} at flat index {bad[0]}) in {describe(a)}")
    return a


def as_labels(name, t, n, k):
    """Integer class labels (n,) in [0, k) as intp, or raise."""
    if not isinstance(t, np.ndarray):
        t = np.asarray(t)
    if t.dtype.kind not in "iu":
        raise TypeError(f"{name}: expected ({n},) integer labels, got {describe(t)}")
    if t.shape != (n,):
        raise ShapeError(f"{name}: expected ({n},) integer labels or ({n}, {k}) one-hot, got {describe(t)}")
    labels = np.ascontiguousarray(t, dtype=np.intp)
    if t.size and (t.dtype.kind == "u" and t.max() > np.iinfo(np.intp).max
                   or not checks.labels_in_range(labels, k)):
        raise ValueError(f"{name}: labels must lie in [0, {k}), got values in [{t.min()}, {t.max()}]")
    return labels


def as_targets(name, t, y2d):
    """Targets for y2d (N, K): integer labels (N,) -> ('labels', intp array),
    or one-hot/soft (N, K) floats -> ('dense', array of y2d's dtype)."""
    n, k = y2d.shape
    t = t if isinstance(t, np.ndarray) else np.asarray(t)
    if t.ndim == 2 or (t.ndim == 1 and n == 1 and t.size == k and t.dtype.kind == "f"):
        t2 = t.reshape(1, k) if t.ndim == 1 else t      # a single one-hot row for a single sample
        if t2.shape != (n, k):
            raise ShapeError(f"{name}: expected ({n},) integer labels or ({n}, {k}) one-hot, got {describe(t)}")
        if t2.dtype.kind not in "iuf":
            raise TypeError(f"{name}: expected numeric one-hot targets, got {describe(t)}")
        t2 = np.ascontiguousarray(t2, dtype=y2d.dtype)
        if not np.isfinite(t2).all():
            raise ValueError(f"{name}: expected finite values, got NaN/inf in {describe(t)}")
        return "dense", t2
    if t.ndim == 0 and n == 1:
        t = t.reshape(1)
    return "labels", as_labels(name, t, n, k)


def same_dtype(name, a, ref_name, ref):
    """Raise unless a has the dtype of ref."""
    if a.dtype != ref.dtype:
        raise TypeError(f"{name}: expected {ref.dtype} to match {ref_name}, got {describe(a)}")


def _is_int(v):
    return not isinstance(v, (bool, np.bool_)) and isinstance(v, (int, np.integer))


def positive_int(name, v):
    """int(v) for an integer v > 0, else ValueError (also for 2.5 or True)."""
    if not _is_int(v) or v <= 0:
        raise ValueError(f"{name}: expected a positive integer, got {v!r}")
    return int(v)


def nonnegative_int(name, v):
    """int(v) for an integer v >= 0."""
    if not _is_int(v) or v < 0:
        raise ValueError(f"{name}: expected an integer >= 0, got {v!r}")
    return int(v)


def positive_float(name, v, *, allow_zero=False):
    """float(v) for a finite v > 0 (>= 0 with allow_zero)."""
    f = _real(name, v)
    if not np.isfinite(f) or f < 0 or (f == 0 and not allow_zero):
        rel = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name}: expected a finite number {rel}, got {v!r}")
    return f


def unit_interval(name, v):
    """float(v) for 0 <= v < 1 (a decay rate such as momentum or Adam's betas)."""
    f = _real(name, v)
    if not 0 <= f < 1:
        raise ValueError(f"{name}: expected a number in [0, 1), got {v!r}")
    return f


def one_of(name, v, choices):
    """v if it is one of choices (strings), else ValueError listing them."""
    if not isinstance(v, str) or v not in choices:
        raise ValueError(f"{name}: expected one of {', '.join(map(repr, choices))}, got {v!r}")
    return v


def _real(name, v):
    """float(v) for a real number (Python, NumPy or a 0-d array), else TypeError."""
    if isinstance(v, np.ndarray) and v.ndim == 0:
        v = v[()]
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name}: expected a number, got {_short(v)}")
    return float(v)


def _short(v):
    """An argument in a message: arrays by shape and dtype, anything else by type and value."""
    if isinstance(v, np.ndarray):
        return describe(v)
    text = repr(v)
    return f"{type(v).__name__} {text if len(text) <= 40 else text[:37] + '...'}"
