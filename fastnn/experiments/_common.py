"""What the chapter-6 experiments share: curve smoothing, the spread across
seeds, the CSV of curves and the summary table."""
import csv
import io

import numpy as np

from .._atomic import atomic_write


def smooth(y, window=11, beta=2.0):
    """Moving average with a Kaiser window (length ``window``, shape ``beta``) over the curve
    mirrored at both ends, as the book smooths its loss curves; same length as y."""
    y = np.asarray(y, dtype=np.float64)
    if y.size < window:
        return y.copy()
    half = window // 2
    padded = np.concatenate([y[half:0:-1], y, y[-2:-half - 2:-1]])
    w = np.kaiser(window, beta)
    return np.convolve(padded, w / w.sum(), mode="valid")


def spread(values):
    """(mean, min, max) over seeds of an array of shape (seeds, ...)."""
    v = np.asarray(values, dtype=np.float64)
    return v.mean(axis=0), v.min(axis=0), v.max(axis=0)


def fmt(values, spec=".3f"):
    """'0.912' for one seed, '0.912 (0.905-0.920)' (mean, min-max) for several."""
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 1:
        return f"{v[0]:{spec}}"
    return f"{v.mean():{spec}} ({v.min():{spec}}-{v.max():{spec}})"


def table(columns, rows):
    """Rows of strings aligned under their column names; returns the text."""
    cells = [list(map(str, columns))] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write_csv(path, runs, x_name):
    """The curves of every seed in long form: columns seed, curve, x_name, value."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["seed", "curve", x_name, "value"])
    for seed, run in runs:
        for name, (xs, ys) in run.items():
            for x, y in zip(xs, ys):
                w.writerow([seed, name, x, repr(float(y))])
    with atomic_write(path) as f:
        f.write(buf.getvalue().encode())
    return path


def curves_of(runs, name):
    """(x, values (seeds, len)) of one curve across the runs."""
    xs = runs[0][1][name][0]
    return xs, np.array([run[name][1] for _, run in runs])


def band(ax, runs, name, *, smooth_it=False, label=None, **style):
    """The mean curve over seeds, and a shaded min-max band when there are several."""
    xs, ys = curves_of(runs, name)
    if smooth_it:
        ys = np.array([smooth(y) for y in ys])
    mean, lo, hi = spread(ys)
    line, = ax.plot(xs, mean, label=label, **style)
    if len(runs) > 1:
        ax.fill_between(xs, lo, hi, color=line.get_color(), alpha=0.2, linewidth=0)
    return line
