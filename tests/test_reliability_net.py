"""Issue #15, the network items: bad input refused before any state changes, NaN never right,
one layer object in one place, weights files validated, and the last unchecked arguments."""

from __future__ import annotations

import numpy as np
import pytest

from scratchnet.layers import Affine, BatchNormalization, Dropout, Relu, SoftmaxWithLoss
from scratchnet.network import MultiLayerNet, Sequential, TwoLayerNet


def _net_with_state(**kw):
    return MultiLayerNet(4, [5, 5], 3, use_batchnorm=True, use_dropout=True, seed=0, **kw)


def _snapshot(net):
    return net.state_dict(), {k: g.bit_generator.state for k, g in net.generators().items()}


def _assert_unchanged(net, snapshot):
    state, gens = snapshot
    for name, value in net.state_dict().items():
        np.testing.assert_array_equal(value, state[name], err_msg=name)
    assert {k: g.bit_generator.state for k, g in net.generators().items()} == gens


# ------------------------------------------------------------------ empty batches, batch norm
def test_batchnorm_refuses_an_empty_training_batch_and_keeps_its_statistics():
    layer = BatchNormalization(np.ones(3), np.zeros(3))
    with pytest.raises(ValueError, match=r"x: expected a non-empty batch, got shape \(0, 3\)"):
        layer.forward(np.zeros((0, 3)))
    np.testing.assert_array_equal(layer.running_mean, np.zeros(3))
    np.testing.assert_array_equal(layer.running_var, np.ones(3))
    # Inference needs no batch statistics: an empty batch gives an empty batch.
    assert layer.forward(np.zeros((0, 3)), train=False).shape == (0, 3)


@pytest.mark.parametrize("call", ["loss_and_gradient", "gradient", "loss-train", "predict-train"])
def test_a_network_refuses_an_empty_training_batch_before_its_statistics_change(call):
    net = _net_with_state()
    x = np.random.default_rng(1).standard_normal((6, 4))
    before, snapshot = net.predict(x), _snapshot(net)
    empty, no_labels = np.zeros((0, 4)), np.zeros(0, dtype=int)
    calls = {
        "loss_and_gradient": lambda: net.loss_and_gradient(empty, no_labels),
        "gradient": lambda: net.gradient(empty, no_labels),
        "loss-train": lambda: net.loss(empty, no_labels, train=True),
        "predict-train": lambda: net.predict(empty, train=True),
    }
    with pytest.raises(ValueError, match=r"x: expected a non-empty batch, got shape \(0, 4\)"):
        calls[call]()
    _assert_unchanged(net, snapshot)
    np.testing.assert_array_equal(net.predict(x), before)
    assert np.isfinite(before).all()


@pytest.mark.parametrize("t", [np.array([0, 1, 7]), np.array([0, 1]), np.array([0.0, 1.0, 2.0]),
                               np.ones((3, 4))], ids=["label-out-of-range", "too-few", "float", "one-hot-4"])
@pytest.mark.parametrize("call", ["loss_and_gradient", "loss-train"])
def test_a_refused_teacher_leaves_statistics_and_dropout_stream_as_they_were(t, call):
    net = _net_with_state()
    x = np.random.default_rng(2).standard_normal((3, 4))
    snapshot = _snapshot(net)
    with pytest.raises((ValueError, TypeError), match="t: expected"):
        if call == "loss_and_gradient":
            net.loss_and_gradient(x, t)
        else:
            net.loss(x, t, train=True)
    _assert_unchanged(net, snapshot)
    # ... so the next good step is the one that would have come without the refused call.
    good = np.array([0, 1, 2])
    assert net.loss_and_gradient(x, good)[0] == _net_with_state().loss_and_gradient(x, good)[0]


