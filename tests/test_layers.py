"""Layers: gradients against numerical differentiation, dtypes, shapes and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from scratchnet import (
    Affine,
    BatchNormalization,
    Dropout,
    Relu,
    Sigmoid,
    Softmax,
    SoftmaxWithLoss,
    check_layer,
    cross_entropy_error,
    softmax,
    softmax_cross_entropy,
)

DTYPES = [np.float64, np.float32]


def away_from_zero(rng, shape):
    """Values in +-[0.1, 2): ReLU's kink at 0 is far further than the step h = 1e-5."""
    return rng.uniform(0.1, 2.0, shape) * rng.choice([-1.0, 1.0], shape)


# Each case builds (layer, x, t, forward kwargs) in a dtype; t is None except for loss layers.
def affine(rng, dtype):
    layer = Affine(rng.standard_normal((6, 4)).astype(dtype), rng.standard_normal(4).astype(dtype))
    return layer, rng.standard_normal((5, 6)).astype(dtype), None, {}


def affine_images(rng, dtype):
    layer = Affine(rng.standard_normal((12, 3)).astype(dtype), rng.standard_normal(3).astype(dtype))
    return layer, rng.standard_normal((4, 1, 3, 4)).astype(dtype), None, {}


def sigmoid_layer(rng, dtype):
    return Sigmoid(), rng.standard_normal((4, 5)).astype(dtype), None, {}


def relu_layer(rng, dtype):
    return Relu(), away_from_zero(rng, (4, 5)).astype(dtype), None, {}


def softmax_layer(rng, dtype):
    return Softmax(), rng.standard_normal((4, 5)).astype(dtype), None, {}


def dropout_inverted(rng, dtype):
    return Dropout(0.4, inverted=True, seed=3), rng.standard_normal((6, 5)).astype(dtype), None, {}


def dropout_textbook(rng, dtype):
    return Dropout(0.4, inverted=False, seed=3), rng.standard_normal((6, 5)).astype(dtype), None, {}


def dropout_inference(rng, dtype):
    layer = Dropout(0.4, inverted=False, seed=3)
    return layer, rng.standard_normal((6, 5)).astype(dtype), None, {"train": False}


def batchnorm_train(rng, dtype):
    layer = BatchNormalization(rng.uniform(0.5, 2, 5).astype(dtype), rng.standard_normal(5).astype(dtype))
    return layer, (3 * rng.standard_normal((8, 5)) + 1).astype(dtype), None, {}


def batchnorm_images(rng, dtype):
    layer = BatchNormalization(rng.uniform(0.5, 2, 12).astype(dtype), rng.standard_normal(12).astype(dtype))
    return layer, rng.standard_normal((6, 3, 2, 2)).astype(dtype), None, {}


def batchnorm_inference(rng, dtype):
    layer = BatchNormalization(
        rng.uniform(0.5, 2, 5).astype(dtype), rng.standard_normal(5).astype(dtype),
        running_mean=rng.standard_normal(5), running_var=rng.uniform(0.5, 2, 5),
    )
    return layer, rng.standard_normal((8, 5)).astype(dtype), None, {"train": False}


def loss_labels(rng, dtype):
    return SoftmaxWithLoss(), rng.standard_normal((6, 4)).astype(dtype), rng.integers(0, 4, 6), {}


def loss_onehot(rng, dtype):
    return SoftmaxWithLoss(), rng.standard_normal((6, 4)).astype(dtype), np.eye(4)[rng.integers(0, 4, 6)], {}


CASES = [affine, affine_images, sigmoid_layer, relu_layer, softmax_layer, dropout_inverted, dropout_textbook,
         dropout_inference, batchnorm_train, batchnorm_images, batchnorm_inference, loss_labels, loss_onehot]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__)
