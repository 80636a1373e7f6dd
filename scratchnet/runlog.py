"""A run's folder and logs: ``loss.csv``, ``accuracy.csv``, ``history.json``, library versions.

Every file is written with :func:`scratchnet.util.atomic_write` (never half-written).
"""

from __future__ import annotations

import csv
import json
import os
import platform
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from .util import atomic_write, blas_libraries

__all__ = [
    "ACCURACY_COLUMNS", "Progress", "library_versions", "make_run_dir", "prepare_run_dir", "write_json",
    "write_logs",
]

#: The columns of ``accuracy.csv``, one row per evaluation.
ACCURACY_COLUMNS = ("step", "epoch", "train_acc", "test_acc", "elapsed_s")


def library_versions() -> dict[str, Any]:
    """Versions of Python, NumPy, scratchnet and the optional libraries, and the BLAS in use."""
    from importlib import metadata

    from . import __version__

    versions: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": np.__version__,
        "scratchnet": __version__,
    }
    for name in ("tqdm", "matplotlib", "threadpoolctl"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    blas = blas_libraries()
    if blas:
        versions["blas"] = blas
    return versions


def json_default(obj: Any) -> Any:
    """``json.dump``'s ``default``: NumPy scalars and paths become their plain values."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"config: cannot store a {type(obj).__name__} in JSON: {obj!r}")


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    atomic_write(path, lambda f: json.dump(obj, f, indent=1, default=json_default), binary=False)


def make_run_dir(root: str | os.PathLike = "runs") -> Path:
    """Create and return a new folder ``root/<YYYYmmdd-HHMMSS>`` (``-2``, ``-3``, ... when taken)."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(root) / stamp
    candidate, n = base, 1
    while True:
        try:
            candidate.mkdir(parents=True)
            return candidate
        except FileExistsError:
            n += 1
            candidate = base.with_name(f"{stamp}-{n}")


def prepare_run_dir(run_dir: str | os.PathLike | None, *, resumed: bool) -> Path:
    """The run folder, created if needed; a folder holding another run is refused unless ``resumed``.

    Raises
    ------
    ValueError
        When ``run_dir`` is an existing file, or holds a ``checkpoint.npz`` and ``resumed`` is False.
    """
    if run_dir is None:
        return make_run_dir()
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise ValueError(f"run_dir: expected a folder, got the existing file {run_dir}")
    run_dir.mkdir(parents=True, exist_ok=True)
    if not resumed and (run_dir / "checkpoint.npz").exists():
        raise ValueError(f"run_dir: {run_dir} already holds a run (checkpoint.npz); resume it with "
                         "load_checkpoint() or choose another folder")
    return run_dir


def write_logs(run_dir: Path, losses: Sequence[float], evals: Sequence[Mapping[str, float]],
               summary: Mapping[str, Any]) -> None:
    """Write ``loss.csv`` (step, loss), ``accuracy.csv`` and ``history.json`` (``summary`` + both)."""

    def loss_csv(f):
        w = csv.writer(f)
        w.writerow(["step", "loss"])
        w.writerows((i, repr(v)) for i, v in enumerate(losses, start=1))

    def acc_csv(f):
        w = csv.writer(f)
        w.writerow(ACCURACY_COLUMNS)
        w.writerows([repr(e[c]) for c in ACCURACY_COLUMNS] for e in evals)

    atomic_write(run_dir / "loss.csv", loss_csv, binary=False)
    atomic_write(run_dir / "accuracy.csv", acc_csv, binary=False)
    write_json(run_dir / "history.json",
               {**summary, "loss": list(losses), "eval": [dict(e) for e in evals]})


class Progress:
    """What a run shows on stderr: a ``tqdm.auto`` bar when tqdm is installed, else a line per evaluation."""

    def __init__(self, enabled: bool, total: int, initial: int) -> None:
        self.enabled, self.bar, self._last = enabled, None, 0.0
        if not enabled:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:
            return
        self.bar = tqdm(total=total, initial=initial, file=sys.stderr, unit="step", dynamic_ncols=True,
                        leave=True)

    def _postfix(self, loss: float | None, last_eval: Mapping[str, float] | None) -> None:
        post = {}
        if loss is not None:
            post["loss"] = f"{loss:.4f}"
        if last_eval is not None:
            post["train"] = f"{last_eval['train_acc']:.4f}"
            post["test"] = f"{last_eval['test_acc']:.4f}"
        self.bar.set_postfix(post, refresh=True)
        self._last = time.monotonic()

    def step(self, loss: float, last_eval: Mapping[str, float] | None) -> None:
        """One update applied (the postfix is refreshed at most four times a second)."""
        if self.bar is None:
            return
        self.bar.update(1)
        if self.bar.n == self.bar.total or time.monotonic() - self._last > 0.25:
            self._postfix(loss, last_eval)

    def evaluated(self, record: Mapping[str, float], loss: float | None) -> None:
        """An evaluation was made."""
        if self.bar is not None:
            self._postfix(loss, record)
        elif self.enabled:
            print(f"step {record['step']} (epoch {record['epoch']:.2f}): "
                  f"train acc {record['train_acc']:.4f}, "
                  f"test acc {record['test_acc']:.4f}", file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
