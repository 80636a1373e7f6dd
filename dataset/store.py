"""The on-disk cache: where it lives, atomic writes, file verification and the parsed-array cache.

Layout of ``<cache root>/<dataset name>/``::

    train-images-idx3-ubyte.gz ...       the verified IDX files, as a source gave them (.gz or raw)
    sources.json                         which source each file came from, and what failed before it
    arrays/x_train-<sha>.uint8.npy ...   the parsed arrays, named after the hash of their IDX file
    arrays/x_train-<sha>.float32.npy     the normalised images, written the first time they are asked for

Every file is written to a unique temporary file in its final folder, fsynced and ``os.replace``d into
place (:class:`scratchnet.util.AtomicFile`), so neither a crash nor two processes writing at once can
leave a file that is later trusted.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np

from scratchnet.util import AtomicFile

from .idx import GZIP_MAGIC, gunzip
from .specs import DatasetSpec, IdxFile

__all__ = [
    "cache_root",
    "dataset_folder",
    "verify_blob",
    "candidates",
    "PartFile",
    "CacheWriteError",
    "atomic_write_bytes",
]

_PACKAGE_DIR = Path(__file__).resolve().parent


def cache_root(data_dir: str | os.PathLike | None = None) -> Path:
    """Return the cache root: ``data_dir``, else ``$SCRATCHNET_DATA``, else ``$XDG_CACHE_HOME/scratchnet``,
    else ``~/.cache/scratchnet``.

    Raises
    ------
    ValueError
        If the folder lies inside the installed ``dataset`` package (data never goes there).
    """
    if data_dir is not None:
        root = Path(data_dir).expanduser()
    elif os.environ.get("SCRATCHNET_DATA"):
        root = Path(os.environ["SCRATCHNET_DATA"]).expanduser()
    elif os.environ.get("XDG_CACHE_HOME", "").startswith("/"):  # the XDG spec ignores relative paths
        root = Path(os.environ["XDG_CACHE_HOME"]) / "scratchnet"
    else:
        root = Path.home() / ".cache" / "scratchnet"
    resolved = root.resolve()
    if resolved == _PACKAGE_DIR or _PACKAGE_DIR in resolved.parents:
        raise ValueError(f"data_dir: expected a folder outside the installed package, got {root}")
    return root


def dataset_folder(spec: DatasetSpec, data_dir: str | os.PathLike | None = None) -> Path:
    """Return (and create) the cache folder of one dataset."""
    folder = cache_root(data_dir) / spec.name
    try:
        (folder / "arrays").mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OSError(
            f"cannot create the cache folder {folder} ({e}); set SCRATCHNET_DATA or pass data_dir"
        ) from e
    return folder


def verify_blob(blob: bytes, f: IdxFile, *, origin: str) -> bytes:
    """Check that ``blob`` (gzip-compressed or raw) decompresses to exactly the pinned bytes of ``f``.

    Parameters
    ----------
    blob : bytes
        The file as a source gave it.
    f : IdxFile
        What it must be.
    origin : str
        Path or URL, named in error messages.

    Returns
    -------
    bytes : the decompressed IDX file.

    Raises
    ------
    ValueError
        If it is neither gzip nor IDX data (an HTML page, say), the gzip stream is broken, the length
        differs from the expected one, or the SHA-256 differs.
    """
    if blob[:2] == GZIP_MAGIC:
        data = gunzip(blob, name=origin, limit=f.nbytes)
    elif blob[:2] == b"\x00\x00":
        data = blob
    else:
        raise ValueError(f"{origin}: expected gzip or IDX data for {f.filename}, found {_describe(blob)}")
    if len(data) != f.nbytes:
        found = f"more than {f.nbytes}" if len(data) > f.nbytes else str(len(data))
        raise ValueError(f"{origin}: expected {f.nbytes} bytes of IDX data for {f.filename}, found {found}")
    digest = hashlib.sha256(data).hexdigest()
    if digest != f.sha256:
        raise ValueError(f"{origin}: SHA-256 of the decompressed bytes is {digest}, expected {f.sha256}")
    return data


def _describe(blob: bytes) -> str:
    """A short human description of bytes that are not a data file."""
    if not blob:
        return "an empty file"
    head = blob[:512].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html", b"<?xml", b"<")):
        return "an HTML/XML page"
    return f"bytes starting with {blob[:8].hex(' ')}"


def max_blob_size(f: IdxFile) -> int:
    """The most bytes a source's copy of ``f`` may have: raw, or gzip's small worst-case growth."""
    return f.nbytes + f.nbytes // 100 + 65536


def candidates(folder: Path, f: IdxFile) -> list[Path]:
    """The names ``f`` may have in a folder, in the order they are tried: compressed, then raw."""
    return [folder / (f.filename + ".gz"), folder / f.filename]


def stored_name(f: IdxFile, blob: bytes) -> str:
    """The name under which the cache keeps ``blob``: ``.gz`` exactly when it is gzip data."""
    return f.filename + ".gz" if blob[:2] == GZIP_MAGIC else f.filename


class CacheWriteError(OSError):
    """A file of the cache could not be written (disk full, read-only folder, ...); names file and folder."""


def _write_error(folder: Path, name: str, e: OSError) -> CacheWriteError:
    """The error for a failed write of ``name`` into ``folder``: which file, where, why, what to do."""
    reason = e.strerror or str(e) or type(e).__name__
    hint = "set SCRATCHNET_DATA (or pass data_dir) to a writable folder"
    if e.errno in (errno.ENOSPC, errno.EDQUOT, None):  # numpy's short write has no errno
        try:
            reason += f" ({shutil.disk_usage(folder).free / 2**20:.1f} MiB free there)"
        except OSError:
            pass
        hint = "free some space, or " + hint
    err = CacheWriteError(f"cannot write {name} in the folder {folder}: {reason}; {hint}")
    err.errno = e.errno  # only errno: with strerror set, str() would drop our message
    return err


class PartFile(AtomicFile):
    """A unique temporary ``.part`` file in ``folder``, moved into place only by ``commit``.

    A :class:`scratchnet.util.AtomicFile`: leaving its ``with`` block without ``commit`` (an error,
    Ctrl-C) deletes it. A failed step (a full disk, say) raises ``CacheWriteError`` naming the file
    and its folder, instead of the bare "N requested and M written".
    """

    def __init__(self, folder: Path, name: str) -> None:
        def errors(e: OSError) -> OSError:
            return e if isinstance(e, CacheWriteError) else _write_error(Path(folder), name, e)

        super().__init__(folder, name, suffix=".part", errors=errors)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and ``os.replace``."""
    with PartFile(path.parent, path.name) as part:
        part.write(data)
        part.commit(path)


