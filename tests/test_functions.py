"""Activations and softmax: values, dtypes, stability, NaN handling."""

import warnings

import numpy as np
import pytest

from scratchnet import identity_function, log_softmax, relu, sigmoid, softmax, step_function

ACTIVATIONS = [identity_function, step_function, sigmoid, relu, softmax, log_softmax]


@pytest.fixture(autouse=True)
def _warnings_are_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def test_step_function_values():
    np.testing.assert_array_equal(step_function([-1.0, 0.0, 0.5, 3.0]), [0.0, 0.0, 1.0, 1.0])


def test_sigmoid_values_and_symmetry():
    x = np.linspace(-20, 20, 81)
    y = sigmoid(x)
    np.testing.assert_allclose(y, 1 / (1 + np.exp(-x)), rtol=1e-15, atol=0)
    np.testing.assert_allclose(y + sigmoid(-x), 1.0, rtol=0, atol=1e-15)
    assert sigmoid(0.0) == 0.5


def test_sigmoid_never_overflows():
    assert sigmoid(-1000.0) == 0.0
    assert sigmoid(1000.0) == 1.0
    assert sigmoid(np.array([-1000.0], dtype=np.float32)).dtype == np.float32


def test_relu_values():
    np.testing.assert_array_equal(relu([-2.0, -0.0, 0.0, 3.5]), [0.0, 0.0, 0.0, 3.5])


def test_softmax_textbook_example():
    np.testing.assert_allclose(softmax([0.3, 2.9, 4.0]), [0.01821127, 0.24519181, 0.73659691], atol=5e-9)


def test_softmax_large_logits_no_warning():
    np.testing.assert_array_equal(softmax([1e4, -1e4, 0.0]), [1.0, 0.0, 0.0])
    np.testing.assert_allclose(np.exp(log_softmax([1e4, -1e4, 0.0])), [1.0, 0.0, 0.0])
    assert np.isfinite(log_softmax([1e4, -1e4, 0.0])[1])


@pytest.mark.parametrize("shape", [(7,), (4, 7), (2, 3, 7)])
def test_softmax_rows_sum_to_one_any_leading_shape(shape):
    x = np.random.default_rng(0).normal(scale=10, size=shape)
    y = softmax(x)
    assert y.shape == shape
    np.testing.assert_allclose(y.sum(axis=-1), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.log(y), log_softmax(x), rtol=0, atol=1e-12)


def test_softmax_is_per_row_not_global():
    x = np.array([[1.0, 2.0, 3.0], [1000.0, 1001.0, 1002.0]])
    y = softmax(x)
    np.testing.assert_allclose(y[0], y[1], rtol=1e-12)


def test_softmax_minus_inf_gives_exact_zero():
    y = softmax([-np.inf, 0.0, 0.0])
    assert y[0] == 0.0
    np.testing.assert_allclose(y[1:], [0.5, 0.5])
    assert log_softmax([-np.inf, 0.0])[0] == -np.inf


def test_softmax_all_minus_inf_row_is_nan_not_a_number_made_up():
    y = softmax(np.array([[-np.inf, -np.inf], [0.0, 0.0]]))
    assert np.isnan(y[0]).all()
    np.testing.assert_array_equal(y[1], [0.5, 0.5])


@pytest.mark.parametrize("f", ACTIVATIONS)
def test_nan_propagates(f):
    y = f(np.array([1.0, np.nan, -1.0]))
    assert np.isnan(y).any(), f"{f.__name__} hid a NaN"


@pytest.mark.parametrize("f", ACTIVATIONS)
def test_uint8_computed_as_float_without_wraparound(f):
    x8 = np.array([0, 200, 255], dtype=np.uint8)
    y = f(x8)
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y, f(x8.astype(np.float64)))


@pytest.mark.parametrize("f", ACTIVATIONS)
def test_float32_stays_float32(f):
    assert f(np.array([0.5, -1.5], dtype=np.float32)).dtype == np.float32


def test_integer_logits_come_back_float64():
    y = softmax(np.array([[1, 2, 3]]))
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, softmax(np.array([[1.0, 2.0, 3.0]])))


@pytest.mark.parametrize("f", ACTIVATIONS)
def test_non_numeric_input_is_a_type_error(f):
    with pytest.raises(TypeError, match=r"x: expected a real numeric array, got dtype"):
        f(np.array(["a", "b"]))


def test_softmax_of_scalar_is_refused():
    with pytest.raises(ValueError, match="x: expected at least one axis"):
        softmax(3.0)
