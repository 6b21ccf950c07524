"""Throughput matrix runner: ``python -m bench.run`` or ``fastnn bench``.

Times training steps of each implementation (see cases.py) on real MNIST
batches for every batch size, dtype and thread count asked, in one process:
thread counts are switched with numba.set_num_threads (and the BLAS/torch
equivalents) and restored afterwards.  Implementations are timed side by
side, round-robin, so that load from other processes hits them alike; each
figure is the median over rounds.  Prints a table of samples/s and ratios
to the NumPy reference, writes JSON and a PNG chart.
"""
import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from . import cases

RESULTS = cases.ROOT / "bench" / "results"


def _ints(text):
    return tuple(int(v) for v in text.split(","))


def _names(text):
    return tuple(v.strip() for v in text.split(",") if v.strip())


def add_arguments(p):
    p.add_argument("--batches", type=_ints, default=cases.BATCHES, help="comma-separated batch sizes (default 1,10,100,1000)")
    p.add_argument("--dtypes", type=_names, default=cases.DTYPES, help="float32,float64")
    p.add_argument("--threads", type=_ints, default=cases.THREADS, help="comma-separated thread counts (default 1,2)")
    p.add_argument("--impls", type=_names, default=cases.IMPLS, help="numpy,layers,fused,fused1,torch")
    p.add_argument("--activation", choices=("sigmoid", "relu"), default="sigmoid")
    p.add_argument("--rounds", type=int, default=40, help="timed rounds per case (median taken)")
    p.add_argument("--quick", action="store_true", help="batches 1,100, 10 rounds, no roofline")
    p.add_argument("--no-roofline", action="store_true", help="skip the dense roofline")
    p.add_argument("--json", type=Path, default=RESULTS / "throughput.json", help="where to write results")
    p.add_argument("--png", type=Path, default=RESULTS / "throughput.png", help="where to write the chart")
    p.add_argument("--no-plot", action="store_true", help="do not write the PNG chart")
    p.add_argument("--user-loop", action="store_true",
                   help="instead of the matrix: a user's own loop with default settings, each case "
                        "in a fresh process, against the lean NumPy step (bench/user_loop.py)")
    p.add_argument("--under-load", action="store_true",
                   help="--user-loop quiet and with one core kept busy by a spinning process, "
                        "and fastnn train with default threads and --threads 1 under both; with "
                        "--deep: its tables with one core kept busy")


def _validate(args):
    for n in args.batches:
        if n < 1 or n > 8000:
            raise ValueError(f"--batches: expected sizes in [1, 8000], got {n}")
    for d in args.dtypes:
        if d not in cases.DTYPES:
            raise ValueError(f"--dtypes: expected float32 or float64, got {d!r}")
    for i in args.impls:
        if i not in cases.IMPLS:
            raise ValueError(f"--impls: expected names from {','.join(cases.IMPLS)}, got {i!r}")
    import numba
    for t in args.threads:
        if not 1 <= t <= numba.config.NUMBA_NUM_THREADS:
            raise ValueError(f"--threads: expected counts in [1, {numba.config.NUMBA_NUM_THREADS}], got {t}")
    if args.quick:
        args.batches = tuple(b for b in args.batches if b in (1, 100)) or (1, 100)
        args.rounds = min(args.rounds, 10)
        args.no_roofline = True


#: Seconds of untimed steps before each block of timed rounds.
SETTLE = 0.3


