"""kernels.sparse.lower_bound against NumPy's searchsorted: the search the fused kernels use
to find a range of columns in a CSR row (only when the parameter phase splits a layer's rows,
which the tests of the fused steps reach on some thread counts only)."""
import numpy as np

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
