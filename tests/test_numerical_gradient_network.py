"""A network's numerical_gradient: fast, general and naive paths compute the same central differences."""

import numpy as np
import pytest

from scratchnet.gradient import _fast_head_start
from scratchnet.layers import Affine, BatchNormalization, Relu, Sigmoid, SoftmaxWithLoss
from scratchnet.network import MultiLayerNet, Sequential, TwoLayerNet, network_spec


def fast_start(net):
    """Index of the first layer the fast path takes (0: the whole network), or None."""
    return _fast_head_start(network_spec(net))


def batch(n, d, c, seed=0, zeros=0.5):
    rng = np.random.default_rng(seed)
    x = rng.random((n, d))
    x[rng.random(x.shape) < zeros] = 0.0
    return x, rng.integers(0, c, size=n)


def max_diff(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float(np.max(np.abs(a[k].astype(np.float64) - b[k]))) for k in a)


NETS = {
    "two-layer sigmoid": lambda dt, form: TwoLayerNet(
        12, 6, 4, weight_init_std=0.5, seed=1, dtype=dt, loss_form=form
    ),
    "two-layer relu": lambda dt, form: TwoLayerNet(
        12, 6, 4, weight_init_std=0.5, activation="relu", seed=2, dtype=dt, loss_form=form
    ),
    "three hidden, decay": lambda dt, form: MultiLayerNet(
        12, [6, 5, 4], 4, weight_decay_lambda=0.1, seed=3, dtype=dt, loss_form=form
    ),
    "sigmoid, xavier": lambda dt, form: MultiLayerNet(
        12, [7, 5], 4, activation="sigmoid", weight_init_std="xavier", seed=4, dtype=dt, loss_form=form
    ),
}


@pytest.mark.parametrize("form", ["fused", "textbook"])
@pytest.mark.parametrize("name", list(NETS))
def test_fast_path_agrees_with_the_textbook_loop(name, form):
    net = NETS[name](np.float64, form)
    assert fast_start(net) == 0
    x, t = batch(7, 12, 4)
    fast = net.numerical_gradient(x, t)
    naive = net.numerical_gradient(x, t, method="naive")
    assert max_diff(fast, naive) <= 1e-8
    assert all(fast[k].dtype == np.float64 and fast[k].shape == p.shape for k, p in net.params.items())


@pytest.mark.parametrize("name", list(NETS))
def test_fast_path_on_float32_nets(name):
    net32 = NETS[name](np.float32, "fused")
    net64 = NETS[name](np.float64, "fused")
    net64.load_state_dict({k: v.astype(np.float64) for k, v in net32.state_dict().items()})
    x, t = batch(7, 12, 4)
    x = x.astype(np.float32)
    fast = net32.numerical_gradient(x, t)
    assert all(g.dtype == np.float32 for g in fast.values())
    # the float32 loop itself is noisy (float32 loss / 2h); the fast path works in float64, so it
    # agrees with the loop run on the same numbers in float64, to float32's resolution
    naive64 = net64.numerical_gradient(x.astype(np.float64), t, method="naive")
    for k in fast:
        np.testing.assert_allclose(fast[k], naive64[k], rtol=1e-6, atol=1e-9)


def test_fast_path_with_onehot_targets():
    net = NETS["two-layer relu"](np.float64, "fused")
    x, t = batch(6, 12, 4)
    assert max_diff(net.numerical_gradient(x, np.eye(4)[t]), net.numerical_gradient(x, t)) == 0.0


def test_fast_path_agrees_with_backprop_to_truncation_error():
    net = TwoLayerNet(12, 6, 4, weight_init_std=0.5, seed=5)
    x, t = batch(8, 12, 4)
    assert max_diff(net.numerical_gradient(x, t), net.gradient(x, t)) < 1e-8


def test_parameters_are_left_exactly_as_they_were():
    net = NETS["three hidden, decay"](np.float64, "fused")
    before = {k: v.copy() for k, v in net.params.items()}
    x, t = batch(5, 12, 4)
    for method in ("fast", "general", "naive"):
        net.numerical_gradient(x, t, method=method)
        for k, v in net.params.items():
            assert v.tobytes() == before[k].tobytes(), (method, k)


def bn_dropout_net(seed=0):
    return MultiLayerNet(12, [6, 5], 4, use_batchnorm=True, use_dropout=True, dropout_ratio=0.3, seed=seed)


@pytest.mark.parametrize("make", [bn_dropout_net, lambda: TwoLayerNet(12, 6, 4, seed=1)])
def test_general_path_equals_the_naive_loop_bit_for_bit(make):
    net = make()
    x, t = batch(6, 12, 4)
    net.loss(x, t, train=True)  # draw a dropout mask (where there is dropout) for both to reuse
    general = net.numerical_gradient(x, t, method="general")
    naive = net.numerical_gradient(x, t, method="naive")
    for k in naive:
        assert general[k].tobytes() == naive[k].tobytes(), k


