"""Tests for SimpleConvNet and DeepConvNet (chapters 7 and 8), their training, and train.py --network."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from scratchnet import (
    Convolution,
    DeepConvNet,
    Dropout,
    Pooling,
    SimpleConvNet,
    Trainer,
    get_optimizer,
    gradient_check,
)
from scratchnet.optimizers import OPTIMIZERS

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "train.py"


def small_simple(**kw):
    """The book's chapter 7 gradient-check network: 10x10 input, ten 3x3 filters, hidden 10."""
    conv = {"filter_num": 10, "filter_size": 3, "pad": 0, "stride": 1}
    return SimpleConvNet(input_dim=(1, 10, 10), conv_param=conv, hidden_size=10, output_size=10,
                         weight_init_std=0.1, **kw)


def small_deep(**kw):
    """DeepConvNet's layout with four filters per convolution, on 12x12 images."""
    convs = {f"conv_param_{i}": {"filter_num": 4, "filter_size": 3, "pad": 2 if i == 4 else 1, "stride": 1}
             for i in range(1, 7)}
    return DeepConvNet(input_dim=(1, 12, 12), hidden_size=8, output_size=10, **convs, **kw)


def batch(shape, n=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, *shape)), rng.integers(0, 10, size=n)


def test_simple_convnet_has_the_books_parameters():
    net = SimpleConvNet(seed=0)
    shapes = {k: v.shape for k, v in net.params.items()}
    assert shapes == {"W1": (30, 1, 5, 5), "b1": (30,), "W2": (4320, 100), "b2": (100,),
                      "W3": (100, 10), "b3": (10,)}
    assert [type(layer).__name__ for layer in net.layer_list] == [
        "Convolution", "Relu", "Pooling", "Affine", "Relu", "Affine", "SoftmaxWithLoss"]
    assert 0.009 < net.params["W2"].std() < 0.011 and not net.params["b1"].any()


def test_deep_convnet_has_the_books_architecture_and_he_initialisation():
    net = DeepConvNet(seed=0)
    convs = [layer for layer in net.layer_list if isinstance(layer, Convolution)]
    assert [c.W.shape[0] for c in convs] == [16, 16, 32, 32, 64, 64]
    assert [c.pad for c in convs] == [1, 1, 1, 2, 1, 1] and all(c.W.shape[2:] == (3, 3) for c in convs)
    kinds = [type(layer).__name__ for layer in net.layer_list]
    assert kinds.count("Pooling") == 3
    assert kinds[-6:] == ["Affine", "Relu", "Dropout", "Affine", "Dropout", "SoftmaxWithLoss"]
    assert all(not d.inverted and d.dropout_ratio == 0.5 for d in net.layer_list if isinstance(d, Dropout))
    assert list(net.params) == [f"{k}{i}" for i in range(1, 9) for k in "Wb"]
    assert net.params["W7"].shape == (64 * 4 * 4, 50) and net.params["W8"].shape == (50, 10)
    for name, fan_in in (("W6", 64 * 9), ("W7", 1024)):
        assert abs(net.params[name].std() / np.sqrt(2 / fan_in) - 1) < 0.05


@pytest.mark.parametrize("make", [small_simple, small_deep], ids=["simple", "deep"])
def test_backprop_matches_the_numerical_gradient_on_small_shapes(make):
    net = make(seed=1)
    # Biases away from 0: with zero biases, outputs that see only zero padding sit on ReLU's kink.
    rng = np.random.default_rng(4)
    for name, p in net.params.items():
        if name.startswith("b"):
            p += 0.1 * rng.standard_normal(p.shape)
    x, t = batch(net.input_dim)
    # h = 1e-5: with 1e-4 a pool maximum or a ReLU input now and then changes within the step.
    gradient_check(net, x, t, h=1e-5).assert_close(rel_tol=1e-6, abs_tol=1e-9)


@pytest.mark.slow
def test_simple_convnet_gradient_check_on_three_real_mnist_images_at_full_size(tmp_path, real_mnist):
    """The check the book's chapter 7 shrinks to 10x10: here all 430 000 parameters at 1x28x28."""
    with real_mnist(tmp_path):
        from dataset.mnist import load_mnist

        (x, t), _ = load_mnist(flatten=False)
    net = SimpleConvNet(seed=0)
    # MNIST's background is exactly 0, so with zero biases every background pixel of a filter's
    # output sits on ReLU's kink and pool windows hold exact ties: no derivative to check there.
    # Negative conv biases keep the background below the kink, and h = 1e-6 keeps the stroke
    # pixels near 0 from crossing it within the step (at 1e-4, W1 and b1 differ by 2e-2).
    rng = np.random.default_rng(4)
    net.params["b1"][...] = -0.02 - 0.02 * rng.random(30)
    for name in ("b2", "b3"):
        net.params[name] += 0.1 * rng.standard_normal(net.params[name].shape)
    gradient_check(net, x[:3], t[:3], h=1e-6).assert_close(rel_tol=1e-5)


