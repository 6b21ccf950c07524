"""What one trial of the book's hyperparameter search costs, and what arithmetic allows.

    python -m bench.trial_cost [--trials 10] [--spec examples/sweeps/book_search.toml]
                               [--book-seconds 120.3]

Runs ``--trials`` trials of the spec in this process, one numba and one BLAS
thread (as a sweep's worker does), after one untimed trial, and splits each
trial's CPU time (``time.thread_time``) into its training steps
(``Fused.run``), its evaluations (``Fused.evaluate``) and the rest (building
the network and Trainer, Python between the calls).

Then counts the trial's multiply-adds: the training steps (forward, every
Affine's dW, every dX but the input's) and the evaluations (forward only),
the first Affine over the non-zero pixels only (as fastnn computes it), the
others dense. Divided by the rate of NumPy's BLAS product at one thread
(measured here on the step's shapes), that is the least CPU time a trial can
take; for 100 trials on two cores with no fixed cost at all, it is set
against ``--book-seconds`` / 20 (the book's script's measured time: the
target of 20x).
"""
import argparse
import collections
import statistics
import time

import numpy as np

from fastnn.threads import blas_limit, num_threads


def blas_rate(shapes, seconds=0.3):
    """Median multiply-adds per second of np.dot over (m, k) @ (k, n) float32 products."""
    rng = np.random.default_rng(0)
    rates = []
    for m, k, n in shapes:
        a = rng.random((m, k), dtype=np.float32)
        b = rng.random((k, n), dtype=np.float32)
        c = np.empty((m, n), np.float32)
        reps = max(1, int(2e7 // (m * k * n)))
        for _ in range(reps):
            np.dot(a, b, c)
        times = []
        t_end = time.perf_counter() + seconds
        while time.perf_counter() < t_end or len(times) < 5:
            t0 = time.thread_time()
            for _ in range(reps):
                np.dot(a, b, c)
            times.append((time.thread_time() - t0) / reps)
        rates.append(m * k * n / statistics.median(times))
    return statistics.median(rates)


def trial_macs(sizes, nnz_train, steps, batch, evals):
    """(training, forward) multiply-adds of one trial: ``steps`` training steps of ``batch``
    samples whose mean non-zero pixel count is nnz_train, and forward passes of ``evals``
    [(samples, their mean non-zero count)]. sizes: layer widths (784, 100, ..., 10)."""
    first = sizes[1]
    dense = sum(a * b for a, b in zip(sizes[1:-1], sizes[2:]))
    train = steps * batch * (2 * nnz_train * first + 3 * dense)     # forward, dW, dX (dense); forward, dW (first)
    forward = sum(n * (nnz * first + dense) for n, nnz in evals)
    return train, forward


def main(argv=None):
    from fastnn.fused import Fused
    from fastnn.sweep.runner import task_of
    from fastnn.sweep.spec import load_spec
    from fastnn.sweep.trial import data_spec, run_trial, worker_data
    from fastnn.sweep.trials import expand

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int, default=10)
    p.add_argument("--spec", default="examples/sweeps/book_search.toml")
    p.add_argument("--book-seconds", type=float, default=120.3,
                   help="the book's script's wall time for its 100 trials (bench.sweep_book)")
    args = p.parse_args(argv)

    spec = load_spec(args.spec)
    trials = expand(spec)
    ds = data_spec(spec)
    spent = collections.Counter()
    originals = {name: getattr(Fused, name) for name in ("run", "evaluate")}

    def timed(name):
        f = originals[name]

        def call(*a, **k):
            t0 = time.thread_time()
            try:
                return f(*a, **k)
            finally:
                spent[name] += time.thread_time() - t0
        return call

    for name in originals:
        setattr(Fused, name, timed(name))
    try:
        run_trial(task_of(trials[0]), ds)           # loads the kernels
        spent.clear()
        totals = []
        for trial in trials[1:1 + args.trials]:
            t0 = time.thread_time()
            rec = run_trial(task_of(trial), ds)
            totals.append(time.thread_time() - t0)
            if rec["status"] == "error":
                raise SystemExit(f"trial {trial.index} failed: {rec['error']}")
    finally:
        for name, f in originals.items():
            setattr(Fused, name, f)
    n = len(totals)
    total = sum(totals) / n
    steps_s, eval_s = spent["run"] / n, spent["evaluate"] / n
    print(f"one trial, CPU ms (mean of {n}, one thread): steps {1e3 * steps_s:.1f}, "
          f"evaluations {1e3 * eval_s:.1f}, rest {1e3 * (total - steps_s - eval_s):.1f}, "
          f"total {1e3 * total:.1f}")

    # the trial's arithmetic (the spec's network, data and epochs)
    t = spec.train
    dtype = t.get("dtype", "float32")
    data = worker_data(ds, dtype)
    x_train, x_val, x_test = data["train"][0], data["val"][0], data["test"][0]
    sizes = [x_train.shape[1], *t["hidden"], data["classes"]]
    batch = t.get("batch_size", 100)
    per_epoch = max(len(x_train) // batch, 1)
    epochs = t["epochs"]
    nz = [float(np.count_nonzero(x)) / len(x) for x in (x_train, x_val, x_test)]
    train, forward = trial_macs(sizes, nz[0], epochs * per_epoch, batch,
                                [(epochs * len(x_train), nz[0]), (epochs * len(x_val), nz[1]),
                                 (len(x_test), nz[2])])
    macs = train + forward
    with num_threads(1), blas_limit(1):
        rate = blas_rate([(batch, a, b) for a, b in zip(sizes[1:-1], sizes[2:])]
                         + [(batch, sizes[0], sizes[1])])
    least = macs / rate
    print(f"multiply-adds per trial: training {train / 1e9:.2f} G, evaluations {forward / 1e9:.2f} G "
          f"(first layer over {nz[0]:.0f} non-zero pixels of {sizes[0]}); "
          f"NumPy's float32 BLAS at one thread: {rate / 1e9:.1f} G/s")
    print(f"least CPU per trial at that rate: {1e3 * least:.1f} ms (fastnn: {1e3 * total:.1f} ms, "
          f"{least / total:.0%} of the rate)")
    target = args.book_seconds / 20
    print(f"100 trials on two cores at that rate, nothing else: {100 * least / 2:.2f} s; "
          f"20x the book's {args.book_seconds:.1f} s is {target:.2f} s")
    t0 = time.perf_counter()
    import distributed  # noqa: F401  (what every sweep imports before its first trial)
    print(f"importing dask.distributed here: {time.perf_counter() - t0:.2f} s")


if __name__ == "__main__":
    main()
