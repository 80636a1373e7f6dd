"""Numerical differentiation and gradient descent: the textbook's numbers and the safety rules."""

import numpy as np
import pytest

from scratchnet import gradient_descent, numerical_diff, numerical_gradient


def function_1(x):
    return 0.01 * x**2 + 0.1 * x


def function_2(x):
    return x[0] ** 2 + x[1] ** 2


def test_numerical_diff_textbook_numbers():
    assert repr(numerical_diff(function_1, 5)) == "0.1999999999990898"
    assert repr(numerical_diff(function_1, 10)) == "0.2999999999986347"


@pytest.mark.parametrize(
    "point, expected", [((3.0, 4.0), (6, 8)), ((0.0, 2.0), (0, 4)), ((3.0, 0.0), (6, 0))]
)
def test_numerical_gradient_textbook_points(point, expected):
    g = numerical_gradient(function_2, np.array(point))
    np.testing.assert_allclose(g, expected, rtol=0, atol=1e-9)


def test_numerical_gradient_any_shape():
    x = np.arange(24, dtype=np.float64).reshape(2, 3, 4) / 10
    g = numerical_gradient(lambda a: np.sum(a**3), x)
    assert g.shape == x.shape
    np.testing.assert_allclose(g, 3 * x**2, rtol=0, atol=2e-8)  # truncation error h**2 = 1e-8


def test_numerical_gradient_float32_keeps_dtype():
    x = np.array([1.0, 2.0], dtype=np.float32)
    g = numerical_gradient(lambda a: float(np.sum(a.astype(np.float64) ** 2)), x, h=1e-2)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, [2.0, 4.0], rtol=1e-5)


def test_numerical_gradient_leaves_x_exactly_as_it_was():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4, 5))
    before = x.copy()
    numerical_gradient(lambda a: np.sum(np.sin(a)), x)
    np.testing.assert_array_equal(x, before)
    assert x.tobytes() == before.tobytes()


def test_numerical_gradient_restores_x_when_f_raises():
    x = np.array([0.1, 0.2, 0.3])
    before = x.copy()
    calls = []

    def f(a):
        calls.append(a.copy())
        if len(calls) == 4:  # fails on the second element's minus step
            raise RuntimeError("boom")
        return float(np.sum(a))

    with pytest.raises(RuntimeError, match="boom"):
        numerical_gradient(f, x)
    assert x.tobytes() == before.tobytes()
    # the failure happened while x[1] was perturbed: it really was put back
    assert calls[-1][1] != before[1]


def test_numerical_gradient_sees_weights_through_a_closure():
    # The textbook's pattern: f ignores its argument and reads the array the network holds.
    W = np.array([[1.0, 2.0], [3.0, 4.0]])
    x = np.array([0.5, -1.0])
    g = numerical_gradient(lambda _: float(np.sum(x @ W)), W)
    np.testing.assert_allclose(g, np.outer(x, [1.0, 1.0]), atol=1e-9)


def test_numerical_gradient_refuses_integer_array():
    with pytest.raises(TypeError, match=r"x: expected a floating array .*got dtype int64"):
        numerical_gradient(function_2, np.array([3, 4]))


def test_numerical_gradient_refuses_a_list():
    with pytest.raises(TypeError, match=r"x: expected a NumPy array of floats, got list"):
        numerical_gradient(function_2, [3.0, 4.0])


def test_numerical_gradient_refuses_read_only_array():
    x = np.array([3.0, 4.0])
    x.flags.writeable = False
    with pytest.raises(ValueError, match=r"x: expected a writeable array"):
        numerical_gradient(function_2, x)


@pytest.mark.parametrize("call", [numerical_diff, numerical_gradient])
def test_non_callable_f(call):
    with pytest.raises(TypeError, match=r"f: expected a callable, got float"):
        call(3.0, np.array([1.0]))


def test_bad_step():
    with pytest.raises(ValueError, match=r"h: expected a positive step, got 0"):
        numerical_gradient(function_2, np.array([1.0, 2.0]), h=0)


def test_gradient_descent_textbook_lr_0_1():
    x = gradient_descent(function_2, np.array([-3.0, 4.0]), lr=0.1, step_num=100)
    np.testing.assert_allclose(x, [-6.11110793e-10, 8.14814391e-10], rtol=1e-8)


def test_gradient_descent_lr_too_large_diverges():
    x = gradient_descent(function_2, np.array([-3.0, 4.0]), lr=10.0, step_num=100)
    np.testing.assert_allclose(x, [-2.58983747e13, -1.29524862e12], rtol=1e-8)


def test_gradient_descent_lr_too_small_barely_moves():
    x = gradient_descent(function_2, np.array([-3.0, 4.0]), lr=1e-10, step_num=100)
    np.testing.assert_allclose(x, [-2.99999994, 3.99999992], rtol=1e-8)


def test_gradient_descent_leaves_init_untouched_and_returns_path():
    init = np.array([-3.0, 4.0])
    x, path = gradient_descent(function_2, init, lr=0.1, step_num=20, return_path=True)
    np.testing.assert_array_equal(init, [-3.0, 4.0])
    assert path.shape == (21, 2)
    np.testing.assert_array_equal(path[0], init)
    np.testing.assert_array_equal(path[-1], x)
    assert np.all(np.diff(np.linalg.norm(path, axis=1)) < 0)


def test_gradient_descent_accepts_integer_start():
    x = gradient_descent(function_2, [-3, 4], lr=0.1, step_num=100)
    assert x.dtype == np.float64
    np.testing.assert_allclose(x, [-6.11110793e-10, 8.14814391e-10], rtol=1e-8)


@pytest.mark.parametrize("steps", [-1, 2.5, True])
def test_gradient_descent_bad_step_num(steps):
    with pytest.raises(ValueError, match=r"step_num: expected a non-negative integer"):
        gradient_descent(function_2, [1.0, 1.0], step_num=steps)
