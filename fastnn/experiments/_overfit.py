"""The overfitting setup the weight-decay and dropout experiments share (the book's
overfit_weight_decay.py and overfit_dropout.py): 300 training rows, a 784-100x6-10 ReLU
network with He weights, SGD lr 0.01, batch 100; training and test accuracy recorded after
steps 1, 4, 7, ... (every third step, one per epoch) as the book's scripts record them."""
import numpy as np

from ._common import band, curves_of, fmt
from ._train import Run, network, order_of, subset

HIDDEN = (100, 100, 100, 100, 100, 100)
N_TRAIN, BATCH, LR = 300, 100, 0.01


def setting(epochs, what):
    return (f"784-{'-'.join(map(str, HIDDEN))}-10 ReLU, He init; first {N_TRAIN} training rows; "
            f"SGD lr {LR}; batch {BATCH}; {epochs} epochs; {what}; same initial weights and batches")


def run_variants(data, rng, dtype, variants, epochs, progress=None):
    """variants: {label: network options}.  Curves '<label> train' and '<label> test'."""
    x, t, xt, tt = subset(data, N_TRAIN)
    per_epoch = max(x.shape[0] // BATCH, 1)
    init_seed = int(rng.integers(2**63))
    order = order_of(rng, x.shape[0], BATCH, epochs * per_epoch)
    curves, prepared = {}, {}
    for name, options in variants.items():
        r = Run(network(HIDDEN, "relu", init_seed, dtype, **options), "sgd", x, t, BATCH, lr=LR,
                prepared=prepared)
        r.add_set("train", x, t)
        r.add_set("test", xt, tt)
        train, test = [], []
        done = 0
        for e in range(epochs):           # the book records after steps 1, 4, 7, ...
            n = 1 if e == 0 else per_epoch
            r.train(order, done * BATCH, n)
            done += n
            train.append(r.accuracy("train"))
            test.append(r.accuracy("test"))
        ep = np.arange(epochs)
        curves[f"{name} train"] = (ep, np.array(train))
        curves[f"{name} test"] = (ep, np.array(test))
        if progress:
            progress(f"  {name}: train {train[-1]:.3f}, test {test[-1]:.3f}")
    return curves


def draw(fig, runs, labels):
    axes = fig.subplots(1, len(labels), squeeze=False)[0]
    for ax, name in zip(axes, labels):
        band(ax, runs, f"{name} train", label="train", marker="o", markevery=10)
        band(ax, runs, f"{name} test", label="test", marker="s", markevery=10)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("epochs")
        ax.set_ylabel("accuracy")
        ax.set_ylim(0, 1.0)
        ax.legend(loc="lower right")
    fig.set_size_inches(6 * len(labels), 5)


def gap(runs, name, last=10):
    """Per seed: (train, test, train - test) accuracy averaged over the last ``last`` epochs."""
    _, tr = curves_of(runs, f"{name} train")
    _, te = curves_of(runs, f"{name} test")
    a, b = tr[:, -last:].mean(axis=1), te[:, -last:].mean(axis=1)
    return a, b, a - b


def summarise(runs, labels):
    rows = []
    for name in labels:
        a, b, g = gap(runs, name)
        rows.append([name, fmt(a), fmt(b), fmt(g)])
    return ["", "train acc (last 10 ep)", "test acc", "train - test"], rows
