"""kernels.checks against NumPy: random sizes, NaN and inf at random places."""
import numpy as np
import pytest

from kernels import checks


@pytest.mark.parametrize("size", [1, 7, 784, 10_001])
@pytest.mark.parametrize("bad", [None, np.nan, np.inf, -np.inf])
def test_finite_and_nan_checks_match_numpy(dtype, rng, size, bad):
    x = (rng.standard_normal(size) * 1e3).astype(dtype)
    if bad is not None:
        x[rng.integers(size)] = bad
    assert checks.all_finite(x) == bool(np.isfinite(x).all())
    assert checks.any_nan(x) == bool(np.isnan(x).any())


def test_finite_check_is_not_fooled_by_large_values(dtype):
    big = np.finfo(dtype).max
    x = np.full(1000, big, dtype)          # a sum would overflow; x * 0 does not
    assert checks.all_finite(x)
    assert not checks.any_nan(x)


@pytest.mark.parametrize("value, ok", [(0, True), (9, True), (10, False), (-1, False)])
def test_labels_in_range(rng, value, ok):
    t = rng.integers(0, 10, 500).astype(np.intp)
    t[rng.integers(500)] = value
    assert checks.labels_in_range(t, 10) == ok
