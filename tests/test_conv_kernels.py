"""The speed paths of Convolution and Pooling (scratchnet/_conv.py) against the plain im2col forms.

The chunked convolution kernels are checked with chunks small enough that a batch takes several,
the last one partial, in both column layouts (one matmul per chunk, one per sample); the 2x2 pool
against the general pooling path and a textbook argmax, with many ties (small integers) and windows
that are all zero.
"""

from __future__ import annotations

import numpy as np
import pytest

from scratchnet import Convolution, Pooling, _conv, col2im, im2col

# (N, C, H, W), (FN, FH, FW), stride, pad
CASES = [
    ((5, 2, 7, 7), (3, 3, 3), 1, 1),
    ((7, 3, 6, 8), (4, 2, 3), 1, 0),   # non-square filter and input
    ((5, 2, 9, 9), (3, 3, 3), 2, 1),   # stride 2: dx by col2im
    ((6, 1, 5, 5), (2, 1, 1), 1, 2),   # pad >= the filter size: dx by col2im
    ((3, 4, 6, 6), (5, 3, 3), 1, 2),   # the book's fourth convolution: pad 2 on 3x3
    ((4, 1, 8, 8), (6, 3, 3), 1, 0),   # many filters over few pixels (SimpleConvNet): one matmul per sample
    ((3, 1, 9, 9), (5, 3, 3), 2, 1),   # the same with stride 2
    ((3, 2, 12, 20), (3, 3, 3), 1, 1),  # wide images: columns in long rows, forward and dx
]


def test_the_cases_meet_the_long_rows_layout_and_the_plain_one():
    layouts = set()
    for (n, c, h, w), (fn, fh, fw), stride, pad in CASES:
        oh, ow = (h + 2 * pad - fh) // stride + 1, (w + 2 * pad - fw) // stride + 1
        xp = np.empty((n, c, h + 2 * pad, w + 2 * pad))
        side = _conv._side_by_side(fn, c * fh * fw)
        layouts.add((side, side and _conv._span(xp, stride, oh, ow, side)[1] == w + 2 * pad))
    assert layouts == {(False, False), (True, False), (True, True)}


def textbook_conv(x, W, b, stride, pad, dout):
    """Forward and the three gradients through the book's single im2col matrix."""
    n, _, h, w = x.shape
    fn, _, fh, fw = W.shape
    oh, ow = (h + 2 * pad - fh) // stride + 1, (w + 2 * pad - fw) // stride + 1
    col = im2col(x, fh, fw, stride, pad)
    y = (col @ W.reshape(fn, -1).T + b).reshape(n, oh, ow, fn).transpose(0, 3, 1, 2)
    d2 = dout.transpose(0, 2, 3, 1).reshape(-1, fn)
    dW = (col.T @ d2).T.reshape(W.shape)
    dx = col2im(d2 @ W.reshape(fn, -1), x.shape, fh, fw, stride, pad)
    return y, dW, d2.sum(axis=0), dx


