"""FACADE: the book's ``common.multi_layer_net`` module name; the class lives in :mod:`scratchnet.network`.

``from scratchnet.multi_layer_net import MultiLayerNet`` then
``MultiLayerNet(input_size=784, hidden_size_list=[100, 100], output_size=10, weight_decay_lambda=0.1)``
as in the book's chapter 6 scripts.
"""

from __future__ import annotations

from .network import MultiLayerNet

__all__ = ["MultiLayerNet"]