def test_a_layer_that_refuses_its_input_leaves_the_earlier_layers_statistics_alone():
    bn = BatchNormalization(np.ones(4), np.zeros(4))
    net = Sequential(bn, Affine(np.ones((2, 3)), np.zeros(3)))  # 4 features in, Affine wants 2
    with pytest.raises(ValueError, match=r"x: expected \(N, 2\)"):
        net.predict(np.ones((3, 4)) * 5, train=True)
    np.testing.assert_array_equal(bn.running_mean, np.zeros(4))


# ------------------------------------------------------------- a failed forward changes nothing
def test_affine_after_a_refused_forward_still_differentiates_the_last_good_one():
    layer = Affine(np.ones((3, 2)), np.zeros(2))
    layer.forward(np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"x: expected \(N, 3\)"):
        layer.forward(np.ones((4, 5)))
    with pytest.raises(ValueError, match="out: expected an array of shape"):
        layer.forward(np.ones((5, 3)), out=np.empty((4, 2)))
    assert layer.backward(np.ones((4, 2))).shape == (4, 3)


def test_relu_with_a_bad_out_keeps_its_mask():
    layer = Relu()
    layer.forward(np.array([[1.0, -1.0]]))
    with pytest.raises(ValueError, match="out: expected an array of shape"):
        layer.forward(np.array([[-1.0, 1.0, 2.0]]), out=np.empty(2))
    np.testing.assert_array_equal(layer.backward(np.ones((1, 2))), [[1.0, 0.0]])


def test_softmax_with_loss_after_a_refused_teacher_has_nothing_to_differentiate():
    layer = SoftmaxWithLoss()
    layer.forward(np.zeros((2, 3)), np.array([0, 1]))
    with pytest.raises(ValueError, match="t: expected"):
        layer.forward(np.zeros((4, 3)), np.array([0, 1, 2, 9]))
    with pytest.raises(RuntimeError, match="backward called before"):
        layer.backward()  # was an IndexError: the new x against the old t


# ------------------------------------------------------------------------ accuracy and NaN
def test_nan_scores_never_count_as_right():
    net = TwoLayerNet(4, 5, 3, seed=0)
    net.params["W2"][...] = np.nan
    x = np.ones((4, 4))
    assert net.accuracy(x, np.zeros(4, dtype=int)) == 0.0  # argmax of NaN rows is 0: was 1.0
    assert net.accuracy(x, np.eye(3)[[0, 0, 0, 0]]) == 0.0


def test_only_the_rows_with_nan_are_wrong():
    class Scores:  # a layer that hands out fixed scores
        def forward(self, x):
            return np.array([[np.nan, 0.0], [1.0, 0.0], [0.0, np.nan], [np.inf, 0.0]])

        def backward(self, dout):
            return dout

    net = Sequential(Scores())
    assert net.accuracy(np.zeros((4, 1)), np.array([0, 0, 1, 0])) == 0.5


def test_accuracy_of_an_empty_batch_is_refused():
    with pytest.raises(ValueError, match="x: expected a non-empty batch"):
        TwoLayerNet(4, 5, 3, seed=0).accuracy(np.zeros((0, 4)), np.zeros(0, dtype=int))


# --------------------------------------------------------------------- one layer, one place
def test_one_affine_used_twice_is_refused_naming_the_positions():
    a = Affine(np.ones((3, 3)), np.zeros(3))
    with pytest.raises(ValueError, match=r"layers\[2\]: the Affine object at position 0 is used again at "
                                         r"position 2"):
        Sequential(a, Relu(), a)


def test_one_relu_used_twice_or_as_the_loss_is_refused():
    relu, loss = Relu(), SoftmaxWithLoss()
    a, b = Affine(np.ones((3, 3)), np.zeros(3)), Affine(np.ones((3, 3)), np.zeros(3))
    with pytest.raises(ValueError, match="the Relu object at position 1 is used again at position 3"):
        Sequential(a, relu, b, relu)
    with pytest.raises(ValueError, match="loss: the SoftmaxWithLoss object at position 0"):
        Sequential(loss, loss=loss)


