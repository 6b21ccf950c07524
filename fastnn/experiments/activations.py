"""Activation histograms of a five-layer network for each weight initialisation
(the book's weight_init_activation_histogram.py, figures 6-10 to 6-14).

1000 inputs drawn from N(0, 1), five layers of 100 nodes without biases,
z = act(z_prev @ W) with W = std * N(0, 1); the histogram of every layer's
outputs in 30 bins over [0, 1].  Sigmoid with std 1 saturates at 0 and 1,
std 0.01 collapses to 0.5, Xavier (sqrt(1/n)) keeps a spread; ReLU with
std 0.01 shrinks towards 0 layer by layer, He (sqrt(2/n)) keeps every layer
alike.
"""
import math

import numpy as np

import kernels as K

TITLE = "activation histograms per weight initialisation"
BOOK = "ch06/weight_init_activation_histogram.py"
SETTING = "input 1000 x 100 ~ N(0, 1); 5 layers x 100 nodes, no bias; histogram 30 bins over [0, 1]"
NEEDS_DATA = False
X_NAME = "bin"

N_SAMPLES, NODES, LAYERS, BINS = 1000, 100, 5, 30
#: (activation, init name, std) in the book's figure order.
CONFIGS = (("sigmoid", "std=1", 1.0), ("sigmoid", "std=0.01", 0.01),
           ("sigmoid", "Xavier", math.sqrt(1.0 / NODES)),
           ("relu", "std=0.01", 0.01), ("relu", "Xavier", math.sqrt(1.0 / NODES)),
           ("relu", "He", math.sqrt(2.0 / NODES)))


def label(act, init):
    return f"{act} {init}"


def activations(act, std, rng, dtype=np.float64):
    """The five layers' outputs (LAYERS, 1000, 100) for one activation and weight std."""
    f = K.sigmoid if act == "sigmoid" else K.relu
    z = rng.standard_normal((N_SAMPLES, NODES)).astype(dtype)
    out = np.empty((LAYERS, N_SAMPLES, NODES), dtype)
    for i in range(LAYERS):
        W = (std * rng.standard_normal((NODES, NODES))).astype(dtype)
        a = z @ W
        f(a.reshape(-1), out[i].reshape(-1))
        z = out[i]
    return out


def run_once(data, rng, dtype, progress=None):
    """Curves: per configuration and layer, the 30 histogram counts; plus each layer's std."""
    curves = {}
    bins = np.arange(BINS)
    for act, init, std in CONFIGS:
        zs = activations(act, std, np.random.default_rng(rng.integers(2**63)), dtype)
        for i, z in enumerate(zs, start=1):
            counts, _ = np.histogram(z.ravel(), BINS, range=(0.0, 1.0))
            curves[f"{label(act, init)} layer{i}"] = (bins, counts.astype(np.float64))
        curves[f"{label(act, init)} std"] = (np.arange(1, LAYERS + 1), zs.reshape(LAYERS, -1).std(axis=1))
        if progress:
            progress(f"{label(act, init)}: std per layer "
                     + " ".join(f"{s:.3g}" for s in curves[f'{label(act, init)} std'][1]))
    return curves


def draw(fig, runs):
    from ._common import curves_of
    axes = fig.subplots(len(CONFIGS), LAYERS, sharex=True)
    edges = np.linspace(0.0, 1.0, BINS + 1)
    for r, (act, init, _) in enumerate(CONFIGS):
        for c in range(LAYERS):
            ax = axes[r, c]
            _, counts = curves_of(runs, f"{label(act, init)} layer{c + 1}")
            mean = counts.mean(axis=0)
            ax.stairs(mean, edges, fill=True, color="C0")
            if len(runs) > 1:
                ax.stairs(counts.max(axis=0), edges, baseline=counts.min(axis=0), fill=True, color="k",
                          alpha=0.3)
            ax.set_ylim(0, 7000)
            if r == 0:
                ax.set_title(f"{c + 1}-layer")
            if c == 0:
                ax.set_ylabel(label(act, init), fontsize=8)
            else:
                ax.set_yticks([])
    fig.set_size_inches(12, 2.0 * len(CONFIGS))


def summarise(runs):
    from ._common import curves_of, fmt
    rows = []
    for act, init, _ in CONFIGS:
        _, stds = curves_of(runs, f"{label(act, init)} std")
        rows.append([label(act, init)] + [fmt(stds[:, i], ".3g") for i in range(LAYERS)]
                    + [fmt(stds[:, -1] / stds[:, 0], ".2g")])
    columns = (["activation init"] + [f"std layer{i}" for i in range(1, LAYERS + 1)]
               + ["layer5 / layer1"])
    return columns, rows
