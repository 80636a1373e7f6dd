"""Reused buffers and out= arguments: the same numbers as before, and no aliasing of the caller's arrays."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from scratchnet import (
    SGD,
    Adam,
    Affine,
    MultiLayerNet,
    Relu,
    Sequential,
    Sigmoid,
    SoftmaxWithLoss,
    TwoLayerNet,
    get_optimizer,
    gradient_check,
    sigmoid,
    softmax,
    softmax_cross_entropy,
)

DTYPES = [np.float64, np.float32]


def affine(rng, dtype):
    return Affine(rng.standard_normal((6, 4)).astype(dtype), rng.standard_normal(4).astype(dtype)), (5, 6)


def sigmoid_layer(rng, dtype):
    return Sigmoid(), (5, 4)


def relu_layer(rng, dtype):
    return Relu(), (5, 4)


LAYERS = [affine, sigmoid_layer, relu_layer]


def data(n=9, d=12, c=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), rng.integers(0, c, n)


# ------------------------------------------------------------------------------------------ layers
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("case", LAYERS, ids=lambda c: c.__name__)
def test_out_gives_bit_identical_results_in_the_given_array(case, dtype):
    rng = np.random.default_rng(1)
    layer, shape = case(rng, dtype)
    x = (3 * rng.standard_normal(shape)).astype(dtype)
    y = layer.forward(x)
    dout = rng.standard_normal(y.shape).astype(dtype)
    dx = layer.backward(dout)
    grads = {k: g.copy() for k, g in layer.grads.items()}
    out, dx_out = np.full_like(y, np.nan), np.full_like(x, np.nan)
    assert layer.forward(x, out=out) is out
    assert layer.backward(dout, out=dx_out) is dx_out
    np.testing.assert_array_equal(out, y)
    np.testing.assert_array_equal(dx_out, dx)
    for k, g in grads.items():
        np.testing.assert_array_equal(layer.grads[k], g)


@pytest.mark.parametrize("case", LAYERS, ids=lambda c: c.__name__)
def test_without_out_every_call_returns_a_new_array_and_leaves_the_inputs_alone(case):
    rng = np.random.default_rng(2)
    layer, shape = case(rng, np.float64)
    x1, x2 = rng.standard_normal(shape), rng.standard_normal(shape)
    x1_before = x1.copy()
    y1 = layer.forward(x1)
    y1_before = y1.copy()
    d1 = rng.standard_normal(y1.shape)
    d1_before = d1.copy()
    dx1 = layer.backward(d1)
    dx1_before = dx1.copy()
    y2 = layer.forward(x2)
    dx2 = layer.backward(rng.standard_normal(y2.shape))
    assert y2 is not y1 and dx2 is not dx1
    np.testing.assert_array_equal(y1, y1_before)  # a later call did not overwrite the first result
    np.testing.assert_array_equal(dx1, dx1_before)
    np.testing.assert_array_equal(x1, x1_before)  # nor the inputs
    np.testing.assert_array_equal(d1, d1_before)


@pytest.mark.parametrize("case", LAYERS, ids=lambda c: c.__name__)
def test_out_of_the_wrong_shape_or_dtype_is_refused_by_name(case):
    rng = np.random.default_rng(3)
    layer, shape = case(rng, np.float64)
    x = rng.standard_normal(shape)
    y = layer.forward(x)
    with pytest.raises(ValueError, match=r"out: expected an array of shape"):
        layer.forward(x, out=np.empty((y.shape[0] + 1, y.shape[1])))
    with pytest.raises(ValueError, match=r"out: expected an array of shape .* and dtype float64"):
        layer.backward(np.ones_like(y), out=np.empty(x.shape, dtype=np.float32))


def test_sigmoid_layer_is_accurate_for_large_negative_inputs_without_warnings():
    x = np.array([[-1000.0, -100.0, -20.0, 0.0, 20.0, 1000.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for dtype in DTYPES:
            out = Sigmoid().forward(x.astype(dtype))
            assert out.dtype == dtype and out[0, 0] == 0.0 and out[0, -1] == 1.0
            # Below the smallest normal number (float32: sigmoid(-100) = 3.8e-44) it may give 0.
            info = np.finfo(dtype)
            np.testing.assert_allclose(out, sigmoid(x.astype(dtype)), rtol=4 * info.eps, atol=info.tiny)


def test_relu_mask_is_the_textbooks():
    layer = Relu()
    layer.forward(np.array([[-1.0, 0.0, 2.0]]))
    np.testing.assert_array_equal(layer.mask, [[True, True, False]])
    layer.forward(np.array([[3.0, -3.0]]))  # a new shape: the mask follows it
    np.testing.assert_array_equal(layer.mask, [[False, True]])


# -------------------------------------------------------------------------------------- the loss
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("scale", [1.0, 30.0, 1e4])
def test_fused_loss_equals_softmax_cross_entropy_bit_for_bit(dtype, scale):
    rng = np.random.default_rng(4)
    layer = SoftmaxWithLoss()
    for n in (7, 100, 3):  # other batch sizes reuse or replace the buffers
        x = (scale * rng.standard_normal((n, 10))).astype(dtype)
        t = rng.integers(0, 10, n).astype(np.uint8)
        assert layer.forward(x, t) == softmax_cross_entropy(x, t)
        dx = layer.backward(0.5)
        expected = (softmax(x) - np.eye(10, dtype=dtype)[t]) * dtype(0.5 / n)
        np.testing.assert_allclose(dx, expected, rtol=0, atol=4 * np.finfo(dtype).eps)
        np.testing.assert_array_equal(layer.y, softmax(x))


def test_loss_layer_backward_into_out_and_fresh_arrays_without_it():
    rng = np.random.default_rng(5)
    x, t = rng.standard_normal((6, 4)), rng.integers(0, 4, 6)
    layer = SoftmaxWithLoss()
    layer.forward(x, t)
    first = layer.backward()
    out = np.empty_like(x)
    assert layer.backward(out=out) is out
    np.testing.assert_array_equal(out, first)
    assert layer.backward() is not first
    y = layer.y
    layer.forward(x + 1.0, t)
    np.testing.assert_array_equal(y, softmax(x))  # the y handed out earlier is the user's own


def test_fused_loss_with_infinite_or_nan_scores_agrees_with_the_loss_function():
    layer = SoftmaxWithLoss()
    t = np.array([0, 1])
    for x in (np.array([[np.inf, 0.0], [1.0, 2.0]]), np.array([[np.nan, 0.0], [1.0, 2.0]]),
              np.array([[-np.inf, 0.0], [1.0, 2.0]])):
        with np.errstate(invalid="ignore"):
            expected = softmax_cross_entropy(x, t)
            got = layer.forward(x, t)
        assert got == expected or (np.isnan(got) and np.isnan(expected))


# ------------------------------------------------------------------------------------ networks
def test_alternating_batch_sizes_give_the_gradients_of_a_fresh_network():
    x, t = data(n=30)
    net = MultiLayerNet(12, [7, 5], 4, activation="sigmoid", seed=0)
    for n in (30, 11, 30, 1, 11):
        _, grads = net.loss_and_gradient(x[:n], t[:n])
        fresh = MultiLayerNet(12, [7, 5], 4, activation="sigmoid", seed=0)
        _, expected = fresh.loss_and_gradient(x[:n], t[:n])
        for k in expected:
            np.testing.assert_array_equal(grads[k], expected[k])


def test_gradient_check_passes_after_calls_with_other_batch_sizes():
    x, t = data(n=20)
    for net in (TwoLayerNet(12, 6, 4, activation="relu", seed=1), MultiLayerNet(12, [6, 5], 4, seed=1)):
        net.loss_and_gradient(x, t)
        net.loss_and_gradient(x[:3], t[:3])
        gradient_check(net, x[:8], t[:8], h=1e-6).assert_close(rel_tol=1e-6, abs_tol=1e-9)


def test_loss_and_gradient_never_writes_into_what_the_caller_holds():
    x, t = data()
    x_before, t_before = x.copy(), t.copy()
    net = TwoLayerNet(12, 6, 4, seed=0)
    scores = net.predict(x)
    scores_before = scores.copy()
    kept = net.gradient(x, t)
    kept_before = {k: g.copy() for k, g in kept.items()}
    for _ in range(3):
        net.loss_and_gradient(x[::-1], t[::-1])
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(t, t_before)
    np.testing.assert_array_equal(scores, scores_before)
    for k in kept:
        np.testing.assert_array_equal(kept[k], kept_before[k])


def test_a_layer_without_out_and_image_shaped_input_still_train_correctly():
    class Tanh:  # a student's layer in the book's shape: no out=, no params, no train
        def forward(self, x):
            self.y = np.tanh(x)
            return self.y

        def backward(self, dout):
            return dout * (1.0 - self.y**2)

    rng = np.random.default_rng(6)
    net = Sequential(Relu(), Affine(rng.standard_normal((12, 5)), np.zeros(5)), Tanh(),
                     Affine(rng.standard_normal((5, 4)), np.zeros(4)))
    x = rng.uniform(0.1, 1.0, (6, 1, 3, 4)) * rng.choice([-1.0, 1.0], (6, 1, 3, 4))
    t = rng.integers(0, 4, 6)
    for _ in range(2):  # the second call runs with the buffers the first one left
        gradient_check(net, x, t, h=1e-6).assert_close(rel_tol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("optimizer", [SGD, Adam], ids=lambda c: c.__name__)
def test_same_seed_trains_bit_identically_through_the_buffers(optimizer, dtype):
    x, t = data(n=40)

    def train():
        net = TwoLayerNet(12, 8, 4, activation="relu", seed=3, dtype=dtype)
        opt = optimizer(lr=0.05)
        losses = []
        for step in range(12):
            n = 40 if step % 3 else 13
            loss, grads = net.loss_and_gradient(x[:n], t[:n])
            opt.update(net.params, grads)
            losses.append(loss)
        return net, losses

    (a, la), (b, lb) = train(), train()
    assert la == lb
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
        assert a.params[k].dtype == dtype


# ------------------------------------------------------------------------------- flat optimiser
OPTIMIZERS = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"]


def counting_steps(opt) -> list[tuple[int, ...]]:
    """Record the shape of the parameter array each ``_step`` call of ``opt`` receives."""
    shapes, step = [], opt._step
    opt._step = lambda p, *rest: (shapes.append(p.shape), step(p, *rest))
    return shapes


def test_networks_keep_their_parameters_in_one_buffer_and_the_optimizer_steps_once():
    net = MultiLayerNet(12, [7, 5], 4, use_batchnorm=True, seed=0)
    bases = {p.base.__array_interface__["data"][0] for p in net.params.values()}
    assert len(bases) == 1 and all(p.base is not None for p in net.params.values())
    for name, (layer, key) in net._param_slots.items():  # still the layers' own arrays
        assert layer.params[key] is net.params[name]
    opt = get_optimizer("adam")
    shapes = counting_steps(opt)
    x, t = data()
    for _ in range(2):
        _, grads = net.loss_and_gradient(x, t)
        opt.update(net.params, grads)
    assert shapes == [(sum(p.size for p in net.params.values()),)] * 2
    assert all(opt.state["m"][k].shape == p.shape for k, p in net.params.items())


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_one_step_over_all_parameters_equals_a_step_per_parameter_bit_for_bit(name, tmp_path):
    rng = np.random.default_rng(8)
    net = TwoLayerNet(12, 6, 4, seed=0, dtype=np.float32)
    _, grads = net.loss_and_gradient(*data())  # packed, like net.params: one buffer too
    alone = {k: p.copy() for k, p in net.params.items()}  # separate arrays: one step per parameter
    packed_opt, alone_opt = get_optimizer(name, lr=0.05), get_optimizer(name, lr=0.05)
    packed_shapes, alone_shapes = counting_steps(packed_opt), counting_steps(alone_opt)

    def steps(n):
        for _ in range(n):
            for g in grads.values():
                g[...] = rng.standard_normal(g.shape)
            packed_opt.update(net.params, grads)
            alone_opt.update(alone, {k: g.copy() for k, g in grads.items()})
            for k in alone:
                np.testing.assert_array_equal(net.params[k], alone[k])

    steps(3)
    assert len(packed_shapes) == 3 and len(alone_shapes) == 3 * len(alone)
    saved = packed_opt.state_dict()
    for k, v in alone_opt.state_dict().items():
        np.testing.assert_array_equal(saved[k], v)
    packed_opt.load_state_dict(saved)  # state as separate arrays again: copied back into one buffer
    steps(2)
    assert len(packed_shapes) == 5


def test_an_optimizer_with_its_own_step_is_called_per_parameter():
    class ClipSGD(SGD, register=False):
        """SGD with each gradient's norm clipped to 1: not elementwise."""

        def _step(self, p, g, slots, tmp):
            np.multiply(g, self.lr / max(1.0, float(np.linalg.norm(g))), out=tmp)
            p -= tmp

    net = TwoLayerNet(12, 6, 4, seed=0)
    opt = ClipSGD(lr=0.1)
    shapes = counting_steps(opt)
    x, t = data()
    _, grads = net.loss_and_gradient(x, t)
    opt.update(net.params, grads)
    assert shapes == [p.shape for p in net.params.values()]


