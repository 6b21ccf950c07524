"""``fastnn bench --grad``: one gradient of a network's loss, several ways, side by side.

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

A second table (:func:`measure_deep`) does the same for a deeper net, by default
784-100-100-10 ReLU (He init), batch 100, float64: the book's loop over
``MultiLayerNet.loss`` (bench/book_numerical.py), fastnn's ``cached`` numerical
gradient and backprop.  The book's loop takes minutes there, so it runs on a
subset of the parameters (``entries``, spread over every W and b) and its time
for all of them is extrapolated from the time per entry (each entry costs two
losses of the whole batch, whichever it is); ``book_all=True`` runs it on every
parameter instead.  Its rounds alternate with fastnn's, so load from other
processes hits both alike.  Run alone with ``python -m bench.grad --deep``.
"""
import argparse
import json
import time
from pathlib import Path

import numpy as np

from fastnn import MultiLayerNet, TwoLayerNet
from fastnn.datasets import load_mnist
from fastnn.network import PARAM_NAMES
from fastnn.numerical import numerical_gradient

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


def _entries(params, count, rounds):
    """Flat index ranges of about ``count`` entries in all, each array's share proportional
    to its size and taken from its middle (the middle pixels of W1 are rarely 0), split
    into ``rounds`` consecutive parts: [{name: slice}, ...] per round."""
    total = sum(p.size for p in params.values())
    parts = [{} for _ in range(rounds)]
    for k, p in params.items():
        m = max(rounds, round(count * p.size / total)) if p.size >= rounds else p.size
        start = (p.size - m) // 2
        bounds = np.linspace(start, start + m, rounds + 1).astype(int)
        for r in range(rounds):
            if bounds[r + 1] > bounds[r]:
                parts[r][k] = slice(int(bounds[r]), int(bounds[r + 1]))
    return parts


def measure_deep(hidden=(100, 100), batch=100, activation="relu", entries=2000, rounds=5, seed=0,
                 book_all=False):
    """Rows {"method", "seconds", "rounds", "diff_book", "diff_backprop"} (and "entries" for the
    book's loop) for one batch of the MNIST sample, 784-hidden-10 with He init, float64.

    diff_book: max |difference| to the book's loop over the entries it computed; the
    book's seconds are the full loop's (extrapolated unless book_all)."""
    (x, t), _ = load_mnist(dataset="mnist-sample", dtype=np.float64, verbose=False)
    rng = np.random.default_rng(seed + 1)
    idx = rng.choice(x.shape[0], batch, replace=False)
    x, t = x[idx], t[idx]
    net = MultiLayerNet(784, list(hidden), 10, activation, weight_init_std="relu", seed=seed)
    onehot = np.eye(10)[t]
    book = book_numerical.MultiLayerNet(784, list(hidden), 10, activation)
    book.params = {k: v.copy() for k, v in net.params.items()}
    P = net.theta.size

    def cached():
        return numerical_gradient(net, x, t, "cached")

    ours = cached()                                   # compiles, once
    bp = net.gradient(x, t)
    bp = {k: np.array(v) for k, v in bp.items()}
    parts = [{k: slice(0, p.size) for k, p in book.params.items()}] if book_all else \
        _entries(book.params, entries, rounds)
    book_times, book_grads, times = [], {}, []
    n_done = 0
    for r in range(max(rounds, len(parts))):
        if r < len(parts):
            n = sum(s.stop - s.start for s in parts[r].values())
            t0 = time.perf_counter()
            g = book.numerical_gradient_of(x, onehot, parts[r])
            book_times.append((time.perf_counter() - t0) / n)
            n_done += n
            for k, v in g.items():
                book_grads.setdefault(k, []).append((parts[r][k], v))
        t0 = time.perf_counter()
        ours = cached()
        times.append(time.perf_counter() - t0)
    diff_book = max(float(np.max(np.abs(ours[k].reshape(-1)[s] - v)))
                    for k, lst in book_grads.items() for s, v in lst)
    diff_book_bp = max(float(np.max(np.abs(bp[k].reshape(-1)[s] - v)))
                       for k, lst in book_grads.items() for s, v in lst)
    rows = [{"method": "numerical, NumPy (the book's loop)", "seconds": float(np.median(book_times)) * P,
             "rounds": len(book_times), "entries": n_done, "params": P, "diff_book": 0.0,
             "diff_backprop": diff_book_bp},
            {"method": "numerical, fastnn cached", "seconds": float(np.median(times)), "rounds": len(times),
             "diff_book": diff_book,
             "diff_backprop": max(float(np.max(np.abs(ours[k] - bp[k]))) for k in bp)}]
    seconds, n = _median_time(lambda: net.gradient(x, t), 50, 5)
    rows.append({"method": "backprop, fastnn", "seconds": seconds, "rounds": n,
                 "diff_book": diff_book_bp, "diff_backprop": 0.0})
    return rows


