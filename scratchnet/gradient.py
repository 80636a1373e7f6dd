"""Numerical differentiation and gradient descent (chapter 4).

These are the textbook's definitions, kept literal so that they reproduce its printed numbers:
the central difference (f(x + h) - f(x - h)) / 2h with h = 1e-4.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ._checks import check_callable
from .optimizers import _check_real  # the validator SGD uses for lr: one home for it

__all__ = ["numerical_diff", "numerical_gradient", "gradient_descent"]


def numerical_diff(f: Callable[[float], float], x: float, h: float = 1e-4) -> float:
    """Central-difference derivative of a scalar function at ``x``.

    Parameters
    ----------
    f : callable
        A function of one real number returning a real number.
    x : float
        The point.
    h : float
        The step (positive).

    Returns
    -------
    float
        (f(x + h) - f(x - h)) / (2h). For f(x) = 0.01x^2 + 0.1x at 5 this is 0.1999999999990898.
    """
    check_callable("f", f)
    _check_step(h)
    return (f(x + h) - f(x - h)) / (2 * h)


def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, h: float = 1e-4) -> np.ndarray:
    """Central-difference gradient of ``f`` with respect to every element of ``x``.

    ``x`` is perturbed in place, one element at a time, and ``f(x)`` evaluated. This is how the
    textbook differentiates a network's loss with respect to a weight array that the network
    holds: ``f`` may ignore its argument and read the same array through the network. Every
    element is put back exactly as it was, even when ``f`` raises.

    Parameters
    ----------
    f : callable
        ``f(x) -> float``.
    x : ndarray of float, any shape
        The point. Must be a writeable floating array: an integer array cannot be perturbed by h.
    h : float
        The step (positive).

    Returns
    -------
    ndarray of x's shape and dtype
        The gradient; float32 input gives float32 output.
    """
    check_callable("f", f)
    if not isinstance(x, np.ndarray):
        raise TypeError(f"x: expected a NumPy array of floats, got {type(x).__name__}")
    if x.dtype.kind != "f":
        raise TypeError(
            f"x: expected a floating array (it is perturbed by h={h}), got dtype {x.dtype}; "
            "convert it with x.astype(float) first"
        )
    if not x.flags.writeable:
        raise ValueError("x: expected a writeable array (it is perturbed in place), got a read-only one")
    _check_step(h)

    grad = np.zeros_like(x)
    flat_grad = grad.reshape(-1)
    for i, idx in enumerate(np.ndindex(x.shape)):
        original = x[idx]
        try:
            x[idx] = original + h
            fxh1 = f(x)
            x[idx] = original - h
            fxh2 = f(x)
        finally:
            x[idx] = original
        flat_grad[i] = (_real_value(fxh1) - _real_value(fxh2)) / (2 * h)
    return grad


def _check_step(h) -> None:
    """Refuse a step that is not a positive, finite real number ("abc", NaN, inf, 0, True)."""
    if isinstance(h, (bool, np.bool_)) or not isinstance(h, (int, float, np.integer, np.floating)):
        raise TypeError(f"h: expected a positive step (a real number), got {type(h).__name__} {h!r}")
    if not (np.isfinite(h) and h > 0):
        raise ValueError(f"h: expected a positive step, got {h}")


def _real_value(v):
    """``f(x)`` checked to be one real number (a loss), not a vector, None or a string."""
    if type(v) is float:  # the common case, at no cost
        return v
    a = np.asarray(v) if v is not None else None
    if a is None or a.dtype.kind not in "iuf":
        raise TypeError(f"f: expected f(x) to return a real number, got {type(v).__name__} {v!r:.60}")
    if a.ndim != 0:
        raise ValueError(f"f: expected f(x) to return one real number (a scalar), got shape {a.shape}")
    return v


def gradient_descent(
    f: Callable[[np.ndarray], float],
    init_x,
    lr: float = 0.01,
    step_num: int = 100,
    *,
    return_path: bool = False,
):
    """Minimise ``f`` by ``step_num`` steps of x <- x - lr * numerical_gradient(f, x).

    Parameters
    ----------
    f : callable
        ``f(x) -> float``.
    init_x : array_like of float
        The starting point; it is copied and never modified.
    lr : float
        The learning rate.
    step_num : int
        The number of steps (>= 0).
    return_path : bool
        Also return the visited points.

    Returns
    -------
    x : ndarray (float64 unless init_x is another float dtype)
        The final point.
    path : ndarray of shape (step_num + 1, *x.shape)
        Only with ``return_path``: the start, then the point after each step.
    """
    check_callable("f", f)
    lr = _check_real("lr", lr, low=0.0)
    if isinstance(step_num, bool) or not isinstance(step_num, (int, np.integer)) or step_num < 0:
        raise ValueError(f"step_num: expected a non-negative integer, got {step_num!r}")
    x = np.array(init_x, copy=True)
    if x.dtype.kind != "f":
        if x.dtype.kind not in "biu":
            raise TypeError(f"init_x: expected a real numeric array, got dtype {x.dtype}")
        x = x.astype(np.float64)
    path = [x.copy()] if return_path else None
    for _ in range(step_num):
        x -= lr * numerical_gradient(f, x)
        if path is not None:
            path.append(x.copy())
    if return_path:
        return x, np.array(path)
    return x
