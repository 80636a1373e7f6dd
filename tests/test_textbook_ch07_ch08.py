"""Chapters 7 and 8 (and chapter 3's inference): the shipped weights and the quick experiments."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scratchnet_book import (
    ch03_mnist_inference,
    ch07_apply_filter,
    ch07_filters,
    ch07_gradient_check,
    ch07_train_convnet,
    ch08_half_float_network,
    ch08_misclassified_mnist,
    ch08_train_deepnet,
)
from scratchnet_book.experiment import Context, run_timed
from scratchnet_book.weights import ARCHITECTURES, REPO_WEIGHTS, load_weights, read_meta, sha256

REPO = Path(__file__).resolve().parent.parent
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def mnist(tmp_path_factory, real_mnist):
    with real_mnist(tmp_path_factory.mktemp("cache")):
        yield


@pytest.fixture(scope="module")
def test_set(mnist):
    from scratchnet_book.training import image_arrays

    _, _, x_test, t_test = image_arrays()
    return x_test, t_test


@pytest.fixture
def no_env_weights(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("SCRATCHNET_WEIGHTS", raising=False)


# --------------------------------------------------------------------------- the shipped weights
@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_shipped_weights_give_their_recorded_accuracy(name, test_set, no_env_weights):
    x_test, t_test = test_set
    net, meta = load_weights(name)
    shape = ARCHITECTURES[name][3]
    accuracy = net.accuracy(x_test.reshape(-1, *shape), t_test)
    assert meta["test_images"] == len(t_test) == 10_000
    # Two images of 10 000: another BLAS may round a near tie the other way.
    assert abs(accuracy - meta["test_accuracy"]) <= 2e-4, (accuracy, meta["test_accuracy"])
    assert re.fullmatch(r"[0-9a-f]{40}", meta["commit"]) and meta["command"] and meta["seed"] == 0
    assert (REPO_WEIGHTS / f"{name}.npz").stat().st_size < 3_000_000
    assert meta["arrays"] == {k: list(v.shape) for k, v in net.params.items()}


def test_shipped_accuracies_reach_the_books(no_env_weights):
    assert read_meta("ch03_mlp")["test_accuracy"] >= 0.9352 - 0.005
    assert abs(read_meta("ch07_simple_convnet")["test_accuracy"] - 0.9896) <= 0.005
    assert read_meta("ch08_deep_convnet")["test_accuracy"] >= 0.9938 - 0.005


@pytest.fixture
def weights_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "weights"
    folder.mkdir()
    for suffix in ("npz", "json"):
        shutil.copy(REPO_WEIGHTS / f"ch03_mlp.{suffix}", folder)
    monkeypatch.setenv("SCRATCHNET_WEIGHTS", str(folder))
    return folder


def _rewrite_meta(folder: Path, **changes) -> None:
    path = folder / "ch03_mlp.json"
    meta = json.loads(path.read_text())
    meta.update(changes)
    for key, value in changes.items():
        if value is None:
            del meta[key]
    path.write_text(json.dumps(meta))


def test_a_changed_archive_is_refused(weights_copy: Path):
    path = weights_copy / "ch03_mlp.npz"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="SHA-256"):
        load_weights("ch03_mlp")


@pytest.mark.parametrize("changes, message", [
    ({"commit": None}, "commit: expected a str, got None"),
    ({"seed": "0"}, "seed: expected a int"),
    ({"test_accuracy": 1.5}, r"test_accuracy: expected a number in \[0, 1\]"),
    ({"name": "ch07_simple_convnet"}, "name: expected 'ch03_mlp'"),
    ({"network": "TwoLayerNet()"}, "network: expected"),
])
def test_a_json_that_does_not_fit_is_refused(weights_copy: Path, changes, message):
    _rewrite_meta(weights_copy, **changes)
    with pytest.raises(ValueError, match=message):
        load_weights("ch03_mlp")


def test_arrays_are_read_without_pickle_and_strictly(weights_copy: Path):
    path = weights_copy / "ch03_mlp.npz"
    with np.load(path, allow_pickle=False) as archive:
        state = {k: archive[k] for k in archive.files}
    np.savez(path, **state, extra=np.zeros(3))
    _rewrite_meta(weights_copy, sha256=sha256(path))
    with pytest.raises(ValueError, match=r"unexpected keys \['extra'\]"):
        load_weights("ch03_mlp")
    np.savez(path, **{**state, "W1": np.array([{"a": 1}], dtype=object)})  # an object array needs pickle
    _rewrite_meta(weights_copy, sha256=sha256(path))
    with pytest.raises(ValueError, match="pickle"):
        load_weights("ch03_mlp")


def test_missing_weights_say_where_they_were_looked_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SCRATCHNET_WEIGHTS", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="SCRATCHNET_WEIGHTS"):
        load_weights("ch08_deep_convnet")
    with pytest.raises(ValueError, match="name: expected one of"):
        load_weights("ch09_transformer")


def test_a_train_script_run_is_shipped_and_loads_back(mnist, tmp_path: Path):
    run = tmp_path / "run"
    train = [sys.executable, str(REPO / "scripts" / "train.py"), "--network", "simpleconvnet",
             "--optimizer", "adam", "--lr", "0.001", "--iters", "3", "--eval-subset", "100",
             "--no-progress", "--no-plot", "--out", str(run)]
    assert subprocess.run(train, capture_output=True, text=True).returncode == 0
    from scratchnet_book import weights

    commit = "0" * 40
    argv = [str(run), "ch07_simple_convnet", "--command", " ".join(train[1:]), "--commit", commit,
            "--out", str(tmp_path / "w")]
    assert weights.main(argv) == 0
    net, meta = load_weights("ch07_simple_convnet", folder=tmp_path / "w")
    assert meta["commit"] == commit and meta["steps"] == 3 and meta["seed"] == 0
    with np.load(run / "checkpoint.npz", allow_pickle=False) as archive:
        np.testing.assert_array_equal(net.params["W2"], archive["params.W2"])


# --------------------------------------------------------------------------- the quick experiments
@pytest.mark.parametrize("module, figure", [
    (ch03_mnist_inference, None),
    (ch07_filters, "filters.png"),
    (ch07_apply_filter, "apply_filter.png"),
    (ch07_gradient_check, None),
    (ch07_train_convnet, None),
    (ch08_train_deepnet, None),
    (ch08_misclassified_mnist, "misclassified.png"),
    (ch08_half_float_network, None),
], ids=lambda m: getattr(m, "NAME", m))
def test_quick_experiment_passes_every_check(module, figure, mnist, tmp_path: Path, no_env_weights):
    report = run_timed(module.run, Context(out=tmp_path, quick=True, figures=figure is not None))
    assert report.checks and report.ok, [c for c in report.checks if not c.ok]
    if figure:
        assert (tmp_path / figure).read_bytes()[:8] == PNG


def test_filter_smoothness_tells_random_from_smooth():
    rng = np.random.default_rng(0)
    noise = rng.standard_normal((30, 1, 5, 5))
    ramp = np.add.outer(np.arange(5.0), np.arange(5.0))[None, None] * (0.5 + rng.random((30, 1, 1, 1)))
    assert abs(ch07_filters.neighbour_correlation(noise).mean()) < 0.1
    np.testing.assert_allclose(ch07_filters.neighbour_correlation(ramp + 0.01 * noise), 1, atol=0.01)


def test_half_float_rounding_changes_the_weights(no_env_weights):
    # The check is not vacuous: the float16 weights differ from the float32 ones.
    net, _ = load_weights("ch08_deep_convnet")
    w = net.params["W7"]
    assert np.any(w.astype(np.float16).astype(np.float32) != w)
