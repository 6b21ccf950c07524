"""What a user's own training loop gets with default settings, each case in a fresh process.

    python -m bench.user_loop                       # all cases, quiet machine
    python -m bench.user_loop --load                # the same with one core kept busy
    python -m bench.user_loop --against ../base --repeats 5   # side by side with another checkout

A case is a loop written as a user would write it (fp32 784-50-10, MNIST
batches of the bundled sample, no thread settings): the lean NumPy step of
the book's formulas (also with BLAS at one thread, set by threadpoolctl), fastnn's layer path (``net.gradient`` + ``SGD.update``)
with sigmoid and with ReLU, and ``FusedSGD(net, lr).step(x, t)`` with each.  Each runs
in its own ``python -c`` process (so no case inherits another's thread
pools), the processes take turns in ``--repeats`` rounds, and each figure is
the median over rounds of that process's median step time.  ``--load``
starts ``python -c "while True: pass"`` (one core busy) before the cases and
kills it, by its pid, afterwards.
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CASES = ("numpy", "numpy-1", "layers-sigmoid", "layers-relu", "fused-step", "fused-step-relu")
LABELS = {"numpy": "lean NumPy step", "numpy-1": "lean NumPy step, BLAS at 1 thread",
          "layers-sigmoid": "layers, sigmoid", "layers-relu": "layers, ReLU",
          "fused-step": "FusedSGD.step, sigmoid", "fused-step-relu": "FusedSGD.step, ReLU"}

#: The child process: one case, timed in rounds of steps after a warm-up; prints JSON.
CHILD = r"""
import json, sys, time
import numpy as np
case, batch, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
from fastnn.datasets import load_mnist
(x, t), _ = load_mnist(dataset="mnist-sample", verbose=False)   # float32 images, int labels
if case.startswith("numpy"):
    from bench import book_reference as R
    if case == "numpy-1":    # what a user who knows the trick gets: OpenBLAS on one thread
        import threadpoolctl
        threadpoolctl.threadpool_limits(1, user_api="blas")
    net = R.TwoLayerNet(784, 50, 10, activation="sigmoid", dtype=np.float32, seed=0)
    def step(xb, tb):
        loss, grads = net.gradient(xb, tb)
        R.sgd_update(net.params, grads, 0.1)
elif case.startswith("layers"):
    from fastnn import SGD, TwoLayerNet
    net = TwoLayerNet(784, 50, 10, activation=case.split("-")[1], dtype=np.float32, seed=0)
    opt = SGD(0.1)
    def step(xb, tb):
        opt.update(net.params, net.gradient(xb, tb))
else:                        # fused-step: the net's default activation (sigmoid); fused-step-relu
    from fastnn import TwoLayerNet
    from fastnn.fused import FusedSGD
    act = "relu" if case.endswith("relu") else "sigmoid"
    opt = FusedSGD(TwoLayerNet(784, 50, 10, activation=act, dtype=np.float32, seed=0), 0.1)
    def step(xb, tb):
        opt.step(xb, tb)
xs = [(np.ascontiguousarray(x[i:i + batch]), t[i:i + batch]) for i in range(0, 40 * batch, batch)]
for xb, tb in xs:            # warm-up: compilation, buffers
    step(xb, tb)
