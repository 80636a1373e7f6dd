"""Activation functions and the softmax (chapter 3), under the names of the book's ``common/functions.py``.

The book's module also holds its losses and two derivatives; ``from scratchnet.functions import *``
supplies all of them, ``np`` included: ``sigmoid_grad``, ``relu_grad``, ``softmax_loss`` live here;
``cross_entropy_error`` and ``sum_squared_error`` (the book's name of ``mean_squared_error``) live in
:mod:`scratchnet.losses` and are re-exported.

All functions accept any array_like. Floating inputs keep their dtype (float32 stays float32);
boolean and integer inputs (uint8 images, say) are computed in float64, so nothing wraps around.
NaN in the input gives NaN in the output: nothing here hides it.
"""

from __future__ import annotations

import numpy as np

from ._checks import as_float_array

# sum_squared_error and cross_entropy_error come from scratchnet.losses through __getattr__ below.
__all__ = ["np", "identity_function", "step_function", "sigmoid", "sigmoid_grad", "relu",  # noqa: F822
           "relu_grad", "softmax", "log_softmax", "sum_squared_error", "cross_entropy_error", "softmax_loss"]


def identity_function(x) -> np.ndarray:
    """Return ``x`` unchanged, as a floating array: the output activation for regression.

    Parameters
    ----------
    x : array_like, any shape

    Returns
    -------
    ndarray of x's shape (float64 for integer input)
    """
    return as_float_array("x", x)


def step_function(x) -> np.ndarray:
    """Heaviside step: 1 where ``x > 0``, else 0 (the perceptron's activation).

    Returns
    -------
    ndarray of x's shape and float dtype: 0.0 or 1.0, NaN where x is NaN.
    """
    x = as_float_array("x", x)
    y = (x > 0).astype(x.dtype)
    return np.where(np.isnan(x), x, y)


def sigmoid(x) -> np.ndarray:
    """Logistic function 1 / (1 + exp(-x)), computed without overflow for any x.

    For x < 0 the equivalent form exp(x) / (1 + exp(x)) is used, so exp never sees a large
    positive argument: sigmoid(-1000) is 0.0 with no warning.

    Returns
    -------
    ndarray of x's shape and float dtype, values in [0, 1].
    """
    x = as_float_array("x", x)
    z = np.exp(-np.abs(x))  # in (0, 1]: cannot overflow
    return np.where(x >= 0, 1.0 / (1.0 + z), z / (1.0 + z)).astype(x.dtype, copy=False)


def sigmoid_grad(x) -> np.ndarray:
    """Derivative of the sigmoid at ``x``: (1 - sigmoid(x)) * sigmoid(x), of x's shape and float dtype."""
    y = sigmoid(x)
    return (1.0 - y) * y


def relu(x) -> np.ndarray:
    """Rectified linear unit max(0, x). NaN stays NaN.

    Returns
    -------
    ndarray of x's shape and float dtype.
    """
    x = as_float_array("x", x)
    return np.asarray(np.maximum(x, 0))  # an array even for 0-d input (np.maximum gives a scalar)


def relu_grad(x) -> np.ndarray:
    """Derivative of the ReLU at ``x``: 1.0 where x > 0, else 0.0 (0 at x == 0, as the Relu layer)."""
    x = as_float_array("x", x)
    return (x > 0).astype(x.dtype)


def _shifted(x: np.ndarray, axis: int) -> np.ndarray:
    """x minus its maximum along ``axis``; rows whose maximum is not finite are not shifted.

    Subtracting the maximum keeps exp() in (0, 1]. A row whose maximum is -inf (all entries -inf)
    or +inf is left as it is: the result for it is NaN, which is the honest answer.
    """
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    return x - m


def _check_classes(x, axis) -> np.ndarray:
    """``x`` as a float array with a non-empty class axis ``axis`` (softmax of no classes is undefined)."""
    x = as_float_array("x", x)
    if x.ndim == 0:
        raise ValueError("x: expected at least one axis of classes, got a 0-d array")
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"axis: expected an int, got {type(axis).__name__} {axis!r}")
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"axis: expected an axis of x (shape {x.shape}), got {axis}")
    if x.shape[axis] == 0:
        raise ValueError(f"x: expected at least one class along axis {axis}, got shape {x.shape}")
    return x


def softmax(x, axis: int = -1) -> np.ndarray:
    """Softmax along ``axis`` (the last by default), stable for any magnitude of logits.

    Parameters
    ----------
    x : array_like, shape (..., C)
        Logits. A 1-D array is one sample; any leading shape is a batch.
    axis : int
        The class axis.

    Returns
    -------
    ndarray of x's shape and float dtype; each slice along ``axis`` sums to 1. Entries of -inf
    give exactly 0; softmax([1e4, -1e4, 0]) is [1, 0, 0] with no overflow warning.
    """
    x = _check_classes(x, axis)
    e = np.exp(_shifted(x, axis))
    with np.errstate(invalid="ignore"):  # a row of all -inf: 0/0 -> NaN, deliberately
        return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(x, axis: int = -1) -> np.ndarray:
    """Logarithm of the softmax along ``axis``, by log-sum-exp (finite for logits of +-1e4).

    Returns
    -------
    ndarray of x's shape and float dtype; -inf where x is -inf.
    """
    x = _check_classes(x, axis)
    s = _shifted(x, axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        return s - np.log(np.sum(np.exp(s), axis=axis, keepdims=True))


def softmax_loss(X, t) -> float:
    """The book's ``softmax_loss``: ``cross_entropy_error(softmax(X), t)``, the 1e-7 delta included.

    X: scores (C,) or (N, C); t: labels or one-hot, as :func:`scratchnet.losses.cross_entropy_error`.
    """
    from .losses import cross_entropy_error

    return cross_entropy_error(softmax(X), t)


#: The book's names of losses that live in scratchnet.losses (one home), which imports this module.
_LOSSES = {"cross_entropy_error": "cross_entropy_error", "sum_squared_error": "mean_squared_error"}


def __getattr__(name: str):
    # Looked up on first use (the star import included), so either module may be imported first.
    if name in _LOSSES:
        from . import losses

        return getattr(losses, _LOSSES[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
