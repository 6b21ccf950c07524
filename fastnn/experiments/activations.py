"""Activation histograms of a five-layer network for each weight initialisation
(the book's weight_init_activation_histogram.py, figures 6-10 to 6-14).

1000 inputs drawn from N(0, 1), five layers of 100 nodes without biases,
z = act(z_prev @ W) with W = std * N(0, 1); the histogram of every layer's
outputs in 30 bins over [0, 1].  Sigmoid with std 1 saturates at 0 and 1,
std 0.01 collapses to 0.5, Xavier (sqrt(1/n)) keeps a spread; ReLU with
std 0.01 shrinks towards 0 layer by layer, He (sqrt(2/n)) keeps every layer
alike.

Five 1000 x 100 x 100 products per configuration are a few milliseconds of
NumPy, so they run in NumPy with the book's formulas (no compiled kernel to
load).  The figure is the book's grid of histograms (a row per configuration,
a column per layer, counts from 0 to 7000) drawn from the counts on one set of
axes: a panel is a filled outline, not an Axes with its own ticks, which is
what made the figure most of the command's time.
"""
import math

import numpy as np

TITLE = "activation histograms per weight initialisation"
BOOK = "ch06/weight_init_activation_histogram.py"
SETTING = "input 1000 x 100 ~ N(0, 1); 5 layers x 100 nodes, no bias; histogram 30 bins over [0, 1]"
NEEDS_DATA = False
X_NAME = "bin"
#: No layout engine: draw() places every panel itself.
LAYOUT = None

N_SAMPLES, NODES, LAYERS, BINS = 1000, 100, 5, 30
#: The book's y range of each histogram (counts above it are cut off, as in its figures).
YMAX = 7000
#: (activation, init name, std) in the book's figure order.
CONFIGS = (("sigmoid", "std=1", 1.0), ("sigmoid", "std=0.01", 0.01),
           ("sigmoid", "Xavier", math.sqrt(1.0 / NODES)),
           ("relu", "std=0.01", 0.01), ("relu", "Xavier", math.sqrt(1.0 / NODES)),
           ("relu", "He", math.sqrt(2.0 / NODES)))


def label(act, init):
    return f"{act} {init}"


def sigmoid(x):
    """1 / (1 + exp(-x)), the book's formula; exp overflows to inf (giving 0) for x < -88 in
    float32, which is the right limit."""
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-x))


def relu(x):
    return np.maximum(0, x)


def activations(act, std, rng, dtype=np.float64):
    """The five layers' outputs (LAYERS, 1000, 100) for one activation and weight std."""
    f = sigmoid if act == "sigmoid" else relu
    z = rng.standard_normal((N_SAMPLES, NODES)).astype(dtype)
    out = np.empty((LAYERS, N_SAMPLES, NODES), dtype)
    for i in range(LAYERS):
        W = (std * rng.standard_normal((NODES, NODES))).astype(dtype)
        out[i] = f(z @ W)
        z = out[i]
    return out


def run_once(data, rng, dtype, progress=None):
    """Curves: per configuration and layer, the 30 histogram counts; plus each layer's std.

    BLAS runs one thread: at this size a second one costs more than it gives (measured
    0.03 s CPU for all six configurations on one thread, 0.22 s on two on a busy machine)."""
    from threadpoolctl import threadpool_limits
    curves = {}
    bins = np.arange(BINS)
    for act, init, std in CONFIGS:
        with threadpool_limits(1, user_api="blas"):
            zs = activations(act, std, np.random.default_rng(rng.integers(2**63)), dtype)
        for i, z in enumerate(zs, start=1):
            counts, _ = np.histogram(z.ravel(), BINS, range=(0.0, 1.0))
            curves[f"{label(act, init)} layer{i}"] = (bins, counts.astype(np.float64))
        curves[f"{label(act, init)} std"] = (np.arange(1, LAYERS + 1), zs.reshape(LAYERS, -1).std(axis=1))
        if progress:
            progress(f"{label(act, init)}: std per layer "
                     + " ".join(f"{s:.3g}" for s in curves[f'{label(act, init)} std'][1]))
    return curves


# -- the figure: panel (r, c) spans x in [c * DX, c * DX + 1], y in [-r * DY, -r * DY + 1] -----
DX, DY = 1.15, 1.45


def _outline(counts, x0, y0):
    """The (2 * BINS + 2, 2) outline of a histogram of ``counts`` (cut at YMAX) as a polygon,
    panel origin (x0, y0), width 1, height 1 = YMAX."""
    h = np.minimum(counts, YMAX) / YMAX
    edges = np.linspace(0.0, 1.0, BINS + 1)
    xs = np.concatenate([[edges[0]], np.repeat(edges, 2)[1:-1], [edges[-1]]])
    ys = np.concatenate([[0.0], np.repeat(h, 2), [0.0]])
    return np.column_stack([x0 + xs, y0 + ys])


def _band(lo, hi, x0, y0):
    """The polygon between two histograms (min and max over seeds)."""
    upper = _outline(hi, x0, y0)[1:-1]
    lower = _outline(lo, x0, y0)[1:-1][::-1]
    return np.concatenate([upper, lower])


def draw(fig, runs):
    from matplotlib.collections import LineCollection, PolyCollection

    from ._common import curves_of
    nr = len(CONFIGS)
    fig.set_size_inches(12, 1.9 * nr + 0.9)
    ax = fig.add_axes((0.1, 0.04, 0.88, 1 - 0.04 - 0.9 / (1.9 * nr + 0.9) - 0.02))
    ax.set_axis_off()
    ax.set_xlim(-0.02, (LAYERS - 1) * DX + 1.02)
    ax.set_ylim(-(nr - 1) * DY - 0.2, 1.2)
    fills, bands, frames, ticks = [], [], [], []
    for r, (act, init, _) in enumerate(CONFIGS):
        y0 = -r * DY
        for c in range(LAYERS):
            x0 = c * DX
            _, counts = curves_of(runs, f"{label(act, init)} layer{c + 1}")
            fills.append(_outline(counts.mean(axis=0), x0, y0))
            if len(runs) > 1:
                bands.append(_band(counts.min(axis=0), counts.max(axis=0), x0, y0))
            frames.append([(x0, y0), (x0 + 1, y0), (x0 + 1, y0 + 1), (x0, y0 + 1), (x0, y0)])
            ticks += [[(x0 + t, y0), (x0 + t, y0 - 0.04)] for t in (0.0, 0.5, 1.0)]
            if r == 0:
                ax.text(x0 + 0.5, 1.05, f"{c + 1}-layer", ha="center", va="bottom", fontsize=10)
            if r == nr - 1:
                for t in (0.0, 0.5, 1.0):
                    ax.text(x0 + t, y0 - 0.06, f"{t:g}", ha="center", va="top", fontsize=8)
        ticks += [[(0.0, y0 + t), (-0.02, y0 + t)] for t in (0.0, 0.5, 1.0)]
        for t in (0.0, 0.5, 1.0):
            ax.text(-0.03, y0 + t, f"{t * YMAX:.0f}", ha="right", va="center", fontsize=7)
        ax.text(-0.25, y0 + 0.5, label(act, init), ha="center", va="center", rotation=90, fontsize=9)
    ax.add_collection(PolyCollection(fills, facecolors="C0", edgecolors="none"))
    if bands:
        ax.add_collection(PolyCollection(bands, facecolors="k", edgecolors="none", alpha=0.3))
    ax.add_collection(LineCollection(frames + ticks, colors="k", linewidths=0.8))


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
