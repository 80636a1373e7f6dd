"""The fast training step (scratchnet/_fast_step.py) and the optimiser's unchecked update give the
numbers of the straightforward layer-by-layer path bit for bit, and fall back on anything unusual."""

from __future__ import annotations

import numpy as np
import pytest

from scratchnet import MultiLayerNet, Relu, TwoLayerNet, get_optimizer

# The benchmark's models (scripts/bench_train.py), narrowed to 30 inputs, and deeper ones.
NETS = {
    "sigmoid sgd float32": (lambda: TwoLayerNet(30, 8, 10, "sigmoid", "sigmoid", seed=0, dtype=np.float32),
                            "sgd", 0.1),
    "relu sgd float32": (lambda: TwoLayerNet(30, 8, 10, "relu", "relu", seed=0, dtype=np.float32),
                         "sgd", 0.1),
    "relu adam float32": (lambda: TwoLayerNet(30, 16, 10, "relu", "relu", seed=0, dtype=np.float32),
                          "adam", 0.001),
    "sigmoid sgd float64": (lambda: TwoLayerNet(30, 8, 10, "sigmoid", "sigmoid", seed=0), "sgd", 0.1),
    "multi relu decay momentum": (lambda: MultiLayerNet(30, [9, 7, 5], 10, weight_decay_lambda=0.01, seed=1),
                                  "momentum", 0.05),
    "multi sigmoid float32 rmsprop": (lambda: MultiLayerNet(30, [9, 7], 10, "sigmoid", "xavier", seed=2,
                                                            dtype=np.float32), "rmsprop", 0.01),
}


# The book's chapter 4-5 forms: one-hot targets, the textbook's loss.
ONE_HOT_NETS = {
    "sigmoid textbook loss": lambda: TwoLayerNet(30, 8, 10, seed=4, loss_form="textbook"),
    "relu float32": lambda: TwoLayerNet(30, 8, 10, activation="relu", seed=5, dtype=np.float32),
}


def batches(steps=12, n=20, d=30, c=10, seed=0):
    """float32 images and uint8 labels, as MNIST loads; now and then int64 labels or float64 images."""
    rng = np.random.default_rng(seed)
    for i in range(steps):
        x = rng.random((n, d), dtype=np.float32) * (rng.random((n, d)) < 0.4)
        t = rng.integers(0, c, n).astype(np.uint8)
        yield (x.astype(np.float64) if i % 5 == 4 else x), (t.astype(np.int64) if i % 3 == 2 else t)


def layer_by_layer(net, x, t):
    """The straightforward step: every layer's public, checked forward and backward, in order."""
    out = np.asarray(x).astype(net.dtype)
    for layer in net.layer_list[:-1]:
        out = layer.forward(out)
    loss = net.last_layer.forward(out, t) + net._weight_decay_loss()
    dout = net.last_layer.backward(1.0)
    for layer in reversed(net.layer_list[:-1]):
        dout = layer.backward(dout)
    grads = {name: layer.grads[key].copy() for name, (layer, key) in net._param_slots.items()}
    for name in net._decayed if net.weight_decay_lambda else ():
        grads[name] += net.weight_decay_lambda * net.params[name]
    return loss, grads


def assert_same(a: dict, b: dict) -> None:
    assert list(a) == list(b)
    for key in a:
        assert a[key].dtype == b[key].dtype
        np.testing.assert_array_equal(a[key], b[key], err_msg=key, strict=True)


@pytest.mark.parametrize("name", NETS)
def test_fast_step_equals_the_layer_by_layer_step_bit_for_bit(name):
    make, _, _ = NETS[name]
    fast, slow = make(), make()
    for x, t in batches():
        loss, grads = fast.loss_and_gradient(x, t)
        assert fast._fast_step.key is not None  # the fast path ran
        loss_ref, grads_ref = layer_by_layer(slow, x, t)
        assert loss == loss_ref
        assert_same(dict(grads), grads_ref)
        # The layers hold what their own forward left: scores, softmax, the kept input.
        np.testing.assert_array_equal(fast.last_layer.y, slow.last_layer.y, strict=True)
        np.testing.assert_array_equal(fast.layer_list[0].x, slow.layer_list[0].x, strict=True)
        assert fast.layer_list[0].original_x_shape == slow.layer_list[0].original_x_shape