def store_blob(folder: Path, f: IdxFile, blob: bytes) -> Path:
    """Put a verified file into the cache under its canonical name and return its path."""
    target = folder / stored_name(f, blob)
    atomic_write_bytes(target, blob)
    return target


# ---- sources.json: which source each file came from ---------------------------------------------------


def read_manifest(folder: Path) -> dict:
    """Return the cache's record of sources (an empty one if it is missing or unreadable)."""
    try:
        with open(folder / "sources.json", encoding="utf-8") as fh:
            manifest = json.load(fh)
    except (OSError, ValueError):
        return {"files": {}}
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        return {"files": {}}
    return manifest


def write_manifest(folder: Path, manifest: dict) -> None:
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    atomic_write_bytes(folder / "sources.json", text.encode("utf-8"))


# ---- the parsed-array cache ----------------------------------------------------------------------------


def array_path(folder: Path, f: IdxFile, dtype: str) -> Path:
    """Where the array parsed from ``f`` is cached; the name carries the IDX file's hash, so an array
    from other bytes (another version of the dataset) is never mistaken for this one."""
    return folder / "arrays" / f"{f.key}-{f.sha256[:16]}.{dtype}.npy"


def save_array(path: Path, array: np.ndarray) -> None:
    """Save an array as ``.npy`` (no pickle) through a temporary file."""
    with PartFile(path.parent, path.name) as part:
        with part.writing():
            np.lib.format.write_array(part.file, np.ascontiguousarray(array), allow_pickle=False)
        part.commit(path)


def open_array(path: Path, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray | None:
    """Memory-map a cached array copy-on-write, or return None if it is missing or not as expected.

    Copy-on-write: the caller may modify the array in place; the changes stay in its own memory and
    never reach the file.
    """
    try:
        a = np.load(path, mmap_mode="c", allow_pickle=False)
    except (OSError, ValueError):
        return None
    if not isinstance(a, np.ndarray) or a.dtype != dtype or a.shape != tuple(shape):
        return None
    return np.asarray(a)  # a plain ndarray view: np.memmap's subclass behaviour is of no use here


def remove_stale_arrays(folder: Path, f: IdxFile) -> None:
    """Delete cached arrays of ``f.key`` parsed from other bytes than ``f``'s (an older version)."""
    keep = f"{f.key}-{f.sha256[:16]}."
    for path in (folder / "arrays").glob(f"{f.key}-*.npy"):
        if not path.name.startswith(keep):
            with contextlib.suppress(OSError):  # a read-only cache keeps them; they are never read
                path.unlink()
