"""Compressed sparse rows (CSR) of dense float arrays, for inputs that are mostly zeros.

MNIST digits are about 80 % zero pixels.  A data set is compressed once;
the fused training step then reads each sample's non-zero pixels only.
"""
from collections import namedtuple

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

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


@intrinsic
def trailing_zeros(typingctx, m):
    """Number of zero bits below the lowest set bit of m (uint64, not 0): one instruction."""
    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)
        fn = builder.module.declare_intrinsic("llvm.cttz", [i64], ir.FunctionType(i64, [i64, ir.IntType(1)]))
        return builder.call(fn, [args[0], ir.Constant(ir.IntType(1), 1)])
    return types.int64(types.uint64), codegen


@kernel
def compress_row(xr, indices, values, p):
    """Write the non-zeros of xr (D,) into indices/values from position p on, ascending;
    return the position after the last one written.

    64 columns at a time: a bit mask of the non-zeros (a vectorized compare), then one
    store per set bit found by counting trailing zeros.  On MNIST rows (19 % non-zero)
    that is 3x faster than testing each column in turn, which mispredicts a branch at
    every edge of a stroke (100 rows, float32: 33 us against 97 us)."""
    D = xr.shape[0]
    zero = xr.dtype.type(0.0)
    one = np.uint64(1)
    d0 = 0
    while d0 + 64 <= D:
        m = np.uint64(0)
        for u in range(64):
            m |= np.uint64(xr[d0 + u] != zero) << np.uint64(u)
        while m:
            d = d0 + trailing_zeros(m)
            indices[p] = d
            values[p] = xr[d]
            p += 1
            m &= m - one
        d0 += 64
    for d in range(d0, D):
        v = xr[d]
        if v != zero:
            indices[p] = d
            values[p] = v
            p += 1
    return p


@kernel
def fill_csr(x, indptr, indices, values):
    """Write the non-zeros of x (N, D) into indices/values at the offsets indptr (N + 1,)."""
    for n in range(x.shape[0]):
        compress_row(x[n], indices, values, indptr[n])
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