@pytest.mark.parametrize("chunk_bytes", [1, 15000, 1 << 30])  # one sample, 2-3 (the last partial), all
@pytest.mark.parametrize("case", CASES)
def test_chunked_convolution_agrees_with_the_textbook_im2col(case, chunk_bytes, monkeypatch):
    monkeypatch.setattr(_conv, "CHUNK_BYTES", chunk_bytes)
    xshape, (fn, fh, fw), stride, pad = case
    assert _conv._side_by_side(fn, xshape[1] * fh * fw) == (xshape[1] > 1)  # both layouts are met
    rng = np.random.default_rng(7)
    x = rng.standard_normal(xshape)
    W = rng.standard_normal((fn, xshape[1], fh, fw))
    b = rng.standard_normal(fn)
    layer = Convolution(W, b, stride=stride, pad=pad)
    y = layer.forward(x)
    dout = rng.standard_normal(y.shape)
    dx = layer.backward(dout)
    ey, edW, edb, edx = textbook_conv(x, W, b, stride, pad, dout)
    for got, expected in ((y, ey), (layer.dW, edW), (layer.db, edb), (dx, edx)):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_other_batch_and_image_sizes_reuse_nothing_stale(monkeypatch):
    monkeypatch.setattr(_conv, "CHUNK_BYTES", 15000)  # chunks of 2 samples at 6x6
    rng = np.random.default_rng(8)
    W, b = rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3)
    layer = Convolution(W, b, stride=1, pad=1)
    for n, h, w in ((5, 6, 6), (2, 6, 6), (5, 6, 6), (5, 10, 24), (5, 12, 20), (4, 12, 20), (3, 6, 6)):
        x = rng.standard_normal((n, 2, h, w))
        dout = rng.standard_normal((n, 3, h, w))
        y = layer.forward(x)
        dx = layer.backward(dout)
        ey, edW, _, edx = textbook_conv(x, W, b, 1, 1, dout)
        np.testing.assert_allclose(y, ey, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(layer.dW, edW, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(dx, edx, rtol=1e-12, atol=1e-12)


def textbook_pool(x, dout):
    """The book's 2x2 max pool: windows as im2col rows, np.argmax, the gradient put back by col2im."""
    n, c, h, w = x.shape
    col = im2col(x, 2, 2, 2, 0).reshape(-1, 4)
    arg = np.argmax(col, axis=1)
    y = col.max(axis=1).reshape(n, h // 2, w // 2, c).transpose(0, 3, 1, 2)
    dmax = np.zeros((arg.size, 4))
    dmax[np.arange(arg.size), arg] = dout.transpose(0, 2, 3, 1).ravel()
    return y, col2im(dmax.reshape(-1, c * 4), x.shape, 2, 2, 2, 0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(3, 2, 4, 4), (2, 3, 6, 8), (1, 1, 2, 2), (4, 5, 10, 6), (2, 2, 4, 512)])
def test_2x2_pool_routes_ties_to_the_first_maximum_like_the_books_argmax(shape, dtype):
    rng = np.random.default_rng(9)
    x = rng.integers(0, 3, size=shape).astype(dtype)  # ties in most windows
    x[0, 0, :2, :2] = 0.0                             # a window of four equal values
    x[-1, -1, -2:, -2:] = [[1.0, 2.0], [2.0, 2.0]]    # the maximum twice, after the first place
    dout = rng.standard_normal((shape[0], shape[1], shape[2] // 2, shape[3] // 2)).astype(dtype)
    pool = Pooling(2, 2, stride=2)
    y = pool.forward(x)
    dx = pool.backward(dout)
    ey, edx = textbook_pool(x.astype(np.float64), dout.astype(np.float64))
    np.testing.assert_array_equal(y, ey)
    np.testing.assert_array_equal(dx, edx)
    assert y.dtype == dx.dtype == dtype


def test_2x2_pool_agrees_with_the_general_path_on_views_and_strided_out():
    rng = np.random.default_rng(10)
    x = rng.integers(-2, 3, size=(3, 4, 8, 12)).astype(np.float64)[:, ::2]  # a non-contiguous input
    dout = rng.standard_normal((3, 2, 4, 6))
    pool = Pooling(2, 2, stride=2)
    y = pool.forward(x)
    out = np.empty((3, 2, 8, 24))[..., ::2]  # a strided out
    dx = pool.backward(dout, out=out)
    assert dx is out
    m = np.empty_like(y)
    _conv.max_pool(x, 2, 2, 2, 4, 6, m)
    general = _conv.max_pool_backward(x, m, dout, 2, 2, 2, np.empty(x.shape), np.empty(m.shape, bool),
                                      np.empty(m.shape, bool))
    np.testing.assert_array_equal(y, m)
    np.testing.assert_array_equal(dx, general)
