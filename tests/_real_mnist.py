"""The real MNIST for the training tests: found as the dataset tests find it, cached in a test folder."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from dataset_support import real_mnist_dir


@contextmanager
def real_mnist_env(cache: Path) -> Iterator[None]:
    """Within the block the loader reads the real files, offline, into the cache folder ``cache``.

    Skips the test when the files are absent (set SCRATCHNET_MNIST_DIR to their folder).
    """
    folder = real_mnist_dir()
    if folder is None:
        pytest.skip("real MNIST not found: set SCRATCHNET_MNIST_DIR to the folder of its four .gz files")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SCRATCHNET_MNIST_DIR", str(folder))
        mp.setenv("SCRATCHNET_DATA", str(cache))
        mp.setenv("SCRATCHNET_OFFLINE", "1")
        yield
