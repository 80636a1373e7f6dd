"""What the experiments write: CSV, JSON and text files, and PNG figures, each written atomically.

Every file reaches the disk through :func:`scratchnet.util.atomic_write` (by :func:`save`, or
:func:`scratchnet.plot.save_png` for a figure).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from scratchnet.plot import new_figure, save_png
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
    """Draw with ``draw(fig)`` on :func:`scratchnet.plot.new_figure` and save it as PNG (its folder made
    first), atomically; return ``path``, or None without matplotlib."""
    fig = new_figure(figsize)
    if fig is None:
        return None
    draw(fig)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return save_png(fig, path)


def has_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True
