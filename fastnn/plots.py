"""Figures of chapter 4: the gradient field of x0^2 + x1^2 and a gradient-descent path.

Headless: figures are built with ``matplotlib.figure.Figure`` (no pyplot, no
backend switch) and written atomically to a file (temporary file in the
target directory, then ``os.replace``).
"""
import os
import tempfile

import numpy as np

from .gradient import gradient_descent, numerical_gradient


def function_2(x):
    """f(x0, x1) = x0^2 + x1^2, the book's example."""
    return x[0] ** 2 + x[1] ** 2


def _save(fig, path):
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    suffix = os.path.splitext(path)[1] or ".png"
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            fig.savefig(f, format=suffix[1:], dpi=100)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def plot_gradient_field(path, f=function_2, *, lim=2.0, step=0.25):
    """Arrows of -grad f on a grid over [-lim, lim]^2 (they point towards the minimum).

    Writes a PNG (or the format of path's extension) and returns path.
    """
    from matplotlib.figure import Figure

    ticks = np.arange(-lim, lim + step / 2, step)
    X, Y = np.meshgrid(ticks, ticks)
    grad = np.empty((2,) + X.shape)
    for idx in np.ndindex(X.shape):
        grad[(slice(None),) + idx] = numerical_gradient(f, np.array([X[idx], Y[idx]]))
    fig = Figure(figsize=(6, 6))
    ax = fig.add_subplot()
    ax.quiver(X, Y, -grad[0], -grad[1], angles="xy", color="#666666")
    ax.set_xlim(-lim - 0.5, lim + 0.5)
    ax.set_ylim(-lim - 0.5, lim + 0.5)
    ax.set_xlabel("x0")
    ax.set_ylabel("x1")
    ax.grid(True)
    ax.set_title("-grad f, f = x0^2 + x1^2")
    return _save(fig, path)


def plot_descent_path(path, f=function_2, init_x=(-3.0, 4.0), lr=0.1, step_num=20):
    """Gradient descent from init_x drawn over the contours of f; returns path."""
    from matplotlib.figure import Figure

    _, trace = gradient_descent(f, np.asarray(init_x, dtype=np.float64), lr=lr, step_num=step_num,
                                return_path=True)
    g = np.linspace(-4.5, 4.5, 181)
    X, Y = np.meshgrid(g, g)
    Z = f(np.array([X, Y]))
    fig = Figure(figsize=(6, 6))
    ax = fig.add_subplot()
    ax.contour(X, Y, Z, levels=12, colors="#bbbbbb", linewidths=0.8)
    ax.axhline(0, color="#0000ff", linestyle="--", linewidth=0.8)
    ax.axvline(0, color="#0000ff", linestyle="--", linewidth=0.8)
    ax.plot(trace[:, 0], trace[:, 1], "o-", markersize=4)
    ax.set_xlim(-3.5, 3.5)
    ax.set_ylim(-4.5, 4.5)
    ax.set_xlabel("X0")
    ax.set_ylabel("X1")
    ax.set_title(f"gradient descent, lr={lr}, {step_num} steps")
    return _save(fig, path)
