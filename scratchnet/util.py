"""Utilities, as the textbook's ``common/util.py``: BLAS thread limits and plain-text tables.

threadpoolctl is optional: without it :func:`blas_threads` does nothing (the results are the
same, only the speed differs) and :func:`blas_libraries` returns an empty list.
"""

from __future__ import annotations

import contextlib
import sys
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
    controller = _blas_controller()
    if controller is None:
        if required:
            raise RuntimeError("threadpoolctl is needed to set BLAS threads: "
                               "pip install threadpoolctl") from None
        return contextlib.nullcontext()
    return controller.limit(limits=n, user_api="blas")


#: One threadpoolctl controller, and the module count it was made at: finding the loaded libraries
#: scans the process's shared objects (about a millisecond), so it is redone only after an import.
_CONTROLLER: list = [None, -1]


def _blas_controller():
    """A ``threadpoolctl.ThreadpoolController`` of the loaded libraries, or None without threadpoolctl."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    if _CONTROLLER[0] is None or _CONTROLLER[1] != len(sys.modules):
        _CONTROLLER[:] = [ThreadpoolController(), len(sys.modules)]
    return _CONTROLLER[0]


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
