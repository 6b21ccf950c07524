"""fastnn's thread policy: which pool computes, with how many threads, for each call.

Two thread pools can do fastnn's work: numba's (the fused training steps, the
evaluation, the numerical gradients, large elementwise kernels) and BLAS
(OpenBLAS under ``np.dot`` on the layer path).  Every public entry point asks
this module, per call:

- **One pool at a time.**  The layer path computes with BLAS and runs its
  elementwise kernels serially; the fused and numerical paths compute with
  numba (the fused steps of kernels.train, all but two-layer plain SGD, call BLAS for
  their dense products with BLAS at one thread, two products at a time on
  numba's threads in the parallel kernel: fastnn.fused).  Idle workers of a pool spin for a while after each
  call, so two pools of several threads in one step slow each other down by
  orders of magnitude on a small machine.
- **Serial where a parallel region does not pay** (thresholds below, with the
  measurements that chose them).
- **Serial when the machine is busy.**  A parallel region ends when its last
  thread does; when another process holds a core, that thread may wait
  milliseconds for a time slice, and a step of 0.2 ms then takes several.
  :class:`Adaptive` times the parallel and the serial variant of a call side
  by side, now and then, and runs the faster.  Both variants give the same
  bits, so switching never changes a result.
- **The user's settings are theirs.**  ``numba.set_num_threads`` and the BLAS
  thread counts are read, never changed for good: a call that runs serially
  picks the serial kernel or lowers BLAS to one thread for its duration and
  restores it (:func:`blas_threads`).  fastnn sets no environment variable.
"""
import contextlib
import os
import time

import numba

#: Layer path: products of fewer than this many multiply-adds (N * D * M summed over a
#: call's products) run BLAS on one thread.  Measured (bench/blas_threads.py, 784x50
#: products x @ W1 and x.T @ dA1, float32): 2 threads gave no gain at batch 10 (392,000
#: multiply-adds each, 21.4 us either way) and 1.25x at batch 30.
BLAS_MIN_WORK = 1_000_000
#: ``FusedSGD.step`` on a two-layer net (kernels.fused's dense step): serial below this batch
#: size.  Measured (784-50-10 ReLU, float32, MNIST rows, the serial and the parallel kernel
#: side by side, minimum of 400 calls each, 2 threads on 2 cores): batch 8: 19.3 us serial,
#: 18.2 parallel (1.06x); 12: 27.6 / 23.1 (1.19x); 16: 34.9 / 25.1 (1.39x); 32: 63.7 / 39.1
#: (1.63x); 100: 190.6 / 100.7 (1.89x).  Below 16 a batch is one chunk of samples
#: (kernels.fused.chunks), so only the W1 update could run in parallel.
DENSE_STEP_MIN_BATCH = 16
#: From this many multiply-adds a call runs BLAS with the user's threads without timing
#: (chosen, not measured: a parallel region's wake-up, even a slow one of a few ms on a
#: busy machine, is then small against the work; 784x50 products at batch 10,000 are 392M).
BLAS_ALWAYS_WORK = 300_000_000


def cores():
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def check_threads(name, n):
    """``n`` as a thread count in [1, cores]; ValueError naming ``name`` otherwise."""
    limit = min(cores(), numba.config.NUMBA_NUM_THREADS)
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= limit:
        why = (f"NUMBA_NUM_THREADS={numba.config.NUMBA_NUM_THREADS}" if numba.config.NUMBA_NUM_THREADS < cores()
               else f"{cores()} cores")
        raise ValueError(f"{name}: expected an integer in [1, {limit}] ({why}), got {n!r}")
    return n


#: Environment variables that set a thread count fastnn's pools read when they load.
THREAD_ENV = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def check_environment(environ=None):
    """ValueError naming the first thread variable set above the cores (or not a count)."""
    environ = os.environ if environ is None else environ
    n = cores()
    for key in THREAD_ENV:
        text = environ.get(key, "").strip()
        if not text:
            continue
        if not text.isdigit() or not 1 <= int(text) <= n:
            raise ValueError(f"{key}={text}: expected a thread count in [1, {n}] (the cores this "
                             f"process may use); more threads than cores wait for each other. "
                             f"Unset it or lower it.")


