"""Hold-out splits of a training set: a seeded, stratified validation set.

    train_idx, val_idx = stratified_split(t, 0.1, np.random.default_rng(0))

Every class gives the same fraction of its samples (rounded) to the
validation set, so a rare class is not left out of it by chance.
"""
import math

import numpy as np

__all__ = ["check_fraction", "stratified_split"]


def check_fraction(name, fraction):
    """``fraction`` as a float in (0, 0.5], or ValueError naming ``name``."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name}: expected a fraction in (0, 0.5], got {type(fraction).__name__}")
    f = float(fraction)
    if not (0 < f <= 0.5):
        raise ValueError(f"{name}: expected a fraction in (0, 0.5] of the training set, "
                         f"got {fraction!r}")
    return f


def stratified_split(t, fraction, rng):
    """(train_idx, val_idx): sorted row numbers of a stratified hold-out.

    t: (N,) integer labels; fraction: in (0, 0.5]; rng: a numpy Generator.
    Each class c with n_c samples gives round(fraction * n_c) of them, drawn at
    random, to the validation set (at least one when n_c >= 2), the rest stay in
    training. The two sets are disjoint and together hold every row.
    """
    t = np.asarray(t)
    val = []
    for c in np.unique(t):
        rows = np.flatnonzero(t == c)
        k = int(math.floor(fraction * rows.size + 0.5))
        if k == 0 and rows.size >= 2:
            k = 1
        val.append(rng.permutation(rows)[:k])
    val_idx = np.sort(np.concatenate(val)) if val else np.empty(0, np.intp)
    keep = np.ones(t.shape[0], dtype=bool)
    keep[val_idx] = False
    return np.flatnonzero(keep), val_idx.astype(np.intp)
