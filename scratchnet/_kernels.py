"""Speed paths of :mod:`scratchnet.layers`: output buffers, the sigmoid in place, the fused loss.

Each function computes what the textbook's layer computes, in the same order of operations, so the
results are bit for bit those of the plain formulas; they only avoid temporaries. See docs/speed.md.
"""

from __future__ import annotations

import math

import numpy as np

from ._checks import as_float_array
from .losses import softmax_cross_entropy


def check_dout(dout, shape: tuple[int, ...], dtype: np.dtype | None = None) -> np.ndarray:
    """``dout`` as a float array of forward's output shape, cast to ``dtype`` (its own if None)."""
    dout = as_float_array("dout", dout)
    if dout.shape != shape:
        raise ValueError(f"dout: expected shape {shape} (the shape of forward's output), got {dout.shape}")
    return dout if dtype is None else dout.astype(dtype, copy=False)


def out_array(out: np.ndarray | None, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """``out`` checked against the result's shape and dtype, or a new array when it is None."""
    if out is None:
        return np.empty(shape, dtype=dtype)
    if not isinstance(out, np.ndarray) or out.shape != shape or out.dtype != dtype:
        got = f"{out.shape} {out.dtype}" if isinstance(out, np.ndarray) else type(out).__name__
        raise ValueError(f"out: expected an array of shape {shape} and dtype {dtype}, got {got}")
    return out


def flatten_features(x: np.ndarray, features: int) -> np.ndarray:
    """Reshape (N, ...) to (N, features), with an error in the layer's own terms on a mismatch."""
    if x.ndim == 2 and x.shape[1] == features:
        return x
    if x.ndim < 2:
        raise ValueError(
            f"x: expected shape (N, {features}), got {x.shape}; for one sample use x.reshape(1, -1)"
        )
    if x.ndim == 2:
        raise ValueError(f"x: expected (N, {features}), got (N, {x.shape[1]})")
    if math.prod(x.shape[1:]) != features:
        shape = ", ".join(["N", *map(str, x.shape[1:])])
        raise ValueError(f"x: expected (N, {features}) or (N, ...) with {features} features, got ({shape})")
    return x.reshape(x.shape[0], features)


def sigmoid_into(x: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out = 1 / (1 + exp(-x))`` computed in ``out`` (which may be ``x``) without temporaries."""
    np.negative(x, out=out)
    # exp(-x) overflows to inf for x below about -88 (float32) or -709 (float64); 1 / (1 + inf) is
    # then 0, which sigmoid(x) is there to within the dtype's smallest normal number.
    with np.errstate(over="ignore"):
        np.exp(out, out=out)
    out += 1.0
    np.reciprocal(out, out=out)
    return out


def valid_labels(t: np.ndarray, n: int, c: int) -> bool:
    """True for N integer labels in [0, C) (cheaply: the hot path of every training step)."""
    if t.shape != (n,) or t.dtype.kind not in "iu" or n == 0:
        return False
    return bool(t.max() < c) and (t.dtype.kind == "u" or bool(t.min() >= 0))


class FusedSoftmaxLoss:
    """Softmax and cross-entropy against integer labels in one pass, keeping exp(x - max) for backward.

    ``loss(x, labels)`` equals ``softmax_cross_entropy(x, labels)`` bit for bit. Afterwards ``e`` and
    ``sums`` hold exp(x - max) and its row sums (N, 1), so y = e / sums needs no second softmax;
    they are None when the last call fell back to the reference function (non-finite scores).
    """

    def __init__(self) -> None:
        self.e: np.ndarray | None = None
        self.sums: np.ndarray | None = None
        self._buffers: tuple[np.ndarray, ...] | None = None
        self._rows = np.arange(0)
        #: Where each row's label sits in the flattened (N, C) scores: row * C + label (valid with ``e``).
        self.flat_labels: np.ndarray | None = None

    def clear(self) -> None:
        self.e = self.sums = self.flat_labels = None

    def rows(self, n: int) -> np.ndarray:
        """``np.arange(n)``, kept between calls."""
        if self._rows.size != n:
            self._rows = np.arange(n)
        return self._rows

    def loss(self, x: np.ndarray, labels: np.ndarray) -> float:
        n, c = x.shape
        bufs = self._buffers
        if bufs is None or bufs[0].shape != (n, c) or bufs[0].dtype != x.dtype:
            dt = x.dtype
            m, sums = np.empty((n, 1), dt), np.empty((n, 1), dt)
            bufs = self._buffers = (np.empty((n, c), dt), sums, np.empty((c, n), dt), np.arange(n) * c,
                                    np.empty(n, np.intp), m, m[:, 0], sums[:, 0], np.empty(n, dt))
        e, sums, xt, row_starts, flat, m, m1, sums1, logs = bufs
        # Shift each row by its maximum, as log_softmax does, so that exp stays in (0, 1]. The maxima
        # are taken down the columns of a transposed copy: c vectorised passes, not n small reductions.
        np.copyto(xt, x.T)
        np.maximum.reduce(xt, axis=0, out=m1)
        np.subtract(x, m, out=e)
        # e[rows, labels], through flat indices (cheaper than indexing by two arrays).
        picked = e.reshape(-1)[np.add(row_starts, labels, out=flat)]
        np.exp(e, out=e)
        np.add.reduce(e, axis=1, out=sums1)
        # -(picked - log(sum)) is log(sum) - picked, exactly.
        loss = float(np.add.reduce(np.subtract(np.log(sums1, out=logs), picked, out=picked)) / n)
        if not math.isfinite(loss):
            # An infinite or NaN maximum (log_softmax leaves such rows unshifted), or a truly
            # infinite loss: redo it the reference way, which handles every case.
            self.clear()
            return softmax_cross_entropy(x, labels)
        self.e, self.sums, self.flat_labels = e, sums, flat
        return loss

    def softmax(self) -> np.ndarray:
        """y = e / sums, a new array."""
        return self.e / self.sums

    def softmax_into(self, out: np.ndarray) -> np.ndarray:
        return np.divide(self.e, self.sums, out=out)