def test_two_layers_sharing_one_weight_array_are_refused():
    W, b = np.ones((3, 3)), np.zeros(3)
    with pytest.raises(ValueError, match="parameters W1 and W2 share memory"):
        Sequential(Affine(W, b), Relu(), Affine(W, np.zeros(3)))
    with pytest.raises(ValueError, match="parameters W1 and W2 share memory"):
        Sequential(Affine(W[:, :2], np.zeros(2)), Relu(), Affine(W[:2, :], np.zeros(3)))
    # Disjoint parts of one buffer are fine (a packed network's layers are such views).
    net = TwoLayerNet(3, 2, 2, seed=0)
    Sequential(*net.layers.values())


# ------------------------------------------------------------------------------- weights files
def _damage(path, how):
    data = path.read_bytes()
    if how == "random":
        path.write_bytes(np.random.default_rng(0).bytes(len(data)))
    elif how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "one-byte":
        i = data.index(b"W2.npy") + 120  # inside W2's stored values: the CRC no longer matches
        path.write_bytes(data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1:])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "npy":
        np.save(path.with_suffix(".npy"), np.zeros(3))
        path.write_bytes(path.with_suffix(".npy").read_bytes())
    elif how == "pickled":
        np.savez(path, W1=np.array([{"a": 1}], dtype=object))


@pytest.mark.parametrize("how", ["random", "truncated", "one-byte", "empty", "npy", "pickled"])
def test_loading_a_damaged_file_names_it_and_changes_nothing(tmp_path, how):
    path = tmp_path / "net.npz"
    TwoLayerNet(6, 5, 3, seed=1).save(path)
    _damage(path, how)
    net = TwoLayerNet(6, 5, 3, seed=0)
    before = net.state_dict()
    with pytest.raises(ValueError, match=f"{path}: not a valid scratchnet weights file") as e:
        net.load(path)
    assert "allow_pickle" not in str(e.value)
    for name, value in net.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


def test_loading_a_missing_file_or_a_folder_gives_the_os_error_with_the_path(tmp_path):
    net = TwoLayerNet(3, 2, 2, seed=0)
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        net.load(tmp_path / "missing.npz")
    with pytest.raises(IsADirectoryError):
        net.load(tmp_path)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("name", ["W1", "b2", "running_var1"])
def test_loading_nan_or_inf_is_refused_and_changes_nothing(tmp_path, bad, name):
    net = MultiLayerNet(4, [3], 2, use_batchnorm=True, seed=0)
    state = net.state_dict()
    state[name].flat[0] = bad
    path = tmp_path / "bad.npz"
    np.savez(path, **state)
    fresh = MultiLayerNet(4, [3], 2, use_batchnorm=True, seed=1)
    before = fresh.state_dict()
    expected = rf"bad.npz: expected finite values, got NaN or inf in {name} \(1 of"
    with pytest.raises(ValueError, match=expected):
        fresh.load(path)
    for key, value in fresh.state_dict().items():
        np.testing.assert_array_equal(value, before[key])
    # In memory, a diverged network's state_dict() loads back as it was (gradient_check relies on it).
    fresh.load_state_dict(state)
    assert not np.isfinite(fresh.state_dict()[name]).all()


