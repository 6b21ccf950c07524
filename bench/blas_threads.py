"""BLAS on one thread or two for the layer path's first-layer products, by batch size.

    python -m bench.blas_threads

Times ``x @ W1`` and ``x.T @ dA1`` (784x50, the products that dominate a layer-path step) with
OpenBLAS at 1 and at 2 threads, taking turns, medians of 30 rounds of 5; chose
fastnn.threads.BLAS_MIN_WORK.
"""
import time

import numpy as np

from fastnn.threads import _blas_pools


def _set(n):
    for pool in _blas_pools():
        pool.set_num_threads(n)


def main():
    rng = np.random.default_rng(0)
    before = [p.get_num_threads() for p in _blas_pools()]
    try:
        for dt in (np.float32, np.float64):
            for B in (10, 30, 100, 300, 1000, 3000):
                x = rng.random((B, 784)).astype(dt)
                W1 = rng.random((784, 50)).astype(dt)
                d = rng.random((B, 50)).astype(dt)
                res = {1: [], 2: []}
                for _ in range(30):
                    for n in (1, 2):
                        _set(n)
                        np.dot(x, W1)
                        t0 = time.perf_counter()
                        for _ in range(5):
                            np.dot(x, W1)
                            np.dot(x.T, d)
                        res[n].append((time.perf_counter() - t0) / 5)
                m1, m2 = np.median(res[1]), np.median(res[2])
                print(f"{np.dtype(dt).name} batch {B:5d} ({B * 784 * 50:,} multiply-adds): "
                      f"1 thread {m1 * 1e6:8.1f} us, 2 threads {m2 * 1e6:8.1f} us, 1/2 {m1 / m2:.2f}")
    finally:
        for pool, n in zip(_blas_pools(), before):
            pool.set_num_threads(n)


if __name__ == "__main__":
    main()
