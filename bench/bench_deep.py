"""Deeper networks and every optimizer on the fused path (see bench/deep.py for the table runner).

Group ``deep-adam-t<threads>``: 784-100-100-100-100-10 ReLU, He, Adam lr 1e-3, float32,
batch 100: lean NumPy, PyTorch eager (if installed) and ``fastnn.fused.Fused`` (an epoch of
the sample, 80 steps, per call).  Group ``optimizers-t<threads>``: 784-50-10 ReLU float32
batch 100, every optimizer fused against ``FusedSGD``.  ``extra_info["samples_per_s"]``
holds the median throughput.
"""
import pytest

from . import cases, deep

ROUNDS = 20


def _run(benchmark, make, pool, threads, group, **info):
    with cases.threads(threads, pool):
        step = make()
        for _ in range(3):
            step()
        benchmark.group = group
        benchmark.extra_info.update(cases.environment())
        benchmark.extra_info.update(threads=threads, steps_per_iteration=step.steps, **info)
        benchmark.pedantic(step, rounds=ROUNDS, iterations=1, warmup_rounds=1)
    if benchmark.stats is not None:         # None under --benchmark-disable
        benchmark.extra_info["samples_per_s"] = deep.BATCH * step.steps / benchmark.stats.stats.median


@pytest.mark.parametrize("threads", cases.THREADS)
@pytest.mark.parametrize("impl", ["numpy", "torch", "fused"])
def test_deep_adam(benchmark, impl, threads):
    if impl == "torch" and not cases.has_torch():
        pytest.skip("PyTorch is not installed (pip install torch==2.13.0 to compare)")
    make = {"numpy": deep.make_numpy, "torch": deep.make_torch, "fused": deep.make_fused}[impl]
    _run(benchmark, make, impl, threads, f"deep-adam-t{threads}", impl=impl, sizes=deep.DEEP)


@pytest.mark.parametrize("threads", cases.THREADS)
@pytest.mark.parametrize("name", list(deep.OPTIMIZERS))
def test_optimizers(benchmark, name, threads):
    _run(benchmark, lambda: deep.make_fused(deep.SMALL, name=name, settings=deep.OPTIMIZERS[name],
                                            sgd_class=name == "sgd"),
         "fused", threads, f"optimizers-t{threads}", optimizer=name, sizes=deep.SMALL)
