"""A strict reader (and a writer) of the IDX format in which MNIST is distributed.

An IDX file is: two zero bytes, a type code (0x08 for unsigned bytes, the only one MNIST uses), the
number of dimensions, one big-endian int32 size per dimension, then the data in C order. The reader
refuses anything else, with a ``ValueError`` naming the file and what was expected and found, so a
damaged download can never turn into a plausible-looking array.
"""

from __future__ import annotations

import gzip
import io
import math
import os
import struct
import zlib

import numpy as np

__all__ = ["parse_idx", "read_idx", "encode_idx", "gunzip", "check_labels", "check_pair"]

UNSIGNED_BYTE = 0x08
_TYPE_NAMES = {
    0x08: "unsigned byte",
    0x09: "signed byte",
    0x0B: "int16",
    0x0C: "int32",
    0x0D: "float32",
    0x0E: "float64",
}
GZIP_MAGIC = b"\x1f\x8b"


def parse_idx(
    data: bytes | bytearray | memoryview, *, name: str = "IDX data", shape: tuple[int, ...] | None = None
) -> np.ndarray:
    """Parse the bytes of an uncompressed IDX file of unsigned bytes.

    Parameters
    ----------
    data : bytes-like
        The whole file. The result shares memory with it (read-only for ``bytes``).
    name : str
        What to call the data in error messages (a file name or path).
    shape : tuple of int, optional
        The shape the file must declare.

    Returns
    -------
    ndarray of uint8 with the declared shape.

    Raises
    ------
    ValueError
        On a wrong magic number or type code, no dimensions, a negative size, a truncated header or
        body, trailing bytes, or a shape other than ``shape``.
    """
    view = memoryview(data).cast("B")
    n = len(view)
    if n < 4:
        raise ValueError(f"{name}: truncated IDX header: expected at least 4 bytes, found {n}")
    if view[0] != 0 or view[1] != 0:
        hint = " (gzip-compressed data: decompress it first)" if bytes(view[:2]) == GZIP_MAGIC else ""
        raise ValueError(f"{name}: expected IDX magic bytes 00 00, found {view[0]:02x} {view[1]:02x}{hint}")
    code, ndim = view[2], view[3]
    if code != UNSIGNED_BYTE:
        kind = _TYPE_NAMES.get(code, "unknown")
        raise ValueError(f"{name}: expected IDX type code 0x08 (unsigned byte), found 0x{code:02x} ({kind})")
    if ndim == 0:
        raise ValueError(f"{name}: expected at least 1 dimension, found 0")
    header = 4 + 4 * ndim
    if n < header:
        raise ValueError(
            f"{name}: truncated IDX header: expected {header} bytes for {ndim} dimensions, found {n}"
        )
    dims = struct.unpack(f">{ndim}i", view[4:header])
    if min(dims) < 0:
        raise ValueError(f"{name}: expected non-negative sizes, found {dims}")
    if shape is not None and dims != tuple(shape):
        raise ValueError(f"{name}: expected shape {tuple(shape)}, found {dims}")
    expected = header + math.prod(dims)
    if n < expected:
        raise ValueError(
            f"{name}: truncated IDX body: expected {expected} bytes for shape {dims}, "
            f"found {n} ({expected - n} missing)"
        )
    if n > expected:
        raise ValueError(
            f"{name}: {n - expected} trailing bytes: expected {expected} bytes for shape {dims}, found {n}"
        )
    return np.frombuffer(view, dtype=np.uint8, count=expected - header, offset=header).reshape(dims)


def gunzip(blob: bytes, *, name: str, limit: int | None = None) -> bytes:
    """Decompress gzip data, reading at most ``limit + 1`` bytes so a bad file cannot fill memory.

    Raises
    ------
    ValueError
        If the gzip stream is corrupt or ends early (the message names ``name``).
    """
    try:
        # BytesIO shares an immutable bytes object instead of copying it.
        with gzip.GzipFile(fileobj=io.BytesIO(blob)) as f:
            return f.read(-1 if limit is None else limit + 1)
    except (OSError, EOFError, zlib.error) as e:
        raise ValueError(f"{name}: corrupt or truncated gzip data ({e})") from None


def read_idx(path: str | os.PathLike, *, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Read an IDX file from disk, gzip-compressed (recognised by its content) or raw.

    Parameters
    ----------
    path : path-like
    shape : tuple of int, optional
        The shape the file must declare.

    Returns
    -------
    ndarray of uint8, writable, with the declared shape.
    """
    name = os.fspath(path)
    with open(path, "rb") as f:
        blob = f.read()
    if blob[:2] == GZIP_MAGIC:
        limit = None if shape is None else 4 + 4 * len(shape) + math.prod(shape)
        blob = gunzip(blob, name=name, limit=limit)
    return parse_idx(bytearray(blob), name=name, shape=shape)


def encode_idx(array: np.ndarray) -> bytes:
    """Return the IDX bytes of a uint8 array with at least one dimension (the inverse of ``parse_idx``)."""
    a = np.asarray(array)
    if a.dtype != np.uint8:
        raise TypeError(f"array: expected dtype uint8, got {a.dtype}")
    if a.ndim == 0 or a.ndim > 255:
        raise ValueError(f"array: expected 1 to 255 dimensions, got shape {a.shape}")
    header = bytes([0, 0, UNSIGNED_BYTE, a.ndim]) + struct.pack(f">{a.ndim}i", *a.shape)
    return header + np.ascontiguousarray(a).tobytes()


def check_labels(t: np.ndarray, *, name: str, num_classes: int = 10) -> None:
    """Refuse label values outside ``[0, num_classes)``; the message gives the first bad index."""
    bad = np.flatnonzero(t >= num_classes)
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"{name}: expected labels in [0, {num_classes}), got {t[i]} at index {i}")


def check_pair(x: np.ndarray, t: np.ndarray, *, x_name: str, t_name: str) -> None:
    """Refuse images and labels whose counts differ."""
    if x.shape[0] != t.shape[0]:
        raise ValueError(f"{x_name} has {x.shape[0]} images but {t_name} has {t.shape[0]} labels")
