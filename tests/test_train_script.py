"""Tests for scripts/train.py: defaults, flag errors before loading data, a real run, resume, Ctrl-C."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import signal
import sys
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from scratchnet.network import MultiLayerNet, TwoLayerNet

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "train.py"


@pytest.fixture(scope="module")
def train():
    spec = importlib.util.spec_from_file_location("train_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def mnist_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("mnist-cache")


@pytest.fixture
def mnist_env(mnist_cache, real_mnist):
    """The real MNIST, offline, one cache for the whole module (parsed once)."""
    with real_mnist(mnist_cache):
        yield


@pytest.fixture
def no_data(monkeypatch):
    """Fail the test if the script tries to load any data."""

    class Poisoned:
        def load_mnist(*args, **kwargs):
            raise AssertionError("data was loaded before the flags were checked")

    monkeypatch.setitem(sys.modules, "dataset.mnist", Poisoned)


def test_defaults_are_the_textbook_chapter_4_run(train):
    args = train.parse_args([])
    assert (args.iters, args.epochs, args.batch_size, args.lr) == (10_000, None, 100, 0.1)
    assert (args.optimizer, args.hidden, args.activation) == ("sgd", [50], "sigmoid")
    assert (args.grad, args.dtype, args.dataset, args.seed) == ("numerical", "float64", "mnist", 0)
    net = train.build_network(args, 784, 10)
    assert isinstance(net, TwoLayerNet)
    assert repr(net) == ("TwoLayerNet(input_size=784, hidden_size=50, output_size=10, activation='sigmoid', "
                         "dtype=float64)")
    assert {k: v.shape for k, v in net.params.items()} == {"W1": (784, 50), "b1": (50,), "W2": (50, 10),
                                                           "b2": (10,)}
    # The book's initial weights: Gaussian with standard deviation 0.01.
    assert 0.009 < net.params["W1"].std() < 0.011


def test_flags_choose_the_network_and_optimizer(train):
    args = train.parse_args(["--hidden", "100,100", "--activation", "ReLU", "--optimizer", "Adam",
                             "--dtype", "float32", "--epochs", "3"])
    assert args.lr is None and args.optimizer == "adam" and args.iters is None and args.epochs == 3
    net = train.build_network(args, 784, 10)
    assert isinstance(net, MultiLayerNet) and net.hidden_size_list == [100, 100]
    assert net.params["W1"].dtype == np.float32
    # He initialisation for ReLU, as in chapter 6.
    assert abs(net.params["W1"].std() - np.sqrt(2 / 784)) < 0.005
    same = train.build_network(args, 784, 10)
    assert all(np.array_equal(net.params[k], same.params[k]) for k in net.params)


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--lr", "-0.1"], "argument --lr: expected a positive finite number, got -0.1"),
        (["--lr", "0"], "argument --lr"),
        (["--lr", "nan"], "argument --lr"),
        (["--batch-size", "0"], "argument --batch-size: expected a positive integer, got 0"),
        (["--batch-size", "60001"], "argument --batch-size: expected at most the training set size 60000"),
        (["--optimizer", "adamw"], "argument --optimizer: invalid choice: 'adamw'"),
        (["--epochs", "2", "--iters", "5"], "argument --iters: not allowed with argument --epochs"),
        (["--hidden", "50,0"], "argument --hidden: expected positive widths"),
        (["--hidden", "fifty"], "argument --hidden: expected widths separated by commas"),
        (["--grad", "exact"], "argument --grad: invalid choice"),
        (["--dataset", "cifar10"], "argument --dataset: invalid choice"),
        (["--weight-init", "big"], "argument --weight-init"),
        (["--grad", "check", "--dtype", "float32"], "argument --grad: check compares gradients in float64"),
        (["--resume", "/nonexistent/run"], "argument --resume: cannot resume from /nonexistent/run"),
        (["--seed", "-1"], "argument --seed: expected an integer >= 0, got -1"),
        (["--eval-subset", "70000"], "argument --eval-subset: expected at most the test set size 10000"),
        (["--out", "/proc/scratchnet-run"], "argument --out: cannot write into /proc"),
    ],
)
def test_bad_flags_fail_argparse_style_before_loading_data(train, no_data, capsys, argv, match):
    with pytest.raises(SystemExit) as exc:
        train.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: train.py") and match in err


def test_a_short_real_run_prints_results_and_writes_the_run(train, mnist_env, tmp_path, capsys):
    run = tmp_path / "run"
    code = train.main(["--iters", "60", "--activation", "relu", "--eval-subset", "500", "--out", str(run),
                       "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0
    assert "steps:          60 (0.10 epochs)" in out
    hist = json.loads((run / "history.json").read_text())
    assert f"test accuracy:  {hist['eval'][-1]['test_acc']:.4f}" in out
    assert hist["eval"][-1]["test_acc"] > 0.5
    assert f"run folder:     {run}" in out and f"curves:         {run / 'curves.png'}" in out
    assert "wall time:" in out
    # The learning curve in the terminal, within 80 columns.
    assert f"test accuracy: {hist['eval'][0]['test_acc']:.4f} at step 0 -> " in out
    assert "training loss (mean per column): " in out and "1.00 ┤" in out
    assert max(len(line) for line in out.splitlines() if "┤" in line) <= 80
    assert hist["config"]["script"]["activation"] == "relu" and hist["config"]["script"]["seed"] == 0
    assert hist["config"]["trainer"]["optimizer"] == {"name": "sgd", "lr": 0.1}


def test_resume_through_the_script_is_bit_identical(train, mnist_env, tmp_path, capsys):
    common = ["--batch-size", "2000", "--eval-subset", "300", "--optimizer", "momentum", "--lr", "0.05",
              "--grad", "backprop", "--no-progress"]
    with threadpool_limits(1):
        assert train.main(["--epochs", "2", "--out", str(tmp_path / "a"), *common]) == 0
        assert train.main(["--epochs", "1", "--out", str(tmp_path / "b"), *common]) == 0
        assert train.main(["--resume", str(tmp_path / "b"), "--epochs", "2", "--no-progress"]) == 0
    capsys.readouterr()

    def params(run):
        with np.load(run / "checkpoint.npz", allow_pickle=False) as f:
            return {k: f[k] for k in f.files if k.startswith(("params.", "optimizer."))}

    a, b = params(tmp_path / "a"), params(tmp_path / "b")
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert (tmp_path / "a" / "loss.csv").read_text() == (tmp_path / "b" / "loss.csv").read_text()

    def accuracies(run):
        with open(run / "accuracy.csv", newline="") as f:
            return [(r["step"], r["train_acc"], r["test_acc"]) for r in csv.DictReader(f)]

    assert accuracies(tmp_path / "a") == accuracies(tmp_path / "b")
    assert [s for s, _, _ in accuracies(tmp_path / "b")] == ["0", "30", "60"]


def test_resume_refuses_changed_settings(train, mnist_env, tmp_path, capsys):
    run = tmp_path / "run"
    assert train.main(["--iters", "5", "--batch-size", "2000", "--eval-subset", "100", "--out", str(run),
                       "--grad", "backprop", "--no-progress"]) == 0
    with pytest.raises(SystemExit):
        train.main(["--resume", str(run), "--lr", "0.5", "--iters", "10"])
    assert "--lr (the run used 0.1)" in capsys.readouterr().err


def test_ctrl_c_exits_cleanly_and_the_run_resumes(train, mnist_env, tmp_path, capsys, monkeypatch):
    base = train.Trainer

    class Interrupted(base):
        def __init__(self, *args, **kwargs):
            def press(step, loss):
                if step == 4:
                    os.kill(os.getpid(), signal.SIGINT)

            super().__init__(*args, callback=press, **kwargs)

    run = tmp_path / "run"
    monkeypatch.setattr(train, "Trainer", Interrupted)
    code = train.main(["--iters", "8", "--batch-size", "2000", "--eval-subset", "100", "--out", str(run),
                       "--grad", "backprop", "--no-progress"])
    captured = capsys.readouterr()
    assert code == 130
    assert "stopped by Ctrl-C after step 4" in captured.err
    assert f"resume with  python scripts/train.py --resume {run}" in captured.err
    assert json.loads((run / "checkpoint.json").read_text())["step"] == 4

    monkeypatch.setattr(train, "Trainer", base)
    assert train.main(["--resume", str(run), "--no-progress"]) == 0
    assert "steps:          8 " in capsys.readouterr().out


def test_no_plot_draws_neither_the_png_nor_the_text_plot(train, mnist_env, tmp_path, capsys):
    run = tmp_path / "run"
    assert train.main(["--iters", "3", "--batch-size", "2000", "--eval-subset", "100", "--out", str(run),
                       "--grad", "backprop", "--no-progress", "--no-plot"]) == 0
    out = capsys.readouterr().out
    assert "curves:         not drawn (--no-plot)" in out and "┤" not in out
    assert not (run / "curves.png").exists() and (run / "history.json").is_file()


def _bad_flag(train, argv, capsys):
    with pytest.raises(SystemExit) as exc:
        train.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: train.py") and "Traceback" not in err
    return err.splitlines()[-1]


def test_out_naming_a_file_or_a_read_only_folder(train, no_data, tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    line = _bad_flag(train, ["--out", str(f)], capsys)
    assert line.endswith(f"argument --out: expected a folder, got the existing file {f}")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.access(ro, os.W_OK):  # root ignores the mode: a read-only file system instead
            ro = Path("/proc/self")
        line = _bad_flag(train, ["--out", str(ro / "run")], capsys)
        assert f"argument --out: cannot write into {ro}" in line
    finally:
        (tmp_path / "ro").chmod(0o700)


@pytest.mark.parametrize("damage", ["random", "truncated"])
def test_resume_of_a_damaged_checkpoint(train, no_data, tmp_path, capsys, damage):
    run = tmp_path / "run"
    run.mkdir()
    data = np.random.default_rng(1).bytes(5000)
    if damage == "truncated":
        np.savez(run / "checkpoint.npz", meta=np.array("{}"), x=np.zeros(1000))
        data = (run / "checkpoint.npz").read_bytes()[:600]
    (run / "checkpoint.npz").write_bytes(data)
    line = _bad_flag(train, ["--resume", str(run)], capsys)
    assert f"cannot resume from {run}: {run / 'checkpoint.npz'}: not a valid scratchnet checkpoint" in line
    assert "allow_pickle" not in line


def _tamper(run, change):
    file = run / "checkpoint.npz"
    with np.load(file, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(str(arrays["meta"]))
    change(meta)
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(file, **arrays)


@pytest.fixture
def short_run(train, mnist_env, tmp_path, capsys):
    run = tmp_path / "run"
    assert train.main(["--iters", "2", "--batch-size", "2000", "--eval-subset", "100", "--out", str(run),
                       "--grad", "backprop", "--no-progress", "--no-plot", "--data-dir",
                       str(tmp_path / "cache-of-the-run")]) == 0
    capsys.readouterr()
    return run


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda m: m["config"]["script"].update(dataset="../../etc"), "argument --dataset: invalid choice"),
        (lambda m: m["config"]["script"].update(seed=-3), "argument --seed: expected an integer >= 0"),
        (lambda m: m["config"]["script"].update(lr="1e400"), "argument --lr"),
        (lambda m: m["config"]["script"].update(extra=1), "unexpected settings ['extra']"),
        (lambda m: m.update(step=-5), "step: expected an integer >= 0, got -5"),
        (lambda m: m["rng"].update(state=[1, 2]), "rng: not a valid random generator state"),
    ],
)
def test_a_tampered_checkpoint_is_refused_before_data_is_loaded(train, short_run, capsys, monkeypatch,
                                                                 change, match):
    _tamper(short_run, change)
    monkeypatch.setitem(sys.modules, "dataset.mnist", None)  # loading data would raise ImportError
    line = _bad_flag(train, ["--resume", str(short_run)], capsys)
    assert line.startswith(f"train.py: error: argument --resume: cannot resume from {short_run}")
    assert match in line


def test_resume_takes_the_data_folder_from_the_environment_not_the_checkpoint(train, short_run, tmp_path):
    saved = json.loads((short_run / "checkpoint.json").read_text())["config"]["script"]
    assert saved["data_dir"] == str(tmp_path / "cache-of-the-run")
    args = train.parse_args(["--resume", str(short_run)])
    assert args.data_dir is None  # load_mnist then uses $SCRATCHNET_DATA (or its default)
    assert train.parse_args(["--resume", str(short_run), "--data-dir", "/x"]).data_dir == "/x"