def time_case(impls, dtype, batch, threads, rounds, activation, blocks=4):
    """{impl: median seconds per step} for one (dtype, batch, threads).

    The implementations take turns in blocks of rounds (order rotated per
    block), each block with its own thread setting (cases.threads(n, impl))
    and a few untimed steps first, so that load from other processes hits
    all of them alike and no library's idle workers spin during another's
    timing.
    """
    with cases.threads(threads):
        steps = {i: cases.MAKERS[i](dtype, batch, activation) for i in impls}
        for step in steps.values():  # warm-up: compilation, caches, buffers
            for _ in range(3 + cases.calls_per_round(step, batch)):
                step()
    times = {i: [] for i in impls}
    order = list(impls)
    per_block = max(1, rounds // blocks)
    for b in range(blocks):
        order = order[1:] + order[:1]
        for i in order:
            step = steps[i]
            with cases.threads(threads, impl=i):
                # untimed steps for SETTLE seconds: idle workers of the previous
                # implementation's pool (OpenBLAS, OpenMP) stop spinning meanwhile
                t_settle = time.perf_counter()
                while time.perf_counter() - t_settle < SETTLE:
                    step()
                calls = cases.calls_per_round(step, batch)
                done = calls * cases.steps_per_call(step)
                for r in range(per_block):
                    t0 = time.perf_counter()
                    for _ in range(calls):
                        step()
                    times[i].append((time.perf_counter() - t0) / done)
    return {i: float(np.median(v)) for i, v in times.items()}


def _atomic_write(path, write):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def format_table(results, impls):
    head = ["dtype", "batch", "thr"] + [cases.LABELS[i] for i in impls] + \
        [f"{cases.LABELS[i]} / NumPy" for i in impls if i != "numpy"]
    rows = []
    keys = sorted({(r["dtype"], r["batch"], r["threads"]) for r in results})
    by = {(r["dtype"], r["batch"], r["threads"], r["impl"]): r for r in results}
    for k in keys:
        row = [k[0], str(k[1]), str(k[2])]
        for i in impls:
            r = by.get(k + (i,))
            row.append(f"{r['samples_per_s']:,.0f}" if r else "-")
        for i in impls:
            if i == "numpy":
                continue
            r = by.get(k + (i,))
            row.append(f"{r['ratio_vs_numpy']:.2f}x" if r and r.get("ratio_vs_numpy") else "-")
        rows.append(row)
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def best_ratios(results, impl="fused", against=("numpy", "torch")):
    """Lines 'dtype batch N: fused best ... = Rx NumPy best ...': each implementation at
    its best thread count, as the targets compare them."""
    lines = []
    for dt, b in sorted({(r["dtype"], r["batch"]) for r in results}):
        rows = [r for r in results if r["dtype"] == dt and r["batch"] == b]

        def best(name):
            c = [r for r in rows if r["impl"] == name]
            return max(c, key=lambda r: r["samples_per_s"]) if c else None
        top = best(impl)
        if top is None:
            continue
        parts = []
        for other in against:
            o = best(other)
            if o is not None:
                parts.append(f"{top['samples_per_s'] / o['samples_per_s']:.2f}x {cases.LABELS[other]} "
                             f"({o['samples_per_s']:,.0f}/s, {o['threads']} thr)")
        if parts:
            lines.append(f"{dt} batch {b}: {cases.LABELS[impl]} best {top['samples_per_s']:,.0f}/s "
                         f"({top['threads']} thr) = " + ", ".join(parts))
    return lines


def plot(results, impls, path):
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    del matplotlib
    dtypes = sorted({r["dtype"] for r in results})
    batches = sorted({r["batch"] for r in results})
    fig = Figure(figsize=(5.5 * len(dtypes), 4.2))
    FigureCanvasAgg(fig)
    width = 0.8 / len(impls)
    for j, dt in enumerate(dtypes):
        ax = fig.add_subplot(1, len(dtypes), j + 1)
        for k, impl in enumerate(impls):
            best = []
            for b in batches:
                v = [r["samples_per_s"] for r in results if r["dtype"] == dt and r["batch"] == b and r["impl"] == impl]
                best.append(max(v) if v else 0)
            ax.bar(np.arange(len(batches)) + (k - (len(impls) - 1) / 2) * width, best, width,
                   label=cases.LABELS[impl])
        ax.set_yscale("log")
        ax.set_xticks(np.arange(len(batches)), [str(b) for b in batches])
        ax.set_xlabel("batch size")
        ax.set_ylabel("samples/s (best thread count, median)")
        ax.set_title(f"MNIST training step, {dt}")
        ax.legend(fontsize=8)
    fig.tight_layout()
    _atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))


def run(args):
    if args.user_loop or args.under_load:
        from . import user_loop
        return user_loop.report(args.under_load, repeats=3 if args.rounds >= 10 else 1)
    _validate(args)
    impls = [i for i in args.impls if cases.available(i)]
    if len(impls) < len(args.impls):
        print("note: PyTorch not installed, its column is skipped (pip install torch==2.13.0)")
    env = cases.environment()
    print("environment:", json.dumps(env))
    results = []
    for dt in args.dtypes:
        for b in args.batches:
            for th in args.threads:
                med = time_case(impls, dt, b, th, args.rounds, args.activation)
                base = med.get("numpy")
                for i, s in med.items():
                    results.append(dict(impl=i, dtype=dt, batch=b, threads=th, activation=args.activation,
                                        median_s=s, samples_per_s=b / s,
                                        ratio_vs_numpy=(base / s) if base else None))
                print(f"  {dt} batch {b:4d} threads {th}: " + "  ".join(
                    f"{i} {b / s:,.0f}/s" for i, s in med.items()), flush=True)
    roof = []
    if not args.no_roofline:
        for dt in args.dtypes:
            for b in args.batches:
                with cases.threads(1):
                    r = cases.roofline(dt, b)
                fused = [x["samples_per_s"] for x in results
                         if x["impl"] == "fused" and x["dtype"] == dt and x["batch"] == b]
                r.update(dtype=dt, batch=b, threads=1,
                         fused_best=max(fused) if fused else None,
                         fraction=(max(fused) / r["samples_per_s"]) if fused else None)
                roof.append(r)
    print()
    print(format_table(results, impls))
    if roof:
        print()
        print("| dtype | batch | BLAS GFLOP/s | dense roofline samples/s | fused best | fraction |")
        print("|---|---|---|---|---|---|")
        for r in roof:
            frac = f"{r['fraction']:.2f}" if r["fraction"] else "-"
            fb = f"{r['fused_best']:,.0f}" if r["fused_best"] else "-"
            print(f"| {r['dtype']} | {r['batch']} | {r['gflops']:.1f} | {r['samples_per_s']:,.0f} | {fb} | {frac} |")
    best = best_ratios(results)
    if best:
        print()
        for line in best:
            print(line)
    slower = [r for r in results if r["ratio_vs_numpy"] is not None and r["impl"] in ("fused", "fused1", "layers")
              and r["ratio_vs_numpy"] < 1]
    for r in slower:
        print(f"slower than NumPy: {r['impl']} {r['dtype']} batch {r['batch']} threads {r['threads']} "
              f"({r['ratio_vs_numpy']:.2f}x)")
    doc = {"command": " ".join(sys.argv), "environment": env, "results": results, "roofline": roof}
    _atomic_write(args.json, lambda tmp: Path(tmp).write_text(json.dumps(doc, indent=1)))
    print(f"\nwrote {args.json}")
    if not args.no_plot:
        plot(results, impls, args.png)
        print(f"wrote {args.png}")
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
