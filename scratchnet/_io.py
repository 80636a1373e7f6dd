"""Writing files so that a crash never leaves a half-written file under the final name; reading .npz back."""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: A temporary file of an atomic write older than this (seconds) was left by a killed process.
ORPHAN_AGE_S = 3600.0


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


def atomic_write(path: str | os.PathLike, write: Callable[[io.IOBase], None], *, binary: bool) -> None:
    """Call ``write(f)`` on a temporary file beside ``path``, fsync it, then rename it to ``path``.

    Parameters
    ----------
    path : path-like
        The final name; its folder must exist.
    write : callable
        Writes the whole content to the open file object it is given.
    binary : bool
        Open the temporary file in binary mode (else text, UTF-8, no newline translation).

    On any failure (Ctrl-C included) the temporary file is removed and ``path`` is left as it was.
    The file gets the permissions an ordinary ``open()`` would give it, not mkstemp's private 0600.
    """
    path = Path(path)
    _remove_orphans(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        text = {} if binary else {"newline": "", "encoding": "utf-8"}
        with os.fdopen(fd, "wb" if binary else "w", **text) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


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
