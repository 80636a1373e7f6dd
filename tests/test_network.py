"""Networks: the shared contract (params, gradients, state, save/load), seeds, dtypes, weight decay."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest

from scratchnet import (
    Affine,
    BatchNormalization,
    DeepConvNet,
    Dropout,
    MultiLayerNet,
    Relu,
    Sequential,
    SimpleConvNet,
    SoftmaxWithLoss,
    TwoLayerNet,
    gradient_check,
)


def batch(n=8, d=12, c=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), rng.integers(0, c, n)


def small_nets(dtype=np.float64, seed=0):
    """One network of each kind and option, on 12 inputs and 4 classes."""
    kw = {"seed": seed, "dtype": dtype}
    return {
        "two-layer sigmoid": TwoLayerNet(12, 6, 4, **kw),
        "two-layer relu": TwoLayerNet(12, 6, 4, weight_init_std="he", activation="relu", **kw),
        "multi relu": MultiLayerNet(12, [7, 5], 4, **kw),
        "multi sigmoid xavier": MultiLayerNet(12, [7, 5], 4, "sigmoid", "xavier", **kw),
        "multi decay": MultiLayerNet(12, [7, 5], 4, weight_decay_lambda=0.1, **kw),
        "multi dropout": MultiLayerNet(12, [7, 5], 4, use_dropout=True, dropout_ratio=0.3, **kw),
        "multi batchnorm": MultiLayerNet(12, [7, 5], 4, use_batchnorm=True, **kw),
        "multi everything": MultiLayerNet(12, [7, 5], 4, weight_decay_lambda=0.05, use_dropout=True,
                                          use_batchnorm=True, **kw),
    }


NET_NAMES = list(small_nets())


# ------------------------------------------------------------------------------------------- params
def test_two_layer_net_uses_the_books_names_and_shapes():
    net = TwoLayerNet(784, 50, 10, seed=0)
    assert list(net.params) == ["W1", "b1", "W2", "b2"]
    assert [p.shape for p in net.params.values()] == [(784, 50), (50,), (50, 10), (10,)]
    assert 0.008 < net.params["W1"].std() < 0.012  # weight_init_std=0.01
    assert not net.params["b1"].any()
    assert net.last_layer is net.loss_layer is net.layer_list[-1]
    assert isinstance(net.last_layer, SoftmaxWithLoss)


def test_multi_layer_net_names_batchnorm_parameters_per_hidden_layer():
    net = MultiLayerNet(10, [8, 6], 3, use_batchnorm=True, use_dropout=True, seed=0)
    assert list(net.params) == ["W1", "b1", "gamma1", "beta1", "W2", "b2", "gamma2", "beta2", "W3", "b3"]
    kinds = [type(layer).__name__ for layer in net.layer_list]
    assert kinds == ["Affine", "BatchNormalization", "Relu", "Dropout"] * 2 + ["Affine", "SoftmaxWithLoss"]


@pytest.mark.parametrize("name", NET_NAMES)
def test_params_are_the_layers_arrays_so_in_place_updates_change_the_network(name):
    net = small_nets()[name]
    layer_arrays = [p for layer in net.layer_list for p in layer.params.values()]
    assert len(layer_arrays) == len(net.params)
    assert all(any(p is q for q in layer_arrays) for p in net.params.values())
    x, _ = batch()
    before = net.predict(x)
    net.params["W1"] += 0.5
    assert not np.allclose(net.predict(x), before)


@pytest.mark.parametrize(("init", "factor"), [("relu", 2.0), ("he", 2.0), ("sigmoid", 1.0), ("xavier", 1.0)])
def test_named_initialisations_scale_by_fan_in(init, factor):
    net = MultiLayerNet(400, [300], 10, weight_init_std=init, seed=0)
    assert net.params["W1"].std() == pytest.approx(np.sqrt(factor / 400), rel=0.02)
    assert net.params["W2"].std() == pytest.approx(np.sqrt(factor / 300), rel=0.05)


# ---------------------------------------------------------------------------------------- seeds
@pytest.mark.parametrize("name", NET_NAMES)
def test_same_seed_gives_identical_networks_and_gradients(name):
    a, b = small_nets(seed=3)[name], small_nets(seed=3)[name]
    x, t = batch()
    for key in a.params:
        np.testing.assert_array_equal(a.params[key], b.params[key])
    loss_a, grads_a = a.loss_and_gradient(x, t)
    loss_b, grads_b = b.loss_and_gradient(x, t)
    assert loss_a == loss_b
    for key in grads_a:
        np.testing.assert_array_equal(grads_a[key], grads_b[key])


def test_other_seed_gives_another_network_and_a_generator_is_accepted():
    one, two = TwoLayerNet(5, 4, 3, seed=1), TwoLayerNet(5, 4, 3, seed=2)
    assert not np.array_equal(one.params["W1"], two.params["W1"])
    by_generator = TwoLayerNet(5, 4, 3, seed=np.random.default_rng(1))
    np.testing.assert_array_equal(by_generator.params["W2"], TwoLayerNet(5, 4, 3, seed=1).params["W2"])


# ------------------------------------------------------------------------------- forward / loss
def test_predict_loss_and_accuracy_with_labels_and_one_hot():
    net = TwoLayerNet(12, 6, 4, activation="relu", weight_init_std=0.5, seed=0)
    x, t = batch()
    scores = net.predict(x)
    assert scores.shape == (8, 4) and scores.dtype == np.float64
    onehot = np.eye(4)[t]
    loss = net.loss(x, t)
    assert isinstance(loss, float) and loss == pytest.approx(net.loss(x, onehot), rel=1e-14)
    expected = float(np.mean(np.argmax(scores, axis=1) == t))
    assert net.accuracy(x, t) == net.accuracy(x, onehot) == expected


def test_bad_teacher_labels_give_clear_errors():
    net = TwoLayerNet(12, 6, 4, seed=0)
    x, t = batch()
    with pytest.raises(ValueError, match=r"t: expected 8 labels .*got 7"):
        net.loss(x, t[:7])
    with pytest.raises(ValueError, match=r"t: expected labels in \[0, 4\), got 4 at index 0"):
        net.accuracy(x, np.full(8, 4))
    expected = r"t: expected labels of shape \(8,\) or one-hot targets of shape \(8, 4\), got \(5,\)"
    with pytest.raises(ValueError, match=expected):
        net.accuracy(x, t[:5])
    with pytest.raises(ValueError, match=r"x: expected \(N, 12\), got \(N, 13\)"):
        net.predict(np.zeros((2, 13)))


def test_constructor_arguments_are_checked():
    with pytest.raises(ValueError, match="hidden_size: expected a positive integer, got 0"):
        TwoLayerNet(784, 0, 10)
    with pytest.raises(ValueError, match="activation: expected one of"):
        TwoLayerNet(784, 50, 10, activation="tanh")
    with pytest.raises(ValueError, match="weight_init_std: expected a number or one of"):
        MultiLayerNet(784, [50], 10, weight_init_std="lecun")
    with pytest.raises(ValueError, match="dtype: expected float32 or float64, got int64"):
        TwoLayerNet(784, 50, 10, dtype=np.int64)
    with pytest.raises(TypeError, match="seed: expected an int >= 0"):
        TwoLayerNet(784, 50, 10, seed=-1)
    with pytest.raises(ValueError, match=r"hidden_size_list\[1\]: expected a positive integer"):
        MultiLayerNet(784, [50, -3], 10)
    with pytest.raises(ValueError, match="weight_decay_lambda: expected a finite number >= 0"):
        MultiLayerNet(784, [50], 10, weight_decay_lambda=-1)


# ---------------------------------------------------------------------------------- gradients
@pytest.mark.parametrize("name", NET_NAMES)
def test_backprop_matches_the_numerical_gradient(name):
    net = small_nets()[name]
    x, t = batch()
    # A bias followed by batch norm has a gradient of exactly 0: only rounding noise remains there.
    gradient_check(net, x, t).assert_close(rel_tol=1e-7, abs_tol=1e-10)


def test_loss_and_gradient_returns_the_forward_loss_and_reused_buffers():
    net = MultiLayerNet(12, [7], 4, weight_decay_lambda=0.1, seed=0)
    x, t = batch()
    loss, grads = net.loss_and_gradient(x, t)
    assert loss == net.loss(x, t, train=True)
    assert list(grads) == list(net.params)
    copies = net.gradient(x, t)
    for key in grads:
        np.testing.assert_array_equal(copies[key], grads[key])
    _, again = net.loss_and_gradient(x, t)
    assert again["W1"] is grads["W1"]  # buffers, reused
    assert copies["W1"] is not net.gradient(x, t)["W1"]  # gradient() hands out copies


def test_weight_decay_adds_half_lambda_sum_of_squares_and_lambda_w():
    lam = 0.3
    plain = MultiLayerNet(12, [7, 5], 4, seed=0)
    decayed = MultiLayerNet(12, [7, 5], 4, weight_decay_lambda=lam, seed=0)
    x, t = batch()
    penalty = 0.5 * lam * sum(np.sum(plain.params[k] ** 2) for k in ("W1", "W2", "W3"))
    assert decayed.loss(x, t) == pytest.approx(plain.loss(x, t) + penalty, rel=1e-14)
    loss_p, grads_p = plain.loss_and_gradient(x, t)
    grads_p = {k: g.copy() for k, g in grads_p.items()}
    loss_d, grads_d = decayed.loss_and_gradient(x, t)
    assert loss_d == pytest.approx(loss_p + penalty, rel=1e-14)
    for key in grads_p:
        extra = lam * plain.params[key] if key.startswith("W") else 0.0
        np.testing.assert_allclose(grads_d[key], grads_p[key] + extra, rtol=1e-13, atol=1e-16)


def test_numerical_gradient_leaves_batchnorm_statistics_and_dropout_stream_alone():
    net = MultiLayerNet(12, [5], 4, use_batchnorm=True, use_dropout=True, seed=0)
    x, t = batch()
    net.loss_and_gradient(x, t)
    before = net.state_dict()
    net.numerical_gradient(x, t)
    after = net.state_dict()
    for key in before:
        np.testing.assert_array_equal(after[key], before[key])
    dropout = next(layer for layer in net.layers.values() if isinstance(layer, Dropout))
    mask = dropout.mask.copy()
    net.loss_and_gradient(x, t)  # outside the check, masks are drawn afresh again
    assert not np.array_equal(dropout.mask, mask)


def test_the_first_affine_skips_the_input_gradient_but_its_weights_are_right():
    net = TwoLayerNet(12, 6, 4, seed=0)
    x, t = batch()
    _, grads = net.loss_and_gradient(x, t)
    first = net.layers["Affine1"]
    # Recompute dW1 from a full backward of the same layer.
    relay = Affine(first.W.copy(), first.b.copy())
    relay.forward(x)
    dout = net.layers["Sigmoid1"].backward(net.layers["Affine2"].backward(net.last_layer.backward()))
    relay.backward(dout)
    np.testing.assert_allclose(grads["W1"], relay.dW, rtol=1e-14)


# -------------------------------------------------------------------------------------- dtypes
@pytest.mark.parametrize("name", NET_NAMES)
def test_float32_networks_stay_float32_end_to_end(name):
    net = small_nets(dtype=np.float32)[name]
    x, t = batch()  # float64 input: cast once
    assert net.dtype == np.float32
    assert all(p.dtype == np.float32 for p in net.params.values())
    assert net.predict(x).dtype == np.float32
    _, grads = net.loss_and_gradient(x, t)
    assert all(g.dtype == np.float32 for g in grads.values())
    assert net.layer_list[0].x.dtype == np.float32
    for layer in net.layer_list:
        assert all(b.dtype == np.float32 for b in layer.buffers.values())
    assert all(g.dtype == np.float32 for g in net.numerical_gradient(x[:2], t[:2]).values())


def test_float32_network_is_the_rounded_float64_network_of_the_same_seed():
    net32 = MultiLayerNet(12, [7, 5], 4, seed=9, dtype=np.float32)
    net64 = MultiLayerNet(12, [7, 5], 4, seed=9)
    for key in net64.params:
        np.testing.assert_array_equal(net32.params[key], net64.params[key].astype(np.float32))
    x, t = batch()
    np.testing.assert_allclose(net32.predict(x), net64.predict(x), rtol=1e-4, atol=1e-5)
    _, g32 = net32.loss_and_gradient(x, t)
    _, g64 = net64.loss_and_gradient(x, t)
    np.testing.assert_allclose(g32["W1"], g64["W1"], rtol=1e-3, atol=1e-5)


# ------------------------------------------------------------------------------ state and files
def test_state_dict_holds_copies_and_load_state_dict_copies_into_the_same_arrays():
    net = MultiLayerNet(12, [5], 4, use_batchnorm=True, seed=0)
    state = net.state_dict()
    assert set(state) == {*net.params, "running_mean1", "running_var1"}
    state["W1"][...] = 7.0
    assert not (net.params["W1"] == 7.0).any()
    w1 = net.params["W1"]
    net.load_state_dict(state)
    assert net.params["W1"] is w1 and (w1 == 7.0).all()
    assert net.layers["Affine1"].params["W"] is w1


def test_load_state_dict_is_strict_and_changes_nothing_on_refusal():
    net = TwoLayerNet(12, 6, 4, seed=0)
    good = net.state_dict()
    before = net.state_dict()
    missing = {k: v for k, v in good.items() if k != "b2"}
    with pytest.raises(ValueError, match=r"state_dict: missing keys \['b2'\]$"):
        net.load_state_dict(missing)
    with pytest.raises(ValueError, match=r"missing keys \['b2'\], unexpected keys \['W3'\]"):
        net.load_state_dict({**missing, "W3": np.zeros(3)})
    wrong = {**good, "W1": np.zeros((12, 7)), "b1": np.zeros(7) + 1.0}
    with pytest.raises(ValueError, match=r"W1: expected shape \(12, 6\), got \(12, 7\); b1: expected shape"):
        net.load_state_dict(wrong)
    with pytest.raises(TypeError, match="W2: expected a float array, got dtype int64"):
        net.load_state_dict({**good, "W2": np.zeros((6, 4), dtype=np.int64)})
    for key in before:
        np.testing.assert_array_equal(net.params[key], before[key])


@pytest.mark.parametrize("name", ["multi everything", "two-layer relu"])
def test_save_and_load_round_trip(tmp_path, name):
    net = small_nets(seed=1)[name]
    x, t = batch()
    net.loss_and_gradient(x, t)  # moves the batch-norm running statistics away from their start
    path = tmp_path / "net.npz"
    net.save(path)
    assert os.listdir(tmp_path) == ["net.npz"]  # no temporary file left behind
    other = small_nets(seed=2)[name]
    assert not np.array_equal(other.predict(x), net.predict(x))
    other.load(path)
    np.testing.assert_array_equal(other.predict(x), net.predict(x))
    with np.load(path, allow_pickle=False) as archive:
        assert set(archive.files) == set(net.state_dict())


def test_load_refuses_a_file_of_another_network_and_says_which_names_and_shapes(tmp_path):
    path = tmp_path / "wide.npz"
    TwoLayerNet(784, 60, 10, seed=0).save(path)
    with pytest.raises(ValueError, match=r"wide.npz: W1: expected shape \(784, 50\), got \(784, 60\)"):
        TwoLayerNet(784, 50, 10).load(path)
    deep = tmp_path / "deep.npz"
    MultiLayerNet(784, [50, 50], 10, seed=0).save(deep)
    with pytest.raises(ValueError, match=r"deep.npz: unexpected keys \['W3', 'b3'\]"):
        TwoLayerNet(784, 50, 10).load(deep)


def test_load_refuses_pickled_objects_and_plain_npy_files(tmp_path):
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, W1=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="pickled.npz: not a valid scratchnet weights file") as e:
        TwoLayerNet(3, 2, 2).load(pickled)
    assert "allow_pickle" not in str(e.value)  # issue #15: never suggest loading it unsafely
    single = tmp_path / "single.npy"
    np.save(single, np.zeros(3))
    with pytest.raises(ValueError, match=r"single.npy: not a valid scratchnet weights file \(a single .npy"):
        TwoLayerNet(3, 2, 2).load(single)


def test_save_replaces_an_existing_file_atomically(tmp_path):
    path = tmp_path / "net.npz"
    path.write_bytes(b"old")
    net = TwoLayerNet(3, 2, 2, seed=0)
    net.save(path)
    fresh = TwoLayerNet(3, 2, 2, seed=5)
    fresh.load(path)
    np.testing.assert_array_equal(fresh.params["W1"], net.params["W1"])


# ---------------------------------------------------------------------------- Sequential, summary
def test_sequential_accepts_a_textbook_style_layer_without_train_or_params():
    class Square:  # a student's layer in the book's shape: no params dict, no train argument
        def forward(self, x):
            self.x = x
            return x * x

        def backward(self, dout):
            return 2 * self.x * dout

    rng = np.random.default_rng(0)
    net = Sequential(Affine(rng.standard_normal((12, 5)), np.zeros(5)), Square(), Dropout(0.2, seed=0),
                     Affine(rng.standard_normal((5, 4)), np.zeros(4)))
    assert list(net.params) == ["W1", "b1", "W2", "b2"]
    x, t = batch()
    gradient_check(net, x, t).assert_close(rel_tol=1e-7)
    assert repr(net).startswith("Sequential(Affine(12 -> 5), ")


def test_sequential_refuses_non_layers_and_mixed_dtypes():
    with pytest.raises(TypeError, match=r"layers\[1\]: expected a layer with forward and backward, got int"):
        Sequential(Relu(), 3)
    expected = "layers: expected parameters of one dtype, got W1 float64, b1 float64, W2 float32"
    with pytest.raises(ValueError, match=expected):
        Sequential(Affine(np.ones((2, 2)), np.zeros(2)),
                   Affine(np.ones((2, 2), np.float32), np.zeros(2, np.float32)))


def test_sequential_with_batchnorm_numbers_each_kind_separately():
    net = Sequential(Affine(np.ones((3, 2)), np.zeros(2)), BatchNormalization(np.ones(2), np.zeros(2)),
                     Affine(np.ones((2, 2)), np.zeros(2)))
    assert list(net.params) == ["W1", "b1", "gamma1", "beta1", "W2", "b2"]
    assert set(net.state_dict()) == {*net.params, "running_mean1", "running_var1"}


def test_summary_lists_layers_output_shapes_and_parameter_counts():
    net = TwoLayerNet(784, 50, 10, activation="relu")
    text = net.summary()
    total = 784 * 50 + 50 + 50 * 10 + 10
    assert f"total parameters: {total:,}" in text
    lines = text.splitlines()
    assert lines[0] == "TwoLayerNet (dtype float64)"
    assert "Affine(784 -> 50)" in lines[2] and "(N, 50)" in lines[2] and f"{784 * 50 + 50:,}" in lines[2]
    assert "Relu()" in lines[3] and "(N, 50)" in lines[3]
    assert "W2 (50, 10), b2 (10,)" in lines[4]
    decay = MultiLayerNet(784, [50], 10, weight_decay_lambda=0.1).summary()
    assert "weight decay lambda 0.1 on W1, W2" in decay


@pytest.mark.parametrize("build", [
    lambda: SimpleConvNet(input_dim=(1, 11, 15), conv_param={"filter_num": 3, "filter_size": 3, "pad": 1,
                                                             "stride": 2}, seed=0),
    lambda: DeepConvNet(seed=0),
], ids=["simpleconvnet-odd-sizes", "deepconvnet"])
def test_summary_of_a_conv_net_gives_the_shapes_forward_makes(build):
    net = build()
    shown = [re.search(r"\(N, [^)]*\)", line).group() for line in net.summary().splitlines()[2:-2]]
    x = np.zeros((2, *net.input_dim))
    made = []
    for layer in net.layer_list[:-1]:
        x = layer.forward(x)
        made.append("(N, " + ", ".join(map(str, x.shape[1:])) + ")")
    assert shown == made


def test_reprs():
    assert repr(TwoLayerNet(784, 50, 10)) == ("TwoLayerNet(input_size=784, hidden_size=50, output_size=10, "
                                              "activation='sigmoid', dtype=float64)")
    text = repr(MultiLayerNet(784, [100, 100], 10, use_dropout=True, dtype=np.float32))
    assert text == ("MultiLayerNet(input_size=784, hidden_size_list=[100, 100], output_size=10, "
                    "activation='relu', use_dropout=True, dropout_ratio=0.5, dtype=float32)")


@pytest.mark.parametrize("name", NET_NAMES)
def test_plain_sgd_on_loss_and_gradient_fits_a_small_batch(name):
    net = small_nets(seed=0)[name]
    x, t = batch(n=16)
    first = net.loss(x, t)
    for _ in range(300):
        _, grads = net.loss_and_gradient(x, t)
        for key, g in grads.items():
            net.params[key] -= 0.5 * g
    assert net.loss(x, t) < 0.5 * first
    assert net.accuracy(x, t) >= 0.5  # chance is 0.25; dropout keeps the widest fits from 1.0


def test_save_gives_ordinary_permissions_and_leaves_no_temporary_file(tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        TwoLayerNet(4, 3, 2, seed=0).save(tmp_path / "net.npz")
    finally:
        os.umask(old)
    mode = stat.S_IMODE((tmp_path / "net.npz").stat().st_mode)
    assert mode == 0o644  # not mkstemp's private 0600
    assert [p.name for p in tmp_path.iterdir()] == ["net.npz"]