def deep_table(rows, title):
    """The deep rows as text: seconds per gradient, speed-up over the book's loop and the
    largest differences to the book's loop (on the entries it computed) and to backprop."""
    base = rows[0]["seconds"]
    w = max(len(r["method"]) for r in rows)
    lines = [title, f"{'method':<{w}}  {'s/gradient':>11}  {'vs book':>9}  {'max |diff| to book':>18}  "
                    f"{'to backprop':>11}"]
    for r in rows:
        lines.append(f"{r['method']:<{w}}  {r['seconds']:>11.3g}  {base / r['seconds']:>8.4g}x  "
                     f"{r['diff_book']:>18.2e}  {r['diff_backprop']:>11.2e}")
    b = rows[0]
    if b["entries"] == b["params"]:
        lines.append(f"(the book's loop ran over all {b['params']} parameters)")
    else:
        lines.append(f"(the book's loop ran over {b['entries']} of the {b['params']} parameters; its "
                     f"time is the median time per entry times {b['params']})")
    return "\n".join(lines)


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
    deep_hidden, deep_batch, entries = ((20, 20), 10, 200) if quick else ((100, 100), 100, 2000)
    deep = measure_deep(hidden=deep_hidden, batch=deep_batch, entries=entries)
    deep_title = _deep_title(deep_hidden, deep_batch)
    print()
    print(deep_table(deep, deep_title))
    RESULTS.mkdir(parents=True, exist_ok=True)
    record = {"title": title, "hidden": hidden, "batch": batch, "activation": activation,
              "threads": numba.get_num_threads(), "rows": rows,
              "deep": {"title": deep_title, "hidden": list(deep_hidden), "batch": deep_batch, "rows": deep}}
    from fastnn._atomic import atomic_write
    with atomic_write(RESULTS / "grad.json") as f:
        f.write((json.dumps(record, indent=1) + "\n").encode())
    written = [str(RESULTS / "grad.json")]
    if not getattr(args, "no_plot", False):
        written.append(chart(rows, title, RESULTS / "grad.png"))
    print("wrote " + ", ".join(written))
    return 0


def _deep_title(hidden, batch):
    import numba
    return (f"one gradient, 784-{'-'.join(map(str, hidden))}-10 relu (He init) float64, batch {batch} "
            f"of the MNIST sample, {numba.get_num_threads()} numba threads")


def main(argv=None):
    """``python -m bench.grad``: the deeper net's table alone."""
    ap = argparse.ArgumentParser(prog="python -m bench.grad",
                                 description="Time one numerical gradient of a deeper net: the book's "
                                             "loop against fastnn's cached method, side by side.")
    ap.add_argument("--hidden", default="100,100", help="hidden widths (100,100)")
    ap.add_argument("--batch", type=int, default=100, help="samples (100)")
    ap.add_argument("--entries", type=int, default=2000,
                    help="parameters the book's loop runs over, its time extrapolated (2000)")
    ap.add_argument("--rounds", type=int, default=5, help="rounds of each, alternating (5)")
    ap.add_argument("--book-all", action="store_true",
                    help="run the book's loop over every parameter (minutes) instead of a subset")
    args = ap.parse_args(argv)
    hidden = tuple(int(h) for h in args.hidden.split(","))
    rows = measure_deep(hidden=hidden, batch=args.batch, entries=args.entries, rounds=args.rounds,
                        book_all=args.book_all)
    print(deep_table(rows, _deep_title(hidden, args.batch)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
