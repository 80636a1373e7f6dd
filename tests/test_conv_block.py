"""The fused Convolution -> Relu -> 2x2 Pooling step (scratchnet/_conv_block.py) gives the numbers of
the layer-by-layer path bit for bit, on ties too, and steps aside when it does not apply."""

from __future__ import annotations

import numpy as np
import pytest

from scratchnet import DeepConvNet, Sigmoid, SimpleConvNet, _conv, get_optimizer


def conv(filters, size, pad, stride=1):
    return {"filter_num": filters, "filter_size": size, "pad": pad, "stride": stride}


def simple(conv_param=None, input_dim=(1, 12, 12), **kw):
    conv_param = conv_param or conv(4, 3, 1)
    return SimpleConvNet(input_dim=input_dim, conv_param=conv_param, hidden_size=6, output_size=10,
                         weight_init_std=0.3, **kw)


def deep(**kw):
    convs = {f"conv_param_{i}": conv(3, 3, 2 if i == 4 else 1) for i in range(1, 7)}
    return DeepConvNet(input_dim=(1, 12, 12), hidden_size=8, output_size=10, **convs, **kw)


NETS = {
    "simple 3x3 pad 1 float64": lambda: simple(seed=0),
    "simple 3x3 pad 1 float32": lambda: simple(seed=1, dtype=np.float32),
    "simple 5x5 pad 0 (the book's)": lambda: simple(conv(5, 5, 0), seed=2),
    "simple 2x2 stride 2 pad 2": lambda: simple(conv(3, 2, 2, stride=2), seed=3, dtype=np.float32),
    "simple 7 filters over 3 channels": lambda: simple(conv(7, 3, 1), input_dim=(3, 8, 8), seed=4),
    "deep float32": lambda: deep(seed=5, dtype=np.float32),
    "deep float64": lambda: deep(seed=6),
}


