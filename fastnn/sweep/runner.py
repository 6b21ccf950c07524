"""Running a sweep's trials on Dask distributed, keeping every finished trial.

    summary = run_sweep(spec, "sweeps/book", workers=2)            # a LocalCluster
    summary = run_sweep(spec, "sweeps/book", scheduler="tcp://host:8786")

Without a scheduler address a ``LocalCluster`` starts: worker processes, one
per core, one thread each, with numba and the BLAS libraries at one thread, so
that the workers never compete for the cores. On Linux the workers are forked
from this process (``start_method``): they start with fastnn, numba and the
sweep's data already loaded, and each trial sets one numba and one BLAS thread
for itself (fastnn.sweep.trial); spawned workers (other platforms, or a process
that has started numba's threads) also get NUMBA_NUM_THREADS, OMP_NUM_THREADS,
OPENBLAS_NUM_THREADS and MKL_NUM_THREADS at 1. With an address, the same tasks
go to that cluster, and the trials set their threads the same way.

What is sent per trial is its arguments (a few hundred bytes); what comes back
is its record (the per-epoch figures, a few kB). The data are loaded by each
worker once (the bundled sample, the download cache, or [data] data_dir, which
must then be readable on every worker); forked workers find them loaded already. The process that runs the sweep is the
only one that writes the output folder: it appends each record to results.jsonl
as it arrives (fastnn.sweep.results).

A worker that dies takes its running trial with it; the scheduler runs that
trial again elsewhere (``distributed.scheduler.allowed-failures`` times, then
the trial is recorded as an error). A trial that raises is recorded with its
error and the others go on. Ctrl-C (or SIGTERM) cancels the trials not yet
finished and leaves a folder that ``--resume`` completes.
"""
import contextlib
import importlib.util
import logging
import os
import sys
import time
import uuid

from .results import SweepFolder
from .trial import data_spec, run_trial, worker_data
from .trials import expand

__all__ = ["run_sweep", "SweepInterrupted", "SchedulerUnreachable", "WORKER_ENV", "start_method"]

#: One thread per worker for every pool a trial may use (read when a spawned worker
#: imports numba and NumPy); and no statistical profiler in the LocalCluster's workers (it
#: samples the running trial every 10 ms: about 10 % more CPU per trial, measured 0.67 s
#: against 0.59 s on the book's search). connect also sets the profiler off in Dask's
#: config, which forked workers inherit.
WORKER_ENV = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
              "MKL_NUM_THREADS": "1", "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False"}
#: Seconds to wait for a scheduler given by address before giving up.
CONNECT_TIMEOUT = 10


class SweepInterrupted(KeyboardInterrupt):
    """The sweep was stopped (Ctrl-C, SIGTERM); ``done`` of ``total`` trials are kept in
    ``out``. ``signum``: the signal's number, None for a plain KeyboardInterrupt."""

    def __init__(self, out, done, total, signum=None):
        super().__init__(f"sweep interrupted: {done} of {total} trials done, kept in {out}")
        self.out, self.done, self.total, self.signum = out, done, total, signum


class SchedulerUnreachable(OSError):
    """No Dask scheduler answered at the address given."""


def task_of(trial):
    """What is sent to a worker for ``trial``: plain data, a few hundred bytes."""
    return {"index": trial.index, "config": trial.config, "repeat": trial.repeat,
            "seed": trial.seed, "values": trial.values, "argv": list(trial.argv)}


@contextlib.contextmanager
def connect(scheduler=None, workers=None, timeout=CONNECT_TIMEOUT):
    """A dask.distributed Client: to ``scheduler`` (an address), or to a new LocalCluster of
    ``workers`` processes (default: one per core) with one thread each. Closed after."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ImportError("fastnn sweep runs on Dask distributed, which is not installed: "
                          "pip install 'fastnn[sweep]' (or 'dask[distributed]')") from None
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError, ValueError, TypeError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise SchedulerUnreachable(f"--scheduler {scheduler}: no Dask scheduler answered "
                                       f"within {timeout} s ({first})") from None
        try:
            yield client
        finally:
            client.close()
        return
    import dask

    from ..threads import cores
    n = workers or cores()
    dashboard = ":0"        # a free port (served pages need bokeh; the link is shown then)
    # for the cluster's whole life: a worker that dies is started again the same way
    with dask.config.set({"distributed.worker.multiprocessing-method": start_method(),
                          "distributed.worker.profile.enabled": False}):
        with _environ(WORKER_ENV):
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                   dashboard_address=dashboard, silence_logs=logging.ERROR,
                                   env=dict(WORKER_ENV))
        try:
            client = Client(cluster, set_as_default=False)
            try:
                yield client
            finally:
                _quiet_close(client)
                client.close()
        finally:
            cluster.close()


def _silence_distributed():
    logging.getLogger("distributed").setLevel(logging.CRITICAL)


def _quiet_close(client):
    """Before the LocalCluster closes: its workers stop logging. A worker whose heartbeat
    meets the scheduler closing logs it as an error with a traceback (a race in Dask's
    shutdown, seen on a busy machine); once the trials are in there is nothing to report."""
    try:
        client.run(_silence_distributed)
    except Exception:       # a worker gone already: nothing of it to silence
        pass


def start_method():
    """How the LocalCluster's nannies start their workers: "fork" on Linux while numba's
    thread pool has not started in this process, else "spawn" (Dask's default).

    A forked worker begins with what this process has imported and loaded (numba, fastnn,
    the sweep's data): on the book's search it was ready in 0.6 s where a spawned one,
    which starts a new interpreter and imports everything again, took 4 s (two workers,
    a busy two-core machine), and the cluster closed in 0.1 s instead of 1.7 s. Forking
    is safe only while this process runs no other threads that the children could
    inherit half-way: numba's OpenMP pool (started by any numba thread call, such as
    fastnn.threads.num_threads, or a training run in this process) rules it out, and
    other platforms keep "spawn"."""
    if not sys.platform.startswith("linux"):
        return "spawn"
    try:
        from numba.np.ufunc import parallel
    except ImportError:         # a numba without that module: do not guess
        return "spawn"
    return "spawn" if getattr(parallel, "_is_initialized", True) else "fork"


@contextlib.contextmanager
def _environ(values):
    """``values`` in os.environ while the workers are spawned, restored after.

    A spawned worker imports the parent's main module (for ``fastnn sweep``, fastnn and
    numba) before the nanny applies its ``env``; numba reads NUMBA_NUM_THREADS at import,
    so the variables must already be there when the process starts."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _has_bokeh():
    return importlib.util.find_spec("bokeh") is not None


