"""Plots written to files (matplotlib, headless).

Figures are built with ``matplotlib.figure.Figure`` and saved with
``savefig``: no pyplot, no backend switching, no windows.  Each file is
written atomically, so a failed save leaves any previous file in place.

Chapter 4: the gradient field of x0^2 + x1^2 and a gradient-descent path.
Training: accuracy per epoch (the book's figure) and loss per iteration.
"""
import os

import numpy as np

from ._atomic import atomic_write
from .gradient import gradient_descent, numerical_gradient


def _save(fig, path):
    fmt = os.path.splitext(os.fspath(path))[1].lstrip(".").lower() or "png"
    with atomic_write(path) as f:
        fig.savefig(f, format=fmt, dpi=100)
    return os.fspath(path)


# -- chapter 4: gradients ------------------------------------------------------
def function_2(x):
    """f(x0, x1) = x0^2 + x1^2, the book's example."""
    return x[0] ** 2 + x[1] ** 2


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


# -- training curves ------------------------------------------------------------
def _curve_figure(title):
    """A 6x4 in figure with one axes and fixed margins: a "tight" layout would draw
    the figure twice (measured 0.19 s against 0.12 s per plot)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4))
    title = _two_lines(title) if title else title
    top = 0.96 if not title else 0.9 if "\n" not in title else 0.86
    fig.subplots_adjust(left=0.12, right=0.97, bottom=0.13, top=top)
    ax = fig.add_subplot()
    if title:
        ax.set_title(title, fontsize=9)
    return fig, ax


#: Characters of a 9-point title that fit across the 6-inch figure.
TITLE_WIDTH = 80


def _two_lines(title):
    """A title longer than TITLE_WIDTH broken at the ", " nearest its middle (it would be
    cut off at the figure's edge)."""
    if len(title) <= TITLE_WIDTH:
        return title
    cuts = [i for i in range(len(title)) if title.startswith(", ", i)]
    if not cuts:
        return title
    i = min(cuts, key=lambda c: abs(c - len(title) // 2))
    return title[:i + 1] + "\n" + title[i + 2:]


def run_title(dataset, sizes, activation, optimizer, lr, seed, **more):
    """``mnist, 784-50-10 sigmoid, SGD lr 0.1, seed 0`` and any ``more`` as ``key value``."""
    extra = "".join(f", {k.replace('_', ' ')} {v}" for k, v in more.items() if v is not None)
    return f"{dataset}, {'-'.join(map(str, sizes))} {activation}, {optimizer} lr {lr:g}{extra}, seed {seed}"


def _finite(values):
    return [v for v in values if v is not None and np.isfinite(v)]


def _diverged_note(ax, history, diverged):
    """Write on the axes that the run diverged: ``diverged`` = (iteration, loss), or
    found as the first non-finite batch loss of the history."""
    if diverged is None:
        bad = [i for i, v in enumerate(history["loss"]) if v is None or not np.isfinite(v)]
        if not bad:
            return
        diverged = (bad[0] + 1, history["loss"][bad[0]])
    it, loss = diverged
    ax.text(0.5, 0.5, f"DIVERGED: loss {loss} at iteration {it}", transform=ax.transAxes,
            ha="center", va="center", color="#b00000", fontsize=12,
            bbox=dict(facecolor="white", edgecolor="#b00000"))


def _epoch_axis(ax, epochs):
    from matplotlib.ticker import MaxNLocator
    ax.set_xlim(0.5, max(epochs, default=1) + 0.5)      # one epoch: not a 0.96-1.04 axis
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def plot_accuracy(history, path, title=None, diverged=None):
    """Train, validation and test accuracy per epoch, as in the book's figure; saved to path.

    history: a Trainer history (``epoch``, ``train_acc``, ``test_acc``, maybe ``val_acc``).
    The accuracy axis is fitted to the values (the gap between train and test lies in a
    few hundredths). title: a line naming the run (run_title). diverged: (iteration,
    loss) of a run that diverged, written on the plot (found in the history if None).
    """
    fig, ax = _curve_figure(title)
    epochs = history["epoch"]
    shown = []
    for key, label, style in (("train_acc", "train acc", dict(marker="o")),
                              ("val_acc", "val acc", dict(marker="^", linestyle="-.")),
                              ("test_acc", "test acc", dict(marker="s", linestyle="--"))):
        values = history.get(key)
        if values and _finite(values):
            xs = [e for e, v in zip(epochs, values) if v is not None]
            ys = [v for v in values if v is not None]
            ax.plot(xs, ys, markersize=3, label=label, **style)
            shown += _finite(ys)
    ax.set_xlabel("epochs")
    ax.set_ylabel("accuracy")
    if shown:
        lo, hi = min(shown), max(shown)
        pad = max(0.01, 0.08 * (hi - lo))
        ax.set_ylim(max(0.0, lo - pad), min(1.0, hi + pad))
        ax.legend(loc="lower right")
    else:
        ax.set_ylim(0, 1)
        ax.text(0.5, 0.35, "no epoch finished", transform=ax.transAxes, ha="center")
    _epoch_axis(ax, epochs)
    _diverged_note(ax, history, diverged)
    _save(fig, path)


def plot_loss(history, path, title=None, diverged=None):
    """The mini-batch loss at every iteration with its per-epoch mean, and the validation
    and test loss per epoch, on a log scale; saved to ``path``. title, diverged: as in
    plot_accuracy."""
    fig, ax = _curve_figure(title)
    loss = history["loss"]
    its = [i for i, v in enumerate(loss, 1) if v is not None and np.isfinite(v) and v > 0]
    if its:
        ax.plot(its, [loss[i - 1] for i in its], linewidth=0.6, alpha=0.6, label="batch loss",
                marker="." if len(its) < 50 else None)      # a few points stay visible
    for key, label, style in (("train_loss", "epoch mean", dict(marker="o")),
                              ("val_loss", "val loss", dict(marker="^", linestyle="-.")),
                              ("test_loss", "test loss", dict(marker="s", linestyle="--"))):
        pairs = [(i, v) for i, v in zip(history["iteration"], history.get(key) or ())
                 if v is not None and np.isfinite(v) and v > 0]
        if pairs:
            ax.plot(*zip(*pairs), markersize=3, label=label, **style)
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss (log scale)" if ax.get_lines() else "loss")
    if ax.get_lines():
        from matplotlib.ticker import LogFormatter
        ax.set_yscale("log")
        for axis in (ax.yaxis.set_major_formatter, ax.yaxis.set_minor_formatter):
            axis(LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))
        ax.legend(loc="upper right")
    last = max(len(loss), diverged[0] if diverged else 0, 1)
    ax.set_xlim(0, last * 1.02 + 1)        # one point: not a 0.96-1.04 axis
    _diverged_note(ax, history, diverged)
    _save(fig, path)


# -- evaluation reports -----------------------------------------------------------
def plot_confusion(cm, names, path, title="confusion matrix"):
    """The confusion matrix cm[true, predicted] as a heat map with counts; saved to path."""
    from matplotlib.figure import Figure

    C = cm.shape[0]
    fig = Figure(figsize=(7, 6.2))
    ax = fig.add_subplot()
    rows = np.maximum(cm.sum(axis=1, keepdims=True), 1)
    ax.imshow(cm / rows, cmap="Blues", vmin=0, vmax=1)       # colour: share of the true class
    for i in range(C):
        for j in range(C):
            if cm[i, j]:
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if cm[i, j] / rows[i, 0] > 0.5 else "black")
    ax.set_xticks(range(C), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(C), names, fontsize=8)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title, fontsize=10)
    fig.subplots_adjust(left=0.2, right=0.97, bottom=0.2, top=0.93)
    return _save(fig, path)


def plot_mistakes(images, true, pred, conf, names, path, title="most confident mistakes"):
    """A grid of images (K, 784) with "true -> predicted (probability)" under each; saved to path."""
    from matplotlib.figure import Figure

    k = len(images)
    cols = min(5, max(k, 1))
    rows = max(1, -(-k // cols))
    fig = Figure(figsize=(1.9 * cols, 2.1 * rows + 0.4))
    fig.suptitle(title, fontsize=10)
    for i in range(rows * cols):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.set_axis_off()
        if i < k:
            ax.imshow(np.asarray(images[i]).reshape(28, 28), cmap="gray_r", vmin=0, vmax=1)
            ax.set_title(f"{names[true[i]]} -> {names[pred[i]]}\n({conf[i]:.2f})", fontsize=8)
    if k == 0:
        fig.text(0.5, 0.5, "no mistakes", ha="center", va="center")
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=0.82 if rows == 1 else 0.9,
                        hspace=0.5)
    return _save(fig, path)
