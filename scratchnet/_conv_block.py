"""Convolution, Relu and the book's 2x2 max Pooling as one step of a network's training pass.

Both of the book's conv nets end each stage with ``Convolution -> Relu -> Pooling(2, 2, stride=2)``.
Layer by layer, the convolution's whole output (6.9 MB for SimpleConvNet's batch of 100 in
float32) is written out, read by Relu, written again, and read by the pool; and Relu's backward
runs over the same size. :class:`ConvReluPool` computes the same numbers in another order:

- each chunk of the convolution's output is pooled while it is still in cache
  (:func:`scratchnet._conv.conv_gemm`'s ``sink``), so the whole output is never written out;
- Relu runs after the pool, on a quarter of the values. Max and ReLU commute exactly,
  max(relu(a), relu(b)) = relu(max(a, b)), and the gradient goes to the same place: where a
  window's maximum is positive, to its first maximum, the same one either way; elsewhere nowhere.

The forward values and the gradients are the layer path's bit for bit (zeros aside, whose sign
may differ; tests/test_conv_block.py). What the layers hold afterwards differs: the Convolution
holds its input as always, Relu holds the mask of the pooled values it ran on, and the Pooling
holds nothing (its winners stay here), so ``pool.backward`` alone asks for a forward first.
``net.loss``, and ``net.predict`` of up to ``predict_chunk`` samples, still run layer by layer, as the
book's loop expects; a larger ``predict`` (an evaluation) runs the blocks too.
"""

from __future__ import annotations

import numpy as np

from . import _conv
from .layers import Convolution, Pooling, Relu


def _is_book_pool(layer) -> bool:
    return (type(layer) is Pooling and layer.pool_h == layer.pool_w == layer.stride == 2
            and layer.pad == 0)


def blocks(layer_list: list) -> dict[int, ConvReluPool]:
    """The blocks of ``layer_list`` (its loss layer last), keyed by the index of their Convolution."""
    found, i = {}, 0
    hidden = layer_list[:-1]
    while i + 2 < len(hidden):
        conv, relu, pool = hidden[i:i + 3]
        if type(conv) is Convolution and type(relu) is Relu and _is_book_pool(pool):
            found[i] = ConvReluPool(conv, relu, pool)
            i += 3
        else:
            i += 1
    return found


class ConvReluPool:
    """The forward and backward pass of one Convolution -> Relu -> 2x2 Pooling, into kept buffers."""

    def __init__(self, conv: Convolution, relu: Relu, pool: Pooling) -> None:
        self.layers = (conv, relu, pool)
        self.bufs: dict[str, np.ndarray] = {}
        self.shape: tuple[int, int, int, int] | None = None  # the convolution's output, last forward

    def still_fits(self, layer_list: list, i: int) -> bool:
        """Whether layers i, i+1, i+2 are still this block's, and the pool still the book's 2x2."""
        conv, relu, pool = self.layers
        return (len(layer_list) > i + 3 and layer_list[i] is conv and layer_list[i + 1] is relu
                and layer_list[i + 2] is pool and _is_book_pool(pool))

    def forward(self, x) -> np.ndarray | None:
        """relu(pool(conv(x))), (N, FN, OH/2, OW/2) in W's dtype; None if OH or OW is odd.

        x is checked as ``Convolution.forward`` checks it; on None the caller runs the layers,
        whose pool says what is wrong. The result is a buffer reused by the next call.
        """
        conv, relu, pool = self.layers
        x, (n, fn, oh, ow) = conv._checked_input(x)
        if oh % 2 or ow % 2:
            return None
        pooled = (n, fn, oh // 2, ow // 2)
        out = _conv.scratch(self.bufs, "out", pooled, x.dtype)
        win = _conv.scratch(self.bufs, "win", pooled, np.dtype(np.intp))

        def pool_chunk(s: int, m: int, y: np.ndarray) -> None:
            _conv.pool_2x2_into(y, out[s:s + m], win[s:s + m], self.bufs, first=s)

        self.shape = None
        pool.x = None  # its winners are here: alone, it now asks for a forward first
        conv._forward(x, None, sink=pool_chunk)
        relu._forward(out, out)
        self.shape = (n, fn, oh, ow)
        return out

    def backward(self, dout, input_grad: bool = True) -> np.ndarray | None:
        """Fill the convolution's grads; return dx (N, C, H, W), or None when not input_grad."""
        conv, relu, _ = self.layers
        if self.shape is None:
            raise RuntimeError("ConvReluPool.backward called before its forward")
        out = self.bufs["out"]
        dout = conv._check_dout(dout, out.shape, out.dtype)
        d = relu._backward(dout, _conv.scratch(self.bufs, "d_pooled", out.shape, out.dtype))
        dy = _conv.scratch(self.bufs, "dy", self.shape, out.dtype)
        _conv.pool_2x2_scatter(d, dy, self.bufs["win"])
        if not input_grad:
            return conv.backward(dy, input_grad=False)
        return conv.backward(dy, out=_conv.scratch(self.bufs, "dx", conv.x.shape, out.dtype))
