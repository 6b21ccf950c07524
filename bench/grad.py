"""``fastnn bench --grad``: one gradient of TwoLayerNet's loss, five ways, side by side.

The book's chapter 4 computes the gradient numerically (central differences, one
parameter at a time) and chapter 5 by backpropagation. This table times each way
for one mini-batch, in one process, and says how far each lands from fastnn's
backprop (max absolute difference over all parameters):

- numerical, NumPy: the book's loop (bench/book_numerical.py), float64
- numerical, fastnn full: every perturbation recomputes the whole forward pass
- numerical, fastnn incremental: a perturbation recomputes only what it changes
- backprop, NumPy: the book's layers (bench/book_reference.py), float64
- backprop, fastnn: ``TwoLayerNet.gradient``

Every case is called once before timing, so numba's compilation never counts.
"""
import json
import time
from pathlib import Path

import numpy as np

from fastnn import TwoLayerNet
from fastnn.datasets import load_mnist
from fastnn.network import PARAM_NAMES

from . import book_numerical, book_reference

RESULTS = Path(__file__).resolve().parent / "results"


def _median_time(fn, rounds, warmup):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), len(times)


def measure(hidden=50, batch=100, activation="sigmoid", book_rounds=1, seed=0):
    """Rows {"method", "seconds", "rounds", "max_abs_diff"} for one batch of the MNIST sample."""
    (x, t), _ = load_mnist(dataset="mnist-sample", dtype=np.float64, verbose=False)
    rng = np.random.default_rng(seed)
    idx = rng.choice(x.shape[0], batch, replace=False)
    x, t = x[idx], t[idx]
    net = TwoLayerNet(784, hidden, 10, activation=activation, dtype=np.float64, seed=seed)
    onehot = np.eye(10)[t]
    ref = net.gradient(x, t)
    ref = {k: np.array(ref[k]) for k in PARAM_NAMES}

    book_num = book_numerical.TwoLayerNet(784, hidden, 10, activation=activation)
    book_num.params = {k: net.params[k].copy() for k in PARAM_NAMES}
    book_bp = book_reference.TwoLayerNet(784, hidden, 10, activation=activation, dtype=np.float64)
    for k in PARAM_NAMES:
        book_bp.params[k][...] = net.params[k]

    cases = [
        ("numerical, NumPy (the book's loop)", lambda: book_num.numerical_gradient(x, onehot),
         book_rounds, 0),
        ("numerical, fastnn full", lambda: net.numerical_gradient(x, t, method="full"), 3, 1),
        ("numerical, fastnn incremental",
         lambda: net.numerical_gradient(x, t, method="incremental"), 10, 1),
        ("backprop, NumPy (the book's layers)", lambda: book_bp.gradient(x, t)[1], 50, 2),
        ("backprop, fastnn", lambda: net.gradient(x, t), 200, 5),
    ]
    rows = []
    for name, fn, rounds, warmup in cases:
        grads = fn()
        diff = max(float(np.max(np.abs(np.asarray(grads[k]) - ref[k]))) for k in PARAM_NAMES)
        seconds, n = _median_time(fn, rounds, max(warmup - 1, 0))
        rows.append({"method": name, "seconds": seconds, "rounds": n, "max_abs_diff": diff})
    return rows


def table(rows, title):
    """The rows as text: median seconds per gradient, speed-up over the book's numerical
    loop, and the agreement with fastnn's backprop."""
    base = rows[0]["seconds"]
    w = max(len(r["method"]) for r in rows)
    head = f"{'method':<{w}}  {'s/gradient':>11}  {'vs book':>9}  {'max |diff| to backprop':>22}"
    lines = [title, head]
    for r in rows:
        lines.append(f"{r['method']:<{w}}  {r['seconds']:>11.3g}  {base / r['seconds']:>8.3g}x  "
                     f"{r['max_abs_diff']:>22.2e}")
    return "\n".join(lines)


def chart(rows, title, path):
    """Seconds per gradient on a log axis, the agreement written beside each bar."""
    from matplotlib.figure import Figure

    from fastnn.plots import _save
    fig = Figure(figsize=(9, 3.6))
    fig.subplots_adjust(left=0.36, right=0.84, bottom=0.16, top=0.88)
    ax = fig.add_subplot()
    names = [r["method"] for r in rows][::-1]
    secs = [r["seconds"] for r in rows][::-1]
    ax.barh(names, secs, color=["#4c72b0" if "backprop" in n else "#dd8452" for n in names])
    ax.set_xscale("log")
    ax.set_xlabel("seconds per gradient (median, log scale)")
    ax.set_title(title, fontsize=9)
    for i, r in enumerate(rows[::-1]):
        ax.text(1.01, i, f"diff {r['max_abs_diff']:.1e}", transform=ax.get_yaxis_transform(),
                va="center", fontsize=8)
    return _save(fig, path)


def run(args):
    """``fastnn bench --grad``: measure, print the table, write grad.json and grad.png."""
    import numba
    quick = getattr(args, "quick", False)
    hidden, batch = (10, 10) if quick else (50, 100)
    activation = getattr(args, "activation", "sigmoid") or "sigmoid"
    rows = measure(hidden=hidden, batch=batch, activation=activation)
    title = (f"one gradient, 784-{hidden}-10 {activation} float64, batch {batch} of the MNIST "
             f"sample, {numba.get_num_threads()} numba threads")
    print(table(rows, title))
    RESULTS.mkdir(parents=True, exist_ok=True)
    record = {"title": title, "hidden": hidden, "batch": batch, "activation": activation,
              "threads": numba.get_num_threads(), "rows": rows}
    from fastnn._atomic import atomic_write
    with atomic_write(RESULTS / "grad.json") as f:
        f.write((json.dumps(record, indent=1) + "\n").encode())
    written = [str(RESULTS / "grad.json")]
    if not getattr(args, "no_plot", False):
        written.append(chart(rows, title, RESULTS / "grad.png"))
    print("wrote " + ", ".join(written))
    return 0
