"""Weight initialisations std 0.01, Xavier and He on the same batches (the book's
weight_init_compare.py, figure 6-15): training loss per iteration of a 784-100x4-10 ReLU
network trained by SGD (lr 0.01)."""
import numpy as np

from ._common import band, curves_of, fmt
from ._train import Run, network, order_of, subset

TITLE = "weight initialisation on MNIST: training loss per iteration"
BOOK = "ch06/weight_init_compare.py"
HIDDEN = (100, 100, 100, 100)
BATCH, ITERATIONS, LR = 128, 2000, 0.01
INITS = {"std=0.01": 0.01, "Xavier": "sigmoid", "He": "relu"}
MARKERS = {"std=0.01": "o", "Xavier": "s", "He": "D"}
SETTING = (f"784-{'-'.join(map(str, HIDDEN))}-10 ReLU; SGD lr {LR}; batch {BATCH}, {ITERATIONS} iterations; "
           f"W = std * N(0, 1) with std 0.01, sqrt(1/n) (Xavier), sqrt(2/n) (He) from the same draws")
NEEDS_DATA = True
X_NAME = "iteration"
TAIL = 100


def run_once(data, rng, dtype, progress=None, iterations=ITERATIONS):
    x, t, xt, tt = subset(data, None)
    init_seed = int(rng.integers(2**63))
    order = order_of(rng, x.shape[0], BATCH, iterations)
    curves, prepared = {}, {}
    its = np.arange(iterations)
    for k, init in INITS.items():
        r = Run(network(HIDDEN, init, init_seed, dtype), "sgd", x, t, BATCH, lr=LR, prepared=prepared)
        r.add_set("test", xt, tt)
        curves[k] = (its, r.train(order, 0, iterations))
        curves[f"{k} test accuracy"] = (np.array([iterations]), np.array([r.accuracy("test")]))
        if progress:
            progress(f"  {k}: loss {curves[k][1][-100:].mean():.3f} (last 100 iterations), "
                     f"test accuracy {curves[f'{k} test accuracy'][1][0]:.3f}")
    return curves


def draw(fig, runs):
    ax = fig.add_subplot()
    for k in INITS:
        band(ax, runs, k, smooth_it=True, label=k, marker=MARKERS[k], markevery=100)
    ax.set_xlabel("iterations")
    ax.set_ylabel("loss")
    ax.set_ylim(0, 2.5)
    ax.legend()


def summarise(runs):
    rows = []
    for k in INITS:
        _, loss = curves_of(runs, k)
        _, acc = curves_of(runs, f"{k} test accuracy")
        n = loss.shape[1]
        rows.append([k, fmt(loss[:, min(99, n - 1)]), fmt(loss[:, -TAIL:].mean(axis=1)), fmt(acc[:, 0])])
    return ["init", "loss it 100", f"loss last {TAIL} it", "test accuracy"], rows
