"""kernels.sparse_product against NumPy: ``out += x @ W`` over a CSR row's non-zeros and
``M[d] += x[d] * g`` into padded rows, for widths below, at and past every vector and pass
boundary, both float dtypes and every index type the CSR may hold; nothing outside the
columns and rows named is written, and padding gets nothing but zeros."""
import numpy as np
import pytest
from numba import njit
from numba.core.errors import TypingError

from kernels.sparse_product import MAX_VECTORS, VECTOR_BYTES, padded_rows, scatter_row, sparse_row, sparse_rows_block

#: Widths around the 16 / 8 lanes of a vector and the MAX_VECTORS vectors of a pass.
WIDTHS = (1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 50, 63, 64, 65, 100, 127, 128, 129, 130, 200, 255, 256, 257,
          300, 513)


def _row(rng, D, dtype, index_dtype, density=0.3):
    """(indices, values) of a random sparse row of D columns, ascending, at least one non-zero."""
    cols = np.flatnonzero(rng.random(D) < density)
    if cols.size == 0:
        cols = np.array([rng.integers(D)])
    return cols.astype(index_dtype), rng.standard_normal(cols.size).astype(dtype)


def _bound(cols, vals, W, out0):
    """Rounding bound of the float sum: (terms + 2) * eps * (sum |x w| + |out0|), per column."""
    eps = np.finfo(W.dtype).eps
    scale = np.abs(vals.astype(np.float64)) @ np.abs(W[cols].astype(np.float64)) + np.abs(out0)
    return (cols.size + 2) * eps * scale


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("index_dtype", [np.uint16, np.int32, np.int64])
def test_sparse_row_is_x_at_W_added_to_out(dtype, index_dtype):
    rng = np.random.default_rng(3)
    D = 70
    for H in WIDTHS:
        cols, vals = _row(rng, D, dtype, index_dtype)
        W = rng.standard_normal((D, H)).astype(dtype)
        # out inside a larger buffer: the guards on both sides must stay as they were
        buf = rng.standard_normal(H + 40).astype(dtype)
        before = buf.copy()
        out = buf[20:20 + H]
        out0 = out.astype(np.float64)
        sparse_row(0, cols.size, cols, vals, W, out)
        want = out0 + vals.astype(np.float64) @ W[cols].astype(np.float64)
        err = np.abs(out - want)
        assert np.all(err <= _bound(cols, vals, W, out0)), (H, err.max())
        np.testing.assert_array_equal(buf[:20], before[:20])
        np.testing.assert_array_equal(buf[20 + H:], before[20 + H:])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sparse_row_reads_only_its_range_of_the_csr(dtype):
    """p0..p1 of a longer CSR (the rows around it poisoned with NaN); an empty range
    changes nothing."""
    rng = np.random.default_rng(4)
    D, H = 40, 100
    W = rng.standard_normal((D, H)).astype(dtype)
    cols, vals = _row(rng, D, dtype, np.int32)
    indices = np.concatenate([np.zeros(5, np.int32), cols, np.zeros(5, np.int32)])
    values = np.concatenate([np.full(5, np.nan, dtype), vals, np.full(5, np.nan, dtype)])
    out = np.zeros(H, dtype)
    sparse_row(5, 5 + cols.size, indices, values, W, out)
    np.testing.assert_allclose(out, vals.astype(np.float64) @ W[cols].astype(np.float64),
                               rtol=0, atol=float(_bound(cols, vals, W, 0).max()))
    kept = out.copy()
    sparse_row(5, 5, indices, values, W, out)
    np.testing.assert_array_equal(out, kept)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_each_column_is_summed_in_the_order_of_the_non_zeros(dtype):
    """Column h gets fma(x[p], W[d_p, h], acc) for p in order from acc = 0, then out += acc:
    the same bits as that sum written out in NumPy with exact products (float64 products of
    float32 numbers are exact; for float64 the check is to within one rounding per term)."""
    rng = np.random.default_rng(6)
    D, H = 30, 2 * VECTOR_BYTES // np.dtype(dtype).itemsize + 3
    cols, vals = _row(rng, D, dtype, np.int32, density=0.5)
    W = rng.standard_normal((D, H)).astype(dtype)
    out = np.zeros(H, dtype)
    sparse_row(0, cols.size, cols, vals, W, out)
    if dtype == np.float32:
        acc = np.zeros(H, np.float32)
        for d, v in zip(cols, vals):
            acc = (np.float64(v) * W[d].astype(np.float64) + acc).astype(np.float32)   # one rounding: fma
        np.testing.assert_array_equal(out, acc)
    else:
        assert np.all(np.abs(out - vals @ W[cols]) <= _bound(cols, vals, W, 0))


