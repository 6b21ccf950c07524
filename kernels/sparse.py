"""Compressed sparse rows (CSR) of dense float arrays, for inputs that are mostly zeros.

MNIST digits are about 80 % zero pixels.  A data set is compressed once;
the fused training step then reads each sample's non-zero pixels only.
"""
from collections import namedtuple

import numba
import numpy as np
from llvmlite import binding as llvm_binding
from llvmlite import ir
from numba import types
from numba.core import cgutils
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
def _compress_tail(xr, d0, indices, values, p):
    """The non-zeros of xr[d0:] one column at a time, from position p on; returns the
    position after the last one written (the columns past the last whole block)."""
    zero = xr.dtype.type(0.0)
    for d in range(d0, xr.shape[0]):
        v = xr[d]
        if v != zero:
            indices[p] = d
            values[p] = v
            p += 1
    return p


@kernel
def _compress_row_masks(xr, indices, values, p):
    """:func:`compress_row` on any machine.

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
    return _compress_tail(xr, d0, indices, values, p)


#: Features :func:`compress_block` needs: AVX-512's compress of 32- and 64-bit lanes (F), on
#: 256- and 128-bit vectors (VL) and of 16-bit column numbers (VBMI2).
COMPRESS_FEATURES = ("avx512f", "avx512vl", "avx512vbmi2")


def _compiles_for_avx512_compress():
    """True when numba compiles for this machine (no NUMBA_CPU_NAME / NUMBA_CPU_FEATURES
    set) and the machine has :data:`COMPRESS_FEATURES`."""
    if numba.config.CPU_NAME is not None or numba.config.CPU_FEATURES is not None:
        return False
    try:
        features = llvm_binding.get_host_cpu_features()
    except RuntimeError:          # llvmlite cannot tell on this platform
        return False
    return all(features.get(f, False) for f in COMPRESS_FEATURES)


#: True: :func:`compress_row` packs the non-zeros with AVX-512 (same results, fewer instructions).
AVX512_COMPRESS = _compiles_for_avx512_compress()


@intrinsic
def compress_block(typingctx, xr, d0, indices, values, p):
    """Non-zeros of xr[d0:d0 + L] (L = 64 bytes of lanes: 16 float32 or 8 float64) into
    indices[p:] and values[p:], ascending; returns how many.  Writes L entries of each
    from p on (those past the count are scratch): the caller leaves that room.

    One compare gives the mask of non-zeros (``x != 0``: NaN counts as non-zero, -0.0
    not, as in the scalar loop), AVX-512's compress packs the selected lanes of the
    values and of the column numbers to the front of a vector, and one unaligned store
    writes each.  The compress is done in a register: to memory it is microcoded and
    slow on some processors (LLVM then splits it into one branch per lane).
    """
    L = 64 // xr.dtype.bitwidth * 8
    sig = types.int64(xr, types.int64, indices, values, types.int64)

    def codegen(context, builder, signature, args):
        xa, d0v, ia, va, pv = args
        xarr = context.make_array(signature.args[0])(context, builder, xa)
        iarr = context.make_array(signature.args[2])(context, builder, ia)
        varr = context.make_array(signature.args[3])(context, builder, va)
        fty = context.get_value_type(signature.args[0].dtype)
        ity = context.get_value_type(signature.args[2].dtype)
        vf, vi, vm = ir.VectorType(fty, L), ir.VectorType(ity, L), ir.VectorType(ir.IntType(1), L)
        fname = {32: "f32", 64: "f64"}[signature.args[0].dtype.bitwidth]

        def compress(vec, vty, suffix):
            fnty = ir.FunctionType(vty, [vty, vty, vm])
            fn = cgutils.get_or_insert_function(builder.module, fnty, f"llvm.x86.avx512.mask.compress.v{L}{suffix}")
            return builder.call(fn, [vec, vec, mask])

        x = builder.load(builder.bitcast(builder.gep(xarr.data, [d0v]), vf.as_pointer()), align=1)
        mask = builder.fcmp_unordered("!=", x, ir.Constant(vf, [0.0] * L))
        packed = compress(x, vf, fname)
        builder.store(packed, builder.bitcast(builder.gep(varr.data, [pv]), vf.as_pointer()), align=1)
        first = builder.trunc(d0v, ity) if ity.width < 64 else d0v
        cols = builder.insert_element(ir.Constant(vi, ir.Undefined), first, ir.Constant(ir.IntType(32), 0))
        cols = builder.shuffle_vector(cols, ir.Constant(vi, ir.Undefined),
                                      ir.Constant(ir.VectorType(ir.IntType(32), L), [0] * L))
        cols = builder.add(cols, ir.Constant(vi, list(range(L))))
        packed_cols = compress(cols, vi, f"i{ity.width}")
        builder.store(packed_cols, builder.bitcast(builder.gep(iarr.data, [pv]), vi.as_pointer()), align=1)
        bits = builder.bitcast(mask, ir.IntType(L))
        popcnt = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.IntType(L), [ir.IntType(L)]),
                                                f"llvm.ctpop.i{L}")
        return builder.zext(builder.call(popcnt, [bits]), ir.IntType(64))
    return sig, codegen


@kernel
def _compress_row_avx512(xr, indices, values, p):
    """:func:`compress_row` by :func:`compress_block`, 64 bytes of columns at a time (100
    MNIST rows, float32: 9.5 us against 20 us for the bit masks; float64: 18 against 24)."""
    D = xr.shape[0]
    L = 64 // xr.itemsize
    d0 = 0
    while d0 + L <= D:
        p += compress_block(xr, d0, indices, values, p)
        d0 += L
    return _compress_tail(xr, d0, indices, values, p)


#: compress_row(xr, indices, values, p): write the non-zeros of xr (D,) C-contiguous into
#: indices/values from position p on, ascending; return the position after the last one.
#: indices: int16/uint16/int32/uint32; values: xr's dtype.  May write scratch up to position
#: p + D - 1 (never further), so a row needs room for D entries unless the next row's place
#: (written later) or spare room follows.  Same results either way.
compress_row = _compress_row_avx512 if AVX512_COMPRESS else _compress_row_masks


@kernel
def fill_csr(x, indptr, indices, values):
    """Write the non-zeros of x (N, D) into indices/values at the offsets indptr (N + 1,);
    indices/values need D places past indptr[-1] (see compress_row)."""
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
    # D spare places: compress_row may write scratch past the last row's non-zeros
    nnz = int(indptr[-1])
    indices = np.empty(nnz + D, np.int32)
    values = np.empty(nnz + D, x.dtype)
    fill_csr(x, indptr, indices, values)
    return CSR(indptr, indices[:nnz], values[:nnz], (N, D))


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
