"""Shared test configuration: the hypothesis profile (tests/test_properties.py) and the fixtures the
dataset and training tests share: where the real MNIST files are, the loader's environment around a
test folder, a small IDX set, and a real HTTP mirror server on 127.0.0.1.

Tests take these as fixtures (``real_mnist_dir``, ``real_mnist``, ``loader_env``, ``small_set``,
``make_small_set``, ``mirror_server``); no test imports this module.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from dataset.idx import encode_idx
from dataset.specs import DatasetSpec, IdxFile

# The book-style chapter scripts are run by test_book_scripts.py as `python <script>` in a folder of
# their own; pytest would otherwise import ch06_batch_norm_test.py (it matches *_test.py) while
# collecting, running the whole script in the current folder and leaving its figure there.
collect_ignore = ["book_scripts"]

try:
    from hypothesis import HealthCheck, settings
except ImportError:  # hypothesis comes with the test extra; without it only the property tests skip
    pass
else:
    # Bounded and derandomised: the same examples on every run and machine, so CI stays fast and a
    # failure reproduces. HYPOTHESIS_PROFILE=thorough explores more (and randomly) by hand.
    settings.register_profile(
        "ci",
        max_examples=25,
        derandomize=True,
        deadline=None,  # a loaded machine must not turn slowness into failures
        suppress_health_check=[HealthCheck.too_slow],
        print_blob=True,
    )
    settings.register_profile("thorough", max_examples=1000, deadline=None)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


REPO_ROOT = Path(__file__).resolve().parent.parent

# Read before any test changes the environment.
_MNIST_DIR_FROM_ENV = os.environ.get("SCRATCHNET_MNIST_DIR", "")

#: Every variable the loader reads; each test starts with none of them set (and offline).
LOADER_ENV = (
    "SCRATCHNET_DATA",
    "XDG_CACHE_HOME",
    "SCRATCHNET_MNIST_DIR",
    "SCRATCHNET_FASHION_MNIST_DIR",
    "SCRATCHNET_MNIST_MIRRORS",
    "SCRATCHNET_FASHION_MNIST_MIRRORS",
    "SCRATCHNET_HTTP_TIMEOUT",
    "SCRATCHNET_OFFLINE",
)


def real_mnist_dir() -> Path | None:
    """The folder of the four real MNIST files: $SCRATCHNET_MNIST_DIR, else ../shared/mnist, else None."""
    for candidate in (_MNIST_DIR_FROM_ENV, REPO_ROOT.parent / "shared" / "mnist"):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


@dataclass
class SmallSet:
    """A small MNIST-shaped dataset: arrays, their IDX bytes and the matching ``IdxFile`` entries."""

    arrays: dict[str, np.ndarray]
    raw: dict[str, bytes]  # file name -> IDX bytes
    files: tuple[IdxFile, ...]

    def gz(self, filename: str) -> bytes:
        return gzip.compress(self.raw[filename], mtime=0)

    def write(self, folder: Path, *, compress: bool = True) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in self.raw.items():
            path = folder / (name + ".gz" if compress else name)
            path.write_bytes(self.gz(name) if compress else data)
        return folder

    def spec(self, **overrides) -> DatasetSpec:
        fields = {"name": "tiny", "title": "Tiny", "files": self.files, **overrides}
        return DatasetSpec(**fields)

    def assert_loaded(self, arrays) -> None:
        """Assert that ``load_mnist``'s ``((x_train, t_train), (x_test, t_test))`` holds exactly this set."""
        (x_train, t_train), (x_test, t_test) = arrays
        np.testing.assert_array_equal(x_train, self.arrays["x_train"].reshape(len(x_train), -1))
        np.testing.assert_array_equal(t_train, self.arrays["t_train"])
        np.testing.assert_array_equal(x_test, self.arrays["x_test"].reshape(len(x_test), -1))
        np.testing.assert_array_equal(t_test, self.arrays["t_test"])


def make_small_set(n_train: int = 30, n_test: int = 10, seed: int = 0) -> SmallSet:
    rng = np.random.default_rng(seed)
    arrays = {
        "x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "t_train": rng.permutation(np.arange(n_train) % 10).astype(np.uint8),
        "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t_test": rng.permutation(np.arange(n_test) % 10).astype(np.uint8),
    }
    arrays["x_train"][0, 0, :2] = (0, 255)  # both extremes, for the normalisation checks
    names = {
        "x_train": "train-images-idx3-ubyte",
        "t_train": "train-labels-idx1-ubyte",
        "x_test": "t10k-images-idx3-ubyte",
        "t_test": "t10k-labels-idx1-ubyte",
    }
    raw = {names[k]: encode_idx(a) for k, a in arrays.items()}
    files = tuple(
        IdxFile(k, names[k], hashlib.sha256(raw[names[k]]).hexdigest(), a.shape) for k, a in arrays.items()
    )
    return SmallSet(arrays, raw, files)