def test_backward_matches_numerical_gradient_in_float64(case):
    layer, x, t, kwargs = case(np.random.default_rng(7), np.float64)
    result = check_layer(layer, x, t, forward_kwargs=kwargs, seed=11)
    assert set(result) == {"x", *layer.params}
    result.assert_close(rel_tol=1e-7)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__)
def test_dtype_is_kept_through_forward_and_backward(case, dtype):
    layer, x, t, kwargs = case(np.random.default_rng(0), dtype)
    if t is None:
        out = layer.forward(x, **kwargs)
        assert out.dtype == dtype
        dx = layer.backward(np.ones_like(out))
    else:
        assert isinstance(layer.forward(x, t), float)
        dx = layer.backward()
    assert dx.dtype == dtype and dx.shape == x.shape
    for key, g in layer.grads.items():
        assert g.dtype == dtype and g.shape == layer.params[key].shape


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__)
def test_forward_and_backward_never_write_into_the_callers_arrays(case):
    layer, x, t, kwargs = case(np.random.default_rng(1), np.float64)
    x_before = x.copy()
    if t is None:
        out = layer.forward(x, **kwargs)
        dout = np.random.default_rng(2).standard_normal(out.shape)
        dout_before = dout.copy()
        layer.backward(dout)
        np.testing.assert_array_equal(dout, dout_before)
    else:
        layer.forward(x, t)
        layer.backward(1.0)
    np.testing.assert_array_equal(x, x_before)


@pytest.mark.parametrize("layer", [
    Affine(np.ones((3, 2)), np.zeros(2)), Sigmoid(), Relu(), Softmax(), SoftmaxWithLoss(),
    Dropout(0.5, seed=0), BatchNormalization(np.ones(3), np.zeros(3)),
], ids=repr)
def test_backward_before_forward_says_so(layer):
    with pytest.raises(RuntimeError, match=rf"{type(layer).__name__}\.backward called before .*forward"):
        layer.backward(np.ones((2, 3)))


# --------------------------------------------------------------------------------------------- Affine
def test_affine_wrong_feature_size_names_both_sizes():
    layer = Affine(np.zeros((784, 50)), np.zeros(50))
    with pytest.raises(ValueError) as err:
        layer.forward(np.zeros((2, 785)))
    assert str(err.value) == "x: expected (N, 784), got (N, 785)"


def test_affine_wrong_image_size_and_single_sample_are_explained():
    layer = Affine(np.zeros((784, 50)), np.zeros(50))
    expected = r"x: expected \(N, 784\) or \(N, \.\.\.\) with 784 features, got \(N, 1, 28, 29\)"
    with pytest.raises(ValueError, match=expected):
        layer.forward(np.zeros((2, 1, 28, 29)))
    expected = r"x: expected shape \(N, 784\), got \(784,\); for one sample use x.reshape\(1, -1\)"
    with pytest.raises(ValueError, match=expected):
        layer.forward(np.zeros(784))


def test_affine_flattens_images_and_returns_dx_in_their_shape():
    rng = np.random.default_rng(0)
    layer = Affine(rng.standard_normal((784, 3)), rng.standard_normal(3))
    images = rng.random((2, 1, 28, 28))
    out = layer.forward(images)
    np.testing.assert_array_equal(out, images.reshape(2, 784) @ layer.W + layer.b)
    assert layer.original_x_shape == (2, 1, 28, 28)
    assert layer.backward(np.ones((2, 3))).shape == (2, 1, 28, 28)


def test_affine_shares_its_parameter_arrays_and_fills_book_named_gradients():
    W, b = np.ones((3, 2)), np.zeros(2)
    layer = Affine(W, b)
    assert layer.params["W"] is W and layer.params["b"] is b and layer.W is W
    x = np.arange(6.0).reshape(2, 3)
    layer.forward(x)
    dout = np.array([[1.0, 2.0], [3.0, 4.0]])
    dx = layer.backward(dout)
    np.testing.assert_array_equal(layer.dW, x.T @ dout)
    np.testing.assert_array_equal(layer.db, dout.sum(axis=0))
    np.testing.assert_array_equal(dx, dout @ W.T)
    assert layer.grads["W"] is layer.dW  # the buffer is reused, not reallocated
    layer.forward(x)
    layer.backward(dout)
    assert layer.grads["W"] is layer.dW


