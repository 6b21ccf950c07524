"""Single-pass input checks, for validating arrays at an API boundary cheaply.

Each returns a bool and reads its input once; the caller builds the error
message.  x: any (n,) float array; t: (n,) integer array.
"""
from ._config import kernel


@kernel
def all_finite(x):
    """True when no element of x is NaN or inf (x * 0 is 0 exactly for finite x)."""
    zero = x.dtype.type(0.0)
    chk = zero
    for i in range(x.size):
        chk += x[i] * zero
    return chk == zero


@kernel
def any_nan(x):
    """True when some element of x is NaN."""
    n = 0
    for i in range(x.size):
        n += x[i] != x[i]
    return n > 0


@kernel
def labels_in_range(t, k):
    """True when every label lies in [0, k)."""
    bad = 0
    for i in range(t.size):
        v = t[i]
        bad += (v < 0) | (v >= k)
    return bad == 0
