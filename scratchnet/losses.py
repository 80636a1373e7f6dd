"""Loss functions (chapter 4): mean squared error and cross-entropy, for one sample or a batch.

Conventions
-----------
- ``y`` is the network's output: shape (C,) for one sample, (N, C) for a batch of N.
- ``t`` is the teacher: either one-hot (the same shape as ``y``) or integer class labels
  (shape () for one sample, (N,) for a batch).
- A batch loss is the mean of the per-sample losses, so it does not depend on N.
- Every loss returns a Python ``float`` (so ``repr`` prints the plain number the textbook prints).
"""

from __future__ import annotations

import numpy as np

from ._checks import as_float_array, check_labels, check_nonempty_batch, label_column_as_vector
from .functions import log_softmax

__all__ = ["mean_squared_error", "cross_entropy_error", "softmax_cross_entropy", "CROSS_ENTROPY_DELTA"]

#: The textbook's guard against log(0) in ``cross_entropy_error``.
CROSS_ENTROPY_DELTA = 1e-7


def mean_squared_error(y, t) -> float:
    """Half the sum of squared errors, 0.5 * sum((y - t)**2), averaged over a batch.

    Parameters
    ----------
    y : array_like, shape (C,) or (N, C) (or (N, ...))
        Output. Integers and uint8 are computed as float64.
    t : array_like, the same shape as ``y``
        Target. No broadcasting: (N, 1) against (N,) is an error, not an (N, N) matrix.

    Returns
    -------
    float
        For 1-D ``y``, 0.5 * sum((y - t)**2); for a batch, the mean over axis 0 of that sum.

    Examples
    --------
    >>> y = [0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0]
    >>> t = [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
    >>> mean_squared_error(y, t)
    0.09750000000000003
    """
    y = as_float_array("y", y)
    t = as_float_array("t", t)
    if y.shape != t.shape:
        raise ValueError(f"t: expected the shape of y {y.shape}, got {t.shape}")
    if y.ndim == 0:
        raise ValueError("y: expected shape (C,) or (N, C), got a 0-d array")
    if y.ndim == 1:
        return float(0.5 * np.sum((y - t) ** 2))
    check_nonempty_batch("y", y)
    per_sample = 0.5 * np.sum(((y - t) ** 2).reshape(y.shape[0], -1), axis=1)
    return float(np.sum(per_sample) / y.shape[0])


def _targets_kind(y: np.ndarray, t: np.ndarray) -> str:
    """Decide whether ``t`` is one-hot (``"onehot"``) or labels (``"labels"``) for output ``y``."""
    if t.shape == y.shape:
        return "onehot"
    if t.shape == y.shape[:-1]:
        return "labels"
    if t.ndim == y.ndim:
        raise ValueError(f"t: expected one-hot targets of shape {y.shape}, got {t.shape}")
    if y.ndim == 2 and t.ndim == 1:
        raise ValueError(
            f"t: expected {y.shape[0]} labels (one per row of y {y.shape}), got {t.shape[0]}"
        )
    raise ValueError(
        f"t: expected labels of shape {y.shape[:-1]} or one-hot targets of shape {y.shape}, got {t.shape}"
    )


def _check_output(name: str, y) -> np.ndarray:
    y = as_float_array(name, y)
    if y.ndim not in (1, 2):
        raise ValueError(f"{name}: expected shape (C,) or (N, C), got {y.shape}")
    if y.shape[-1] == 0:
        raise ValueError(f"{name}: expected at least one class, got shape {y.shape}")
    if y.ndim == 2:
        check_nonempty_batch(name, y)
    return y


def cross_entropy_error(y, t) -> float:
    """Cross-entropy -sum(t * log(y + 1e-7)) of probabilities ``y``, the mean over a batch.

    This is the textbook's form: ``y`` are probabilities (a softmax output) and the small delta
    keeps log(0) finite. For training on logits use :func:`softmax_cross_entropy`.

    Parameters
    ----------
    y : array_like, shape (C,) or (N, C)
        Probabilities. A 1-D array is one sample.
    t : array_like
        One-hot (or any probability) targets of the shape of ``y``, or integer labels of shape
        () or (N,) (or (N, 1), as the book's chapter 7 passes them). Float or boolean labels are
        refused; labels must lie in [0, C).

    Returns
    -------
    float
        The mean over the batch of the per-sample cross-entropy.

    Examples
    --------
    >>> y = [0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0]
    >>> cross_entropy_error(y, [0, 0, 1, 0, 0, 0, 0, 0, 0, 0])
    0.510825457099338
    >>> cross_entropy_error(y, 2)
    0.510825457099338
    """
    y = _check_output("y", y)
    t = label_column_as_vector(np.asarray(t), y.shape)
    kind = _targets_kind(y, t)
    y2 = y.reshape(-1, y.shape[-1])
    if kind == "onehot":
        t2 = as_float_array("t", t).reshape(y2.shape)
        # One row at a time: with one-hot rows each row's sum is exact, so this equals the label path.
        per_sample = -np.sum(t2 * np.log(y2 + CROSS_ENTROPY_DELTA), axis=1)
    else:
        labels = check_labels("t", t, y.shape[-1]).reshape(-1)
        per_sample = -np.log(y2[np.arange(y2.shape[0]), labels] + CROSS_ENTROPY_DELTA)
        # NaN in, NaN out, as in the one-hot form: a NaN elsewhere in a row still poisons its loss.
        per_sample = np.where(np.isnan(y2).any(axis=1), np.nan, per_sample)
    return float(np.sum(per_sample) / y2.shape[0])


def softmax_cross_entropy(logits, t) -> float:
    """Cross-entropy of softmax(logits) against ``t``, fused and computed by log-sum-exp.

    Unlike ``cross_entropy_error(softmax(x), t)`` there is no 1e-7 delta and no overflow: the loss
    is finite for logits of +-1e4 (and exact where the delta would have distorted it).

    Parameters
    ----------
    logits : array_like, shape (N, C)
        Scores before the softmax. A 1-D array is refused: reshape one sample to (1, C).
    t : array_like
        Integer labels of shape (N,) (or (N, 1)), or one-hot targets of shape (N, C).

    Returns
    -------
    float
        The mean over the batch of -log softmax(logits)[n, t_n].
    """
    x = as_float_array("logits", logits)
    if x.ndim != 2:
        raise ValueError(f"logits: expected shape (N, C), got {x.shape}")
    x = _check_output("logits", x)
    t = label_column_as_vector(np.asarray(t), x.shape)
    kind = _targets_kind(x, t)
    logp = log_softmax(x, axis=1)
    if kind == "onehot":
        t2 = as_float_array("t", t)
        # 0 * -inf is NaN: a class with zero target weight contributes exactly 0 whatever its logit.
        with np.errstate(invalid="ignore"):
            per_sample = -np.sum(np.where(t2 != 0, t2 * logp, 0.0), axis=1)
    else:
        labels = check_labels("t", t, x.shape[1])
        per_sample = -logp[np.arange(x.shape[0]), labels]
    return float(np.sum(per_sample) / x.shape[0])
