"""A checkpoint is data, never authority; bad run folders; the last good checkpoint after a NaN loss."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest

from scratchnet import util
from scratchnet.checkpoint import read_checkpoint_meta
from scratchnet.network import MultiLayerNet, TwoLayerNet
from scratchnet.trainer import Trainer, TrainingDiverged


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(5)
    centers = 2.0 * rng.standard_normal((3, 8))
    t = rng.integers(0, 3, size=450)
    x = centers[t] + rng.standard_normal((450, 8))
    return x[:300], t[:300], x[300:], t[300:]


def make(blobs, net=None, **kw):
    kw = {"progress": False, "seed": 1, "batch_size": 32, "plot": False, **kw}
    return Trainer(net or TwoLayerNet(8, 10, 3, seed=0), *blobs, **kw)


@pytest.fixture
def run(blobs, tmp_path):
    """A finished 10-step run folder."""
    make(blobs, iters=10, run_dir=tmp_path / "run", sampling="shuffle", eval_subset=40).fit()
    return tmp_path / "run"


def rewrite(run, change):
    """Rewrite run/checkpoint.npz with change(meta, arrays) applied."""
    file = run / "checkpoint.npz"
    with np.load(file, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(str(arrays["meta"]))
    change(meta, arrays)
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(file, **arrays)


def test_run_dir_naming_an_existing_file_is_refused_at_once(blobs, tmp_path):
    f = tmp_path / "a-file"
    f.write_text("mine")
    with pytest.raises(ValueError, match=f"run_dir: expected a folder, got the existing file {f}"):
        make(blobs, run_dir=f)
    assert f.read_text() == "mine"


def test_eval_subset_larger_than_the_data_is_refused(blobs):
    with pytest.raises(ValueError, match=r"eval_subset: expected at most .* test set size 150, got 151"):
        make(blobs, eval_subset=151)
    state = np.random.get_state()[1].copy()
    with pytest.raises(ValueError, match="eval_subset"):
        make(blobs, eval_subset=400, seed=None)
    assert np.array_equal(np.random.get_state()[1], state)  # refused before any draw


@pytest.mark.parametrize("damage", ["random", "truncated", "one byte", "npy"])
def test_a_corrupt_checkpoint_is_a_value_error_naming_the_file(run, damage):
    file = run / "checkpoint.npz"
    data = file.read_bytes()
    if damage == "random":
        file.write_bytes(np.random.default_rng(0).bytes(4000))
    elif damage == "truncated":
        file.write_bytes(data[: len(data) // 2])
    elif damage == "one byte":
        i = data.index(b"history.loss") + 200  # inside the stored loss array
        file.write_bytes(data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1:])
    else:
        np.save(file.with_suffix(""), np.zeros(3))
        os.replace(file.with_suffix(".npy"), file)
    with pytest.raises(ValueError, match=f"{file}: not a valid scratchnet checkpoint file") as e:
        read_checkpoint_meta(run)
    assert "allow_pickle" not in str(e.value)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda m, a: m.update(step=-5), r"step: expected an integer >= 0, got -5"),
        (lambda m, a: m.update(step=True), r"step: expected an integer >= 0"),
        (lambda m, a: m["rng"]["state"].update(state="x"), r"rng: not a valid random generator state"),
        (lambda m, a: m.update(rng={"bit_generator": "MT19937x"}), r"rng: not a valid random generator"),
        (lambda m, a: m.update(elapsed_s=float("nan")), r"elapsed_s: expected a finite number"),
        (lambda m, a: m.update(evals=[{"step": 1}]), r"evals: expected a list of evaluations"),
        (lambda m, a: a.update({"history.loss": np.zeros(3)}), r"history.loss: expected 10 float losses"),
        (lambda m, a: m.update(config=[]), r"config: expected a mapping"),
        (lambda m, a: a.update({"params.W1": np.full_like(a["params.W1"], np.nan)}),
         r"expected finite values, got NaN or inf in \['params.W1'\]"),
        (lambda m, a: a.update({"optimizer.lr": np.array(np.inf)}),
         r"expected finite values, got NaN or inf in \['optimizer.lr'\]"),
    ],
)
def test_every_checkpoint_field_is_checked(run, change, match):
    rewrite(run, change)
    with pytest.raises(ValueError, match=match):
        read_checkpoint_meta(run)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda m, a: a.update({"sampler.perm": np.zeros(300, dtype=np.int64)}), "sampler.perm: expected a"),
        (lambda m, a: a.update({"eval.test_idx": np.arange(40) + 500}), r"eval.test_idx: expected 40 ind"),
        (lambda m, a: m["config"]["trainer"].update(seed=-2), r"config.trainer.seed: expected an integer"),
        (lambda m, a: m["config"]["trainer"].pop("train_size"), r"config.trainer lacks \['train_size'\]"),
    ],
)
def test_a_checkpoint_that_does_not_fit_is_refused_before_anything_is_restored(blobs, run, change, match):
    rewrite(run, change)
    net = TwoLayerNet(8, 10, 3, seed=9)
    before = net.state_dict()
    tr = make(blobs, net, iters=20, sampling="shuffle", eval_subset=40)
    with pytest.raises(ValueError, match=match):
        tr.load_checkpoint(run)
    assert tr.step == 0 and all(np.array_equal(before[k], v) for k, v in net.state_dict().items())


def test_the_last_good_checkpoint_after_a_nan_sample_holds_good_batchnorm_statistics(blobs, tmp_path):
    x, t, xt, tt = blobs
    x = x.copy()
    x[7] = np.nan  # one poisoned sample: the step that draws it gives a NaN loss

    def net():
        return MultiLayerNet(8, [12, 12], 3, use_batchnorm=True, seed=0)

    tr = Trainer(net(), x, t, xt, tt, batch_size=32, epochs=3, seed=3, run_dir=tmp_path, progress=False,
                 plot=False)
    with pytest.raises(TrainingDiverged, match=r"parameters and buffers are those after step \d+"):
        tr.fit()
    assert tr.step >= 1
    restored = net()
    with np.load(tmp_path / "checkpoint.npz", allow_pickle=False) as f:
        state = {k[len("params."):]: f[k] for k in f.files if k.startswith("params.")}
    assert any(k.startswith("running_mean") for k in state)
    assert all(np.isfinite(v).all() for v in state.values())
    restored.load_state_dict(state)
    assert np.isfinite(restored.predict(xt)).all()
    assert np.isfinite(tr.network.predict(xt)).all()  # the trainer's own network too


def test_orphan_temporary_files_are_cleaned_when_old(tmp_path):
    old = tmp_path / ".checkpoint.npz.abc123.tmp"
    young = tmp_path / ".checkpoint.npz.def456.tmp"
    other = tmp_path / ".notes.tmp"
    for p in (old, young, other):
        p.write_bytes(b"half")
    past = time.time() - 2 * util.ORPHAN_AGE_S
    os.utime(old, (past, past))
    os.utime(other, (past, past))
    util.atomic_write(tmp_path / "checkpoint.npz", lambda f: f.write(b"whole"), binary=True)
    assert (tmp_path / "checkpoint.npz").read_bytes() == b"whole"
    assert not old.exists() and young.exists() and other.exists()


def test_ctrl_c_while_the_final_logs_are_written_waits_for_them(blobs, tmp_path, monkeypatch):
    import signal

    import scratchnet.trainer as trainer_module

    real = trainer_module.plot_history

    def slow_plot(history, path):
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C in the middle of the final writes
        return real(history, path)

    monkeypatch.setattr(trainer_module, "plot_history", slow_plot)
    res = make(blobs, iters=5, run_dir=tmp_path, plot=True).fit()
    assert res.status == "interrupted" and res.step == 5
    hist = json.loads((tmp_path / "history.json").read_text())
    assert hist["step"] == 5 and len(hist["loss"]) == 5
