"""kernels.graph_numgrad on descriptions that fastnn's networks do not build (one activation
kind per network there): sigmoid and ReLU layers mixed, so that the power series carried
through a sigmoid then meets a ReLU, against the book's loop in NumPy; and the series through
sigmoids at the largest step against the same loop in long double."""
import os

import numba
import numpy as np
import pytest

import kernels.graph as G
import kernels.graph_numgrad as GN

from . import reference as R

DELTA = 1e-7


def table(widths, kinds):
    """Rows Affine -> kinds[i] -> ... -> Affine -> SoftmaxWithLoss."""
    rows = []
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:])):
        rows.append((G.AFFINE, n_in, n_out))
        if i < len(kinds):
            rows.append((kinds[i], n_out, n_out))
    rows.append((G.SOFTMAX_LOSS, widths[-1], widths[-1]))
    return G.build(rows)


def book_loss(ops, theta, x, t):
    """The book's forward pass and cross-entropy (with its 1e-7) over the table, in NumPy."""
    h = x
    for row in ops:
        kind, n_in, n_out, p = (int(v) for v in row[:4])
        if kind == G.AFFINE:
            W = theta[p:p + n_in * n_out].reshape(n_in, n_out)
            h = R.affine_forward(h, W, theta[p + n_in * n_out:p + n_in * n_out + n_out])
        elif kind == G.SIGMOID:
            h = R.sigmoid(h)
        elif kind == G.RELU:
            h = R.relu(h)
    y = R.softmax(h)
    return -np.sum(np.log(y[np.arange(len(t)), t] + DELTA)) / len(t)


@pytest.mark.parametrize("kinds", [(G.SIGMOID, G.RELU), (G.RELU, G.SIGMOID), (G.SIGMOID, G.RELU, G.SIGMOID)])
def test_mixed_activations_match_the_book_loop(kinds):
    widths = (9, 7, 6, 5, 4)[:len(kinds) + 2]
    ops, _, P, width = table(widths, kinds)
    rng = np.random.default_rng(len(kinds) + kinds[0])
    theta = rng.standard_normal(P)
    theta[-widths[-1]:] += 0.3
    n = 8
    x = rng.uniform(size=(n, widths[0])) * (rng.uniform(size=(n, widths[0])) < 0.6)
    t = rng.integers(0, widths[-1], size=n)
    ref = R.numerical_gradient(lambda: book_loss(ops, theta, x, t), theta)
    acts = np.empty(n * width)
    GN.forward_rows(ops, theta, x, acts)
    for method in ("cached", "full"):
        grad = np.empty(P)
        if method == "cached":
            GN.numgrad_cached(ops, theta, x, t.astype(np.intp), acts, 1e-4, DELTA, numba.get_num_threads(), grad)
        else:
            GN.numgrad_full(ops, theta, x, t.astype(np.intp), acts, 0.0, 1e-4, DELTA, numba.get_num_threads(), 16,
                            grad)
        # central differences of float64 losses 2h apart, as in test_numerical_graph: measured <= 2e-11
        assert np.max(np.abs(grad - ref)) < 5e-11, method
    assert np.abs(ref).max() > 1e-2


@pytest.mark.skipif(np.finfo(np.longdouble).eps > 1e-18, reason="long double is no wider than float64 here")
@pytest.mark.parametrize("kinds", [(G.SIGMOID, G.SIGMOID), (G.SIGMOID, G.SIGMOID, G.SIGMOID)])
def test_series_through_sigmoids_against_long_double(kinds):
    """h = 1e-3, the largest step the series take, against the book's loop in long double:
    the fourth- and fifth-order terms of the series carried through a sigmoid (d^3 and d^4
    of the gradient) show here and not against the float64 full method."""
    widths = (9, 7, 6, 5, 4)[:len(kinds) + 2]
    ops, _, P, width = table(widths, kinds)
    rng = np.random.default_rng(20 + len(kinds))
    theta = 1.5 * rng.standard_normal(P)
    n = 6
    x = rng.uniform(0.5, 1.0, size=(n, widths[0])) * (rng.uniform(size=(n, widths[0])) < 0.7)
    t = rng.integers(0, widths[-1], size=n)
    h = 1e-3
    th, xl = theta.astype(np.longdouble), x.astype(np.longdouble)
    ref = R.numerical_gradient(lambda: book_loss(ops, th, xl, t), th, np.longdouble(h)).astype(np.float64)
    acts = np.empty(n * width)
    GN.forward_rows(ops, theta, x, acts)
    grad = np.empty(P)
    GN.numgrad_cached(ops, theta, x, t.astype(np.intp), acts, h, DELTA, numba.get_num_threads(), grad)
    err = np.max(np.abs(grad - ref)) / np.abs(ref).max()
    if os.environ.get("FASTNN_SHOW_AGREEMENT"):
        print(f"\n  {kinds}: {err:.2e}")
    # of the largest entry: measured 7.9e-16 (two sigmoid layers), 3.2e-16 (three); a wrong
    # product in the fourth-order term of the series through a sigmoid: 6e-15 - 1.4e-14,
    # in the fifth-order one: 1.8e-13 - 8.3e-13
    assert err < 3e-15
