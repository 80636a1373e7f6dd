"""Where the tests find the real MNIST files: $SCRATCHNET_MNIST_DIR, else ../shared/mnist beside the repo."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def real_mnist_dir() -> Path:
    """The folder of the four MNIST .gz files; skips the test when it is absent."""
    env = os.environ.get("SCRATCHNET_MNIST_DIR", "").strip()
    folder = Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "mnist"
    if not (folder / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"real MNIST not found in {folder}; set SCRATCHNET_MNIST_DIR to its folder")
    return folder


def load_real_mnist():
    """``(x_train, t_train), (x_test, t_test)`` from the real files (float32 in [0, 1], uint8 labels)."""
    from dataset.mnist import load_mnist

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SCRATCHNET_MNIST_DIR", str(real_mnist_dir()))
        return load_mnist(progress=False)
