"""The textbook's chapter 7 network: conv - relu - pool - affine - relu - affine - softmax."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ._checks import as_generator, check_positive_int
from .layers import Convolution, Pooling, Relu, SoftmaxWithLoss
from .network import Sequential, _affine, _check_dtype, _forward_blocks, _unchanged_on_error, _weight_std
from .util import conv_output_size

__all__ = ["SimpleConvNet"]

CONV_KEYS = ("filter_num", "filter_size", "pad", "stride")


def check_conv_param(name: str, param) -> dict[str, int]:
    """A conv_param dict with the textbook's four keys, each an int (pad >= 0, the others >= 1)."""
    if not isinstance(param, Mapping) or set(param) != set(CONV_KEYS):
        got = sorted(param) if isinstance(param, Mapping) else type(param).__name__
        raise ValueError(f"{name}: expected a dict with keys {list(CONV_KEYS)}, got {got}")
    out = {}
    for key in CONV_KEYS:
        value = param[key]
        low = 0 if key == "pad" else 1
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name}['{key}']: expected an integer >= {low}, got {value!r}")
        out[key] = int(value)
    return out


def check_input_dim(input_dim) -> tuple[int, int, int]:
    if not isinstance(input_dim, (tuple, list)) or len(input_dim) != 3:
        raise ValueError(f"input_dim: expected (C, H, W), got {input_dim!r}")
    return tuple(check_positive_int(f"input_dim[{i}]", v) for i, v in enumerate(input_dim))


def conv_layer(rng: np.random.Generator, channels: int, param: dict[str, int], std: float,
               dtype: np.dtype) -> Convolution:
    fn, fs = param["filter_num"], param["filter_size"]
    W = (std * rng.standard_normal((fn, channels, fs, fs))).astype(dtype)  # drawn in float64, as _affine
    return Convolution(W, np.zeros(fn, dtype=dtype), stride=param["stride"], pad=param["pad"])


class ConvNet(Sequential):
    """Sequential whose inference-mode predict runs in chunks, bounding the activations' memory.

    A batch of more than ``predict_chunk`` samples (an evaluation) goes chunk by chunk, each
    chunk's Convolution -> Relu -> 2x2 Pooling as one block (scratchnet/_conv_block.py: the
    same scores; SimpleConvNet's about twice as fast, DeepConvNet's about as fast). Smaller
    batches run layer by layer, so that the book's loop, ``net.loss(x, t)`` and then each
    layer's backward, finds what each layer's forward keeps.
    """

    #: Samples per forward pass in inference mode (the activations grow with the batch).
    predict_chunk = 500

    def predict(self, x, train: bool = False) -> np.ndarray:
        x = self._as_input(x)
        if train or len(x) <= self.predict_chunk:
            return super().predict(x, train)
        return np.concatenate([self._predict_blocks(x[i:i + self.predict_chunk])
                               for i in range(0, len(x), self.predict_chunk)])

    def _predict_blocks(self, x: np.ndarray) -> np.ndarray:
        """Inference-mode scores of x, with the conv blocks fused (a fresh array)."""
        fused: list[int] = []
        with _unchanged_on_error(self, False):
            out = _forward_blocks(self, x, lambda i, o: self._layer_forward(i, o, False), fused)
        last_is_block = bool(fused) and fused[-1] + 3 == len(self.layer_list) - 1
        return out.copy() if last_is_block else out  # a block's output is its buffer


class SimpleConvNet(ConvNet):
    """Convolution, Relu, 2x2 max Pooling, Affine, Relu, Affine, SoftmaxWithLoss (chapter 7).

    Parameters
    ----------
    input_dim : (C, H, W)
        (1, 28, 28) for MNIST; inputs are (N, C, H, W).
    conv_param : dict
        ``filter_num``, ``filter_size`` (square filters), ``pad``, ``stride``; the book's 30 5x5
        filters, pad 0, stride 1 by default.
    hidden_size, output_size : int
    weight_init_std : float or str
        Std of the Gaussian initial weights (0.01 in the book), or "he"/"relu", "xavier"/"sigmoid".
    seed : int, numpy.random.Generator or None
    dtype : float32 or float64
    loss_form : {"fused", "textbook"}

    Parameters are named W1, b1 (the filters, (FN, C, FH, FW)), W2, b2, W3, b3, as in the book.
    """

    def __init__(self, input_dim=(1, 28, 28),
                 conv_param: Mapping[str, int] | None = None,
                 hidden_size: int = 100, output_size: int = 10, weight_init_std=0.01,
                 *, seed=None, dtype=np.float64, loss_form: str = "fused") -> None:
        if conv_param is None:
            conv_param = {"filter_num": 30, "filter_size": 5, "pad": 0, "stride": 1}
        c, h, w = check_input_dim(input_dim)
        param = check_conv_param("conv_param", conv_param)
        hidden_size = check_positive_int("hidden_size", hidden_size)
        output_size = check_positive_int("output_size", output_size)
        dtype = _check_dtype(dtype)
        rng = as_generator("seed", seed)
        fs, fn = param["filter_size"], param["filter_num"]
        oh = conv_output_size(h, fs, param["stride"], param["pad"])
        ow = conv_output_size(w, fs, param["stride"], param["pad"])
        pooled = fn * conv_output_size(oh, 2, 2) * conv_output_size(ow, 2, 2)
        layers = [
            conv_layer(rng, c, param, _weight_std(weight_init_std, c * fs * fs), dtype),
            Relu(),
            Pooling(2, 2, stride=2),
            _affine(rng, pooled, hidden_size, weight_init_std, dtype),
            Relu(),
            _affine(rng, hidden_size, output_size, weight_init_std, dtype),
        ]
        super().__init__(*layers, loss=SoftmaxWithLoss(loss_form))
        self._pack_parameters()
        self.input_dim, self.conv_param = (c, h, w), param
        self.hidden_size, self.output_size = hidden_size, output_size

    def __repr__(self) -> str:
        return (f"SimpleConvNet(input_dim={self.input_dim}, conv_param={self.conv_param}, "
                f"hidden_size={self.hidden_size}, output_size={self.output_size}, dtype={self.dtype.name})")
