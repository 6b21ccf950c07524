"""Writes twolayer_golden.npz: TwoLayerNet's weights and results as computed by the
two-layer class of fastnn before the network description (commit 0beef8c).

    git show 0beef8c:fastnn/network.py > /tmp/network_0beef8c.py
    python tests/data/make_twolayer_golden.py /tmp/network_0beef8c.py

The file is loaded as a module of the installed fastnn package (it imports the
layers and checks relative to it).
"""
import importlib.util
import sys
from pathlib import Path

import numpy as np

import fastnn  # noqa: F401  (the package the old module's relative imports resolve to)

SIZES = (20, 8, 5)
CASES = [(dt, act) for dt in ("float32", "float64") for act in ("sigmoid", "relu")]


def main(path):
    spec = importlib.util.spec_from_file_location("fastnn._network_0beef8c", path)
    old = importlib.util.module_from_spec(spec)
    old.__package__ = "fastnn"
    spec.loader.exec_module(old)
    out = {}
    data = np.random.default_rng(2024)
    for dt, act in CASES:
        net = old.TwoLayerNet(*SIZES, weight_init_std=0.5, activation=act, dtype=dt, seed=7)
        x = data.uniform(0.05, 1.0, (6, SIZES[0])).astype(dt)
        t = data.integers(0, SIZES[2], 6)
        key = f"{dt}-{act}"
        out[f"{key}/x"], out[f"{key}/t"] = x, t
        for k, v in net.params.items():
            out[f"{key}/{k}"] = v.copy()
        out[f"{key}/predict"] = net.predict(x)
        out[f"{key}/loss"] = np.float64(net.loss(x, t))
        out[f"{key}/accuracy"] = np.float64(net.accuracy(x, t))
        for k, v in net.gradient(x, t).items():
            out[f"{key}/d{k}"] = v.copy()
    np.savez_compressed(Path(__file__).with_name("twolayer_golden.npz"), **out)


if __name__ == "__main__":
    main(sys.argv[1])