@contextlib.contextmanager
def num_threads(n=None):
    """Run the block with ``numba.set_num_threads(n)``; None keeps the current count."""
    old = numba.get_num_threads()
    if n is not None:
        numba.set_num_threads(check_threads("threads", n))
    try:
        yield numba.get_num_threads()
    finally:
        numba.set_num_threads(old)


# -- BLAS ---------------------------------------------------------------------
_BLAS = None


def _blas_pools():
    """threadpoolctl's controllers of the loaded BLAS libraries (NumPy's and SciPy's OpenBLAS,
    the latter called by numba's np.dot), found once; [] without threadpoolctl."""
    global _BLAS
    if _BLAS is None:
        try:
            import threadpoolctl
            import scipy.linalg.cython_blas  # noqa: F401  (load SciPy's BLAS before looking)
            _BLAS = threadpoolctl.ThreadpoolController().select(user_api="blas").lib_controllers
        except ImportError:
            _BLAS = []
    return _BLAS


@contextlib.contextmanager
def blas_threads(n):
    """The BLAS pools at most ``n`` threads inside the block, restored after (None: untouched).

    Calls the libraries' own get/set functions (about 1 us) instead of
    ``threadpoolctl.threadpool_limits`` (about 0.8 ms, too slow per call)."""
    changed = []
    if n is not None:
        for pool in _blas_pools():
            old = pool.get_num_threads()
            if old is not None and old > n:
                pool.set_num_threads(n)
                changed.append((pool, old))
    try:
        yield
    finally:
        for pool, old in changed:
            pool.set_num_threads(old)


def blas_limit(n):
    """Context: BLAS limited to n threads for a long block (None: untouched)."""
    return blas_threads(n)


# -- choosing by measurement ------------------------------------------------
class Adaptive:
    """Chooses, per call, a parallel variant or its serial twin from measured times.

    ``choose(key)`` says which to run and whether the call is a measurement
    (then keep it to one unit of work); ``record(key, parallel, seconds,
    units)`` reports it.  Per key (say, a batch size) a comparison times
    ``probe_units`` units of the variant in use, then as many of the other,
    and runs the faster one from then on; the other stops being timed as soon
    as it has taken longer than the whole of the first, so that a parallel
    variant on a busy machine costs about one slow call per comparison.  The
    first comparison starts with the serial variant, and one untimed call of
    the parallel one (compilation, starting threads; ``warmup=False``: none).  After ``probe_every``
    units of work comes the next comparison; after one that changed nothing
    the interval grows four times (up to ``probe_max``).  While the parallel
    variant is in use, a window of ``probe_units`` units that runs twice as
    slow as it did when it won (or one call four times as slow) starts a
    comparison at once.  So a machine
    that becomes busy (or quiet) is followed, and a steady one costs a short
    comparison now and then.
    """

    def __init__(self, probe_units=8, probe_every=1000, probe_max=64000, margin=0.05, warmup=True):
        self.warmup = warmup
        self.probe_units = probe_units
        self.probe_every = probe_every
        self.probe_max = probe_max
        self.margin = margin
        self._state = {}

    def _get(self, key):
        s = self._state.get(key)
        if s is None:
            # plan: the calls still to make in the comparison, as (parallel, timed)
            plan = [(False, True)] + [(True, False)] * self.warmup + [(True, True)]
            s = self._state[key] = {"current": False, "plan": plan,
                                    "timing": {}, "done": 0, "interval": self.probe_every}
        return s

    def choose(self, key):
        """(parallel, measuring) for the next call of ``key``."""
        s = self._get(key)
        if s["plan"]:
            return s["plan"][0][0], True
        return s["current"], False

    def record(self, key, parallel, seconds, units=1):
        """Report a call of ``key``: which variant ran, its seconds and units of work."""
        s = self._get(key)
        if not s["plan"]:
            s["done"] += units
            if s["current"] and s.get("ref"):
                # parallel in use: compare again at once if a window of probe_units units ran
                # twice as slow as when it won (the machine became busy)
                sec, n = s.get("window", (0.0, 0))
                sec, n = sec + seconds, n + units
                s["window"] = (sec, n) if n < self.probe_units else (0.0, 0)
                if (n >= self.probe_units and sec / n > 2 * s["ref"]) or seconds / units > 4 * s["ref"]:
                    s["done"] = s["interval"]
            if s["done"] >= s["interval"]:
                s["done"] = 0
                s["plan"] = [(s["current"], True), (not s["current"], True)]
            return
        want, timed = s["plan"][0]
        if want != parallel:
            return
        if not timed:
            s["plan"].pop(0)
            return
        sec, n = s["timing"].get(parallel, (0.0, 0))
        s["timing"][parallel] = sec, n = sec + seconds, n + units
        first = s["timing"].get(not parallel)
        slower = first is not None and sec > first[0] * (1 + self.margin)
        if n < self.probe_units and not slower:
            return
        s["plan"].pop(0)
        if s["plan"] and not slower:
            return
        s["plan"] = []
        if first is None:
            return
        t_this, t_first = sec / n, first[0] / first[1]
        s["timing"] = {}
        s["window"] = (0.0, 0)
        if t_this < t_first * (1 - self.margin):
            if parallel != s["current"]:
                s["interval"] = self.probe_every
            s["current"], s["ref"] = parallel, t_this
        else:
            if parallel != s["current"]:
                s["interval"] = min(s["interval"] * 4, self.probe_max)
            s["current"], s["ref"] = not parallel, t_first

    def current(self, key):
        """The variant that runs between comparisons (True: parallel)."""
        return self._get(key)["current"]