def dashboard_link(client):
    """The Dask dashboard's address, or None when the scheduler serves none."""
    try:
        if "dashboard" not in client.scheduler_info().get("services", {}):
            return None
        return client.dashboard_link
    except Exception:       # an old scheduler or a proxy: no dashboard to show
        return None


def run_sweep(spec, out, *, scheduler=None, workers=None, resume=False, say=None,
              progress=None, on_record=None, on_running=None, check_data=None,
              timeout=CONNECT_TIMEOUT):
    """Run the trials of ``spec`` not yet in ``out``; returns {"trials", "done", "ran",
    "failed", "wall", "records", "folder"} (records: every record in the folder, by index;
    folder: the SweepFolder).

    say: prints a line (None: silent). progress: called as progress(done, total, record).
    on_record: called with each new record after it is written (tests use it).
    on_running: called once the trials are submitted, while the workers run them (the
    command line starts loading its plotting library then).
    check_data: load the data here first so that a bad [data] fails before the workers
    start (default: with a LocalCluster, which reads the same files).
    timeout: seconds to wait for the scheduler at ``scheduler``.
    Raises SweepInterrupted on Ctrl-C / a stop signal, after cancelling what is pending.
    """
    say = say or (lambda *a: None)
    t0 = time.perf_counter()
    trials = expand(spec)
    folder = SweepFolder(out, spec, len(trials), resume)
    done = folder.finished()
    todo = [t for t in trials if t.index not in done]
    dspec = data_spec(spec)
    if check_data if check_data is not None else scheduler is None:
        dtypes = {a for t in todo for a in _dtypes(t)}
        for dtype in sorted(dtypes) or ["float32"]:
            worker_data(dspec, dtype)
    if resume:
        say(f"resuming: {len(done)} of {len(trials)} trials already in {folder.results}")
    ran = failed = 0
    if todo:
        with connect(scheduler, workers, timeout) as client:
            n_workers = len(client.scheduler_info().get("workers", {}))
            # a LocalCluster serves the dashboard's pages only with bokeh installed
            link = dashboard_link(client) if scheduler or _has_bokeh() else None
            say(f"{len(todo)} trials on {n_workers} Dask workers "
                f"({'scheduler ' + scheduler if scheduler else 'LocalCluster, 1 thread each'})"
                + (f"; dashboard {link}" if link else ""))
            ran, failed = _run(client, todo, dspec, folder, len(trials), len(done), progress,
                               on_record, on_running)
    records = folder.all_records()
    return {"trials": len(trials), "done": sum(r.get("status") in ("ok", "diverged")
                                               for r in records.values()),
            "ran": ran, "failed": failed, "wall": time.perf_counter() - t0, "records": records,
            "folder": folder}


def _dtypes(trial):
    argv = list(trial.argv)
    if "--dtype" in argv:
        return [argv[argv.index("--dtype") + 1]]
    return ["float32"]


def _run(client, todo, dspec, folder, total, done, progress, on_record, on_running=None):
    from distributed import as_completed
    from distributed.scheduler import KilledWorker
    token = uuid.uuid4().hex[:8]
    futures = [client.submit(run_trial, task_of(t), dspec, key=f"fastnn-trial-{t.index:05d}-{token}",
                             pure=False) for t in todo]
    if on_running is not None:
        on_running()
    by_key = {f.key: t for f, t in zip(futures, todo)}
    ran = failed = 0
    pending = set(futures)
    try:
        for fut in as_completed(futures, loop=client.loop):
            pending.discard(fut)
            trial = by_key[fut.key]
            try:
                rec = fut.result()
            except KilledWorker as e:
                rec = {**{k: v for k, v in task_of(trial).items() if k != "argv"},
                       "status": "error", "error": f"KilledWorker: the workers running this "
                                                   f"trial died ({e})"}
            folder.append(rec)
            ran += 1
            done += 1
            if rec.get("status") == "error":
                failed += 1
            if progress is not None:
                progress(done, total, rec)
            if on_record is not None:
                on_record(rec)
    except KeyboardInterrupt as e:
        left = [f for f in pending if not f.done()]
        client.cancel(left)
        raise SweepInterrupted(folder.out, len(folder.finished()), total,
                               getattr(e, "signum", None)) from None
    return ran, failed
