"""Tests for Convolution, Pooling and the im2col helpers (chapter 7)."""

from __future__ import annotations

import numpy as np
import pytest

from scratchnet import Convolution, Pooling, check_layer, col2im, conv_output_size, im2col


def reference_conv(x, W, b, stride, pad):
    """The convolution written out as loops over every output element."""
    n, c, h, w = x.shape
    fn, _, fh, fw = W.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = (h + 2 * pad - fh) // stride + 1, (w + 2 * pad - fw) // stride + 1
    out = np.empty((n, fn, oh, ow))
    for i in range(oh):
        for j in range(ow):
            window = xp[:, :, i * stride:i * stride + fh, j * stride:j * stride + fw]
            out[:, :, i, j] = np.tensordot(window, W, axes=([1, 2, 3], [1, 2, 3])) + b
    return out


def reference_pool(x, ph, pw, stride, pad):
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))  # zeros, as the textbook pads
    oh, ow = (h + 2 * pad - ph) // stride + 1, (w + 2 * pad - pw) // stride + 1
    out = np.empty((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            window = xp[:, :, i * stride:i * stride + ph, j * stride:j * stride + pw]
            out[:, :, i, j] = window.max(axis=(2, 3))
    return out


# (N, C, H, W), (FN, FH, FW), stride, pad
CONV_CASES = [
    ((2, 1, 6, 6), (3, 3, 3), 1, 0),
    ((2, 2, 7, 5), (3, 3, 2), 1, 1),   # non-square filter and input
    ((1, 3, 9, 9), (2, 3, 3), 2, 1),   # stride 2 with padding
    ((2, 2, 6, 6), (4, 2, 2), 2, 0),   # windows that tile exactly
    ((2, 1, 5, 5), (2, 1, 1), 1, 2),   # a 1x1 filter over the padding alone
]
# (N, C, H, W), (PH, PW), stride, pad
POOL_CASES = [
    ((2, 3, 8, 8), (2, 2), 2, 0),
    ((2, 2, 7, 7), (3, 3), 1, 0),      # overlapping: a 3x3 pool with stride 1
    ((1, 2, 6, 7), (3, 2), 1, 1),      # non-square, padded
    ((2, 1, 7, 7), (3, 3), 2, 1),
    ((2, 2, 9, 9), (2, 2), 3, 1),      # stride larger than the pool: gaps between windows
]


def _conv_layer(case, dtype=np.float64, seed=0):
    xshape, (fn, fh, fw), stride, pad = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(xshape).astype(dtype)
    W = rng.standard_normal((fn, xshape[1], fh, fw)).astype(dtype)
    b = rng.standard_normal(fn).astype(dtype)
    return Convolution(W, b, stride=stride, pad=pad), x


@pytest.mark.parametrize("case", CONV_CASES)
def test_convolution_forward_matches_the_loops(case):
    layer, x = _conv_layer(case)
    expected = reference_conv(x, layer.W, layer.b, layer.stride, layer.pad)
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", CONV_CASES)
def test_convolution_backward_passes_the_gradient_check(case):
    layer, x = _conv_layer(case)
    check_layer(layer, x).assert_close(rel_tol=1e-8)


@pytest.mark.parametrize("case", POOL_CASES)
def test_pooling_forward_matches_the_loops_and_passes_the_gradient_check(case):
    xshape, (ph, pw), stride, pad = case
    # Distinct values a fair way apart, so that no window has a tie within the step h.
    x = np.random.default_rng(1).permutation(np.prod(xshape)).reshape(xshape) * 0.01 - 1.0
    layer = Pooling(ph, pw, stride=stride, pad=pad)
    np.testing.assert_array_equal(layer.forward(x), reference_pool(x, ph, pw, stride, pad))
    check_layer(layer, x).assert_close(rel_tol=1e-8)


def test_pooling_ties_go_to_the_first_maximum_as_argmax_does():
    x = np.zeros((1, 1, 2, 2))
    layer = Pooling(2, 2, stride=2)
    layer.forward(x)
    np.testing.assert_array_equal(layer.backward(np.ones((1, 1, 1, 1)))[0, 0], [[1.0, 0.0], [0.0, 0.0]])


def test_overlapping_pool_sums_the_gradient_of_a_shared_maximum():
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = 5.0  # the maximum of all four 2x2 windows (stride 1)
    layer = Pooling(2, 2, stride=1)
    assert layer.forward(x).tolist() == [[[[5.0, 5.0], [5.0, 5.0]]]]
    dx = layer.backward(np.arange(1.0, 5.0).reshape(1, 1, 2, 2))
    assert dx[0, 0, 1, 1] == 10.0 and dx.sum() == 10.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layers_keep_their_dtype(dtype):
    layer, x = _conv_layer(CONV_CASES[1], dtype)
    y = layer.forward(x)
    dx = layer.backward(np.ones_like(y))
    assert y.dtype == dx.dtype == layer.dW.dtype == layer.db.dtype == dtype
    pool = Pooling(3, 3, stride=1)
    p = pool.forward(y)
    assert p.dtype == dtype and pool.backward(np.ones_like(p)).dtype == dtype


def test_convolution_float32_agrees_with_float64():
    layer64, x = _conv_layer(CONV_CASES[2])
    layer32 = Convolution(layer64.W.astype(np.float32), layer64.b.astype(np.float32), stride=2, pad=1)
    y32 = layer32.forward(x.astype(np.float32))
    np.testing.assert_allclose(y32, layer64.forward(x), rtol=1e-5, atol=1e-5)


def test_convolution_shares_parameters_fills_book_named_gradients_and_skips_dx_on_request():
    layer, x = _conv_layer(CONV_CASES[0])
    W = layer.params["W"]
    assert layer.W is W and layer.dW is layer.grads["W"] and layer.db is layer.grads["b"]
    y = layer.forward(x)
    dout = np.random.default_rng(2).standard_normal(y.shape)
    assert layer.backward(dout, input_grad=False) is None
    np.testing.assert_allclose(layer.db, dout.sum(axis=(0, 2, 3)))
    assert layer.dW.shape == W.shape


def test_out_buffers_are_written_and_inputs_never_changed():
    layer, x = _conv_layer(CONV_CASES[1])
    x0 = x.copy()
    y = layer.forward(x)
    buf = np.empty_like(y)
    assert layer.forward(x, out=buf) is buf
    np.testing.assert_array_equal(buf, y)
    dout = np.ones_like(y)
    dx = layer.backward(dout)
    dbuf = np.empty_like(x)
    assert layer.backward(dout, out=dbuf) is dbuf
    np.testing.assert_array_equal(dbuf, dx)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(dout, 1.0)


def test_a_returned_output_is_not_overwritten_by_the_next_forward():
    layer, x = _conv_layer(CONV_CASES[0])
    pool = Pooling(2, 2, stride=2)
    y = layer.forward(x)
    p = pool.forward(y)
    y0, p0 = y.copy(), p.copy()
    layer.forward(x * 2)
    pool.forward(y * 3)
    np.testing.assert_array_equal(y, y0)
    np.testing.assert_array_equal(p, p0)


@pytest.mark.parametrize("case", CONV_CASES)
def test_im2col_rows_are_the_windows_and_col2im_is_its_adjoint(case):
    xshape, (_, fh, fw), stride, pad = case
    rng = np.random.default_rng(3)
    x = rng.standard_normal(xshape)
    col = im2col(x, fh, fw, stride, pad)
    n, c, h, w = xshape
    oh, ow = conv_output_size(h, fh, stride, pad), conv_output_size(w, fw, stride, pad)
    assert col.shape == (n * oh * ow, c * fh * fw)
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    last = xp[n - 1, :, (oh - 1) * stride:(oh - 1) * stride + fh, (ow - 1) * stride:(ow - 1) * stride + fw]
    np.testing.assert_array_equal(col[-1], last.ravel())
    # <im2col(x), y> == <x, col2im(y)> for any y: col2im adds back exactly where im2col took from.
    y = rng.standard_normal(col.shape)
    back = col2im(y, xshape, fh, fw, stride, pad)
    np.testing.assert_allclose(np.vdot(col, y), np.vdot(x, back), rtol=1e-12)


def test_conv_output_size_and_sizes_that_do_not_tile():
    assert conv_output_size(28, 5) == 24
    assert conv_output_size(14, 3, 1, 2) == 16
    with pytest.raises(ValueError, match=r"\(7 \+ 2\*0 - 2\) = 5 is not divisible by stride 2"):
        conv_output_size(7, 2, 2, 0)
    with pytest.raises(ValueError, match="filter_size: expected at most input_size"):
        conv_output_size(3, 5)
    with pytest.raises(ValueError, match="stride: expected a positive integer, got 0"):
        conv_output_size(8, 2, 0)
    with pytest.raises(ValueError, match="pad: expected an integer >= 0, got -1"):
        conv_output_size(8, 2, 1, -1)


def test_bad_input_names_the_argument_and_what_was_expected():
    W, b = np.zeros((4, 3, 3, 3)), np.zeros(4)
    with pytest.raises(ValueError, match=r"W: expected filters of shape \(FN, C, FH, FW\), got \(4, 3\)"):
        Convolution(np.zeros((4, 3)), b)
    with pytest.raises(ValueError, match=r"b: expected shape \(4,\)"):
        Convolution(W, np.zeros(3))
    with pytest.raises(TypeError, match="b: expected the dtype of W"):
        Convolution(W, np.zeros(4, np.float32))
    with pytest.raises(ValueError, match="stride: expected an integer >= 1, got 0"):
        Convolution(W, b, stride=0)
    with pytest.raises(ValueError, match="pad: expected an integer >= 0, got -1"):
        Convolution(W, b, pad=-1)
    layer = Convolution(W, b)
    with pytest.raises(ValueError, match=r"x: expected images of shape \(N, 3, H, W\), got \(2, 27\)"):
        layer.forward(np.zeros((2, 27)))
    with pytest.raises(ValueError, match=r"x: expected 3 channels"):
        layer.forward(np.zeros((2, 1, 8, 8)))
    with pytest.raises(ValueError, match="filter_size: expected at most"):
        layer.forward(np.zeros((1, 3, 2, 2)))
    with pytest.raises(ValueError, match="pool_h: expected an integer >= 1, got 0"):
        Pooling(0, 2)
    with pytest.raises(ValueError, match="filter_size: expected at most input_size"):
        Pooling(4, 4).forward(np.zeros((1, 1, 3, 3)))  # a pool larger than the input
    with pytest.raises(ValueError, match="not divisible by stride 2"):
        Pooling(2, 2, stride=2).forward(np.zeros((1, 1, 7, 7)))
    with pytest.raises(RuntimeError, match="backward called before"):
        Pooling(2, 2).backward(np.zeros((1, 1, 1, 1)))
    layer.forward(np.zeros((1, 3, 5, 5)))
    with pytest.raises(ValueError, match="dout: expected shape"):
        layer.backward(np.zeros((1, 4, 2, 2)))
