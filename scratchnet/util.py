"""Utilities, as the textbook's ``common/util.py``: BLAS thread limits and plain-text tables.

threadpoolctl is optional: without it :func:`blas_threads` does nothing (the results are the
same, only the speed differs) and :func:`blas_libraries` returns an empty list.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

__all__ = ["blas_threads", "blas_libraries", "format_table"]


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