@pytest.mark.parametrize("make", [small_simple, small_deep], ids=["simple", "deep"])
def test_seeded_float32_nets_are_the_rounded_float64_nets_and_reproducible(make):
    a, b, c = make(seed=3), make(seed=3), make(seed=3, dtype=np.float32)
    x, t = batch(a.input_dim, n=4)
    for name, p in a.params.items():
        np.testing.assert_array_equal(p, b.params[name])
        assert c.params[name].dtype == np.float32
        np.testing.assert_array_equal(c.params[name], p.astype(np.float32))
    ga, gb = a.gradient(x, t), b.gradient(x, t)
    assert all(np.array_equal(ga[k], gb[k]) for k in ga)
    _, g32 = c.loss_and_gradient(x, t)
    assert all(g.dtype == np.float32 for g in g32.values())
    assert abs(c.loss(x, t) - a.loss(x, t)) < 1e-4  # inference: no dropout masks drawn


@pytest.mark.parametrize("make", [small_simple, small_deep], ids=["simple", "deep"])
def test_save_and_load_round_trip_strictly(make, tmp_path):
    net, other = make(seed=0), make(seed=5)
    x, _ = batch(net.input_dim)
    net.save(tmp_path / "net.npz")
    other.load(tmp_path / "net.npz")
    np.testing.assert_array_equal(other.predict(x), net.predict(x))
    with pytest.raises(ValueError, match="missing keys"):
        other.load_state_dict({"W1": net.params["W1"]})


def test_predict_in_chunks_equals_one_pass():
    net = small_simple(seed=0)
    x, _ = batch(net.input_dim, n=7)
    whole = net.predict(x)
    net.predict_chunk = 3
    np.testing.assert_allclose(net.predict(x), whole, rtol=1e-12)


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_every_optimizer_trains_both_nets_through_the_trainer(optimizer):
    for make in (small_simple, small_deep):
        net = make(seed=0, dtype=np.float32)
        x, t = batch(net.input_dim, n=20, seed=2)
        before = {k: p.copy() for k, p in net.params.items()}
        opt = get_optimizer(optimizer, lr=0.01)
        Trainer(net, x, t, x, t, optimizer=opt, iters=3, batch_size=10, save=False, progress=False,
                seed=0).fit()
        assert all(np.isfinite(p).all() for p in net.params.values())
        assert any(not np.array_equal(before[k], p) for k, p in net.params.items())


def test_bad_constructor_arguments_are_named():
    with pytest.raises(ValueError, match=r"conv_param: expected a dict with keys"):
        SimpleConvNet(conv_param={"filter_num": 3})
    with pytest.raises(ValueError, match=r"conv_param\['stride'\]: expected an integer >= 1, got 0"):
        SimpleConvNet(conv_param={"filter_num": 3, "filter_size": 3, "pad": 0, "stride": 0})
    with pytest.raises(ValueError, match=r"input_dim: expected \(C, H, W\)"):
        SimpleConvNet(input_dim=(28, 28))
    with pytest.raises(ValueError, match="not divisible by stride 2"):
        SimpleConvNet(input_dim=(1, 27, 27))  # 23x23 after the filter: the 2x2 pool does not tile
    with pytest.raises(ValueError, match=r"x: expected 1 channels"):
        SimpleConvNet(seed=0).predict(np.zeros((2, 3, 28, 28)))


def test_short_training_on_real_mnist_learns(tmp_path, real_mnist):
    """150 float32 Adam steps of the chapter 7 net: well above chance on held-out digits."""
    with real_mnist(tmp_path):
        from dataset.mnist import load_mnist

        (x, t), (xt, tt) = load_mnist(flatten=False)
    net = SimpleConvNet(seed=0, dtype=np.float32)
    trainer = Trainer(net, x[:6000], t[:6000], xt[:1000], tt[:1000], optimizer="adam",
                      optimizer_params={"lr": 0.001}, iters=150, eval_subset=500, save=False, progress=False,
                      seed=0)
    result = trainer.fit()
    assert result.test_acc >= 0.85  # chance is 0.1; the book's 3 full epochs give 0.98


@pytest.fixture(scope="module")
def train():
    spec = importlib.util.spec_from_file_location("train_script_conv", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_train_script_network_flag(train, tmp_path, capsys, real_mnist):
    args = train.parse_args(["--network", "simpleconvnet"])
    assert (args.grad, args.dtype) == ("backprop", "float32")
    assert isinstance(train.build_network(args, 784, 10), SimpleConvNet)
    deep = train.parse_args(["--network", "deepconvnet", "--grad", "check"])
    assert deep.dtype == "float64" and isinstance(train.build_network(deep, 784, 10), DeepConvNet)
    assert train.parse_args([]).grad == "numerical"  # the default stays chapter 4's MLP
    with real_mnist(tmp_path / "cache"):
        code = train.main(["--network", "simpleconvnet", "--optimizer", "adam", "--lr", "0.001",
                           "--iters", "5", "--eval-subset", "200", "--no-progress",
                           "--out", str(tmp_path / "run")])
    assert code == 0
    assert "SimpleConvNet" in capsys.readouterr().out


def test_pooling_and_convolution_are_exported():
    assert Pooling(2, 2).stride == 1  # the book's default (its networks pass stride=2)
