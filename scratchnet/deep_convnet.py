"""The textbook's chapter 8 network: six 3x3 convolutions, three pools, two Affine layers, dropout."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ._checks import as_generator, check_positive_int
from .layers import Dropout, Pooling, Relu, SoftmaxWithLoss
from .network import _affine, _check_dtype, _weight_std
from .simple_convnet import ConvNet, check_conv_param, check_input_dim, conv_layer
from .util import conv_output_size

__all__ = ["DeepConvNet"]

#: The book's six convolutions: (filters, pad); all 3x3, stride 1.
BOOK_CONVS = ((16, 1), (16, 1), (32, 1), (32, 2), (64, 1), (64, 1))


def _book_param(filters: int, pad: int) -> dict[str, int]:
    return {"filter_num": filters, "filter_size": 3, "pad": pad, "stride": 1}


class DeepConvNet(ConvNet):
    """conv-relu-conv-relu-pool three times, Affine, Relu, Dropout, Affine, Dropout, SoftmaxWithLoss.

    He initialisation (std sqrt(2 / fan_in)) throughout, as in the book's chapter 8. Dropout is
    the book's form (ratio 0.5, unscaled while training, times 0.5 at inference; see
    :class:`Dropout`), so the book's trained weights give its accuracy. Srivastava et al. 2014,
    https://jmlr.org/papers/v15/srivastava14a.html; He et al. 2015, https://arxiv.org/abs/1502.01852.

    Parameters
    ----------
    input_dim : (C, H, W)
    conv_param_1 ... conv_param_6 : dict, optional
        As SimpleConvNet's ``conv_param``; the book's (16, 16, 32, 32, 64, 64 filters of 3x3,
        pad 1 except pad 2 for the fourth) by default.
    hidden_size, output_size : int
    seed : int, numpy.random.Generator or None
        The source of the weights and the dropout masks.
    dtype : float32 or float64

    Parameters are named W1..W6 / b1..b6 (filters) and W7, b7, W8, b8 (Affine), as in the book.
    ``layers`` is the book's plain list of the layers before the loss.
    """

    def __init__(self, input_dim=(1, 28, 28),
                 conv_param_1: Mapping[str, int] | None = None, conv_param_2: Mapping[str, int] | None = None,
                 conv_param_3: Mapping[str, int] | None = None, conv_param_4: Mapping[str, int] | None = None,
                 conv_param_5: Mapping[str, int] | None = None, conv_param_6: Mapping[str, int] | None = None,
                 hidden_size: int = 50, output_size: int = 10,
                 *, seed=None, dtype=np.float64, loss_form: str = "fused") -> None:
        given = (conv_param_1, conv_param_2, conv_param_3, conv_param_4, conv_param_5, conv_param_6)
        params = [check_conv_param(f"conv_param_{i}", _book_param(*BOOK_CONVS[i - 1]) if p is None else p)
                  for i, p in enumerate(given, 1)]
        c, h, w = check_input_dim(input_dim)
        hidden_size = check_positive_int("hidden_size", hidden_size)
        output_size = check_positive_int("output_size", output_size)
        dtype = _check_dtype(dtype)
        rng = as_generator("seed", seed)
        layers = []
        for i, param in enumerate(params):
            fs = param["filter_size"]
            layers += [conv_layer(rng, c, param, _weight_std("he", c * fs * fs), dtype), Relu()]
            c = param["filter_num"]
            h = conv_output_size(h, fs, param["stride"], param["pad"])
            w = conv_output_size(w, fs, param["stride"], param["pad"])
            if i % 2 == 1:
                layers.append(Pooling(2, 2, stride=2))
                h, w = conv_output_size(h, 2, 2), conv_output_size(w, 2, 2)
        dropout = [Dropout(0.5, inverted=False, seed=rng) for _ in range(2)]
        layers += [_affine(rng, c * h * w, hidden_size, "he", dtype), Relu(), dropout[0],
                   _affine(rng, hidden_size, output_size, "he", dtype), dropout[1]]
        super().__init__(*layers, loss=SoftmaxWithLoss(loss_form))
        #: The book's DeepConvNet keeps its layers in a plain list (its load_params indexes it
        #: 0, 2, 5, 7, 10, 12, 15, 18), not in an OrderedDict: so does this one.
        self.layers = self.layer_list[:-1]
        self._pack_parameters()
        self.input_dim, self.conv_params = tuple(input_dim), params
        self.hidden_size, self.output_size = hidden_size, output_size

    def __repr__(self) -> str:
        return (f"DeepConvNet(input_dim={self.input_dim}, hidden_size={self.hidden_size}, "
                f"output_size={self.output_size}, dtype={self.dtype.name})")
