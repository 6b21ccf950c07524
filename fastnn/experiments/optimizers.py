"""SGD, Momentum, AdaGrad and Adam on the same batches (the book's optimizer_compare_mnist.py,
figure 6-9): training loss per iteration of a 784-100x4-10 ReLU network with He weights."""
import numpy as np

from ._common import band, curves_of, fmt
from ._train import Run, network, order_of, subset

TITLE = "optimizers on MNIST: training loss per iteration"
BOOK = "ch06/optimizer_compare_mnist.py"
HIDDEN = (100, 100, 100, 100)
BATCH, ITERATIONS = 128, 2000
OPTIMIZERS = {"SGD": "sgd", "Momentum": "momentum", "AdaGrad": "adagrad", "Adam": "adam"}
MARKERS = {"SGD": "o", "Momentum": "x", "AdaGrad": "s", "Adam": "D"}
SETTING = (f"784-{'-'.join(map(str, HIDDEN))}-10 ReLU, He init; batch {BATCH}, {ITERATIONS} iterations "
           f"over all training rows; book defaults: SGD/Momentum(0.9)/AdaGrad lr 0.01, Adam lr 0.001; "
           f"the same initial weights and batches for every optimizer")
NEEDS_DATA = True
X_NAME = "iteration"
#: Iterations whose mean loss the table shows: the last 100.
TAIL = 100


def run_once(data, rng, dtype, progress=None, iterations=ITERATIONS, optimizers=None):
    x, t, xt, tt = subset(data, None)
    init_seed = int(rng.integers(2**63))
    names = optimizers or list(OPTIMIZERS)
    order = order_of(rng, x.shape[0], BATCH, iterations)
    curves, prepared = {}, {}
    its = np.arange(iterations)
    for k in names:
        r = Run(network(HIDDEN, "relu", init_seed, dtype), OPTIMIZERS[k], x, t, BATCH, prepared=prepared)
        r.add_set("test", xt, tt)
        curves[k] = (its, r.train(order, 0, iterations))
        curves[f"{k} test accuracy"] = (np.array([iterations]), np.array([r.accuracy("test")]))
        if progress:
            progress(f"  {k}: loss {curves[k][1][-100:].mean():.3f} (last 100 iterations), "
                     f"test accuracy {curves[f'{k} test accuracy'][1][0]:.3f}")
    return curves


def draw(fig, runs):
    ax = fig.add_subplot()
    for k in OPTIMIZERS:
        if k in runs[0][1]:
            band(ax, runs, k, smooth_it=True, label=k, marker=MARKERS[k], markevery=100)
    ax.set_xlabel("iterations")
    ax.set_ylabel("loss")
    ax.set_ylim(0, 1)
    ax.legend()


def summarise(runs):
    rows = []
    for k in OPTIMIZERS:
        if k not in runs[0][1]:
            continue
        _, loss = curves_of(runs, k)
        _, acc = curves_of(runs, f"{k} test accuracy")
        n = loss.shape[1]
        rows.append([k, fmt(loss[:, min(99, n - 1)]), fmt(loss[:, n // 2 - 50:n // 2 + 50].mean(axis=1)),
                     fmt(loss[:, -TAIL:].mean(axis=1)), fmt(acc[:, 0])])
    return ["optimizer", "loss it 100", "loss mid (100 it)", f"loss last {TAIL} it", "test accuracy"], rows