def test_networks_the_fast_path_cannot_take_fall_back():
    net = bn_dropout_net()
    assert fast_start(net) == len(net.layer_list) - 2  # only the last Affine
    x, t = batch(6, 12, 4)
    net.loss(x, t, train=True)
    auto = net.numerical_gradient(x, t)
    general = net.numerical_gradient(x, t, method="general")
    # the layers below the head go through the general loop: bit for bit; the head's fast path
    # computes the same central differences to rounding
    for k in general:
        if k in ("W3", "b3"):
            assert max_diff({k: auto[k]}, {k: general[k]}) <= 1e-8
        else:
            assert auto[k].tobytes() == general[k].tobytes(), k
    with pytest.raises(ValueError, match=r"method: 'fast' takes Affine layers .*BatchNormalization"):
        net.numerical_gradient(x, t, method="fast")


def test_batchnorm_running_statistics_survive():
    net = bn_dropout_net()
    x, t = batch(6, 12, 4)
    before = {k: v.copy() for k, v in net.state_dict().items()}
    net.numerical_gradient(x, t)
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_sequential_spec_recognises_the_shapes_it_can_take():
    rng = np.random.default_rng(0)

    def aff(a, b):
        return Affine(rng.normal(size=(a, b)), np.zeros(b))

    assert fast_start(Sequential(aff(4, 3), Sigmoid(), aff(3, 2))) == 0
    assert fast_start(Sequential(aff(4, 3), aff(3, 2))) == 0  # identity between them
    assert fast_start(Sequential(aff(4, 3), Relu())) is None  # ends in an activation
    assert fast_start(Sequential(aff(4, 3), Relu(), Sigmoid(), aff(3, 2))) == 3  # the last Affine only
    assert fast_start(Sequential(aff(4, 3), BatchNormalization(np.ones(3), np.zeros(3)), aff(3, 2))) == 2
    assert fast_start(Sequential(aff(4, 3), Sigmoid(), aff(3, 2), loss=SoftmaxWithLoss("textbook"))) == 0


def test_unknown_method():
    net = TwoLayerNet(4, 3, 2, seed=0)
    with pytest.raises(ValueError, match=r"method: expected one of .*got 'fastest'"):
        net.numerical_gradient(np.zeros((2, 4)), [0, 1], method="fastest")


class Scale:
    """A layer of one's own below an MLP head: y = x * g (elementwise, g of x's trailing shape).

    It counts its forward calls, so a test can see which layers the numerical gradient re-runs.
    """

    def __init__(self, g):
        self.params, self.grads = {"g": g}, {"g": np.zeros_like(g)}
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        self.x = x
        return x * self.params["g"]

    def backward(self, dout):
        self.grads["g"][...] = np.sum(dout * self.x, axis=0)
        return dout * self.params["g"]


def own_layer_net(seed=0, image=False):
    rng = np.random.default_rng(seed)
    shape = (1, 3, 4) if image else (12,)
    bottom = Scale(rng.uniform(0.5, 1.5, size=shape))
    layers = [Affine(rng.normal(size=(12, 6)), rng.normal(size=6)), Relu(),
              Affine(rng.normal(size=(6, 5)), rng.normal(size=5)), Sigmoid(),
              Affine(rng.normal(size=(5, 4)), rng.normal(size=4))]
    return Sequential(bottom, *layers, weight_decay_lambda=0.05), bottom


@pytest.mark.parametrize("image", [False, True])
def test_a_head_above_another_layer_takes_the_fast_path(image):
    # Affine flattens (N, 1, 3, 4) images, as above a convolution
    net, bottom = own_layer_net(image=image)
    assert fast_start(net) == 1
    x, t = batch(7, 12, 4)
    if image:
        x = x.reshape(7, 1, 3, 4)
    auto = net.numerical_gradient(x, t)
    naive = net.numerical_gradient(x, t, method="naive")
    general = net.numerical_gradient(x, t, method="general")
    assert max_diff(auto, naive) <= 1e-8
    assert auto["g1"].tobytes() == naive["g1"].tobytes() == general["g1"].tobytes()
    assert max_diff(auto, net.gradient(x, t)) <= 1e-6
    with pytest.raises(ValueError, match=r"method: 'fast' takes .*Scale"):
        net.numerical_gradient(x, t, method="fast")


def test_the_fast_head_runs_the_layer_below_once_per_parameter_step():
    net, bottom = own_layer_net()
    x, t = batch(5, 12, 4)
    bottom.calls = 0
    net.numerical_gradient(x, t)
    # one pass for the cached inputs, two per element of its own parameter; none for the head's 106
    assert bottom.calls == 1 + 2 * bottom.params["g"].size


def test_a_head_above_batchnorm_agrees_with_the_loop():
    rng = np.random.default_rng(3)
    net = Sequential(BatchNormalization(np.ones(12), np.zeros(12)),
                     Affine(rng.normal(size=(12, 5)), np.zeros(5)), Relu(),
                     Affine(rng.normal(size=(5, 4)), np.zeros(4)), loss=SoftmaxWithLoss("textbook"))
    x, t = batch(6, 12, 4)
    assert fast_start(net) == 1
    assert max_diff(net.numerical_gradient(x, t), net.numerical_gradient(x, t, method="naive")) <= 1e-8
