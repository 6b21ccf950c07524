"""Weight initialisations std 0.01, Xavier and He on the same batches (the book's
weight_init_compare.py, figure 6-15): training loss per iteration of a 784-100x4-10 ReLU
network trained by SGD (lr 0.01)."""
import numpy as np

from ._common import band, batch_stream, curves_of, fmt
from ._train import Stepper, network, subset

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
    steppers = {k: Stepper(network(HIDDEN, init, init_seed, dtype), "sgd", LR) for k, init in INITS.items()}
    losses = {k: np.empty(iterations) for k in INITS}
    batches = batch_stream(rng, x.shape[0], BATCH)
    for i in range(iterations):
        rows = next(batches)
        xb, tb = x[rows], t[rows]
        for k, s in steppers.items():
            losses[k][i] = s.step(xb, tb)
        if progress and (i + 1) % 500 == 0:
            progress(f"  iteration {i + 1}: " + "  ".join(f"{k} {losses[k][i]:.3f}" for k in INITS))
    its = np.arange(iterations)
    curves = {k: (its, losses[k]) for k in INITS}
    for k, s in steppers.items():
        curves[f"{k} test accuracy"] = (np.array([iterations]), np.array([s.net.evaluate(xt, tt)[0]]))
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
