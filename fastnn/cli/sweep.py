"""``fastnn sweep SPEC.toml``: run a hyperparameter search or a benchmark grid on Dask.

The output folder holds sweep.json (the spec), results.jsonl (one line per
finished trial, appended as trials finish), and at the end results.csv,
summary.txt, curves.png (the best trials' accuracy curves, the book's figure)
and, for a grid, throughput.png. Ctrl-C, SIGTERM or SIGHUP cancel the trials
not yet finished and keep the others; ``--resume`` runs the rest.
Exit status: 0 done, 1 some trials failed, 2 bad input, 128 + N stopped by signal N.
"""
import shlex
import signal
import sys
import threading
import time

from . import positive

EXIT_FAILED_TRIALS = 1


def register(sub):
    p = sub.add_parser(
        "sweep", help="run many fastnn train runs (a search or a grid) on Dask",
        description="Run the trials a TOML spec describes (grid axes, random axes with "
                    "trials = N, seeds = K), each one a fastnn train run made in-process on a "
                    "Dask worker, scored on a validation split of the training set. See "
                    "examples/sweeps/ and the README's Sweeps section.",
        epilog="Ctrl-C, SIGTERM and SIGHUP cancel the pending trials and keep the finished "
               "ones (exit 130, 143, 129); --resume runs the rest. Exit status: 0 done, "
               "1 some trials failed (recorded in results.jsonl), 2 bad input.")
    p.add_argument("spec", metavar="SPEC.toml", help="the sweep's specification")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="a running Dask scheduler (tcp://HOST:8786); default: a LocalCluster "
                        "on this machine")
    p.add_argument("--workers", type=positive(int), metavar="N",
                   help="LocalCluster worker processes, one thread each (default: the cores)")
    p.add_argument("--out", metavar="DIR",
                   help="output folder (default sweeps/SPEC-NAME)")
    p.add_argument("--resume", action="store_true",
                   help="finish the sweep in --out: run only the trials not yet recorded")
    p.add_argument("--quiet", action="store_true", help="print only the summary")
    p.set_defaults(func=run)


def run(args):
    from pathlib import Path

    from .._signals import STOP_SIGNALS, SignalInterrupt, exit_status, signal_name
    from ..sweep import SweepInterrupted, load_spec, run_sweep
    from ..sweep.report import method_axis, plot_curves, plot_throughput, results_csv, \
        summary_table
    from ..sweep.trials import expand

    if args.workers is not None and args.scheduler is not None:
        raise ValueError("--workers: sets the LocalCluster's size; with --scheduler the "
                         "cluster is yours")
    spec = load_spec(args.spec)
    out = Path(args.out) if args.out else Path("sweeps") / Path(args.spec).stem
    if args.out == "":
        raise ValueError("--out: expected a directory name, got ''")
    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, flush=True))
    n = len(expand(spec))
    say(f"sweep {args.spec}: {n} trials -> {out}")
    progress = None if args.quiet else (_Bar() if sys.stderr.isatty() else _Lines())

    def interrupt(signum, frame):
        raise SignalInterrupt(signum)
    old = {}
    for sig in STOP_SIGNALS[1:]:              # SIGINT already raises KeyboardInterrupt
        if signal.getsignal(sig) not in (signal.SIG_IGN, None):
            old[sig] = signal.signal(sig, interrupt)
    try:
        summary = run_sweep(spec, out, scheduler=args.scheduler, workers=args.workers,
                            resume=args.resume, say=say, progress=progress,
                            on_running=_import_matplotlib)
    except ImportError as e:
        if "Dask" not in str(e):
            raise
        raise ValueError(str(e)) from None       # one line, exit 2
    except SweepInterrupted as e:
        if isinstance(progress, _Bar):
            progress.clear()
        how = f" by {signal_name(e.signum)}" if e.signum is not None else ""
        print(f"interrupted{how}: {e.done} of {e.total} trials done and kept in {out}/results.jsonl\n"
              f"resume with: fastnn sweep {shlex.quote(args.spec)} --out {shlex.quote(str(out))} "
              f"--resume", file=sys.stderr)
        return exit_status(e.signum or signal.SIGINT)
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    if isinstance(progress, _Bar):
        progress.clear()

    records = summary["records"]
    table = summary_table(spec, records)
    write = summary["folder"]
    files = [write.write_text("results.csv", results_csv(spec, records)),
             write.write_text("summary.txt", table + "\n")]
    files.append(plot_curves(out / "curves.png", spec, records))
    group = method_axis(spec)
    if group is not None:
        files.append(plot_throughput(out / "throughput.png", spec, records, group))
    print(table)
    say(f"{summary['done']} of {summary['trials']} trials done ({summary['ran']} run now, "
        f"{summary['failed']} failed) in {summary['wall']:.1f} s; wrote "
        + ", ".join(str(f) for f in files))
    return EXIT_FAILED_TRIALS if summary["done"] < summary["trials"] else 0


def _import_matplotlib():
    """Import what the figures need in a background thread, while the workers train (the
    import took 0.5 s to 1.4 s of the end of a sweep, on a quiet and a busy machine).
    Started only once the workers run: a worker forked from this process (see
    fastnn.sweep.runner.start_method) must not inherit an import half done."""
    def load():
        try:
            import matplotlib.backends.backend_agg  # noqa: F401
            import matplotlib.figure  # noqa: F401
        except Exception:       # no matplotlib, or a broken one: the plots will say so
            pass
    threading.Thread(target=load, name="fastnn-import-matplotlib", daemon=True).start()


class _Bar:
    """``[#####.....] 37/100 trials  best val_acc 0.912  1 failed  ETA 12s`` on stderr."""

    def __init__(self, width=30):
        self.width, self.t0, self.best, self.failed, self.start = width, time.monotonic(), None, 0, None

    def __call__(self, done, total, rec):
        if self.start is None:
            self.start = done - 1
        if rec.get("status") == "ok":
            self.best = max(self.best or 0.0, rec["val_acc"])
        elif rec.get("status") == "error":
            self.failed += 1
        bar = "#" * int(self.width * done / total)
        ran = done - self.start
        eta = (time.monotonic() - self.t0) / ran * (total - done) if ran else 0
        best = f"  best val_acc {self.best:.3f}" if self.best is not None else ""
        bad = f"  {self.failed} failed" if self.failed else ""
        sys.stderr.write(f"\r[{bar:<{self.width}}] {done}/{total} trials{best}{bad}  ETA {eta:.0f}s ")
        sys.stderr.flush()

    def clear(self):
        sys.stderr.write("\r" + " " * (self.width + 70) + "\r")
        sys.stderr.flush()


class _Lines:
    """One line per finished trial, for logs."""

    def __call__(self, done, total, rec):
        values = " ".join(f"{k}={v}" for k, v in rec.get("values", {}).items())
        if rec.get("status") == "ok":
            what = f"val_acc {rec['val_acc']:.4f}"
        else:
            what = f"{rec.get('status')}: {rec.get('error', '')}"
        print(f"trial {rec['index']} ({done}/{total}) {values}: {what} ({rec.get('wall', 0):.2f} s)",
              flush=True)