@pytest.mark.parametrize("name", NETS)
@pytest.mark.parametrize("book", [False, True], ids=["loss_and_gradient", "gradient"])
def test_training_through_the_fast_path_equals_the_general_path_bit_for_bit(name, book):
    make, opt, lr = NETS[name]
    fast, general = make(), make()
    general._fast_step = None  # the layer-by-layer path with its per-call checks
    opt_fast, opt_general = get_optimizer(opt, lr=lr), get_optimizer(opt, lr=lr)
    for x, t in batches(steps=15):
        for net, optimizer in ((fast, opt_fast), (general, opt_general)):
            grads = net.gradient(x, t) if book else net.loss_and_gradient(x, t)[1]
            optimizer.update(net.params, grads)
        assert fast.last_layer.loss == general.last_layer.loss
        assert_same(dict(fast.params), dict(general.params))
    assert opt_fast.t == opt_general.t == 15


@pytest.mark.parametrize("name", ONE_HOT_NETS)
@pytest.mark.parametrize("form", ["one-hot", "labels", "column"])
def test_one_hot_targets_and_the_textbook_loss_on_the_fast_path_equal_the_layer_path(name, form):
    fast, slow = ONE_HOT_NETS[name](), ONE_HOT_NETS[name]()
    sgd_fast, sgd_slow = get_optimizer("sgd", lr=0.1), get_optimizer("sgd", lr=0.1)
    for x, t in batches(steps=8):
        t = np.eye(10)[t] if form == "one-hot" else t.reshape(-1, 1) if form == "column" else t
        loss, grads = fast.loss_and_gradient(x, t)
        assert fast._fast_step.key is not None
        loss_ref, grads_ref = layer_by_layer(slow, x, t)
        assert loss == loss_ref
        assert_same(dict(grads), grads_ref)
        sgd_fast.update(fast.params, grads)
        sgd_slow.update(slow.params, grads_ref)
    assert_same(dict(fast.params), dict(slow.params))


def test_other_shapes_labels_and_inputs_take_the_general_path_with_the_same_numbers():
    fast, general = TwoLayerNet(12, 5, 4, seed=3), TwoLayerNet(12, 5, 4, seed=3)
    general._fast_step = None
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 12))
    t = rng.integers(0, 4, 6)
    cases = [
        (x, t), (x[:3], t[:3]), (x, t),  # alternating batch sizes
        (x, t.reshape(6, 1)),  # the book's (N, 1) labels
        (x, np.eye(4)[t]),  # one-hot targets
        (x.tolist(), t.tolist()),  # lists
        (x.reshape(6, 3, 4), t),  # image-shaped input
        (x.astype(np.float32), t.astype(np.int8)),
    ]
    for xi, ti in cases:
        loss_f, grads_f = fast.loss_and_gradient(xi, ti)
        loss_g, grads_g = general.loss_and_gradient(xi, ti)
        assert loss_f == loss_g
        assert_same(dict(grads_f), dict(grads_g))


@pytest.mark.parametrize("bad", [np.array([0, 1, 4, 2]), np.array([0, -1, 2, 3]),
                                 np.array([0.0, 1.0, 2.0, 3.0])],
                         ids=["too large", "negative", "float"])
def test_bad_labels_are_refused_by_name_on_the_fast_path_as_on_the_general_path(bad):
    net = TwoLayerNet(12, 5, 4, seed=0)
    x = np.random.default_rng(0).standard_normal((4, 12))
    net.loss_and_gradient(x, np.array([0, 1, 2, 3]))  # plans for this shape
    before = net.params.flat.copy()
    with pytest.raises((ValueError, TypeError), match="t"):
        net.loss_and_gradient(x, bad)
    np.testing.assert_array_equal(net.params.flat, before)


