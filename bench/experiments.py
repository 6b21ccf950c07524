"""``fastnn experiment NAME`` against the book's script (bench/book_ch06.py), whole processes
side by side.

Both run as fresh processes, taking turns (book, fastnn, book, fastnn, ...), so that load from
other processes hits them alike; each wall time covers the whole process (interpreter start,
imports, data, training, figure, output).  The CPU time of each process (user + system, all its
threads) is printed beside it: on a machine shared with other jobs it says what the process
itself spent.  Prints the median of each and their ratio.  Round r runs both with seed r, so the
repeats also give the spread of each side's final numbers (--show prints them).

    python -m bench.experiments [NAME ...] [--repeats 3] [--dataset mnist-sample] [--show]
                                [--published]

--published: the book's side of ``activations`` as the book runs it: the published script draws
one of the six settings per run, so six processes (their times added) against one fastnn
command; without it, one process draws all six (generous to the book: one interpreter, one
matplotlib import).
"""
import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

from fastnn.experiments import NAMES

from .book_ch06 import ACTIVATION_CONFIGS


def _cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(cmds, env):
    """(wall seconds, CPU seconds, stdout) of processes run one after the other."""
    c0, t0 = _cpu(), time.perf_counter()
    out = []
    for cmd in cmds:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if proc.returncode:
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
        out.append(proc.stdout)
    return time.perf_counter() - t0, _cpu() - c0, "\n".join(out)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench.experiments", description=__doc__.split("\n\n")[0])
    p.add_argument("names", nargs="*", default=list(NAMES), metavar="NAME")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--dataset", default="mnist-sample")
    p.add_argument("--show", action="store_true", help="print each run's output (results, tables)")
    p.add_argument("--published", action="store_true",
                   help="activations: the book's script as published, one process per setting")
    args = p.parse_args(argv)
    env = dict(os.environ)
    rows = []
    with tempfile.TemporaryDirectory() as out:
        for name in args.names:
            tb, tf, cb, cf = [], [], [], []
            for r in range(args.repeats):
                book = [sys.executable, "-m", "bench.book_ch06", name, "--dataset", args.dataset,
                        "--out", out, "--seed", str(r)]
                book = ([book + ["--config", str(k)] for k in range(len(ACTIVATION_CONFIGS))]
                        if args.published and name == "activations" else [book])
                ours = [[sys.executable, "-m", "fastnn", "experiment", name, "--dataset", args.dataset,
                         "--out", out, "--quiet", "--seed", str(r)]]
                dt, cpu, text = timed(book, env)
                tb.append(dt)
                cb.append(cpu)
                if args.show:
                    print("\n".join(line for line in text.splitlines() if line.startswith("result:")))
                dt, cpu, text = timed(ours, env)
                tf.append(dt)
                cf.append(cpu)
                if args.show:
                    print(text)
                print(f"{name} round {r + 1}: book {tb[-1]:.1f} s (CPU {cb[-1]:.1f} s), "
                      f"fastnn {tf[-1]:.1f} s (CPU {cf[-1]:.1f} s)", flush=True)
            med = lambda v: sorted(v)[len(v) // 2]
            label = f"{name} x6" if args.published and name == "activations" else name
            rows.append((label, med(tb), med(tf), med(cb), med(cf)))
    print(f"\n{'experiment':<16}{'book wall s':>12}{'fastnn wall s':>14}{'ratio':>7}"
          f"{'book CPU s':>12}{'fastnn CPU s':>13}{'ratio':>7}")
    for name, mb, mf, xb, xf in rows:
        print(f"{name:<16}{mb:>12.1f}{mf:>14.1f}{mb / mf:>6.1f}x{xb:>12.1f}{xf:>13.1f}{xb / xf:>6.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
