"""The trainer's fused path of two source trees, side by side in alternating fresh processes.

    python -m bench.versus OTHER_TREE [--rounds 6]
    python -m bench.versus OTHER_TREE --cases numpy,layers-sigmoid,fused-step,sigmoid-kernel,softmax-kernel

OTHER_TREE is a checkout of fastnn (for example ``git archive main | tar -x -C /tmp/main``);
the current tree is this one.  Each process imports ``kernels``/``fastnn``/``bench`` from its
tree (PYTHONPATH), runs ``bench.cases.make_fused("float32", 100)`` (blocks of 100 steps, as the
trainer) with numba at ``--threads`` (default 2) and BLAS at 1 for about 2 s after a warm-up, and prints the
median samples/s; the trees take turns.

``--cases`` runs other cases instead, with default settings as a user gets them: those of
``bench.user_loop`` (``numpy``, ``layers-sigmoid``, ``fused-step``, ...: a user's own loop,
fp32 784-50-10, batch 100), ``sigmoid-kernel`` (``kernels.activations.sigmoid`` on a
(100, 50) float32 array) and ``softmax-kernel`` (``kernels.softmax.softmax`` on (100, 10)
float32), these two in microseconds per call.
"""
import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from bench.user_loop import CHILD as USER_CHILD

CHILD = r"""
import json, time, numpy as np
from bench import cases
import sys
with cases.threads(int(sys.argv[1]), "fused"):
    step = cases.make_fused("float32", 100, "sigmoid")
    for _ in range(5):
        step()
    ts = []
    t_end = time.perf_counter() + 2.0
    while time.perf_counter() < t_end:
        t0 = time.perf_counter(); step(); ts.append((time.perf_counter() - t0) / step.steps)
print(json.dumps({"samples_per_s": 100 / float(np.median(ts))}))
"""


#: kernels.activations.sigmoid on the hidden layer of a batch of 100, or kernels.softmax.softmax
#: on its scores: median microseconds per call.
KERNEL_CHILD = r"""
import json, sys, time, numpy as np
from kernels.activations import sigmoid
from kernels.softmax import softmax
rng = np.random.default_rng(0)
if sys.argv[1] == "sigmoid-kernel":
    f, x = sigmoid, rng.standard_normal((100, 50)).astype(np.float32).reshape(-1)
else:
    f, x = softmax, (rng.standard_normal((100, 10)) * 3).astype(np.float32)
out = np.empty_like(x)
f(x, out)
ts = []
t_end = time.perf_counter() + 2.0
while time.perf_counter() < t_end:
    t0 = time.perf_counter()
    for _ in range(1000):
        f(x, out)
    ts.append((time.perf_counter() - t0) / 1000)
print(json.dumps({"us": float(np.median(ts)) * 1e6}))
"""
KERNEL_CASES = ("sigmoid-kernel", "softmax-kernel")


def run_case(tree, case, seconds=2.0):
    """One case in a fresh process importing from ``tree``: samples/s, or microseconds
    per call for the ``KERNEL_CASES``."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    if case in KERNEL_CASES:
        args = [sys.executable, "-c", KERNEL_CHILD, case]
    else:
        args = [sys.executable, "-c", USER_CHILD, case, "100", str(seconds)]
    out = subprocess.run(args, cwd=tree, env=env, capture_output=True, text=True, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    return res["us"] if case in KERNEL_CASES else 100 / res["median_s"]


def run_cases(trees, cases, rounds):
    """Each case in each tree, taking turns; prints medians and the ratios to ``numpy``."""
    res = {(k, c): [] for k in trees for c in cases}
    for r in range(rounds):
        for c in cases:
            for k in (("other", "this") if r % 2 == 0 else ("this", "other")):
                res[k, c].append(run_case(trees[k], c))
    med = {key: float(np.median(v)) for key, v in res.items()}
    print(f"median of {rounds} processes per case and tree (default settings, fp32, batch 100)")
    print("| case | other | this | this/other | other vs numpy | this vs numpy |")
    print("|---|---|---|---|---|---|")
    for c in cases:
        o, t = med["other", c], med["this", c]
        kern = c in KERNEL_CASES
        unit = "us" if kern else "/s"
        vs = [f"{med[k, c] / med[k, 'numpy']:.2f}x" if "numpy" in cases and not kern else ""
              for k in ("other", "this")]
        ratio = o / t if kern else t / o
        print(f"| {c} | {o:,.1f} {unit} | {t:,.1f} {unit} | {ratio:.2f}x faster | {vs[0]} | {vs[1]} |")


def run(tree, threads=2):
    env = dict(os.environ, PYTHONPATH=str(tree))
    out = subprocess.run([sys.executable, "-c", CHILD, str(threads)], cwd=tree, env=env, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["samples_per_s"]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("other", type=Path)
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--threads", type=int, default=2, help="numba threads (BLAS at 1)")
    p.add_argument("--cases", default="", help="comma-separated cases of bench.user_loop, "
                   "sigmoid-kernel and softmax-kernel, run with default settings instead of the trainer's fused path")
    args = p.parse_args(argv)
    here = Path(__file__).resolve().parent.parent
    trees = {"other": args.other.resolve(), "this": here}
    if args.cases:
        run_cases(trees, [c for c in args.cases.split(",") if c], args.rounds)
        return 0
    res = {k: [] for k in trees}
    for r in range(args.rounds):
        for k in (("other", "this") if r % 2 == 0 else ("this", "other")):
            res[k].append(run(trees[k], args.threads))
    med = {k: float(np.median(v)) for k, v in res.items()}
    print(f"fused, float32, batch 100, {args.threads} threads (median of {args.rounds} processes): "
          f"other {med['other']:,.0f}/s, this {med['this']:,.0f}/s, this/other {med['this'] / med['other']:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
