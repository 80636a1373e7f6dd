"""Utilities, as the textbook's ``common/util.py``: the book's ``smooth_curve`` and ``shuffle_dataset``,
BLAS thread limits and plain-text tables.

threadpoolctl is optional: without it :func:`blas_threads` does nothing (the results are the
same, only the speed differs) and :func:`blas_libraries` returns an empty list.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._checks import as_float_array, as_generator

__all__ = ["np", "smooth_curve", "shuffle_dataset", "blas_threads", "blas_libraries", "format_table"]

#: The book's loss-curve smoother: an 11-point Kaiser window of beta 2.
SMOOTH_WINDOW, SMOOTH_BETA = 11, 2


def smooth_curve(x) -> np.ndarray:
    """Smooth a loss curve as the book's figures do: a weighted moving mean over 11 points.

    The weights are ``np.kaiser(11, 2)`` normalised to sum 1. At the ends the curve is extended by
    reflection, as the book extends it: at the start about ``x[0]`` (x[5], ..., x[1]), at the end
    through ``x[-1]`` (x[-1], ..., x[-5]), so every output is a mean of 11 values.

    Parameters
    ----------
    x : array_like, shape (n,), n >= 1

    Returns
    -------
    ndarray, shape (n,), float
    """
    x = as_float_array("x", x)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"x: expected a non-empty 1-D curve, got shape {x.shape}")
    w = np.kaiser(SMOOTH_WINDOW, SMOOTH_BETA)
    half = SMOOTH_WINDOW // 2
    padded = np.concatenate([np.pad(x, (half, 0), mode="reflect")[:half], x,
                             np.pad(x, (0, half), mode="symmetric")[-half:]])
    return np.convolve(w / w.sum(), padded, mode="valid")


def shuffle_dataset(x, t, seed=None) -> tuple[np.ndarray, np.ndarray]:
    """Shuffle ``x`` and ``t`` with one permutation of their first axis (the book's helper).

    Parameters
    ----------
    x : ndarray, shape (N, ...)
    t : ndarray, shape (N, ...)
    seed : int, numpy.random.Generator or None
        None draws ``np.random.permutation(N)`` from NumPy's global generator, as the book does, so
        ``np.random.seed`` repeats the shuffle.

    Returns
    -------
    (x[perm], t[perm]): new arrays.
    """
    x, t = np.asarray(x), np.asarray(t)
    if x.ndim == 0 or t.ndim == 0 or len(x) != len(t):
        raise ValueError(f"t: expected as many samples as x {x.shape}, got shape {t.shape}")
    perm = as_generator("seed", seed).permutation(len(x))
    return x[perm], t[perm]


def blas_threads(n: int | None, *, required: bool = False):
    """A context manager holding the BLAS library to ``n`` threads, or doing nothing when n is None.

    Parameters
    ----------
    n : int or None
        Threads BLAS may use inside the ``with`` block; None leaves BLAS as it is.
    required : bool
        Raise ``RuntimeError`` (naming the package to install) when threadpoolctl is missing,
        instead of doing nothing. Benchmarks set it: their figures mean nothing unlimited.
    """
    if n is None:
        return contextlib.nullcontext()
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n: expected a positive number of threads or None, got {n!r}")
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        if required:
            raise RuntimeError("threadpoolctl is needed to set BLAS threads: "
                               "pip install threadpoolctl") from None
        return contextlib.nullcontext()
    return threadpool_limits(limits=n, user_api="blas")


def blas_libraries() -> list[dict[str, Any]]:
    """The BLAS libraries NumPy has loaded: ``internal_api``, ``version``, ``num_threads``, ``architecture``.

    An empty list when threadpoolctl is not installed.
    """
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    return [
        {k: info.get(k) for k in ("internal_api", "version", "num_threads", "architecture")}
        for info in threadpool_info()
        if info.get("user_api") == "blas"
    ]


def format_table(rows: Sequence[Sequence[str]]) -> list[str]:
    """Left-align each column to its widest cell, two spaces apart; return the lines, right-stripped.

    Parameters
    ----------
    rows : sequence of sequences of str
        The first row is usually the header; every row has the same number of cells.
    """
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
