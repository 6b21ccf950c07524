"""What a person reads after a sweep: the ranking, a summary table, a CSV, two figures.

Trials are ranked by the validation metric only. The test accuracy of the best
trials is shown after the ranking, labelled as such, and never used to choose.
"""
import csv
import io
import math

import numpy as np

__all__ = ["rank", "summary_table", "results_csv", "plot_curves", "plot_throughput",
           "method_axis"]


def rank(records, metric="val_acc"):
    """The "ok" records, best first by ``metric`` (val_acc: higher; val_loss: lower),
    ties by index."""
    ok = [r for r in records.values() if r.get("status") == "ok" and r.get(metric) is not None]
    sign = -1 if metric == "val_acc" else 1
    return sorted(ok, key=lambda r: (sign * r[metric], r["index"]))


def _fmt(v):
    if isinstance(v, float):
        return f"{v:.3g}" if (v != 0 and (abs(v) < 1e-2 or abs(v) >= 1e4)) else f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return ",".join(str(x) for x in v)
    return str(v)


def summary_table(spec, records, n=None):
    """The best ``n`` (spec.best) trials as text: rank, trial, axis values, validation and
    training figures, then, after the ranking, their test accuracy; and a count of the
    trials that failed."""
    ranked = rank(records, spec.metric)[:n or spec.best]
    axes = [a.name for a in spec.axes]
    head = ["rank", "trial", *axes, "val_acc", "val_loss", "train_acc", "s", "test_acc"]
    rows = [[str(i + 1), str(r["index"]), *(_fmt(r["values"].get(a)) for a in axes),
             f"{r['val_acc']:.4f}", f"{r['val_loss']:.4f}", f"{r['train_acc']:.4f}",
             f"{r.get('wall', 0):.2f}", f"{r['test_acc']:.4f}"] for i, r in enumerate(ranked)]
    widths = [max(len(h), *(len(row[j]) for row in rows)) if rows else len(h)
              for j, h in enumerate(head)]
    lines = [f"best {len(ranked)} of {len(records)} trials by {spec.metric} on the validation "
             f"split ({spec.data['validation']:g} of the training set); test_acc is shown for "
             "the selected trials only, after selection, and played no part in it"]
    lines.append("  ".join(h.rjust(w) for h, w in zip(head, widths)))
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in rows]
    bad = [r for r in records.values() if r.get("status") != "ok"]
    if bad:
        kinds = {}
        for r in bad:
            kinds[r.get("status")] = kinds.get(r.get("status"), 0) + 1
        lines.append("not ranked: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
                     + f" (first: trial {bad[0]['index']}: {bad[0].get('error', '')})")
    return "\n".join(lines)


def results_csv(spec, records):
    """Every trial, one row each in index order: trial, repeat, seed, the axis values, status,
    the last epoch's figures, test figures, iterations, timings, worker, error."""
    axes = [a.name for a in spec.axes]
    cols = ["trial", "config", "repeat", "seed", *axes, "status", "val_acc", "val_loss",
            "train_acc", "train_loss", "test_acc", "test_loss", "iterations", "train_time",
            "samples_per_s", "wall", "worker", "error"]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for i in sorted(records):
        r = records[i]
        row = [r["index"], r.get("config"), r.get("repeat"), r.get("seed"),
               *(_fmt(r.get("values", {}).get(a)) for a in axes), r.get("status")]
        for k in cols[len(row):]:
            v = r.get(k)
            row.append("" if v is None else repr(v) if isinstance(v, float) else v)
        w.writerow(row)
    return buf.getvalue()


def plot_curves(path, spec, records, n=20, cols=5):
    """The book's figure: validation (solid) and training (dashed) accuracy per epoch of
    the best ``n`` trials, one small panel each, titled Best-1, Best-2, ..."""
    from matplotlib.figure import Figure

    from ..plots import _save
    ranked = rank(records, spec.metric)[:n]
    rows = max(1, math.ceil(len(ranked) / cols))
    width, height = 2.4 * cols, 2.0 * rows + 0.6
    fig = Figure(figsize=(width, height))
    # fixed margins in inches (tight_layout measured every label: half the figure's time)
    fig.subplots_adjust(left=0.4 / width, right=1 - 0.1 / width, bottom=0.1 / height,
                        top=1 - 0.55 / height, wspace=0.06, hspace=0.25 * 2.0 / 1.75)
    for i, r in enumerate(ranked):
        ax = fig.add_subplot(rows, cols, i + 1)
        h = r["history"]
        x = np.arange(1, len(h["val_acc"]) + 1)
        ax.plot(x, h["val_acc"], label="validation")
        ax.plot(x, h["train_acc"], "--", label="train")
        ax.set_ylim(0.0, 1.0)
        ax.set_title(f"Best-{i + 1} (trial {r['index']})", fontsize=8)
        ax.set_xticks([])
        if i % cols:
            ax.set_yticks([])
        else:
            ax.tick_params(labelsize=7)
        label = ", ".join(f"{k} {_fmt(v)}" for k, v in r["values"].items())
        ax.text(0.03, 0.04, label, transform=ax.transAxes, fontsize=6)
    if ranked:
        fig.axes[0].legend(fontsize=6, loc="center right")
    fig.suptitle(f"best {len(ranked)} trials by {spec.metric}: validation (solid) and train "
                 "(dashed) accuracy per epoch", fontsize=9, y=1 - 0.15 / height)
    return _save(fig, path)


def method_axis(spec):
    """The grid axis whose values name methods (the first with text values; else the first
    grid axis), or None without a grid axis."""
    grid = spec.grid_axes
    for a in grid:
        if any(isinstance(v, str) for v in a.values):
            return a.name
    return grid[0].name if grid else None


def plot_throughput(path, spec, records, group):
    """Training throughput (samples/s, log scale) against validation accuracy, one colour
    per value of the axis ``group`` (a method), one point per trial."""
    from matplotlib.figure import Figure

    from ..plots import _save
    ok = [r for r in records.values() if r.get("status") == "ok" and r.get("samples_per_s")]
    fig = Figure(figsize=(7, 4.5))
    ax = fig.add_subplot()
    groups = {}
    for r in ok:
        groups.setdefault(_fmt(r["values"].get(group)), []).append(r)
    for name, rs in groups.items():
        ax.scatter([r["samples_per_s"] for r in rs], [r["val_acc"] for r in rs], label=name,
                   alpha=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("training throughput, samples/s (one worker thread)")
    ax.set_ylabel("validation accuracy (last epoch)")
    ax.set_title(f"{len(ok)} trials by {group}")
    ax.grid(True, alpha=0.3)
    if groups:
        ax.legend(title=group, fontsize=8)
    fig.tight_layout()
    return _save(fig, path)
