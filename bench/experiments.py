"""``fastnn experiment NAME`` against the book's script (bench/book_ch06.py), whole processes
side by side.

Both run as fresh processes, taking turns (book, fastnn, book, fastnn, ...), so that load from
other processes hits them alike; each wall time covers the whole process (interpreter start,
imports, data, training, figure, output).  Prints the median of each and their ratio.

    python -m bench.experiments [NAME ...] [--repeats 3] [--dataset mnist-sample]
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

from fastnn.experiments import NAMES


def timed(cmd, env):
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    dt = time.perf_counter() - t0
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return dt, proc.stdout


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench.experiments", description=__doc__.split("\n\n")[0])
    p.add_argument("names", nargs="*", default=list(NAMES), metavar="NAME")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--dataset", default="mnist-sample")
    args = p.parse_args(argv)
    env = dict(os.environ)
    rows = []
    with tempfile.TemporaryDirectory() as out:
        for name in args.names:
            book = [sys.executable, "-m", "bench.book_ch06", name, "--dataset", args.dataset, "--out", out]
            ours = [sys.executable, "-m", "fastnn", "experiment", name, "--dataset", args.dataset,
                    "--out", out, "--quiet"]
            tb, tf = [], []
            for r in range(args.repeats):
                tb.append(timed(book, env)[0])
                dt, text = timed(ours, env)
                tf.append(dt)
                print(f"{name} round {r + 1}: book {tb[-1]:.1f} s, fastnn {tf[-1]:.1f} s", flush=True)
            mb, mf = sorted(tb)[len(tb) // 2], sorted(tf)[len(tf) // 2]
            rows.append((name, mb, mf, mb / mf))
    print(f"\n{'experiment':<14}{'book script s':>15}{'fastnn s':>10}{'speed-up':>10}")
    for name, mb, mf, r in rows:
        print(f"{name:<14}{mb:>15.1f}{mf:>10.1f}{r:>9.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
