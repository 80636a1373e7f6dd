"""What the experiments write: CSV, JSON and text files, and PNG figures, each written atomically.

Every file goes through :func:`save`, the one place that knows how a file reaches the disk.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from scratchnet.util import atomic_write


def save(path: Path, write: Callable[[Any], None], *, binary: bool = False) -> Path:
    """Create ``path``'s folder and write the file with ``write(f)``, atomically; return ``path``.

    ``binary``: ``f`` is a binary file, else text (UTF-8, no newline translation).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, write, binary=binary)
    return path


def write_json(path: Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON (NumPy scalars and arrays as plain values), atomically."""
    def default(o):
        if isinstance(o, (np.generic, np.ndarray)):
            return o.tolist()
        raise TypeError(f"cannot store {type(o).__name__} in JSON")
    return save(path, lambda f: json.dump(obj, f, indent=1, default=default))


def write_text(path: Path, text: str) -> Path:
    """Write ``text`` (UTF-8), atomically."""
    return save(path, lambda f: f.write(text))


def write_bytes(path: Path, data: bytes) -> Path:
    """Write ``data``, atomically."""
    return save(path, lambda f: f.write(data), binary=True)


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Path:
    """Write a CSV with a header row, atomically."""
    def write(f: io.TextIOBase) -> None:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return save(path, write)


def figure(path: Path, draw: Callable[[Any], None], figsize=(8, 5)) -> Path | None:
    """Draw with ``draw(fig)`` on a matplotlib Agg figure and save it as PNG; None without matplotlib.

    Uses the Figure/Agg canvas directly: no pyplot, no window, no global backend change.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    draw(fig)
    return save(path, lambda f: fig.savefig(f, format="png", dpi=100), binary=True)


def has_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True
