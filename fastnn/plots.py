"""Plots written to files (matplotlib, headless).

Figures are built with ``matplotlib.figure.Figure`` and saved with
``savefig``: no pyplot, no backend switching, no windows. Each file is
written atomically, so a failed save leaves any previous file in place.
"""


# -- training curves ------------------------------------------------------------
def _save(fig, path):
    import os

    from ._atomic import atomic_write
    fmt = os.path.splitext(os.fspath(path))[1].lstrip(".").lower() or "png"
    with atomic_write(path) as f:
        fig.savefig(f, format=fmt, dpi=100)


def plot_accuracy(history, path):
    """Train and test accuracy per epoch, as in the book's figure; saved to ``path``.

    history: a Trainer history (``epoch``, ``train_acc``, ``test_acc`` lists).
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4), layout="tight")
    ax = fig.add_subplot()
    epochs = history["epoch"]
    ax.plot(epochs, history["train_acc"], marker="o", markersize=3, label="train acc")
    test = [a for a in history["test_acc"] if a is not None]
    if test:
        ax.plot(epochs, history["test_acc"], marker="s", markersize=3, linestyle="--",
                label="test acc")
    ax.set_xlabel("epochs")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.0)
    ax.legend(loc="lower right")
    _save(fig, path)


def plot_loss(history, path):
    """The mini-batch loss at every iteration, with its per-epoch mean; saved to ``path``."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4), layout="tight")
    ax = fig.add_subplot()
    loss = history["loss"]
    ax.plot(range(1, len(loss) + 1), loss, linewidth=0.6, alpha=0.7, label="batch loss")
    if history["iteration"]:
        ax.plot(history["iteration"], history["train_loss"], marker="o", markersize=3,
                label="epoch mean")
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper right")
    _save(fig, path)