@contextlib.contextmanager
def blas_for(work, adaptive=None, key=None):
    """BLAS threads for a layer-path call of ``work`` multiply-adds, restored after.

    One thread below BLAS_MIN_WORK; the user's count from BLAS_ALWAYS_WORK on
    or without ``adaptive``; in between, the user's count or one thread,
    whichever ``adaptive`` measured faster for ``key`` lately."""
    if work < BLAS_MIN_WORK:
        with blas_threads(1):
            yield
        return
    if adaptive is None or work >= BLAS_ALWAYS_WORK or _blas_max() <= 1:
        yield
        return
    parallel, _ = adaptive.choose(key)
    t0 = time.perf_counter()
    with blas_threads(None if parallel else 1):
        yield
    adaptive.record(key, parallel, time.perf_counter() - t0)


def _blas_max():
    """The largest thread count among the BLAS pools (1 without any)."""
    return max([p.get_num_threads() or 1 for p in _blas_pools()], default=1)


def describe():
    """The thread settings and library versions in effect (JSON-compatible), for run records."""
    import platform

    import numpy as np
    info = {"python": platform.python_version(), "numpy": np.__version__, "numba": numba.__version__,
            "cores": cores(), "numba_threads": numba.get_num_threads(),
            "numba_max_threads": numba.config.NUMBA_NUM_THREADS,
            "numba_threading_layer": numba.config.THREADING_LAYER,
            "blas": [{"library": p.filepath.rsplit("/", 1)[-1], "version": p.version,
                      "threads": p.get_num_threads()} for p in _blas_pools()],
            "environment": {k: os.environ[k] for k in THREAD_ENV + ("OMP_WAIT_POLICY",) if k in os.environ}}
    try:
        info["numba_threading_layer"] = numba.threading_layer()  # once a parallel kernel has run
    except ValueError:
        pass
    for name in ("scipy", "threadpoolctl"):
        try:
            info[name] = __import__(name).__version__
        except ImportError:
            pass
    from . import __version__
    info["fastnn"] = __version__
    return info
