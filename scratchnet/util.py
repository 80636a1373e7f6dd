"""Utilities, as the textbook's ``common/util.py``: the book's ``smooth_curve`` and ``shuffle_dataset``,
the convolution helpers ``conv_output_size``, ``im2col`` and ``col2im`` (chapter 7), atomic file writes
and reading .npz back, BLAS thread limits and plain-text tables.

threadpoolctl is optional: without it :func:`blas_threads` does nothing (the results are the
same, only the speed differs) and :func:`blas_libraries` returns an empty list.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import _conv
from ._checks import as_float_array, as_generator, check_positive_int

__all__ = [
    "np", "smooth_curve", "shuffle_dataset", "conv_output_size", "im2col", "col2im",
    "AtomicFile", "atomic_write", "read_npz", "blas_threads", "blas_libraries", "format_table",
]

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


def read_npz(path: str | os.PathLike, kind: str) -> dict[str, np.ndarray]:
    """Every array of the .npz archive ``path``, read with ``allow_pickle=False``.

    ``kind`` names what the file should be (``"weights"``, ``"checkpoint"``) in the message of the
    ValueError raised for a file that is not such an archive: random bytes, a cut or corrupted
    archive, a single .npy array, pickled objects. Errors opening the file (no such file, a
    folder) are raised as they are; they name the path.
    """
    not_ours = f"{os.fspath(path)}: not a valid scratchnet {kind} file"
    with open(path, "rb") as f:
        try:
            archive = np.load(f, allow_pickle=False)
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise ValueError(f"{not_ours} (a single .npy array, not an .npz archive)")
            with archive:
                return {k: archive[k] for k in archive.files}
        except ValueError as e:
            if str(e).startswith(not_ours):
                raise
            # NumPy's own message for pickled data suggests allow_pickle: never pass that on.
            why = f"ValueError: {e}"
            if "pickle" in why:
                why = "not an archive of plain arrays; pickled data is never loaded"
            raise ValueError(f"{not_ours} ({why})") from None
        except (OSError, EOFError, zipfile.BadZipFile, AttributeError, TypeError, KeyError) as e:
            raise ValueError(f"{not_ours} ({type(e).__name__}: {e})") from None


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


def _check_int(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        what = "a positive integer" if low == 1 else f"an integer >= {low}"
        raise ValueError(f"{name}: expected {what}, got {value!r}")
    return int(value)


def conv_output_size(input_size: int, filter_size: int, stride: int = 1, pad: int = 0) -> int:
    """Output length of a convolution or pool along one axis: (input + 2*pad - filter) / stride + 1.

    Parameters
    ----------
    input_size, filter_size : int >= 1
    stride : int >= 1
    pad : int >= 0

    Raises
    ------
    ValueError
        When the filter is larger than the padded input, or the windows do not tile it, i.e.
        (input + 2*pad - filter) is not divisible by the stride; the message names the sizes.
    """
    input_size = _check_int("input_size", input_size, 1)
    filter_size = _check_int("filter_size", filter_size, 1)
    stride = _check_int("stride", stride, 1)
    pad = _check_int("pad", pad, 0)
    span = input_size + 2 * pad - filter_size
    if span < 0:
        raise ValueError(f"filter_size: expected at most input_size + 2*pad = {input_size + 2 * pad}, "
                         f"got {filter_size} (input_size {input_size}, pad {pad})")
    if span % stride:
        raise ValueError(f"stride: (input_size + 2*pad - filter_size) = ({input_size} + 2*{pad} - "
                         f"{filter_size}) = {span} is not divisible by stride {stride}: the windows do not "
                         "tile the input")
    return span // stride + 1


def _check_images(name: str, x, channels: int | None = None) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected a real numeric array, got dtype {x.dtype}")
    if x.ndim != 4:
        raise ValueError(f"{name}: expected images of shape (N, C, H, W), got {x.shape}")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"{name}: expected {channels} channels (N, {channels}, H, W), got {x.shape}")
    return x if x.dtype.kind == "f" else x.astype(np.float64)


def im2col(input_data, filter_h: int, filter_w: int, stride: int = 1, pad: int = 0) -> np.ndarray:
    """Unfold image windows into rows, as the textbook's ``im2col``.

    Parameters
    ----------
    input_data : array_like, shape (N, C, H, W), float (ints become float64)
    filter_h, filter_w : int
        The window's height and width.
    stride : int >= 1
    pad : int >= 0
        Zeros added around H and W.

    Returns
    -------
    col : ndarray, shape (N*OH*OW, C*filter_h*filter_w), the input's dtype
        Row (n, y, x) is the window whose output lands at (y, x) of image n, flattened in
        (C, filter_h, filter_w) order. OH, OW from :func:`conv_output_size`.
    """
    x = _check_images("input_data", input_data)
    n, c, h, w = x.shape
    oh = conv_output_size(h, filter_h, stride, pad)
    ow = conv_output_size(w, filter_w, stride, pad)
    xp, _ = _conv.padded(x, pad, None)
    col_t = _conv.im2col_t(xp, filter_h, filter_w, stride, oh, ow)
    return col_t.transpose(0, 2, 1).reshape(n * oh * ow, c * filter_h * filter_w)


def col2im(col, input_shape, filter_h: int, filter_w: int, stride: int = 1, pad: int = 0) -> np.ndarray:
    """Fold rows back into images, adding where windows overlap: the adjoint of :func:`im2col`.

    Parameters
    ----------
    col : array_like, shape (N*OH*OW, C*filter_h*filter_w), float
    input_shape : tuple (N, C, H, W)
        The shape of the images ``col`` was taken from.
    filter_h, filter_w, stride, pad : int
        As given to :func:`im2col`.

    Returns
    -------
    ndarray, shape (N, C, H, W), col's dtype (the padding is cut away)
    """
    if len(input_shape) != 4:
        raise ValueError(f"input_shape: expected (N, C, H, W), got {tuple(input_shape)}")
    n, c, h, w = (_check_int(f"input_shape[{i}]", v, 1) for i, v in enumerate(input_shape))
    oh = conv_output_size(h, filter_h, stride, pad)
    ow = conv_output_size(w, filter_w, stride, pad)
    col = np.asarray(col)
    if col.dtype.kind != "f":
        col = col.astype(np.float64)
    expected = (n * oh * ow, c * filter_h * filter_w)
    if col.shape != expected:
        raise ValueError(f"col: expected shape {expected} for input_shape {(n, c, h, w)}, got {col.shape}")
    col_t = np.ascontiguousarray(col.reshape(n, oh * ow, -1).transpose(0, 2, 1))
    xp = _conv.col2im_t(col_t, (n, c, h + 2 * pad, w + 2 * pad), filter_h, filter_w, stride)
    return np.ascontiguousarray(_conv.unpadded(xp, pad))
