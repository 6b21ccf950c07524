"""Gradient check: backprop against the numerical gradient, per parameter.

The book checks its backprop by comparing it with the numerical gradient on
a few real MNIST samples.  Two effects separate the two gradients:

* the finite difference itself (h = 1e-4; its error is of order h^2 times the
  third derivative), which is tiny; and
* the book's ``delta`` = 1e-7 inside ``log(y + delta)``: the numerical gradient
  differentiates that loss, while the backprop formula ``(y - t) / N`` is the
  gradient of the plain ``-log y``.  This is most of the difference the book
  reports (mean abs about 1e-7 for b2 on a ReLU net).

``gradient_check`` compares backprop with the numerical gradient of the loss
with a given ``delta``; called with ``delta=0`` it isolates the first effect.
"""
import copy

import numpy as np

from kernels import DELTA

from ._checks import ShapeError
from .numerical import numerical_gradient


def compare(numerical, backprop):
    """Mean abs, max abs and max relative difference of two gradients.

    The relative error of an entry is |a - b| / (|a| + |b|) (0 where both are 0).
    """
    a = np.asarray(numerical, dtype=np.float64)
    b = np.asarray(backprop, dtype=np.float64)
    if a.shape != b.shape or a.size == 0:
        raise ShapeError(f"backprop: expected the shape of numerical {a.shape} (non-empty), got {b.shape}")
    diff = np.abs(a - b)
    scale = np.abs(a) + np.abs(b)
    rel = np.divide(diff, scale, out=np.zeros_like(diff), where=scale > 0)
    return {"mean_abs": float(diff.mean()), "max_abs": float(diff.max()), "max_rel": float(rel.max())}


def gradient_check(net, x, t, *, method=None, delta=DELTA, h=1e-4):
    """Compare ``net.gradient(x, t)`` (backprop) with the numerical gradient, per parameter.

    Any fastnn network (:mod:`fastnn.numerical`); both sides include its weight
    decay.  Returns ``{name: {"mean_abs", "max_abs", "max_rel"}}`` for every
    entry of ``net.params`` (W1, b1, ..., Wn, bn).  method: the numerical
    method (None: the fastest that applies).  delta: the constant inside the
    log of the loss whose numerical gradient is taken (the book's 1e-7 by
    default; 0 isolates the finite-difference error).

    With dropout, backprop uses the masks the numerical gradient held fixed (the net's
    ``rng`` is put back to its state before the numerical gradient, then advances as one
    training forward advances it); batch normalization's running statistics (``state``)
    are left as they were.
    """
    rng = getattr(net, "rng", None)
    rng_state = copy.deepcopy(rng.bit_generator.state) if isinstance(rng, np.random.Generator) else None
    state = getattr(net, "state", None)
    kept = state.copy() if isinstance(state, np.ndarray) else None
    numerical = numerical_gradient(net, x, t, method, h=h, delta=delta)
    if rng_state is not None:
        rng.bit_generator.state = rng_state
    backprop = net.gradient(x, t)
    if kept is not None:
        state[...] = kept
    return {k: compare(numerical[k], backprop[k]) for k in net.params}


def format_report(results, title):
    """A small fixed-width table of gradient_check results."""
    w = max([5, *map(len, results)])
    lines = [title, f"  {'param':{w}s} {'mean abs':>10s} {'max abs':>10s} {'max rel':>10s}"]
    for k, r in results.items():
        lines.append(f"  {k:{w}s} {r['mean_abs']:10.3e} {r['max_abs']:10.3e} {r['max_rel']:10.3e}")
    return "\n".join(lines)