def test_gradients_given_in_another_key_order_are_still_paired_by_name():
    p_buf, g_buf = np.zeros(6), np.array([2.0, 2.0, 2.0, 1.0, 1.0, 1.0])
    params = {"a": p_buf[:3], "b": p_buf[3:]}
    grads = {"b": g_buf[:3], "a": g_buf[3:]}  # one buffer as well, but laid out b first
    SGD(lr=1.0).update(params, grads)
    np.testing.assert_array_equal(params["a"], -1.0)
    np.testing.assert_array_equal(params["b"], -2.0)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_the_books_call_path_takes_the_packed_step_and_matches_a_step_per_parameter(name):
    x, t = data()
    net = MultiLayerNet(12, [7, 5], 4, use_batchnorm=True, seed=0)
    alone = {k: p.copy() for k, p in net.params.items()}
    packed_opt, alone_opt = get_optimizer(name, lr=0.05), get_optimizer(name, lr=0.05)
    packed_shapes, alone_shapes = counting_steps(packed_opt), counting_steps(alone_opt)
    for _ in range(3):
        grads = net.gradient(x, t)  # fresh copies, still packed: one buffer, the same layout
        assert grads.layout is net.params.layout and grads.flat is not net._packed_grads.flat
        alone_opt.update(alone, dict(grads))  # a plain dict: one step per parameter
        packed_opt.update(net.params, grads)
        for k in alone:
            np.testing.assert_array_equal(net.params[k], alone[k])
    assert len(packed_shapes) == 3 and len(alone_shapes) == 3 * len(alone)


