"""Training throughput on MNIST: samples/s from the median step time.

Group ``throughput-<dtype>-b<batch>-t<threads>``: the book's NumPy code,
fastnn layers (gradient + SGD), fastnn fused, and PyTorch eager (if
installed), each on real MNIST batches.  Compilation is kept out of the
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
    inner = cases.inner_steps(batch)
    with cases.threads(threads, impl=impl):
        step = cases.MAKERS[impl](dtype, batch)
        for _ in range(3):
            step()
        benchmark.extra_info.update(cases.environment())
        benchmark.extra_info.update(impl=impl, dtype=dtype, batch=batch, threads=threads,
                                    steps_per_iteration=1)
        benchmark.pedantic(step, rounds=ROUNDS * inner, iterations=1, warmup_rounds=inner)
    benchmark.extra_info["samples_per_s"] = batch / benchmark.stats.stats.median


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
        benchmark.pedantic(step, rounds=ROUNDS * cases.inner_steps(batch), iterations=1, warmup_rounds=3)
        benchmark.extra_info.update(cases.environment())
    fused = batch / benchmark.stats.stats.median
    benchmark.extra_info.update(dtype=dtype, batch=batch, threads=1, roofline=roof,
                                samples_per_s=fused, fraction_of_roofline=fused / roof["samples_per_s"])
    print(f"\nroofline {dtype} batch {batch}: BLAS {roof['gflops']:.1f} GFLOP/s, "
          f"roofline {roof['samples_per_s']:,.0f} samples/s, fused {fused:,.0f} "
          f"= {fused / roof['samples_per_s']:.2f} of it")
