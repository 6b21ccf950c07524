"""``fastnn experiment NAME`` against the book's script (bench/book_ch06.py), whole processes
side by side.

Both run as fresh processes, taking turns (book, fastnn, book, fastnn, ...), so that load from
other processes hits them alike; each wall time covers the whole process (interpreter start,
imports, data, training, figure, output).  The CPU time of each process (user + system, all its
threads) is printed beside it: on a machine shared with other jobs it says what the process
itself spent.  Prints the median of each and their ratio.

    python -m bench.experiments [NAME ...] [--repeats 3] [--dataset mnist-sample]
"""
import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

from fastnn.experiments import NAMES


def _cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(cmd, env):
    """(wall seconds, CPU seconds, stdout) of one process."""
    c0, t0 = _cpu(), time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    dt, cpu = time.perf_counter() - t0, _cpu() - c0
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return dt, cpu, proc.stdout


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench.experiments", description=__doc__.split("\n\n")[0])
    p.add_argument("names", nargs="*", default=list(NAMES), metavar="NAME")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--dataset", default="mnist-sample")
    p.add_argument("--show", action="store_true", help="print each run's output (results, tables)")
    args = p.parse_args(argv)
    env = dict(os.environ)
    rows = []
    with tempfile.TemporaryDirectory() as out:
        for name in args.names:
            book = [sys.executable, "-m", "bench.book_ch06", name, "--dataset", args.dataset, "--out", out]
            ours = [sys.executable, "-m", "fastnn", "experiment", name, "--dataset", args.dataset,
                    "--out", out, "--quiet"]
            tb, tf, cb, cf = [], [], [], []
            for r in range(args.repeats):
                dt, cpu, text = timed(book, env)
                tb.append(dt)
                cb.append(cpu)
                if args.show:
                    print(text[-600:])
                dt, cpu, text = timed(ours, env)
                tf.append(dt)
                cf.append(cpu)
                if args.show:
                    print(text)
                print(f"{name} round {r + 1}: book {tb[-1]:.1f} s (CPU {cb[-1]:.1f} s), "
                      f"fastnn {tf[-1]:.1f} s (CPU {cf[-1]:.1f} s)", flush=True)
            med = lambda v: sorted(v)[len(v) // 2]
            rows.append((name, med(tb), med(tf), med(cb), med(cf)))
    print(f"\n{'experiment':<14}{'book wall s':>12}{'fastnn wall s':>14}{'ratio':>7}"
          f"{'book CPU s':>12}{'fastnn CPU s':>13}{'ratio':>7}")
    for name, mb, mf, xb, xf in rows:
        print(f"{name:<14}{mb:>12.1f}{mf:>14.1f}{mb / mf:>6.1f}x{xb:>12.1f}{xf:>13.1f}{xb / xf:>6.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
