"""Tests for scratchnet.trainer: the loop, gradient sources, logs, checkpoints, resume, Ctrl-C."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from scratchnet.network import MultiLayerNet, TwoLayerNet
from scratchnet.optimizers import Adam
from scratchnet.trainer import GradientCheckError, Trainer, TrainingDiverged


def make_net(seed=0, dtype=np.float64, cls=TwoLayerNet):
    return cls(8, 10, 3, weight_init_std="xavier", seed=seed, dtype=dtype)


@pytest.fixture(scope="module")
def blobs():
    """Three Gaussian blobs in 8 dimensions: 300 training and 150 test samples."""
    rng = np.random.default_rng(42)
    centers = 2.0 * rng.standard_normal((3, 8))
    t = rng.integers(0, 3, size=450)
    x = centers[t] + rng.standard_normal((450, 8))
    return x[:300], t[:300], x[300:], t[300:]


def trainer(blobs, net=None, **kwargs):
    kwargs.setdefault("progress", False)
    kwargs.setdefault("seed", 1)
    kwargs.setdefault("batch_size", 32)
    return Trainer(net or make_net(), *blobs, **kwargs)


def without_time(history):
    return {"loss": history["loss"],
            "eval": [{k: v for k, v in e.items() if k != "elapsed_s"} for e in history["eval"]]}


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_fit_learns_and_writes_the_run_folder(blobs, tmp_path):
    run = tmp_path / "run"
    tr = trainer(blobs, optimizer="sgd", optimizer_params={"lr": 0.5}, epochs=5, run_dir=run,
                 config={"note": "from the test", "seed_np": np.int64(3)})
    res = tr.fit()
    assert res.status == "finished" and res.step == 50 and res.epoch == 5.0
    assert tr.steps_per_epoch == 10  # ceil(300 / 32)
    assert np.mean(res.history["loss"][-10:]) < 0.5 * np.mean(res.history["loss"][:10])
    assert res.test_acc > 0.9 and res.train_acc > 0.9
    assert res.run_dir == run and res.curves == run / "curves.png"

    losses = read_csv(run / "loss.csv")
    assert [int(r["step"]) for r in losses] == list(range(1, 51))
    assert [float(r["loss"]) for r in losses] == res.history["loss"]
    acc = read_csv(run / "accuracy.csv")
    assert [int(r["step"]) for r in acc] == [0, 10, 20, 30, 40, 50]
    assert float(acc[-1]["test_acc"]) == res.test_acc

    hist = json.loads((run / "history.json").read_text())
    assert hist["status"] == "finished" and hist["seed"] == 1
    assert hist["config"]["trainer"]["optimizer"] == {"name": "sgd", "lr": 0.5}
    assert hist["config"]["trainer"]["batch_size"] == 32 and hist["config"]["note"] == "from the test"
    assert hist["config"]["seed_np"] == 3
    assert hist["versions"]["numpy"] == np.__version__
    assert hist["wall_time_s"] > 0 and hist["loss"] == res.history["loss"]
    assert (run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (run / "checkpoint.npz").is_file() and (run / "checkpoint.json").is_file()
    assert not [p for p in os.listdir(run) if p.endswith(".tmp")]


def test_iters_not_filling_an_epoch_are_evaluated_at_the_end(blobs):
    tr = trainer(blobs, iters=25, save=False)
    res = tr.fit()
    assert [e["step"] for e in res.history["eval"]] == [0, 10, 20, 25]
    assert res.epoch == 2.5 and res.run_dir is None and res.curves is None


def test_loss_comes_from_the_single_forward_of_loss_and_gradient(blobs):
    calls = {"loss": 0, "lag": 0}

    class Counting(TwoLayerNet):
        def loss(self, x, t, train=False):
            calls["loss"] += 1
            return super().loss(x, t, train)

        def loss_and_gradient(self, x, t):
            calls["lag"] += 1
            return super().loss_and_gradient(x, t)

    trainer(blobs, make_net(cls=Counting), iters=7, save=False).fit()
    assert calls == {"loss": 0, "lag": 7}


def test_same_seed_is_bit_identical_and_another_seed_differs(blobs):
    runs = []
    for seed in (5, 5, 6):
        net = make_net(seed=0)
        res = trainer(blobs, net, seed=seed, epochs=2, optimizer_params={"lr": 0.5}, save=False).fit()
        runs.append((net.state_dict(), without_time(res.history)))
    (p1, h1), (p2, h2), (p3, h3) = runs
    assert h1["eval"][-1]["train_acc"] > 0.5
    assert h1 == h2 and all(np.array_equal(p1[k], p2[k]) for k in p1)
    assert h1["loss"] != h3["loss"]


def test_random_sampling_draws_with_replacement_and_shuffle_visits_each_sample_once(blobs):
    x, t, xt, tt = blobs
    ids = np.arange(len(x), dtype=np.float64)
    seen = []

    class Spy(TwoLayerNet):
        def loss_and_gradient(self, xb, tb):
            seen.append(xb[:, 0].astype(int).copy())
            return super().loss_and_gradient(xb, tb)

    xs = np.column_stack([ids, x])  # column 0 names the sample
    for sampling in ("random", "shuffle"):
        seen.clear()
        Trainer(Spy(9, 4, 3, seed=0), xs, t, np.column_stack([np.zeros(len(xt)), xt]), tt,
                batch_size=32, epochs=2, sampling=sampling, seed=0, save=False, progress=False).fit()
        assert len(seen) == 20
        first, second = np.concatenate(seen[:10]), np.concatenate(seen[10:])
        if sampling == "shuffle":
            assert [len(b) for b in seen[:10]] == [32] * 9 + [12]
            assert np.array_equal(np.sort(first), np.arange(300))
            assert np.array_equal(np.sort(second), np.arange(300))
            assert not np.array_equal(first, second)
        else:
            assert all(len(b) == 32 for b in seen)
            assert len(np.unique(first)) < first.size  # duplicates: drawn with replacement


@pytest.mark.parametrize("sampling", ["random", "shuffle"])
def test_resume_gives_bit_identical_parameters_and_logs(blobs, tmp_path, sampling):
    opts = dict(optimizer="adam", optimizer_params={"lr": 0.01}, sampling=sampling, seed=7, eval_subset=100)
    with threadpool_limits(1):
        straight_net = make_net(seed=3)
        straight = trainer(blobs, straight_net, epochs=2, run_dir=tmp_path / "a", **opts).fit()

        trainer(blobs, make_net(seed=3), epochs=1, run_dir=tmp_path / "b", **opts).fit()
        resumed_net = make_net(seed=99)  # other weights: the checkpoint must overwrite them
        tr = trainer(blobs, resumed_net, epochs=2, **{**opts, "seed": 12345})
        assert tr.load_checkpoint(tmp_path / "b") == 10
        resumed = tr.fit()

    for k in straight_net.params:
        assert np.array_equal(straight_net.params[k], resumed_net.params[k]), k
    assert without_time(resumed.history) == without_time(straight.history)
    a, b = read_csv(tmp_path / "a" / "loss.csv"), read_csv(tmp_path / "b" / "loss.csv")
    assert a == b
    hist = json.loads((tmp_path / "b" / "history.json").read_text())
    assert hist["seed"] == 7 and hist["config"]["trainer"]["iters"] == 20


def test_ctrl_c_saves_a_checkpoint_mid_epoch_and_resume_matches(blobs, tmp_path):
    opts = dict(optimizer="momentum", optimizer_params={"lr": 0.1}, sampling="shuffle", seed=2)
    with threadpool_limits(1):
        straight_net = make_net()
        straight = trainer(blobs, straight_net, epochs=2, save=False, **opts).fit()

        def press_ctrl_c(step, loss):
            if step == 13:
                os.kill(os.getpid(), signal.SIGINT)

        before = signal.getsignal(signal.SIGINT)
        res = trainer(blobs, make_net(), epochs=2, run_dir=tmp_path, callback=press_ctrl_c, **opts).fit()
        assert signal.getsignal(signal.SIGINT) is before, "the previous SIGINT handler must be restored"
        assert res.status == "interrupted" and res.step == 13
        meta = json.loads((tmp_path / "checkpoint.json").read_text())
        assert meta["step"] == 13
        assert json.loads((tmp_path / "history.json").read_text())["status"] == "interrupted"

        net = make_net()
        tr = trainer(blobs, net, epochs=2, **opts)
        tr.load_checkpoint(tmp_path)
        resumed = tr.fit()
    assert resumed.status == "finished" and without_time(resumed.history) == without_time(straight.history)
    for k in net.params:
        assert np.array_equal(net.params[k], straight_net.params[k])


def test_nan_loss_stops_before_the_bad_update(blobs, tmp_path):
    snapshots = {}

    class Exploding(TwoLayerNet):
        calls = 0

        def loss_and_gradient(self, x, t):
            Exploding.calls += 1
            loss, grads = super().loss_and_gradient(x, t)
            return (float("nan") if Exploding.calls == 5 else loss), grads

    net = make_net(cls=Exploding)

    def remember(step, loss):
        snapshots[step] = net.state_dict()

    tr = trainer(blobs, net, epochs=3, run_dir=tmp_path, callback=remember)
    with pytest.raises(TrainingDiverged, match=r"step 5: the loss is nan; .*after step 4"):
        tr.fit()
    assert tr.step == 4
    for k in net.params:
        assert np.array_equal(net.params[k], snapshots[4][k])
    assert json.loads((tmp_path / "history.json").read_text())["status"] == "failed"
    assert len(read_csv(tmp_path / "loss.csv")) == 4


def test_numerical_gradient_training_follows_backprop(blobs):
    nets = {}
    for grad in ("backprop", "numerical"):
        nets[grad] = make_net(seed=4)
        res = trainer(blobs, nets[grad], grad=grad, optimizer_params={"lr": 0.5}, iters=5, save=False).fit()
        nets[grad + "_loss"] = res.history["loss"]
    for k in nets["backprop"].params:
        np.testing.assert_allclose(nets["numerical"].params[k], nets["backprop"].params[k], rtol=0, atol=1e-8)
    np.testing.assert_allclose(nets["numerical_loss"], nets["backprop_loss"], rtol=1e-8)


def test_gradient_check_passes_on_a_right_backward_and_fails_loudly_on_a_wrong_one(blobs):
    tr = trainer(blobs, grad="check", check_every=3, iters=7, save=False)
    tr.fit()
    assert set(tr.last_check) == {"W1", "b1", "W2", "b2"} and tr.last_check.max_rel_error < 1e-8
    assert tr.last_check.title.startswith("step 7, ")

    class Broken(TwoLayerNet):
        def loss_and_gradient(self, x, t):
            loss, grads = super().loss_and_gradient(x, t)
            grads["W2"] = grads["W2"] * 1.01
            return loss, grads

    tr = trainer(blobs, make_net(cls=Broken), grad="check", check_every=3, iters=7, save=False)
    msg = r"step 1: gradient check failed for W2 \(rel error 0\.00498 > 1e-06\)"
    with pytest.raises(GradientCheckError, match=msg):
        tr.fit()
    assert tr.step == 0


def test_gradient_check_passes_a_bias_before_batch_norm(blobs):
    # The true gradient of b1 is 0 (batch norm subtracts the mean): the numerical side is noise.
    net = MultiLayerNet(8, [12, 12], 3, use_batchnorm=True, use_dropout=True, dropout_ratio=0.2, seed=0)
    tr = trainer(blobs, net, grad="check", check_every=1, iters=3, save=False)
    tr.fit()
    assert tr.last_check["b1"].rel_error > 0.5 and tr.last_check["b1"].max_abs_diff < 1e-8
    assert tr.last_check["W1"].rel_error < 1e-7


def test_gradient_check_refuses_float32(blobs):
    with pytest.raises(ValueError, match="a gradient check needs float64 parameters"):
        trainer(blobs, make_net(dtype=np.float32), grad="check")


def test_eval_subset_is_fixed_and_used(blobs):
    tr = trainer(blobs, eval_subset=50, epochs=2, save=False)
    res = tr.fit()
    assert tr._train_eval_idx.size == 50 and tr._test_eval_idx.size == 50
    for e in res.history["eval"]:
        assert (e["test_acc"] * 50) == round(e["test_acc"] * 50)


def test_user_gradient_callable_and_optimizer_instance(blobs):
    calls = []

    def grad_fn(net, x, t):
        calls.append(len(x))
        return net.loss_and_gradient(x, t)

    opt = Adam(lr=0.01)
    tr = trainer(blobs, optimizer=opt, grad=grad_fn, iters=3, save=False)
    tr.fit()
    assert calls == [32, 32, 32] and opt.t == 3 and tr.config["trainer"]["grad"].endswith("grad_fn")


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"batch_size": 0}, ValueError, "batch_size: expected a positive integer, got 0"),
        ({"batch_size": 301}, ValueError, "batch_size: expected at most the training set size 300, got 301"),
        ({"epochs": 1, "iters": 5}, ValueError, "epochs, iters: give one of them"),
        ({"epochs": -1}, ValueError, "epochs: expected a positive integer"),
        ({"iters": 2.5}, ValueError, "iters: expected a positive integer"),
        ({"sampling": "cyclic"}, ValueError, "sampling: expected 'random' or 'shuffle', got 'cyclic'"),
        ({"grad": "exact"}, ValueError, r"grad: expected one of \['backprop', 'check', 'numerical'\]"),
        ({"optimizer": "adamw"}, ValueError, "unknown name 'adamw'; known: adagrad, adam"),
        ({"optimizer": Adam(), "optimizer_params": {"lr": 1}}, ValueError, "optimizer_params: only for"),
        ({"optimizer_params": {"lr": -1}}, ValueError, "lr: expected a finite number"),
        ({"seed": -3}, ValueError, "seed: expected a non-negative integer"),
        ({"eval_subset": 0}, ValueError, "eval_subset"),
        ({"callback": 3}, TypeError, "callback: expected a callable"),
    ],
)
def test_bad_arguments(blobs, kwargs, error, match):
    with pytest.raises(error, match=match):
        trainer(blobs, **kwargs)


def test_bad_data_and_network(blobs):
    x, t, xt, tt = blobs
    msg = r"t_train: expected 300 labels \(one per row of x_train\), got shape \(299,\)"
    with pytest.raises(ValueError, match=msg):
        Trainer(make_net(), x, t[:-1], xt, tt)
    with pytest.raises(ValueError, match=r"x_test: expected a non-empty batch"):
        Trainer(make_net(), x, t, xt[:0], tt[:0])
    with pytest.raises(TypeError, match=r"network: expected an object with .params"):
        Trainer(object(), x, t, xt, tt)


def test_a_folder_holding_a_run_is_not_overwritten(blobs, tmp_path):
    trainer(blobs, iters=3, run_dir=tmp_path).fit()
    with pytest.raises(ValueError, match="already holds a run"):
        trainer(blobs, iters=3, run_dir=tmp_path).fit()


def test_resume_refuses_a_different_setup(blobs, tmp_path):
    trainer(blobs, iters=10, run_dir=tmp_path).fit()
    with pytest.raises(ValueError, match="saved with batch_size=32; this trainer has batch_size=16"):
        trainer(blobs, iters=30, batch_size=16).load_checkpoint(tmp_path)
    with pytest.raises(ValueError, match="at step 10, beyond this trainer's 5 steps"):
        trainer(blobs, iters=5).load_checkpoint(tmp_path)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        trainer(blobs, iters=5).load_checkpoint(tmp_path / "nowhere")


def test_a_failed_checkpoint_write_keeps_the_previous_file(blobs, tmp_path, monkeypatch):
    tr = trainer(blobs, iters=10, run_dir=tmp_path)
    tr.fit()
    good = (tmp_path / "checkpoint.npz").read_bytes()

    def broken_savez(f, **arrays):
        f.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        tr._save_checkpoint(1.0)
    assert (tmp_path / "checkpoint.npz").read_bytes() == good
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_runs_without_matplotlib_and_tqdm(blobs, tmp_path, monkeypatch, capsys):
    for mod in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg", "tqdm", "tqdm.auto"):
        monkeypatch.setitem(sys.modules, mod, None)  # makes `import mod` raise ImportError
    res = trainer(blobs, epochs=1, run_dir=tmp_path, progress=True).fit()
    err = capsys.readouterr().err
    assert res.status == "finished" and res.curves is None and not (tmp_path / "curves.png").exists()
    assert "pip install -e '.[plot]'" in err
    assert "step 10 (epoch 1.00): train acc" in err  # the fallback progress lines


def test_progress_bar_goes_to_stderr(blobs, capsys):
    trainer(blobs, iters=12, save=False, progress=True).fit()
    out, err = capsys.readouterr()
    assert out == "" and "12/12" in err


def test_scratchnet_imports_with_numpy_alone():
    code = ("import sys\n"
            "for m in ('tqdm', 'matplotlib', 'threadpoolctl', 'requests', 'dataset'):\n"
            "    sys.modules[m] = None\n"
            "import scratchnet.trainer, scratchnet.optimizers\n"
            "print(sorted(scratchnet.trainer.library_versions()))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "numpy" in out and "blas" not in out


def test_resume_restores_dropout_masks_and_batchnorm_statistics(blobs, tmp_path):
    def net():
        return MultiLayerNet(8, [12, 12], 3, use_dropout=True, dropout_ratio=0.2, use_batchnorm=True, seed=5)

    opts = dict(optimizer="adam", optimizer_params={"lr": 0.01}, seed=8)
    with threadpool_limits(1):
        straight_net = net()
        straight = trainer(blobs, straight_net, epochs=2, save=False, **opts).fit()
        trainer(blobs, net(), epochs=1, run_dir=tmp_path, **opts).fit()
        resumed_net = net()
        resumed_net.layers["Dropout1"].rng.random(10)  # another dropout stream: the checkpoint must reset it
        tr = trainer(blobs, resumed_net, epochs=2, **opts)
        tr.load_checkpoint(tmp_path)
        resumed = tr.fit()
    assert without_time(resumed.history) == without_time(straight.history)
    a, b = straight_net.state_dict(), resumed_net.state_dict()
    assert set(a) > set(straight_net.params)  # batch-norm running statistics are in the state too
    for k in a:
        assert np.array_equal(a[k], b[k]), k


def test_resume_restores_dropout_masks_drawn_from_np_random(blobs, tmp_path):
    """A network built with no seed draws its masks from np.random: the checkpoint keeps that state too."""
    def net():
        np.random.seed(3)
        return MultiLayerNet(8, [12], 3, use_dropout=True, dropout_ratio=0.3)

    opts = dict(optimizer="sgd", optimizer_params={"lr": 0.1}, seed=8)
    with threadpool_limits(1):
        straight_net = net()
        straight = trainer(blobs, straight_net, epochs=2, save=False, **opts).fit()
        trainer(blobs, net(), epochs=1, run_dir=tmp_path, **opts).fit()
        resumed_net = net()
        np.random.seed(99)  # another global stream: the checkpoint must put back the saved one
        tr = trainer(blobs, resumed_net, epochs=2, **opts)
        tr.load_checkpoint(tmp_path)
        resumed = tr.fit()
    assert without_time(resumed.history) == without_time(straight.history)
    for k, v in straight_net.params.items():
        assert np.array_equal(v, resumed_net.params[k]), k


@pytest.fixture(scope="module")
def mnist(tmp_path_factory, real_mnist):
    from dataset.mnist import load_mnist

    with real_mnist(tmp_path_factory.mktemp("mnist-cache")):
        return load_mnist(progress=False)


def test_learns_real_mnist_in_a_few_hundred_steps(mnist):
    (x, t), (xt, tt) = mnist
    net = TwoLayerNet(784, 50, 10, activation="relu", seed=0)
    res = Trainer(net, x, t, xt, tt, optimizer="sgd", optimizer_params={"lr": 0.1}, iters=300,
                  batch_size=100, eval_subset=2000, seed=0, save=False, progress=False).fit()
    loss = res.history["loss"]
    first = res.history["eval"][0]
    assert first["test_acc"] < 0.3  # an untrained net is near chance (0.1)
    assert np.mean(loss[-30:]) < 0.5 * np.mean(loss[:30])
    assert res.test_acc > 0.8 and res.train_acc > 0.8


def test_a_float32_network_stays_float32(blobs):
    net = make_net(dtype=np.float32)
    opt = Adam(lr=0.01)
    res = trainer(blobs, net, optimizer=opt, epochs=3, save=False).fit()
    assert all(p.dtype == np.float32 for p in net.params.values())
    assert all(a.dtype == np.float32 for slot in opt.state.values() for a in slot.values())
    assert res.train_acc > 0.9


def test_gradient_check_of_a_relu_net_on_real_mnist_is_not_fooled_by_the_kink(mnist):
    # With the textbook's h = 1e-4 some of the 5000 pre-activations of a batch lie within h of
    # ReLU's kink and the check would fail a correct backward; the check's default h = 1e-6 does not.
    (x, t), (xt, tt) = mnist
    net = TwoLayerNet(784, 50, 10, activation="relu", seed=0)
    tr = Trainer(net, x, t, xt, tt, grad="check", check_every=1, iters=2, eval_subset=100, seed=0,
                 save=False, progress=False)
    tr.fit()
    assert tr.last_check.max_rel_error < 1e-8
    coarse = Trainer(TwoLayerNet(784, 50, 10, activation="relu", seed=0), x, t, xt, tt, grad="check",
                     check_h=1e-4, iters=1, eval_subset=100, seed=0, save=False, progress=False)
    with pytest.raises(GradientCheckError, match="step 1: gradient check failed"):
        coarse.fit()
