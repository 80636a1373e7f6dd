"""Bad input to the chapter 3-4 functions: each case a ValueError or TypeError naming the argument and
what was seen, or (for NaN) a NaN result; never another exception and never a made-up number."""

import math

import numpy as np
import pytest

from scratchnet import gradient_descent, numerical_diff, numerical_gradient
from scratchnet.functions import log_softmax, softmax
from scratchnet.losses import cross_entropy_error, mean_squared_error, softmax_cross_entropy


def square_sum(x):
    return float(np.sum(x**2))


@pytest.mark.parametrize("f", [softmax, log_softmax], ids=["softmax", "log_softmax"])
@pytest.mark.parametrize(
    "x, axis, error, message",
    [
        (np.zeros((3, 0)), -1, ValueError, r"x: expected at least one class along axis -1, got shape \(3, 0"),
        (np.zeros(0), -1, ValueError, r"x: expected at least one class along axis -1, got shape \(0,\)"),
        (np.zeros((0, 3)), 0, ValueError, r"x: expected at least one class along axis 0, got shape \(0, 3\)"),
        (np.zeros((2, 3)), 2, ValueError, r"axis: expected an axis of x \(shape \(2, 3\)\), got 2"),
        (np.zeros((2, 3)), "1", TypeError, r"axis: expected an int, got str '1'"),
        (np.zeros((2, 3)), 1.0, TypeError, r"axis: expected an int, got float 1.0"),
    ],
    ids=["no-classes", "empty-vector", "empty-axis-0", "axis-out-of-range", "axis-str", "axis-float"],
)
def test_softmax_refuses_an_empty_or_missing_class_axis(f, x, axis, error, message):
    with pytest.raises(error, match=message):
        f(x, axis=axis)


def test_softmax_of_an_empty_batch_is_an_empty_batch():
    assert softmax(np.zeros((0, 3))).shape == (0, 3)  # no rows, each of 3 classes: nothing undefined


@pytest.mark.parametrize(
    "y, t",
    [
        ([[np.nan, 0.5], [0.5, 0.5]], [1, 0]),  # NaN in a class other than the label's
        ([[0.5, np.nan], [0.5, 0.5]], [1, 0]),  # NaN at the label
        ([np.nan, 0.5], 1),  # one sample, a 0-d label
    ],
    ids=["nan-elsewhere", "nan-at-label", "one-sample"],
)
def test_nan_in_y_gives_nan_with_labels_as_with_one_hot(y, t):
    y = np.array(y)
    one_hot = np.eye(2)[np.array(t)]
    assert math.isnan(cross_entropy_error(y, one_hot))
    assert math.isnan(cross_entropy_error(y, np.array(t)))
    if y.ndim == 2:
        assert math.isnan(softmax_cross_entropy(y, np.array(t)))
        assert math.isnan(mean_squared_error(y, one_hot))


def test_nan_in_one_row_leaves_the_other_rows_alone():
    y = np.array([[np.nan, 0.5], [0.25, 0.75]])
    assert math.isnan(cross_entropy_error(y, np.array([1, 1])))
    assert cross_entropy_error(y[1:], np.array([1])) == pytest.approx(-math.log(0.75 + 1e-7))


@pytest.mark.parametrize(
    "h, error, message",
    [
        ("abc", TypeError, r"h: expected a positive step \(a real number\), got str 'abc'"),
        (None, TypeError, r"h: expected a positive step \(a real number\), got NoneType None"),
        (True, TypeError, r"h: expected a positive step \(a real number\), got bool True"),
        (np.array([1e-4]), TypeError, r"h: expected a positive step \(a real number\), got ndarray"),
        (0, ValueError, r"h: expected a positive step, got 0"),
        (-1e-4, ValueError, r"h: expected a positive step, got -0.0001"),
        (float("nan"), ValueError, r"h: expected a positive step, got nan"),
        (float("inf"), ValueError, r"h: expected a positive step, got inf"),
    ],
    ids=["str", "None", "bool", "array", "zero", "negative", "nan", "inf"],
)
def test_a_bad_step_is_refused(h, error, message):
    with pytest.raises(error, match=message):
        numerical_diff(lambda x: x**2, 1.0, h)
    with pytest.raises(error, match=message):
        numerical_gradient(square_sum, np.ones(2), h)


@pytest.mark.parametrize(
    "f, error, message",
    [
        (lambda x: x * 2, ValueError, r"f: expected f\(x\) to return one real number \(a scalar\)"),
        (lambda x: x[:, None], ValueError, r"got shape \(3, 1\)"),
        (lambda x: None, TypeError, r"f: expected f\(x\) to return a real number, got NoneType None"),
        (lambda x: "1.0", TypeError, r"f: expected f\(x\) to return a real number, got str '1.0'"),
        (lambda x: complex(1, 1), TypeError, r"got complex"),
        (lambda x: [1.0, 2.0], ValueError, r"got shape \(2,\)"),
    ],
    ids=["vector", "column", "None", "str", "complex", "list"],
)
def test_numerical_gradient_refuses_an_f_that_is_not_a_scalar_loss(f, error, message):
    x = np.array([0.5, 1.0, 1.5])
    before = x.copy()
    with pytest.raises(error, match=message):
        numerical_gradient(f, x)
    assert x.tobytes() == before.tobytes()  # put back all the same


@pytest.mark.parametrize(
    "value", [np.float64(2.0), np.float32(2.0), 2, np.int64(2), np.array(2.0)],
    ids=["float64", "float32", "int", "int64", "0-d-array"],
)
def test_numerical_gradient_accepts_every_kind_of_real_scalar(value):
    g = numerical_gradient(lambda x: value, np.array([1.0, 2.0]))
    np.testing.assert_array_equal(g, [0.0, 0.0])


@pytest.mark.parametrize(
    "lr, error, message",
    [
        (float("nan"), ValueError, r"lr: expected a finite number in \(0.0, inf\), got nan"),
        (-0.1, ValueError, r"lr: expected a finite number in \(0.0, inf\), got -0.1"),
        (0.0, ValueError, r"lr: expected a finite number in \(0.0, inf\), got 0.0"),
        (float("inf"), ValueError, r"lr: expected a finite number in \(0.0, inf\), got inf"),
        ("0.1", TypeError, r"lr: expected a real number, got str '0.1'"),
        (None, TypeError, r"lr: expected a real number, got NoneType None"),
        (True, TypeError, r"lr: expected a real number, got bool True"),
    ],
    ids=["nan", "negative", "zero", "inf", "str", "None", "bool"],
)
def test_gradient_descent_validates_lr_as_sgd_does(lr, error, message):
    from scratchnet.optimizers import SGD

    with pytest.raises(error, match=message):
        gradient_descent(square_sum, [1.0, 2.0], lr=lr, step_num=1)
    with pytest.raises(error, match=message):  # the same words as the optimiser's
        SGD(lr=lr)


def test_gradient_descent_textbook_rates_still_run():
    for lr in (10.0, 1e-10, 0.1, np.float32(0.1), 1):
        x = gradient_descent(square_sum, np.array([-3.0, 4.0]), lr=lr, step_num=2)
        assert x.shape == (2,) and np.all(np.isfinite(x))
