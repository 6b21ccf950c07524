"""kernels.sparse against NumPy: lower_bound against searchsorted (the search the fused kernels
use to find a range of columns in a CSR row, which the tests of the fused steps reach on some
thread counts only), and both ways of compress_row against flatnonzero."""
import numpy as np
import pytest

from kernels.sparse import lower_bound


def test_lower_bound_is_searchsorted_left():
    rng = np.random.default_rng(5)
    indices = np.sort(rng.choice(40, size=17, replace=False)).astype(np.int32)
    n = indices.size
    # past every entry first: the answer is the end of the range
    assert lower_bound(indices, 0, n, 40) == n
    assert lower_bound(indices, 3, 3, 0) == 3          # an empty range
    for lo in range(n + 1):
        for hi in range(lo, n + 1):
            for d in range(-1, 42):
                want = lo + int(np.searchsorted(indices[lo:hi], d, side="left"))
                assert lower_bound(indices, lo, hi, d) == want, (lo, hi, d)


def _compressors():
    from kernels import sparse
    found = [("bit masks", sparse._compress_row_masks)]
    if sparse.AVX512_COMPRESS:
        found.append(("avx512", sparse._compress_row_avx512))
    return found


@pytest.mark.parametrize("name, compress", _compressors(), ids=lambda v: v if isinstance(v, str) else "")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("index_dtype", [np.uint16, np.int32, np.uint32])
def test_compress_row_is_numpy_nonzero(name, compress, dtype, index_dtype):
    """Each row's non-zeros, ascending, after the earlier rows' (as the fused step lays out a
    batch); NaN and inf count as non-zero, -0.0 as zero (``x != 0``).  Lengths below, at and
    past the 16 and 8 lanes of a block, with and without a scalar tail."""
    rng = np.random.default_rng(11)
    for D in (1, 7, 8, 15, 16, 17, 63, 64, 65, 100, 784):
        x = rng.standard_normal((6, D)).astype(dtype)
        x[rng.random(x.shape) < 0.8] = 0
        x[0] = 0                                        # an empty row
        x[1] = 1                                        # a full one
        x[2, rng.integers(D)] = -0.0
        x[3, rng.integers(D)] = np.nan
        x[4, rng.integers(D)] = -np.inf
        indices = np.full(x.size, 9999, index_dtype)
        values = np.full(x.size, 7, dtype)
        p = 0
        for n in range(x.shape[0]):
            cols = np.flatnonzero(x[n] != 0)
            end = compress(x[n], indices, values, p)
            assert end == p + cols.size, (D, n)
            np.testing.assert_array_equal(indices[p:end], cols)
            np.testing.assert_array_equal(values[p:end], x[n, cols])      # NaN equals NaN here
            p = end
        # scratch stays inside the last row's D places
        assert np.all(indices[p + D:] == 9999) and np.all(values[p + D:] == 7)
