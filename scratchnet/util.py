"""Utilities, as the textbook's ``common/util.py``: atomic file writes, BLAS thread limits, text tables.

threadpoolctl is optional: without it :func:`blas_threads` does nothing (the results are the
same, only the speed differs) and :func:`blas_libraries` returns an empty list.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ._checks import check_positive_int

__all__ = ["AtomicFile", "atomic_write", "blas_threads", "blas_libraries", "format_table"]

_UMASK = os.umask(0o022)  # read the process's umask (the only way) and put it back at once
os.umask(_UMASK)

#: A temporary file of :func:`atomic_write` older than this (seconds) was left by a killed process.
ORPHAN_AGE_S = 3600.0


class AtomicFile:
    """A temporary file beside its final name, moved into place only by :meth:`commit`.

    Use as a context manager: leaving the block without ``commit`` (an error, Ctrl-C) deletes it,
    so a crash never leaves a half-written file under the final name. The data and the rename are
    fsynced; the file gets the permissions ``open()`` would give it, not mkstemp's private 0600.

    Parameters
    ----------
    folder : path-like
        Where the file goes (it must exist).
    name : str
        The final name; the temporary one is ``.<name>.<random><suffix>``.
    binary : bool
        ``file`` is a binary file object, else text (UTF-8, no newline translation).
    suffix : str
        The temporary file's suffix.
    errors : callable, optional
        ``errors(e) -> exception`` for an ``OSError`` of any step (creating, writing, renaming):
        what to raise instead (``e`` itself to keep it).

    Attributes: ``file`` (the open file object), ``path`` (the temporary file's Path).
    """

    def __init__(self, folder: str | os.PathLike, name: str, *, binary: bool = True, suffix: str = ".tmp",
                 errors: Callable[[OSError], BaseException] | None = None) -> None:
        self.folder, self.name, self._errors = Path(folder), name, errors
        with self.writing():
            fd, path = tempfile.mkstemp(dir=self.folder, prefix=f".{name}.", suffix=suffix)
        self.path = Path(path)
        text = {} if binary else {"newline": "", "encoding": "utf-8"}
        self.file = os.fdopen(fd, "wb" if binary else "w", **text)
        with contextlib.suppress(OSError):
            os.chmod(fd, 0o666 & ~_UMASK)

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Within this block an ``OSError`` is passed through ``errors`` (when given)."""
        try:
            yield
        except OSError as e:
            new = e if self._errors is None else self._errors(e)
            if new is e:
                raise
            raise new from e

    def write(self, data) -> None:
        with self.writing():
            self.file.write(data)

    def finish(self) -> None:
        """Flush, fsync and close the file, so that what is read back or renamed is on disk."""
        if not self.file.closed:
            with self.writing():
                self.file.flush()
                os.fsync(self.file.fileno())
                self.file.close()

    def commit(self, target: str | os.PathLike) -> None:
        """Move the finished file to ``target`` atomically (replacing any older file)."""
        self.finish()
        target = Path(target)
        with self.writing():
            os.replace(self.path, target)
        _fsync_folder(target.parent)

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        with contextlib.suppress(OSError):  # closing flushes: on a full disk that fails too
            self.file.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def atomic_write(path: str | os.PathLike, write: Callable[[io.IOBase], None], *, binary: bool) -> None:
    """Call ``write(f)`` on an :class:`AtomicFile` beside ``path``, then move it to ``path``.

    Parameters
    ----------
    path : path-like
        The final name; its folder must exist.
    write : callable
        Writes the whole content to the open file object it is given.
    binary : bool
        Open the file in binary mode (else text, UTF-8, no newline translation).

    On any failure (Ctrl-C included) ``path`` is left as it was. Temporary files of ``path`` older
    than ``ORPHAN_AGE_S``, left by a killed process, are deleted first.
    """
    path = Path(path)
    _remove_orphans(path)
    with AtomicFile(path.parent, path.name, binary=binary) as f:
        write(f.file)
        f.commit(path)


def _remove_orphans(path: Path) -> None:
    """Delete ``path``'s own old temporary files (``.<name>.<random>.tmp``), left by a kill mid-write."""
    prefix, cutoff = f".{path.name}.", time.time() - ORPHAN_AGE_S
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return  # the write itself will report the folder
    for entry in entries:
        middle = entry.name[len(prefix):-len(".tmp")]
        ours = entry.name.startswith(prefix) and entry.name.endswith(".tmp")
        if not (ours and middle and "." not in middle):
            continue
        with contextlib.suppress(OSError):  # gone already, or not ours to delete
            if entry.is_file(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_mtime < cutoff:
                os.unlink(entry.path)


def _fsync_folder(folder: Path) -> None:
    """Make a rename durable (a no-op where folders cannot be opened, as on Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


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
    if check_positive_int("n", n, allow_none=True) is None:
        return contextlib.nullcontext()
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