def test_a_replaced_layer_is_never_run_through_a_stale_plan():
    net, ref = TwoLayerNet(12, 5, 4, seed=0), TwoLayerNet(12, 5, 4, activation="relu", seed=0)
    x, t = np.random.default_rng(0).standard_normal((4, 12)), np.array([0, 1, 2, 3])
    net.loss_and_gradient(x, t)
    net.layer_list[1] = net.layers["Sigmoid1"] = Relu()  # sigmoid -> relu, in place
    loss, grads = net.loss_and_gradient(x, t)
    loss_ref, grads_ref = ref.loss_and_gradient(x, t)
    assert loss == loss_ref
    assert_same(dict(grads), dict(grads_ref))


def test_the_unchecked_update_is_left_after_load_state_dict_or_a_rebound_entry():
    net = TwoLayerNet(12, 5, 4, seed=0)
    x, t = np.random.default_rng(0).standard_normal((4, 12)), np.array([0, 1, 2, 3])
    adam = get_optimizer("adam", lr=0.01)
    _, grads = net.loss_and_gradient(x, t)
    adam.update(net.params, grads)
    saved = adam.state_dict()
    adam.update(net.params, grads)  # unchecked: the same PackedDicts as the last update
    params = {k: p.copy() for k, p in net.params.items()}
    adam.load_state_dict(saved)  # back to t = 1, with the state of then
    adam.update(net.params, grads)
    replay = get_optimizer("adam", lr=0.01)
    replay.load_state_dict(saved)
    replay.update(params, {k: g.copy() for k, g in grads.items()})  # a plain dict: per parameter
    adam.update(net.params, grads)
    replay.update(params, {k: g.copy() for k, g in grads.items()})
    assert_same(dict(net.params), params)
    assert adam.t == replay.t == 3
    # A rebound gradient entry must reach the parameters: the checked path steps per parameter.
    sgd = get_optimizer("sgd", lr=0.1)
    sgd.update(net.params, net.loss_and_gradient(x, t)[1])  # remembered for the unchecked path
    w1 = net.params["W1"].copy()
    _, packed = net.loss_and_gradient(x, t)
    rebound = packed.rewrap({**packed, "W1": np.zeros_like(packed["W1"])})
    assert not rebound.intact()
    sgd.update(net.params, rebound)
    np.testing.assert_array_equal(net.params["W1"], w1)


def test_gradient_copies_are_never_overwritten_while_anything_holds_them():
    net = TwoLayerNet(12, 5, 4, seed=0)
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((4, 12)) for _ in range(8)]
    t = np.array([0, 1, 2, 3])
    expected = [{k: g.copy() for k, g in net.gradient(x, t).items()} for x in xs]
    held = [net.gradient(xs[0], t), net.gradient(xs[1], t)["W1"], net.gradient(xs[2], t).flat,
            list(net.gradient(xs[3], t).values()), net.gradient(xs[4], t)["b2"][1:]]
    for x in xs[5:]:
        grads = net.gradient(x, t)  # the usual loop: the previous copy dropped after each call
    np.testing.assert_array_equal(held[0]["W2"], expected[0]["W2"])
    np.testing.assert_array_equal(held[1], expected[1]["W1"])
    np.testing.assert_array_equal(held[2][:60], expected[2]["W1"].ravel())
    np.testing.assert_array_equal(held[3][0], expected[3]["W1"])
    np.testing.assert_array_equal(held[4], expected[4]["b2"][1:])
    assert_same(dict(grads), expected[7])
    # Dropped copies are written again: the usual loop alternates between two buffers.
    buffers = set()
    for x in xs:
        grads = net.gradient(x, t)
        buffers.add(id(grads.flat))
    assert len(buffers) == 2