def images(shape, n=5, seed=0):
    """Images with blank borders, as MNIST's: many windows whose values tie."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, *shape)) * (rng.random((n, *shape)) < 0.5)
    x[:, :, :2] = 0
    x[:, :, :, -3:] = 0
    return x, rng.integers(0, 10, n)


def layer_by_layer(net, x, t):
    """The book's step: every layer's public, checked forward and backward, in order."""
    out = np.asarray(x).astype(net.dtype)
    for layer in net.layer_list[:-1]:
        out = layer.forward(out, train=True) if hasattr(layer, "dropout_ratio") else layer.forward(out)
    loss = net.last_layer.forward(out, t)
    dout = net.last_layer.backward(1.0)
    for layer in reversed(net.layer_list[:-1]):
        dout = layer.backward(dout)
    return loss, {name: layer.grads[key].copy() for name, (layer, key) in net._param_slots.items()}


def assert_same(a: dict, b: dict) -> None:
    assert list(a) == list(b)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key, strict=True)


@pytest.mark.parametrize("chunk_bytes", [None, 1], ids=["chunks as shipped", "one sample a chunk"])
@pytest.mark.parametrize("name", NETS)
def test_fused_step_equals_the_layer_by_layer_step_bit_for_bit(name, chunk_bytes, monkeypatch):
    if chunk_bytes:
        monkeypatch.setattr(_conv, "CHUNK_BYTES", chunk_bytes)
    fused, book = NETS[name](), NETS[name]()  # same seed: the same weights and dropout masks
    assert fused._conv_blocks, "no block found"
    for step in range(3):
        x, t = images(fused.input_dim, seed=step)
        loss, grads = fused.loss_and_gradient(x, t)
        loss_ref, grads_ref = layer_by_layer(book, x, t)
        assert loss == loss_ref
        assert_same(dict(grads), grads_ref)
        np.testing.assert_array_equal(fused.last_layer.y, book.last_layer.y, strict=True)


def test_ties_at_a_positive_maximum_go_to_the_first_as_the_layers_send_them():
    """Blank images give every window four equal outputs, b itself: positive for some filters."""
    fused, book = simple(seed=7), simple(seed=7)
    for net in (fused, book):
        net.params["b1"][:] = [0.5, -0.25, 0.0, 1.0]
    x = np.zeros((4, 1, 12, 12))
    x[1, 0, 3:9, 3:9] = 1.0  # a plateau: ties inside it as well
    t = np.array([1, 2, 3, 4])
    loss, grads = fused.loss_and_gradient(x, t)
    loss_ref, grads_ref = layer_by_layer(book, x, t)
    assert loss == loss_ref
    assert_same(dict(grads), grads_ref)
    assert np.abs(grads["W1"]).sum() > 0


def test_a_seeded_training_run_is_the_layer_by_layer_run():
    fused, book = simple(seed=8, dtype=np.float32), simple(seed=8, dtype=np.float32)
    opt_a, opt_b = get_optimizer("adam", lr=0.01), get_optimizer("adam", lr=0.01)
    for step in range(5):
        x, t = images(fused.input_dim, n=8, seed=10 + step)
        _, grads = fused.loss_and_gradient(x, t)
        opt_a.update(fused.params, grads)
        _, grads_ref = layer_by_layer(book, x, t)
        opt_b.update(book.params, grads_ref)
    assert_same(dict(fused.params), dict(book.params))


def test_what_the_layers_hold_after_a_fused_step():
    net = simple(seed=9)
    x, t = images(net.input_dim, n=3)
    net.loss_and_gradient(x, t)
    conv, relu, pool = net.layer_list[:3]
    np.testing.assert_array_equal(conv.x, x)
    assert relu.mask.shape == (3, 4, 6, 6)  # Relu ran on the pooled values
    with pytest.raises(RuntimeError, match="Pooling.backward called before Pooling.forward"):
        pool.backward(np.zeros((3, 4, 6, 6)))
    # The book's loop runs layer by layer and leaves each layer its own state.
    net.loss(x, t)
    assert relu.mask.shape == (3, 4, 12, 12)
    assert pool.backward(np.ones((3, 4, 6, 6))).shape == (3, 4, 12, 12)


def test_an_odd_convolution_output_gets_the_pools_error_and_changes_nothing():
    net = simple(seed=10)
    x, t = images((1, 11, 11), n=2)  # 11x11 outputs: 2x2 windows with stride 2 do not tile them
    before = {k: v.copy() for k, v in net.params.items()}
    with pytest.raises(ValueError, match="11") as caught:
        net.loss_and_gradient(x, t)
    with pytest.raises(ValueError) as book_error:
        net.loss(x, t)
    assert str(caught.value) == str(book_error.value)
    assert_same(dict(net.params), before)


@pytest.mark.parametrize("bad", ["channels", "rank"])
def test_bad_images_are_refused_before_anything_changes(bad):
    net = simple(seed=11)
    x, t = images(net.input_dim, n=2)
    net.loss_and_gradient(x, t)
    kept = net.layer_list[0].x
    bad_x = np.zeros((2, 2, 12, 12)) if bad == "channels" else np.zeros((2, 12, 12))
    with pytest.raises(ValueError, match="x: expected"):
        net.loss_and_gradient(bad_x, t)
    assert net.layer_list[0].x is kept


def test_a_replaced_layer_or_a_changed_pool_takes_the_layer_path():
    net, book = simple(seed=12), simple(seed=12)
    for n in (net, book):
        n.layer_list[1] = n.layers["Relu1"] = Sigmoid()
    x, t = images(net.input_dim)
    loss, grads = net.loss_and_gradient(x, t)
    loss_ref, grads_ref = layer_by_layer(book, x, t)
    assert loss == loss_ref
    assert_same(dict(grads), grads_ref)
    assert net.layer_list[2].x is not None  # the pool ran as a layer

    changed = simple(seed=13)
    changed.layer_list[2].stride = 1  # overlapping 2x2 windows: 11x11 outputs, not the block's pool
    with pytest.raises(ValueError, match=r"144 features, got \(N, 4, 11, 11\)"):
        changed.loss_and_gradient(x, t)  # the Affine now gets the wrong size, as layer by layer


def test_block_backward_before_forward_is_refused():
    net = simple(seed=14)
    with pytest.raises(RuntimeError, match="before its forward"):
        net._conv_blocks[0].backward(np.zeros((1, 4, 6, 6)))


@pytest.mark.parametrize("name", ["simple 3x3 pad 1 float32", "simple 7 filters over 3 channels",
                                  "deep float32"])
def test_a_large_inference_batch_runs_the_blocks_with_the_layers_scores(name):
    net = NETS[name]()
    net.predict_chunk = 4  # 10 samples: chunks of 4, 4 and 2, each through the blocks
    x, t = images(net.input_dim, n=10, seed=20)
    scores = net.predict(x)
    pools = [layer for layer in net.layer_list if type(layer).__name__ == "Pooling"]
    assert all(pool.x is None for pool in pools)  # the blocks ran
    by_layers = np.concatenate([net.predict(x[i:i + 4]) for i in range(0, 10, 4)])  # <= 4: layer by layer
    np.testing.assert_array_equal(scores, by_layers, strict=True)
    assert net.accuracy(x, t) == np.mean(by_layers.argmax(axis=1) == t)