def test_affine_casts_input_to_its_dtype_and_skips_dx_on_request():
    layer = Affine(np.ones((3, 2), dtype=np.float32), np.zeros(2, dtype=np.float32))
    assert layer.forward(np.ones((4, 3))).dtype == np.float32
    assert layer.forward(np.ones((4, 3), dtype=np.uint8)).dtype == np.float32
    assert layer.backward(np.ones((4, 2)), input_grad=False) is None
    np.testing.assert_array_equal(layer.dW, np.full((3, 2), 4.0, dtype=np.float32))


def test_affine_bad_parameters_and_dout():
    with pytest.raises(ValueError, match=r"b: expected shape \(2,\) \(one per column of W\), got \(3,\)"):
        Affine(np.ones((3, 2)), np.zeros(3))
    with pytest.raises(TypeError, match="b: expected the dtype of W"):
        Affine(np.ones((3, 2)), np.zeros(2, dtype=np.float32))
    layer = Affine(np.ones((3, 2)), np.zeros(2))
    layer.forward(np.ones((4, 3)))
    expected = r"dout: expected shape \(4, 2\) \(the shape of forward's output\), got \(4, 3\)"
    with pytest.raises(ValueError, match=expected):
        layer.backward(np.ones((4, 3)))


# ------------------------------------------------------------------------------------- activations
def test_relu_gradient_is_zero_at_and_below_zero_and_dout_is_untouched():
    layer = Relu()
    out = layer.forward(np.array([[-1.0, 0.0, 2.0]]))
    np.testing.assert_array_equal(out, [[0.0, 0.0, 2.0]])
    dout = np.array([[5.0, 6.0, 7.0]])
    np.testing.assert_array_equal(layer.backward(dout), [[0.0, 0.0, 7.0]])
    np.testing.assert_array_equal(dout, [[5.0, 6.0, 7.0]])  # the textbook's Relu zeroes this in place


def test_sigmoid_backward_is_out_times_one_minus_out():
    layer = Sigmoid()
    out = layer.forward(np.array([[-1000.0, 0.0, 3.0]]))
    np.testing.assert_allclose(layer.backward(np.ones((1, 3))), out * (1 - out))
    assert out[0, 0] == 0.0


def test_softmax_layer_rows_sum_to_one_and_gradient_of_a_constant_shift_is_zero():
    layer = Softmax()
    y = layer.forward(np.array([[1e4, -1e4, 0.0], [1.0, 2.0, 3.0]]))
    np.testing.assert_allclose(y.sum(axis=1), 1.0)
    # d/dx of sum(y) is 0: the rows always sum to 1.
    np.testing.assert_allclose(layer.backward(np.ones_like(y)), 0.0, atol=1e-15)


# --------------------------------------------------------------------------------- SoftmaxWithLoss
def test_softmax_with_loss_labels_and_one_hot_agree_with_the_loss_functions():
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((5, 4)), rng.integers(0, 4, 5)
    by_labels, by_onehot = SoftmaxWithLoss(), SoftmaxWithLoss()
    loss = by_labels.forward(x, t)
    assert loss == softmax_cross_entropy(x, t)
    assert by_onehot.forward(x, np.eye(4)[t]) == pytest.approx(loss, rel=1e-15)
    np.testing.assert_allclose(by_labels.backward(), by_onehot.backward(), atol=1e-17)
    np.testing.assert_allclose(by_labels.backward(2.0), (softmax(x) - np.eye(4)[t]) * 2.0 / 5)


