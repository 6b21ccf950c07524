"""Cold start: wall time of a fresh process from start to its first fused training step.

``cold``: an empty numba cache (NUMBA_CACHE_DIR pointed at a new temp dir),
so every kernel the step needs is compiled.  ``warm``: the same cache dir
again, so the kernels load from disk.  FIRST_STEP is the command timed;
once ``fastnn train`` exists, a short run of it can take its place here.
"""
import os
import subprocess
import sys
import tempfile
import time

import pytest

from . import cases

FIRST_STEP = [sys.executable, "-c", (
    "import numpy as np, fastnn\n"
    "from fastnn.fused import FusedSGD\n"
    "net = fastnn.TwoLayerNet(784, 50, 10, dtype=np.float32, seed=0)\n"
    "x = np.random.default_rng(0).random((100, 784), dtype=np.float32)\n"
    "print(FusedSGD(net, 0.1).step(x, np.arange(100) % 10))\n")]


def run_first_step(cache_dir, command=FIRST_STEP):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    t0 = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True, cwd=str(cases.ROOT))
    return time.perf_counter() - t0


@pytest.mark.parametrize("cache", ["cold", "warm"])
def test_first_step(benchmark, cache, tmp_path):
    benchmark.group = "coldstart"
    benchmark.extra_info.update(cases.environment())
    benchmark.extra_info.update(cache=cache, command=" ".join(FIRST_STEP[:2]) + " <first fused step>",
                                dtype="float32", batch=100, threads=os.environ.get("NUMBA_NUM_THREADS", "default"))
    warm_dir = str(tmp_path / "warm")
    if cache == "warm":
        run_first_step(warm_dir)  # fill the cache once

    def setup():
        return (tempfile.mkdtemp(dir=tmp_path) if cache == "cold" else warm_dir,), {}
    benchmark.pedantic(run_first_step, setup=setup, rounds=2 if cache == "cold" else 5, iterations=1)
    limit = 30.0 if cache == "cold" else 2.0
    benchmark.extra_info["target_s"] = limit
    benchmark.extra_info["met"] = benchmark.stats.stats.median < limit
