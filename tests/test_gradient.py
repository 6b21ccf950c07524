"""The chapter-4 API: numerical_diff, numerical_gradient, gradient_descent."""
import numba
import numpy as np
import pytest

from fastnn import gradient_descent, numerical_diff, numerical_gradient


def function_2(x):
    return x[0] ** 2 + x[1] ** 2


@numba.njit
def function_2_jit(x):
    return x[0] ** 2 + x[1] ** 2


@numba.njit
def weighted_square(x, w, c):
    xf = x.reshape(-1)
    wf = w.reshape(-1)
    s = c
    for i in range(xf.size):
        s += wf[i] * xf[i] * xf[i]
    return s


def test_numerical_diff_seed_values():
    assert numerical_diff(lambda x0: x0 * x0 + 4.0 ** 2.0, 3.0) == pytest.approx(6.00000000000378, abs=1e-12)
    assert numerical_diff(lambda x1: 3.0 ** 2.0 + x1 * x1, 4.0) == pytest.approx(7.999999999999119, abs=1e-12)


@pytest.mark.parametrize("f", [function_2, function_2_jit], ids=["python", "njit"])
@pytest.mark.parametrize("point, expected", [((3.0, 4.0), (6.0, 8.0)), ((0.0, 2.0), (0.0, 4.0)),
                                             ((3.0, 0.0), (6.0, 0.0))])
def test_numerical_gradient_seed_values(f, point, expected):
    x = np.array(point)
    g = numerical_gradient(f, x)
    np.testing.assert_allclose(g, expected, atol=1e-7)
    assert np.array_equal(x, point)


def test_gradient_descent_seed_value_and_path():
    init_x = np.array([-3.0, 4.0])
    x, path = gradient_descent(function_2, init_x, lr=0.1, step_num=100, return_path=True)
    assert np.abs(x).max() < 1e-8
    np.testing.assert_allclose(x, [-6.11110793e-10, 8.14814391e-10], rtol=1e-6)
    assert np.array_equal(init_x, [-3.0, 4.0])            # the caller's array is untouched
    assert path.shape == (101, 2)
    assert np.array_equal(path[0], [-3.0, 4.0]) and np.array_equal(path[-1], x)
    assert np.all(np.diff(np.sum(path ** 2, axis=1)) < 0)  # every step goes downhill


def test_gradient_descent_inplace_updates_callers_array():
    init_x = np.array([-3.0, 4.0])
    x = gradient_descent(function_2, init_x, lr=0.1, step_num=10, inplace=True)
    assert x is init_x and abs(init_x[0]) < 1.0


def test_any_shape_matches_formula_and_x_restored():
    rng = np.random.default_rng(0)
    for shape in [(3, 4, 2), (5, 6)]:
        x = rng.standard_normal(shape)
        w = rng.uniform(0.5, 2.0, size=x.shape)
        before = x.copy()
        g_py = numerical_gradient(lambda v: np.sum(w * v * v) + 1.0, x)
        assert g_py.shape == x.shape and np.array_equal(x, before)
        np.testing.assert_allclose(g_py, 2 * w * x, atol=1e-6)
    g_nb = numerical_gradient(weighted_square, x, args=(w, 1.0))   # compiled path, 2-D
    assert np.array_equal(x, before)
    np.testing.assert_allclose(g_nb, g_py, atol=1e-9)


def test_float32_keeps_dtype():
    x = np.array([3.0, 4.0], dtype=np.float32)
    g = numerical_gradient(function_2, x)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, [6.0, 8.0], rtol=1e-2)


def test_integer_x_refused():
    with pytest.raises(TypeError, match=r"x: .*integer x cannot hold x \+ h"):
        numerical_gradient(function_2, np.array([3, 4]))


def test_x_restored_when_f_raises():
    x = np.array([1.0, 2.0, 3.0])
    calls = []

    def f(v):
        calls.append(v.copy())
        if len(calls) == 4:
            raise RuntimeError("boom")
        return float(np.sum(v))

    with pytest.raises(RuntimeError, match="boom"):
        numerical_gradient(f, x)
    assert np.array_equal(x, [1.0, 2.0, 3.0])
    assert calls[3][1] != 2.0                               # it did fail mid-perturbation


def test_non_scalar_loss_named():
    with pytest.raises(ValueError, match=r"scalar loss.*x\[0\] \+ h"):
        numerical_gradient(lambda v: v * 2, np.array([1.0, 2.0]))


def test_non_finite_loss_names_the_parameter():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    f = lambda v: np.inf if v[1, 0] > 3.00001 else float(np.sum(v))  # noqa: E731
    with pytest.raises(ValueError, match=r"finite loss, got inf.*x\(np.int64\(1\), np.int64\(0\)\) \+ h"
                       r"|finite loss, got inf.*x\(1, 0\) \+ h"):
        numerical_gradient(f, x)
    assert np.array_equal(x, [[1.0, 2.0], [3.0, 4.0]])


@numba.njit
def log_second(x):
    return np.log(x[1])


def test_non_finite_loss_named_in_compiled_path():
    with pytest.raises(ValueError, match=r"finite loss, got nan.*x\[1\] - h"):
        numerical_gradient(log_second, np.array([3.0, 1e-5]))