def test_softmax_with_loss_textbook_form_is_the_books_formula_with_the_same_backward():
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((5, 4)), rng.integers(0, 4, 5)
    book, fused = SoftmaxWithLoss("textbook"), SoftmaxWithLoss("fused")
    assert book.forward(x, t) == cross_entropy_error(softmax(x), t)
    fused.forward(x, t)
    np.testing.assert_array_equal(book.backward(), fused.backward())
    # The book's delta in log(y + 1e-7) is not in its backward: a numerical check sees it, faintly.
    assert 1e-9 < check_layer(book, x, t).max_rel_error < 1e-5


def test_softmax_with_loss_fused_form_is_finite_for_huge_logits():
    layer = SoftmaxWithLoss()
    assert layer.forward(np.array([[1e4, -1e4, 0.0]]), np.array([1])) == pytest.approx(2e4)
    assert np.all(np.isfinite(layer.backward()))


def test_softmax_with_loss_bad_teacher_and_form():
    layer = SoftmaxWithLoss()
    x = np.zeros((3, 10))
    with pytest.raises(ValueError, match=r"t: expected 3 labels .*got 4"):
        layer.forward(x, np.array([1, 2, 3, 4]))
    with pytest.raises(ValueError, match=r"t: expected labels in \[0, 10\), got 10 at index 2"):
        layer.forward(x, np.array([1, 2, 10]))
    with pytest.raises(TypeError, match="t: expected integer class labels"):
        layer.forward(x, np.array([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match=r"x: expected scores of shape \(N, C\), got \(10,\)"):
        layer.forward(np.zeros(10), np.array(1))
    with pytest.raises(ValueError, match="form: expected one of"):
        SoftmaxWithLoss("stable")
    layer.forward(x, np.array([1, 2, 3]))
    with pytest.raises(ValueError, match="dout: expected a scalar"):
        layer.backward(np.ones((3, 10)))


# ----------------------------------------------------------------------------------------- Dropout
def test_inverted_dropout_scales_kept_units_and_is_the_identity_at_inference():
    layer = Dropout(0.25, inverted=True, seed=0)
    x = np.random.default_rng(1).uniform(1, 2, (200, 50))
    out = layer.forward(x)
    kept = out != 0
    np.testing.assert_array_equal(kept, layer.mask)
    np.testing.assert_allclose(out[kept], x[kept] / 0.75)
    assert abs(1 - kept.mean() - 0.25) < 0.02
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), kept / 0.75)
    assert layer.forward(x, train=False) is x
    assert layer.backward(x) is x


def test_textbook_dropout_keeps_units_unscaled_and_scales_at_inference():
    layer = Dropout(0.25, inverted=False, seed=0)
    x = np.ones((10, 10))
    out = layer.forward(x)
    assert set(np.unique(out)) <= {0.0, 1.0}
    np.testing.assert_array_equal(layer.forward(x, train=False), np.full((10, 10), 0.75))
    np.testing.assert_array_equal(layer.backward(np.ones((10, 10))), np.full((10, 10), 0.75))


def test_dropout_masks_follow_the_seed_and_can_be_held_fixed():
    x = np.ones((20, 20))
    a, b, c = Dropout(0.5, seed=42), Dropout(0.5, seed=42), Dropout(0.5, seed=43)
    np.testing.assert_array_equal(a.forward(x), b.forward(x))
    assert not np.array_equal(a.mask, c.forward(x) != 0)
    first = a.mask.copy()
    with a.fixed_mask():
        a.forward(x)
        np.testing.assert_array_equal(a.mask, first)
    a.forward(x)
    assert not np.array_equal(a.mask, first)


def test_dropout_float32_keeps_dtype_and_drops_the_same_units_as_float64():
    x = np.ones((8, 8))
    out64 = Dropout(0.3, seed=5).forward(x)
    out32 = Dropout(0.3, seed=5).forward(x.astype(np.float32))
    assert out32.dtype == np.float32
    np.testing.assert_array_equal(out32 != 0, out64 != 0)


