"""Compressed sparse rows (CSR) of dense float arrays, for inputs that are mostly zeros.

MNIST digits are about 80 % zero pixels.  A data set is compressed once;
the fused training step then reads each sample's non-zero pixels only.
"""
from collections import namedtuple

import numpy as np

from ._config import kernel

#: indptr (N + 1,) int64; indices (nnz,) int32 column of each value, ascending per row;
#: values (nnz,) float; shape (N, D).
CSR = namedtuple("CSR", ["indptr", "indices", "values", "shape"])


@kernel
def row_counts(x, counts):
    """counts[n] = number of non-zeros in x[n]; returns how many rows hold NaN or inf.  x: (N, D)."""
    N, D = x.shape
    zero = x.dtype.type(0.0)
    bad = 0
    for n in range(N):
        m = 0
        chk = zero          # x * 0 is 0 for finite x, NaN otherwise
        for d in range(D):
            v = x[n, d]
            m += v != zero
            chk += v * zero
        counts[n] = m
        bad += chk != zero
    return bad


@kernel
def fill_csr(x, indptr, indices, values):
    """Write the non-zeros of x (N, D) into indices/values at the offsets indptr (N + 1,).

    Sixteen columns at a time: a block of zeros (MNIST's borders) is one vectorized test;
    in a block with non-zeros each one is written in turn (0.7 of the time of writing
    every column branch-free on MNIST: 42 us against 58 us for 100 rows, float32)."""
    N, D = x.shape
    zero = x.dtype.type(0.0)
    for n in range(N):
        p = indptr[n]
        xr = x[n]
        d0 = 0
        while d0 + 16 <= D:
            nz = 0
            for u in range(16):
                nz += xr[d0 + u] != zero
            if nz:
                for u in range(16):
                    v = xr[d0 + u]
                    if v != zero:
                        indices[p] = d0 + u
                        values[p] = v
                        p += 1
            d0 += 16
        for d in range(d0, D):
            v = xr[d]
            if v != zero:
                indices[p] = d
                values[p] = v
                p += 1
    return indptr


def to_csr(x):
    """CSR of x: (N, D) C-contiguous float32/float64.  Raises ValueError on NaN or inf."""
    N, D = x.shape
    counts = np.empty(N, np.int64)
    bad = row_counts(x, counts)
    if bad:
        raise ValueError(f"x: expected finite values, got NaN or inf in {bad} of {N} rows")
    indptr = np.zeros(N + 1, np.int64)
    np.cumsum(counts, out=indptr[1:])
    indices = np.empty(indptr[-1], np.int32)
    values = np.empty(indptr[-1], x.dtype)
    fill_csr(x, indptr, indices, values)
    return CSR(indptr, indices, values, (N, D))


@kernel
def lower_bound(indices, lo, hi, d):
    """First position p in [lo, hi) with indices[p] >= d (indices ascending there)."""
    while lo < hi:
        mid = (lo + hi) // 2
        if indices[mid] < d:
            lo = mid + 1
        else:
            hi = mid
    return lo