class MirrorServer:
    """An HTTP server on 127.0.0.1 whose first path segment picks a behaviour.

    ``/good/`` serves the files gzip-compressed; ``/raw/`` serves them uncompressed; ``/encoded/``
    serves the .gz with ``Content-Encoding: gzip`` (the client receives raw bytes); ``/missing/`` 404;
    ``/html/`` an HTML page with 200; ``/disguised/`` the same page as application/octet-stream;
    ``/truncated/`` the first half of the .gz (a consistent Content-Length); ``/short/`` announces the
    whole length and closes after half; ``/stall/`` sends headers and 100 bytes, then stalls;
    ``/stall-headers/`` stalls before answering; ``/wrong/`` a valid .gz of other bytes;
    ``/huge/`` announces a length far above any MNIST file; ``/trickle/`` sends the .gz one byte
    every 20 ms (each read succeeds, so no read timeout fires) and gives up after ``trickle_for`` s.
    """

    trickle_for = 3.0

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.requests: list[str] = []
        self.release = threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.mirror = self
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def url(self, route: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{route}/"

    def __enter__(self) -> MirrorServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()  # let stalled handlers finish
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def _send(self, status: int, body: bytes, ctype: str = "application/x-gzip", length: int | None = None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        mirror: MirrorServer = self.server.mirror
        mirror.requests.append(self.path)
        route, _, name = self.path.strip("/").partition("/")
        raw = mirror.files.get(name.removesuffix(".gz"))
        html = b"<!DOCTYPE html><html><body>Please log in</body></html>"
        if raw is None or route == "missing":
            return self._send(404, b"not found", "text/plain")
        gz = gzip.compress(raw, mtime=0)
        if route == "good":
            self._send(200, gz)
        elif route == "raw":
            self._send(200, raw, "application/octet-stream")
        elif route == "encoded":  # a .gz stored with Content-Encoding metadata: clients decode it
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(gz)))
            self.end_headers()
            self.wfile.write(gz)
        elif route == "html":
            self._send(200, html, "text/html; charset=utf-8")
        elif route == "disguised":
            self._send(200, html, "application/octet-stream")
        elif route == "truncated":
            self._send(200, gz[: len(gz) // 2])
        elif route == "short":
            self._send(200, gz[: len(gz) // 2], length=len(gz))
        elif route == "stall":
            self.send_response(200)
            self.send_header("Content-Length", str(len(gz)))
            self.end_headers()
            self.wfile.write(gz[:100])
            self.wfile.flush()
            mirror.release.wait(10)
        elif route == "stall-headers":
            mirror.release.wait(10)
        elif route == "wrong":
            self._send(200, gzip.compress(raw[:-1] + bytes([raw[-1] ^ 1]), mtime=0))
        elif route == "trickle":
            self.send_response(200)
            self.send_header("Content-Length", str(len(gz)))
            self.end_headers()
            stop = time.monotonic() + mirror.trickle_for
            for i in range(len(gz)):
                if mirror.release.is_set() or time.monotonic() > stop:
                    break
                self.wfile.write(gz[i : i + 1])
                self.wfile.flush()
                time.sleep(0.02)
        elif route == "huge":
            self._send(200, gz[:10], length=10**12)
        else:
            self._send(404, b"no such route", "text/plain")


# ---- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="session", name="real_mnist_dir")
def real_mnist_dir_fixture() -> Path | None:
    """The folder of the four real MNIST files, or None where they are absent."""
    return real_mnist_dir()


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


@pytest.fixture(scope="session")
def real_mnist() -> Callable[[Path], AbstractContextManager[None]]:
    """``with real_mnist(cache):`` the loader reads the real MNIST, offline, into the folder ``cache``.

    A factory, so that a fixture of any scope picks its own cache folder (one per test, module or
    session). Skips the test when the files are absent (set SCRATCHNET_MNIST_DIR to their folder).
    """
    return real_mnist_env


@pytest.fixture
def loader_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private cache in tmp_path, no loader variables, offline: a test opts in to each source.

    Each dataset test file takes it in an autouse fixture and gets the cache root back.
    """
    for var in LOADER_ENV:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SCRATCHNET_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("SCRATCHNET_OFFLINE", "1")
    return tmp_path / "cache"


@pytest.fixture(scope="session", name="make_small_set")
def make_small_set_fixture() -> Callable[..., SmallSet]:
    """``make_small_set(n_train=30, n_test=10, seed=0)``: a new small MNIST-shaped set."""
    return make_small_set


@pytest.fixture
def small_set() -> SmallSet:
    """The default small set (30 training and 10 test images, seed 0)."""
    return make_small_set()


@pytest.fixture(scope="session")
def mirror_server() -> type[MirrorServer]:
    """``with mirror_server(files) as server:`` a MirrorServer on 127.0.0.1 serving ``files``."""
    return MirrorServer