@pytest.mark.parametrize("ratio", [-0.1, 1.0, 1.5])
def test_dropout_refuses_ratios_outside_zero_one(ratio):
    with pytest.raises(ValueError, match=r"dropout_ratio: expected a value in \[0, 1\)"):
        Dropout(ratio)


def test_dropout_refuses_a_bad_seed():
    expected = "seed: expected an int >= 0, a numpy.random.Generator or None, got 1.5"
    with pytest.raises(TypeError, match=expected):
        Dropout(0.5, seed=1.5)


# ------------------------------------------------------------------------------ BatchNormalization
def test_batchnorm_normalizes_each_feature_and_updates_running_statistics():
    rng = np.random.default_rng(0)
    x = 5 * rng.standard_normal((64, 3)) + 2
    layer = BatchNormalization(np.ones(3), np.zeros(3), momentum=0.9)
    out = layer.forward(x)
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=0), 1, rtol=1e-6)
    np.testing.assert_allclose(layer.running_mean, 0.1 * x.mean(axis=0))
    np.testing.assert_allclose(layer.running_var, 0.9 + 0.1 * x.var(axis=0))
    inference = layer.forward(x, train=False)
    expected = (x - layer.running_mean) / np.sqrt(layer.running_var + layer.eps)
    np.testing.assert_allclose(inference, expected)


def test_batchnorm_gamma_and_beta_scale_and_shift_and_are_shared():
    gamma, beta = np.array([2.0, 3.0]), np.array([-1.0, 1.0])
    layer = BatchNormalization(gamma, beta)
    assert layer.params["gamma"] is gamma and layer.params["beta"] is beta
    out = layer.forward(np.array([[0.0, 0.0], [2.0, 4.0]]))
    np.testing.assert_allclose(out, [[-3.0, -2.0], [1.0, 4.0]], rtol=1e-6)


def test_batchnorm_bad_input():
    layer = BatchNormalization(np.ones(4), np.zeros(4))
    with pytest.raises(ValueError, match=r"x: expected \(N, 4\), got \(N, 5\)"):
        layer.forward(np.zeros((3, 5)))
    with pytest.raises(ValueError, match=r"beta: expected shape \(4,\)"):
        BatchNormalization(np.ones(4), np.zeros(3))
    with pytest.raises(ValueError, match=r"running_var: expected shape \(4,\), got \(3,\)"):
        BatchNormalization(np.ones(4), np.zeros(4), running_var=np.ones(3))


def test_reprs_name_the_layer_and_its_sizes():
    assert repr(Affine(np.ones((784, 50)), np.zeros(50))) == "Affine(784 -> 50)"
    assert repr(Relu()) == "Relu()"
    assert repr(SoftmaxWithLoss("textbook")) == "SoftmaxWithLoss(form='textbook')"
    assert repr(Dropout(0.3)) == "Dropout(dropout_ratio=0.3, inverted=False)"
    bn = BatchNormalization(np.ones(50), np.zeros(50))
    assert repr(bn) == "BatchNormalization(50, momentum=0.9, eps=1e-06)"


def test_batchnorm_gamma_and_beta_are_assignable_in_place():
    from scratchnet import MultiLayerNet

    net = MultiLayerNet(6, [4], 3, use_batchnorm=True, seed=0)
    bn = net.layers["BatchNorm1"]
    bn.gamma = [2.0, 2.0, 2.0, 2.0]
    bn.beta = np.arange(4.0)
    np.testing.assert_array_equal(net.params["gamma1"], 2.0)
    np.testing.assert_array_equal(net.params["beta1"], np.arange(4.0))
    assert bn.params["gamma"] is net.params["gamma1"] and net.params.intact()
    with pytest.raises(ValueError, match=r"beta: expected shape \(4,\), got \(3,\)"):
        bn.beta = np.zeros(3)