per_round = max(1, 2000 // batch)
times = []
t_end = time.perf_counter() + seconds
while time.perf_counter() < t_end or len(times) < 5:
    t0 = time.perf_counter()
    for i in range(per_round):
        step(*xs[i % len(xs)])
    times.append((time.perf_counter() - t0) / per_round)
print(json.dumps({"case": case, "median_s": float(np.median(times)), "rounds": len(times)}))
"""


def run_case(case, batch, seconds, env=None, root=ROOT):
    """Median seconds per step of one case, in a fresh process that imports fastnn from root."""
    out = subprocess.run([sys.executable, "-c", CHILD, case, str(batch), str(seconds)],
                         cwd=root, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["median_s"]


def compare(other, cases, batch=100, seconds=2.0, repeats=5, load=False):
    """{(tree, case): median seconds per step}, tree "this" (this checkout) or "other" (another
    checkout of fastnn, e.g. ``git worktree add ../base main``), the same Python for both,
    fresh processes taking turns, the order reversed every round.  The NumPy cases run
    here only (they do not use fastnn)."""
    runs = [(tree, c) for c in cases for tree in (("this",) if c.startswith("numpy") else ("other", "this"))]
    roots = {"this": ROOT, "other": Path(other).resolve()}
    times = {r: [] for r in runs}
    spinner = start_load() if load else None
    try:
        if spinner is not None:
            time.sleep(0.5)
        for k in range(repeats):
            for tree, c in (runs if k % 2 == 0 else runs[::-1]):
                times[(tree, c)].append(run_case(c, batch, seconds, dict(os.environ), roots[tree]))
    finally:
        if spinner is not None:
            stop_load(spinner)
    return {r: float(np.median(v)) for r, v in times.items()}


def compare_table(res, batch):
    """Markdown rows: case, samples/s of the other checkout and of this one, this / other."""
    numpy = res.get(("this", "numpy"))
    lines = [f"| case (fp32, B={batch}) | other: samples/s | this: samples/s | this / other | this: vs NumPy |",
             "|---|---|---|---|---|"]
    for case in dict.fromkeys(c for _, c in res):
        this, other = res[("this", case)], res.get(("other", case))
        lines.append(f"| {LABELS[case]} | {'' if other is None else f'{batch / other:,.0f}'} | {batch / this:,.0f} | "
                     f"{'' if other is None else f'{other / this:.2f}x'} | "
                     f"{'' if numpy is None else f'{numpy / this:.2f}x'} |")
    return "\n".join(lines)


def start_load():
    """A process spinning on one core; stop it with ``stop_load(proc)``."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def stop_load(proc):
    proc.kill()
    proc.wait()


def measure(cases=CASES, batch=100, seconds=2.0, repeats=3, load=False):
    """{case: median seconds per step} over ``repeats`` rounds of fresh processes, taking turns."""
    env = dict(os.environ)
    spinner = start_load() if load else None
    try:
        if spinner is not None:
            time.sleep(0.5)
        times = {c: [] for c in cases}
        order = list(cases)
        for _ in range(repeats):
            for c in order:
                times[c].append(run_case(c, batch, seconds, env))
            order = order[1:] + order[:1]
    finally:
        if spinner is not None:
            stop_load(spinner)
    return {c: float(np.median(v)) for c, v in times.items()}


def table(results, batch):
    """Markdown rows: case, samples/s, ratio to the lean NumPy step, for each condition."""
    conds = list(results)
    head = ["your own loop (fp32, B=%d)" % batch] + [f"{c}: samples/s" for c in conds] + \
        [f"{c}: vs NumPy" for c in conds]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for case in results[conds[0]]:
        row = [LABELS[case]]
        row += [f"{batch / results[c][case]:,.0f}" for c in conds]
        row += [f"{results[c]['numpy'] / results[c][case]:.2f}x" for c in conds]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


TRAIN = ["train", "--dataset", "mnist-sample", "--iterations", "10000", "--activation", "relu",
         "--seed", "0", "--quiet"]


def train_seconds(threads=None, iterations=10000):
    """Wall seconds of a whole ``fastnn train`` command (relu, mnist-sample, seed 0)."""
    import tempfile
    cmd = [sys.executable, "-m", "fastnn"] + TRAIN
    cmd[cmd.index("--iterations") + 1] = str(iterations)
    if threads is not None:
        cmd += ["--threads", str(threads)]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        subprocess.run(cmd + ["--out", os.path.join(tmp, "run")], cwd=ROOT, check=True, capture_output=True)
        return time.perf_counter() - t0


def train_table(repeats=3, iterations=10000):
    """``fastnn train`` with default threads and with --threads 1, quiet and with one core
    busy, taking turns; medians of wall seconds.  Returns the Markdown table."""
    res = {}
    for load in (False, True):
        spinner = start_load() if load else None
        try:
            times = {None: [], 1: []}
            for r in range(repeats):
                for th in ((None, 1) if r % 2 == 0 else (1, None)):
                    times[th].append(train_seconds(th, iterations))
        finally:
            if spinner is not None:
                stop_load(spinner)
        res[load] = {th: float(np.median(v)) for th, v in times.items()}
    q, b = res[False], res[True]
    lines = [f"| fastnn train, {iterations} iterations, relu | quiet (s) | one core busy (s) | "
             "busy / quiet | busy / busy --threads 1 |", "|---|---|---|---|---|"]
    for th, name in ((None, "default threads"), (1, "--threads 1")):
        lines.append(f"| {name} | {q[th]:.2f} | {b[th]:.2f} | {b[th] / q[th]:.2f}x | {b[th] / b[1]:.2f}x |")
    return "\n".join(lines)


def report(under_load, repeats=3, seconds=2.0):
    """What ``fastnn bench --user-loop`` / ``--under-load`` print."""
    print(f"load average before: {os.getloadavg()[0]:.2f} (1 min; {os.cpu_count()} CPUs)", flush=True)
    results = {}
    for load in ((False, True) if under_load else (False,)):
        name = "one core busy" if load else "quiet"
        results[name] = measure(CASES, 100, seconds, repeats, load)
        print(f"{name}: " + "  ".join(f"{c} {100 / s:,.0f}/s" for c, s in results[name].items()), flush=True)
    print()
    print(table(results, 100))
    if under_load:
        print()
        print(train_table(repeats))
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--seconds", type=float, default=2.0, help="timed seconds per process")
    p.add_argument("--repeats", type=int, default=3, help="fresh processes per case (median taken)")
    p.add_argument("--cases", default=",".join(CASES))
    p.add_argument("--load", action="store_true", help="only with one core kept busy")
    p.add_argument("--both", action="store_true", help="quiet, then with one core busy")
    p.add_argument("--against", metavar="DIR",
                   help="another checkout of fastnn: its fastnn cases side by side with this one's")
    args = p.parse_args(argv)
    cases = tuple(c for c in args.cases.split(",") if c)
    if args.against:
        for load in ((False, True) if args.both else (args.load,)):
            res = compare(args.against, cases, args.batch, args.seconds, args.repeats, load)
            print(f"{'one core busy' if load else 'quiet'}, medians of {args.repeats} processes each "
                  f"(other: {args.against}); load average now {os.getloadavg()[0]:.2f}")
            print(compare_table(res, args.batch), flush=True)
        return 0
    results = {}
    for load in ((False, True) if args.both else (args.load,)):
        name = "one core busy" if load else "quiet"
        results[name] = measure(cases, args.batch, args.seconds, args.repeats, load)
        print(f"{name}: " + "  ".join(f"{c} {args.batch / s:,.0f}/s" for c, s in results[name].items()),
              flush=True)
    print(table(results, args.batch))


if __name__ == "__main__":
    sys.exit(main())
