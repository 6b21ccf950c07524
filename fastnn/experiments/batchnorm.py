"""Batch normalization against none at 16 weight scales (the book's batch_norm_test.py,
figure 6-18): training accuracy per epoch of a 784-100x5-10 ReLU network on 1000 training
rows, SGD lr 0.01, batch 100, 20 epochs; both networks start from the same draws."""
import numpy as np

from ._common import band, curves_of, fmt
from ._train import Run, network, order_of, subset

TITLE = "batch normalization (solid) vs none (dashed): training accuracy per epoch"
BOOK = "ch06/batch_norm_test.py"
HIDDEN = (100, 100, 100, 100, 100)
N_TRAIN, BATCH, EPOCHS, LR = 1000, 100, 20, 0.01
SCALES = tuple(float(w) for w in np.logspace(0, -4, num=16))
SETTING = (f"784-{'-'.join(map(str, HIDDEN))}-10 ReLU; first {N_TRAIN} training rows; SGD lr {LR}; "
           f"batch {BATCH}; {EPOCHS} epochs; W = w * N(0, 1) for 16 w in logspace(0, -4); "
           f"accuracy on the {N_TRAIN} rows after steps 1, 11, 21, ... as the book records it")
NEEDS_DATA = True
X_NAME = "epoch"


def key(w, bn):
    return f"w={w:.4g} {'batchnorm' if bn else 'normal'}"


def run_once(data, rng, dtype, progress=None, scales=SCALES, epochs=EPOCHS):
    x, t, _, _ = subset(data, N_TRAIN)
    per_epoch = max(x.shape[0] // BATCH, 1)
    curves, prepared = {}, {}
    for w in scales:
        init_seed = int(rng.integers(2**63))
        order = order_of(rng, x.shape[0], BATCH, epochs * per_epoch)
        for bn in (True, False):
            r = Run(network(HIDDEN, w, init_seed, dtype, use_batchnorm=bn), "sgd", x, t, BATCH, lr=LR,
                    prepared=prepared)
            r.add_set("train", x, t)
            acc = []
            with np.errstate(over="ignore", invalid="ignore"):     # the normal net diverges at w ~ 1
                done = 0
                for e in range(epochs):       # the book records after steps 1, 11, 21, ...
                    n = 1 if e == 0 else per_epoch
                    r.train(order, done * BATCH, n)
                    done += n
                    acc.append(r.accuracy("train"))
            curves[key(w, bn)] = (np.arange(epochs), np.array(acc))
        if progress:
            progress(f"  w={w:.4g}: last accuracy batchnorm {curves[key(w, True)][1][-1]:.3f}, "
                     f"normal {curves[key(w, False)][1][-1]:.3f}")
    return curves


def scales_of(runs):
    return [w for w in SCALES if key(w, True) in runs[0][1]]


def draw(fig, runs):
    ws = scales_of(runs)
    cols = 4
    nrows = -(-len(ws) // cols)
    axes = fig.subplots(nrows, cols, squeeze=False)
    for i, w in enumerate(ws):
        ax = axes[i // cols, i % cols]
        last = i == len(ws) - 1
        band(ax, runs, key(w, True), label="Batch Normalization" if last else None)
        band(ax, runs, key(w, False), linestyle="--", label="Normal (without BatchNorm)" if last else None)
        ax.set_title(f"W:{w:.4g}", fontsize=9)
        ax.set_ylim(0, 1.0)
        if i % cols:
            ax.set_yticks([])
        else:
            ax.set_ylabel("accuracy")
        if i < len(ws) - cols:
            ax.set_xticks([])
        else:
            ax.set_xlabel("epochs")
        if last:
            ax.legend(loc="lower right", fontsize=7)
    for j in range(len(ws), nrows * cols):
        axes[j // cols, j % cols].set_visible(False)
    fig.set_size_inches(12, 10)


def summarise(runs):
    rows = []
    h = 0
    for w in scales_of(runs):
        _, bn = curves_of(runs, key(w, True))
        _, nm = curves_of(runs, key(w, False))
        h = bn.shape[1] // 2
        rows.append([f"{w:.4g}", fmt(bn[:, h]), fmt(nm[:, h]), fmt(bn[:, -1]), fmt(nm[:, -1])])
    return ["weight scale", f"batchnorm epoch {h}", f"normal epoch {h}", "batchnorm last", "normal last"], rows
