"""The trainer's fused path of two source trees, side by side in alternating fresh processes.

    python -m bench.versus OTHER_TREE [--rounds 6]

OTHER_TREE is a checkout of fastnn (for example ``git archive main | tar -x -C /tmp/main``);
the current tree is this one.  Each process imports ``kernels``/``fastnn``/``bench`` from its
tree (PYTHONPATH), runs ``bench.cases.make_fused("float32", 100)`` (blocks of 100 steps, as the
trainer) with numba at ``--threads`` (default 2) and BLAS at 1 for about 2 s after a warm-up, and prints the
median samples/s; the trees take turns.
"""
import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

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
    args = p.parse_args(argv)
    here = Path(__file__).resolve().parent.parent
    trees = {"other": args.other.resolve(), "this": here}
    res = {k: [] for k in trees}
    for r in range(args.rounds):
        for k in (("other", "this") if r % 2 == 0 else ("this", "other")):
            res[k].append(run(trees[k], args.threads))
    med = {k: float(np.median(v)) for k, v in res.items()}
    print(f"fused, float32, batch 100, {args.threads} threads (median of {args.rounds} processes): "
          f"other {med['other']:,.0f}/s, this {med['this']:,.0f}/s, this/other {med['this'] / med['other']:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