def test_layout_is_never_guessed_from_memory_a_plain_dict_of_views_steps_per_parameter():
    p_buf, g_buf = np.zeros(6), np.arange(6.0)
    opt = SGD(lr=1.0)
    shapes = counting_steps(opt)
    opt.update({"a": p_buf[:3], "b": p_buf[3:]}, {"a": g_buf[:3], "b": g_buf[3:]})
    assert shapes == [(3,), (3,)]
    np.testing.assert_array_equal(p_buf, -g_buf)


def test_a_rebound_parameter_turns_the_packed_path_off_and_is_updated_itself():
    x, t = data()
    net = TwoLayerNet(12, 6, 4, seed=0)
    _, grads = net.loss_and_gradient(x, t)
    mine = net.params["b2"].copy() + 1.0
    net.params["b2"] = mine  # not the network's array any more
    assert not net.params.intact()
    opt = SGD(lr=1.0)
    shapes = counting_steps(opt)
    expected = mine - grads["b2"]
    opt.update(net.params, grads)
    assert len(shapes) == 4
    np.testing.assert_array_equal(mine, expected)


def test_assigning_affine_w_and_b_writes_into_the_networks_buffer():
    net = TwoLayerNet(12, 6, 4, seed=0)
    W = np.full((12, 6), 0.5)
    net.layers["Affine1"].W = W
    net.layers["Affine2"].b = [1.0, 2.0, 3.0, 4.0]
    assert net.layers["Affine1"].params["W"] is net.params["W1"]
    np.testing.assert_array_equal(net.params["W1"], W)
    np.testing.assert_array_equal(net.params.flat[:72], W.ravel())
    np.testing.assert_array_equal(net.params["b2"], [1.0, 2.0, 3.0, 4.0])
    with pytest.raises(ValueError, match=r"W: expected shape \(12, 6\), got \(6, 12\)"):
        net.layers["Affine1"].W = W.T


def test_packed_layout_names_shapes_and_offsets():
    net = TwoLayerNet(12, 6, 4, seed=0)
    layout = net.params.layout
    assert layout.names == ("W1", "b1", "W2", "b2")
    assert layout.shapes == ((12, 6), (6,), (6, 4), (4,))
    assert layout.offsets == (0, 72, 78, 102) and layout.size == 106
    for name, o, shape in zip(layout.names, layout.offsets, layout.shapes):
        np.testing.assert_array_equal(net.params.flat[o:o + np.prod(shape)], net.params[name].ravel())
