"""The book's 100-trial hyperparameter search: its script against ``fastnn sweep``, whole processes.

    python -m bench.sweep_book [--trials 100] [--repeats 1] [--book-threads default,1]
                               [--workers 2,1] [--base OTHER/.venv/bin/fastnn]

Runs, taking turns in each round so that load from other processes hits them alike:

- ``book``: bench/book_search.py, the book's script in plain NumPy, as one process
  (BLAS threads as given: ``default`` leaves OpenBLAS its own count, the cores);
- ``sweep 2w`` / ``sweep 1w``: ``fastnn sweep examples/sweeps/book_search.toml
  --workers 2`` / ``--workers 1`` (the spec's trial count replaced by --trials);
- with ``--base``, the same sweeps by another fastnn (the console script of another
  checkout, say main's), to compare two versions in one run.

Each figure is the wall time of the whole process (imports, data, the trials, the
summary and the figures), the median over rounds, and the CPU seconds it used with
every process it started (Dask's workers included): on a machine shared with other
work, wall times follow the share of the cores the benchmark gets, CPU seconds much
less. Prints the machine's load before and after (``os.getloadavg``), the table, and
the ratios the README quotes.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "examples" / "sweeps" / "book_search.toml"


def timed(cmd, env=None, poll=0.1):
    """(wall seconds, CPU seconds of the process and all its descendants, stdout).

    CPU time is read with psutil (a Dask dependency) every ``poll`` seconds from every
    process of the tree, keeping each one's last reading: Dask's worker processes are
    grandchildren, which the kernel's RUSAGE_CHILDREN does not count here."""
    import psutil
    seen = {}
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err, text=True)
        root = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                tree = [root] + root.children(recursive=True)
            except psutil.NoSuchProcess:
                tree = []
            for p in tree:
                try:
                    c = p.cpu_times()
                    seen[p.pid] = c.user + c.system
                except psutil.NoSuchProcess:
                    pass
            time.sleep(poll)
        wall = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{stderr[-2000:]}")
    return wall, sum(seen.values()), stdout


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int, default=100)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--book-threads", default="default",
                   help="comma-separated BLAS thread counts for the book's script "
                        "(default: OpenBLAS's own; 1: one thread; none: skip the book's script)")
    p.add_argument("--workers", default="2,1", help="fastnn sweep --workers values")
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--base", metavar="FASTNN",
                   help="another fastnn console script (another checkout's) to run the same "
                        "sweeps with, in the same rounds")
    args = p.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="sweep-book-"))
    spec = tmp / "book_search.toml"
    text = SPEC.read_text()
    text = re.sub(r"(?m)^trials = \d+", f"trials = {args.trials}", text)
    text = re.sub(r'(?m)^dataset = "[^"]*"', f'dataset = "{args.dataset}"', text)
    spec.write_text(text)
    fastnn = str(Path(sys.executable).with_name("fastnn"))
    variants = []
    for threads in args.book_threads.split(","):
        if threads == "none":
            continue
        env = dict(os.environ)
        if threads != "default":
            env.update(OPENBLAS_NUM_THREADS=threads, OMP_NUM_THREADS=threads)
        variants.append((f"book ({threads} BLAS threads)", env,
                         [sys.executable, "-m", "bench.book_search", "--trials", str(args.trials),
                          "--dataset", args.dataset, "--out", str(tmp / "book.png")]))
    sweeps = [("fastnn", fastnn)] + ([("base", str(Path(args.base).absolute()))] if args.base else [])
    for w in args.workers.split(","):
        for label, exe in sweeps:
            variants.append((f"{label} sweep --workers {w}", None,
                             [exe, "sweep", str(spec), "--workers", w, "--quiet", "--out"]))
    times = {name: [] for name, _, _ in variants}
    cpus = {name: [] for name, _, _ in variants}
    load0 = os.getloadavg()
    print(f"load average before: {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f} "
          f"({os.cpu_count()} cores); {args.trials} trials, {args.repeats} round(s)", flush=True)
    for r in range(args.repeats):
        for name, env, cmd in variants:
            if cmd[-1] == "--out":
                cmd = cmd + [str(tmp / f"out-{r}-{name.split()[0]}-{name.split()[-1]}")]
            wall, cpu, _ = timed(cmd, env)
            times[name].append(wall)
            cpus[name].append(cpu)
            print(f"round {r + 1}: {name}: {wall:.1f} s wall, {cpu:.1f} s CPU", flush=True)
    load1 = os.getloadavg()
    print(f"load average after: {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}")
    med = {k: statistics.median(v) for k, v in times.items()}
    cpu = {k: statistics.median(v) for k, v in cpus.items()}
    fastest_sweep = min(v for k, v in med.items() if k.startswith("fastnn"))
    print(f"\n| whole process, {args.trials} trials | wall s (median) | vs fastest sweep "
          "| CPU s (median) |")
    print("|---|---|---|---|")
    for name, v in med.items():
        print(f"| {name} | {v:.1f} | {v / fastest_sweep:.1f}x | {cpu[name]:.1f} |")
    book = min((v for k, v in med.items() if k.startswith("book")), default=None)
    for label, _ in sweeps:
        one = [v for k, v in med.items() if k == f"{label} sweep --workers 1"]
        two = [v for k, v in med.items() if k == f"{label} sweep --workers 2"]
        if one and two:
            print(f"\n{label}: 1 vs 2 workers: {one[0] / two[0]:.2f}x"
                  + (f"; fastest book run vs 2 workers: {book / two[0]:.1f}x" if book else ""))


if __name__ == "__main__":
    main()