@njit
def _block(p0, p1, indices, values, W, c, n, out):
    sparse_rows_block(p0, p1, indices, values, W, c, n, out)


def test_sparse_rows_block_writes_its_columns_only():
    """A block at column c of n columns (every n up to a full pass) leaves the rest of out."""
    rng = np.random.default_rng(7)
    D, H = 20, 300
    W = rng.standard_normal((D, H)).astype(np.float32)
    cols, vals = _row(rng, D, np.float32, np.int32, density=0.5)
    L = VECTOR_BYTES // 4
    for c in (0, 1, 17, 40):
        for n in range(1, min(MAX_VECTORS * L, H - c) + 1, 7):
            out = rng.standard_normal(H).astype(np.float32)
            before = out.copy()
            _block(0, cols.size, cols, vals, W, c, n, out)
            np.testing.assert_array_equal(out[:c], before[:c])
            np.testing.assert_array_equal(out[c + n:], before[c + n:])
            want = before[c:c + n] + vals.astype(np.float64) @ W[cols, c:c + n].astype(np.float64)
            np.testing.assert_allclose(out[c:c + n], want, rtol=0, atol=1e-5 * max(1.0, np.abs(want).max()))


@njit
def _block_on(W, out):
    sparse_rows_block(0, 1, np.zeros(1, np.int32), np.ones(1, W.dtype), W, 0, 1, out)


def test_sparse_rows_block_refuses_strided_or_mixed_arrays():
    W = np.ones((4, 8), np.float32)
    with pytest.raises(TypingError, match="C-contiguous"):
        _block_on(W[:, ::2], np.zeros(4, np.float32))
    with pytest.raises(TypingError, match="one float dtype"):
        _block_on(W, np.zeros(8, np.float64))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_padded_rows_start_on_64_byte_boundaries(dtype):
    L = VECTOR_BYTES // np.dtype(dtype).itemsize
    for R, H in ((1, 1), (3, L), (5, L + 1), (784, 100), (7, 300)):
        M = padded_rows(R, H, dtype)
        assert M.shape == (R, -(-H // L) * L) and M.flags.c_contiguous and not M.any()
        assert M.ctypes.data % VECTOR_BYTES == 0 and M.strides[0] % VECTOR_BYTES == 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("index_dtype", [np.uint16, np.int32, np.int64])
def test_scatter_row_is_one_fma_per_non_zero_in_order(dtype, index_dtype):
    """Row d - r0 of M gets fma(x[d], g, M[d - r0]) for each non-zero in turn (float32 checked
    bit for bit through exact float64 products; float64 to within one rounding a term); the
    padding columns stay 0 although g's memory goes on with NaN, rows without a non-zero
    keep their values, and M need not be aligned."""
    rng = np.random.default_rng(8)
    D, r0 = 60, 5
    for H in WIDTHS:
        cols, vals = _row(rng, D, dtype, index_dtype)
        cols = cols[cols >= r0]
        vals = vals[:cols.size]
        gbuf = np.full(H + 64, np.nan, dtype)
        g = gbuf[:H]
        g[:] = rng.standard_normal(H)
        for aligned in (True, False):
            if aligned:
                M = padded_rows(D - r0, H, dtype)
            else:
                raw = np.zeros((D - r0) * M.shape[1] + 1, dtype)
                M = raw[1:].reshape(D - r0, -1)
            M[:, :H] = rng.standard_normal((D - r0, H))
            before = M.copy()
            scatter_row(0, cols.size, cols, vals, g, M, r0)
            want = before[:, :H].astype(np.float64)
            scale = np.abs(want)
            for d, v in zip(cols, vals):
                scale[d - r0] += np.abs(np.float64(v) * g.astype(np.float64))
                want[d - r0] = np.float64(v) * g.astype(np.float64) + want[d - r0]
                if dtype == np.float32:
                    want[d - r0] = want[d - r0].astype(np.float32)     # one rounding: fma
            if dtype == np.float32:
                np.testing.assert_array_equal(M[:, :H], want)
            else:
                assert np.all(np.abs(M[:, :H] - want) <= 4 * np.finfo(dtype).eps * scale), H
            np.testing.assert_array_equal(M[:, H:], 0)
            untouched = np.setdiff1d(np.arange(D - r0), cols.astype(np.int64) - r0)
            np.testing.assert_array_equal(M[untouched], before[untouched])