def test_save_into_a_missing_folder_names_the_path_given(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    net = TwoLayerNet(3, 2, 2, seed=0)
    with pytest.raises(FileNotFoundError, match="cannot save to nowhere/net.npz: no folder") as e:
        net.save("nowhere/net.npz")
    assert ".tmp" not in str(e.value)
    (tmp_path / "folder.npz").mkdir()
    with pytest.raises(IsADirectoryError, match="cannot save to folder.npz: it is a folder"):
        net.save("folder.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder.npz"]


# ------------------------------------------------------------------------ arguments not checked
@pytest.mark.parametrize("ratio", ["0.5", None, True, [0.5]])
def test_dropout_refuses_a_ratio_that_is_no_number(ratio):
    with pytest.raises(TypeError, match="dropout_ratio: expected a number in"):
        Dropout(ratio)


@pytest.mark.parametrize("flag", ["no", "False", None, 2, 0.5, [True]])
def test_dropout_refuses_a_form_that_is_no_bool(flag):
    """bool("no") is True: a string would silently choose the inverted form."""
    with pytest.raises(TypeError, match="inverted: expected True or False, got"):
        Dropout(0.5, inverted=flag)


@pytest.mark.parametrize("name", ["use_dropout", "use_batchnorm", "dropout_inverted"])
def test_multilayernet_refuses_flags_that_are_no_bool(name):
    with pytest.raises(TypeError, match=f"{name}: expected True or False, got str 'yes'"):
        MultiLayerNet(4, [5], 3, seed=0, **{name: "yes"})


@pytest.mark.parametrize(("ratio", "error"), [("0.5", TypeError), (None, TypeError), (1.0, ValueError),
                                              (-0.1, ValueError)])
def test_multilayernet_checks_the_dropout_ratio_even_without_dropout(ratio, error):
    with pytest.raises(error, match="dropout_ratio: expected"):
        MultiLayerNet(4, [5], 3, use_dropout=False, dropout_ratio=ratio, seed=0)


def test_flags_given_as_0_and_1_are_the_bools():
    net = MultiLayerNet(4, [5], 3, use_dropout=1, use_batchnorm=0, seed=0)
    assert net.use_dropout is True and net.use_batchnorm is False
    assert [type(layer).__name__ for layer in net.layer_list[:3]] == ["Affine", "Relu", "Dropout"]


@pytest.mark.parametrize("momentum", ["0.9", None, float("nan"), 1.5, -0.1])
def test_batchnorm_refuses_a_bad_momentum(momentum):
    with pytest.raises((TypeError, ValueError), match="momentum: expected a"):
        BatchNormalization(np.ones(2), np.zeros(2), momentum=momentum)


@pytest.mark.parametrize("std", [float("nan"), float("inf"), -1.0, None])
@pytest.mark.parametrize("build", [lambda s: TwoLayerNet(4, 3, 2, weight_init_std=s),
                                   lambda s: MultiLayerNet(4, [3], 2, weight_init_std=s)],
                         ids=["TwoLayerNet", "MultiLayerNet"])
def test_weight_init_std_must_be_a_finite_number_or_a_name(build, std):
    with pytest.raises((TypeError, ValueError), match="weight_init_std: expected a"):
        build(std)


# ------------------------------------- the public API walked as an adversarial user (item 6)
def test_a_layer_class_instead_of_a_layer_is_refused():
    with pytest.raises(TypeError, match=r"layers\[1\]: expected a layer object, got the class Relu \(did you "
                                        r"mean Relu\(...\)\?\)"):
        Sequential(Affine(np.ones((2, 2)), np.zeros(2)), Relu)


def test_weight_decay_lambda_must_be_finite():
    with pytest.raises(ValueError, match="weight_decay_lambda: expected a finite number >= 0, got inf"):
        MultiLayerNet(4, [3], 2, weight_decay_lambda=float("inf"))


@pytest.mark.parametrize(("t", "error", "match"), [
    (np.array([["a", "b"], ["c", "d"]]), TypeError, "t: expected a real numeric array"),  # was 1.0
    (np.array([[np.nan, 1.0], [1.0, 0.0]]), ValueError, "t: expected finite one-hot targets"),
])
def test_accuracy_refuses_one_hot_targets_that_are_no_numbers(t, error, match):
    with pytest.raises(error, match=match):
        TwoLayerNet(4, 3, 2, seed=0).accuracy(np.ones((2, 4)), t)


@pytest.mark.parametrize(("name", "value", "error", "match"), [
    ("running_var", [-1.0, 1.0], ValueError, r"running_var: expected finite values >= 0"),
    ("running_var", [np.nan, 1.0], ValueError, r"running_var: expected finite values >= 0"),
    ("running_mean", [np.inf, 0.0], ValueError, r"running_mean: expected finite values"),
    ("running_mean", ["a", "b"], TypeError, r"running_mean: expected a real numeric array"),
])
def test_batchnorm_refuses_running_statistics_that_would_poison_inference(name, value, error, match):
    with pytest.raises(error, match=match):
        BatchNormalization(np.ones(2), np.zeros(2), **{name: value})


@pytest.mark.parametrize(("params", "grads", "match"), [
    (None, {}, "params: expected a dict of arrays by parameter name, got NoneType"),
    ([np.ones(3)], [np.ones(3)], "params: expected a dict of arrays by parameter name, got list"),
    ({"W": np.ones(3)}, None, "grads: expected a dict of arrays by parameter name, got NoneType"),
])
def test_optimizer_update_refuses_what_is_no_dict(params, grads, match):
    from scratchnet.optimizers import SGD, Adam

    for opt in (SGD(0.1), Adam()):
        with pytest.raises(TypeError, match=match):
            opt.update(params, grads)
        assert opt.t == 0


def test_optimizer_load_state_dict_refuses_what_is_no_dict():
    from scratchnet.optimizers import Momentum

    with pytest.raises(TypeError, match="state: expected a dict saved by state_dict"):
        Momentum().load_state_dict(None)


def test_gradient_checks_refuse_what_is_no_network_or_layer():
    from scratchnet.gradcheck import check_layer, gradient_check

    with pytest.raises(TypeError, match="net: expected a network with a params dict, got int"):
        gradient_check(3, np.ones((1, 2)), np.array([0]))
    with pytest.raises(TypeError, match="layer: expected a layer with forward and backward, got NoneType"):
        check_layer(None, np.ones((1, 2)))


def test_load_state_dict_refuses_what_is_no_dict():
    with pytest.raises(TypeError, match="state_dict: expected a dict of arrays by name, got NoneType"):
        TwoLayerNet(3, 2, 2, seed=0).load_state_dict(None)


def test_gradient_check_of_a_diverged_network_gives_its_state_back():
    from scratchnet.gradcheck import gradient_check

    net = TwoLayerNet(3, 2, 2, seed=0)
    net.params["W1"][0, 0] = np.nan
    gradient_check(net, np.ones((1, 3)), np.array([0]))
    assert np.isnan(net.params["W1"][0, 0])


@pytest.mark.parametrize("pad", [0, 1])
@pytest.mark.parametrize("kind", ["Convolution", "Pooling"])
def test_conv_layers_with_a_bad_out_keep_their_last_forward(kind, pad):
    from scratchnet.layers import Convolution, Pooling

    rng = np.random.default_rng(0)

    def make():
        if kind == "Convolution":
            return Convolution(rng.standard_normal((2, 1, 3, 3)), np.zeros(2), pad=pad)
        return Pooling(2, 2, stride=2, pad=pad)

    layer = make()
    twin = Convolution(layer.W.copy(), layer.b.copy(), pad=pad) if kind == "Convolution" else make()
    x = rng.standard_normal((2, 1, 6, 6))
    out = layer.forward(x)
    twin.forward(x)
    with pytest.raises(ValueError, match="out: expected an array of shape"):
        layer.forward(rng.standard_normal((2, 1, 6, 6)), out=np.empty(3))  # same shape, other values
    with pytest.raises(ValueError, match="out: expected an array of shape"):
        layer.forward(rng.standard_normal((3, 1, 8, 8)), out=np.empty(3))  # another shape
    dout = rng.standard_normal(out.shape)
    np.testing.assert_array_equal(layer.backward(dout), twin.backward(dout))


@pytest.mark.parametrize("train", [False, True])
def test_the_loss_of_an_empty_batch_names_x(train):
    with pytest.raises(ValueError, match=r"x: expected a non-empty batch, got shape \(0, 4\)"):
        TwoLayerNet(4, 3, 2, seed=0).loss(np.zeros((0, 4)), np.zeros(0, dtype=int), train=train)
