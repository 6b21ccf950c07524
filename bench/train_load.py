"""Training on a busy machine: which mechanism keeps the fused path steady.

    python -m bench.train_load [--iterations 2000] [--repeats 2]

Times ``Trainer.fit`` (mnist-sample, 784-50-10 ReLU, float32, batch 100,
seed 0), each run in a fresh process, quiet and with one core kept busy by
``python -c "while True: pass"`` (started and killed here, by pid), for:

- adaptive: the default (fastnn.threads.Adaptive picks serial or parallel);
- serial: ``threads=1``;
- parallel: the parallel kernel forced on every call (what fastnn did before);
- parallel + OMP_WAIT_POLICY=PASSIVE, parallel + GOMP_SPINCOUNT=10000,
  parallel + NUMBA_THREADING_LAYER=workqueue: the same with the OpenMP
  workers sleeping instead of spinning, spinning less, or numba's own pool.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

from .user_loop import ROOT, start_load, stop_load

VARIANTS = {
    "adaptive": ({}, None, None),
    "serial": ({}, 1, None),
    "parallel": ({}, None, True),
    "parallel + OMP_WAIT_POLICY=PASSIVE": ({"OMP_WAIT_POLICY": "PASSIVE"}, None, True),
    "parallel + GOMP_SPINCOUNT=10000": ({"GOMP_SPINCOUNT": "10000"}, None, True),
    "parallel + workqueue layer": ({"NUMBA_THREADING_LAYER": "workqueue"}, None, True),
}

CHILD = r"""
import json, sys, time
import numpy as np
from fastnn import TwoLayerNet
from fastnn.datasets import load_mnist
from fastnn.trainer import Trainer
iters, threads, parallel = int(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3])
(x, t), (xt, tt) = load_mnist(dataset="mnist-sample", verbose=False)
def trainer(n):
    net = TwoLayerNet(784, 50, 10, activation="relu", dtype=np.float32, seed=0)
    tr = Trainer(net, x, t, xt, tt, iterations=n, seed=0, threads=threads)
    tr._fused.parallel = parallel
    return tr
trainer(200).fit()                      # compiled kernels loaded, threads started
tr = trainer(iters)
t0 = time.perf_counter()
tr.fit()
print(json.dumps({"fit_s": time.perf_counter() - t0, "test_acc": tr.history["test_acc"][-1]}))
"""


def run_variant(name, iterations):
    env_extra, threads, parallel = VARIANTS[name]
    env = dict(os.environ, **env_extra)
    out = subprocess.run([sys.executable, "-c", CHILD, str(iterations), json.dumps(threads), json.dumps(parallel)],
                         cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["fit_s"]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--iterations", type=int, default=2000)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--variants", default=",".join(VARIANTS))
    args = p.parse_args(argv)
    names = [v for v in args.variants.split(",") if v]
    res = {}
    for cond in ("quiet", "one core busy"):
        spinner = start_load() if cond != "quiet" else None
        try:
            if spinner:
                time.sleep(0.5)
            times = {n: [] for n in names}
            for r in range(args.repeats):
                for n in (names if r % 2 == 0 else names[::-1]):
                    times[n].append(run_variant(n, args.iterations))
        finally:
            if spinner:
                stop_load(spinner)
        res[cond] = {n: float(np.median(v)) for n, v in times.items()}
        print(f"{cond}: " + ", ".join(f"{n} {s:.2f} s" for n, s in res[cond].items()), flush=True)
    print(f"\n| fit, {args.iterations} iterations | quiet (s) | one core busy (s) | busy / quiet |")
    print("|---|---|---|---|")
    for n in names:
        q, b = res["quiet"][n], res["one core busy"][n]
        print(f"| {n} | {q:.2f} | {b:.2f} | {b / q:.1f}x |")


if __name__ == "__main__":
    sys.exit(main())
