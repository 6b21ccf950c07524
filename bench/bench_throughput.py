"""Training throughput on MNIST: samples/s from the median step time.

Group ``throughput-<dtype>-b<batch>-t<threads>``: the book's NumPy code,
fastnn layers (gradient + SGD), fastnn fused (blocks of steps per call, as
the trainer runs them, and one step per call), and PyTorch eager (if
installed), each on real MNIST batches; the benchmark's time is per call,
``extra_info["steps_per_iteration"]`` steps.  Compilation is kept out of the
timing by warm-up rounds.  Also: the dense roofline for each case.
"""
import pytest

from . import cases

ROUNDS = 30


@pytest.mark.parametrize("threads", cases.THREADS)
@pytest.mark.parametrize("batch", cases.BATCHES)
@pytest.mark.parametrize("dtype", cases.DTYPES)
@pytest.mark.parametrize("impl", cases.IMPLS)
def test_train_step(benchmark, impl, dtype, batch, threads):
    if not cases.available(impl):
        pytest.skip("PyTorch is not installed (pip install torch==2.13.0 to compare)")
    benchmark.group = f"throughput-{dtype}-b{batch}-t{threads}"
    with cases.threads(threads, impl=impl):
        step = cases.MAKERS[impl](dtype, batch)
        calls = cases.calls_per_round(step, batch)
        per = cases.steps_per_call(step)
        for _ in range(3):
            step()
        benchmark.extra_info.update(cases.environment())
        benchmark.extra_info.update(impl=impl, dtype=dtype, batch=batch, threads=threads,
                                    steps_per_iteration=per)
        benchmark.pedantic(step, rounds=ROUNDS * calls, iterations=1, warmup_rounds=calls)
    benchmark.extra_info["samples_per_s"] = batch * per / benchmark.stats.stats.median


@pytest.mark.parametrize("batch", cases.BATCHES)
@pytest.mark.parametrize("dtype", cases.DTYPES)
def test_roofline(benchmark, dtype, batch):
    """Dense roofline (1 thread): BLAS at the step's shapes plus exp/log; fused reaches what fraction."""
    benchmark.group = f"roofline-{dtype}-b{batch}"
    with cases.threads(1):
        roof = cases.roofline(dtype, batch)
        step = cases.make_fused(dtype, batch)
        for _ in range(3):
            step()
        benchmark.pedantic(step, rounds=ROUNDS * cases.calls_per_round(step, batch), iterations=1,
                           warmup_rounds=3)
        benchmark.extra_info.update(cases.environment())
    fused = batch * cases.steps_per_call(step) / benchmark.stats.stats.median
    benchmark.extra_info.update(dtype=dtype, batch=batch, threads=1, roofline=roof,
                                samples_per_s=fused, fraction_of_roofline=fused / roof["samples_per_s"])
    print(f"\nroofline {dtype} batch {batch}: BLAS {roof['gflops']:.1f} GFLOP/s, "
          f"roofline {roof['samples_per_s']:,.0f} samples/s, fused {fused:,.0f} "
          f"= {fused / roof['samples_per_s']:.2f} of it")
