"""The textbook's ``common.multi_layer_net_extend``: ``MultiLayerNetExtend``, with its keywords.

A thin layer over :class:`scratchnet.network.MultiLayerNet` (one network, not two): it takes the
book's constructor, spelling ``dropout_ration`` included, and uses the book's dropout, which keeps
units unscaled while training and multiplies by (1 - ratio) at inference
(``MultiLayerNet(..., dropout_inverted=False)``), so the book's trained weights give the book's
accuracy. ``MultiLayerNet(..., use_dropout=True)`` keeps the inverted form.
"""

from __future__ import annotations

from collections.abc import Sequence

from .network import MultiLayerNet

__all__ = ["MultiLayerNetExtend"]


class MultiLayerNetExtend(MultiLayerNet):
    """Fully connected network with the book's chapter 6 options: weight decay, dropout, batch norm.

    Parameters
    ----------
    input_size, hidden_size_list, output_size, activation, weight_init_std, weight_decay_lambda
        As :class:`scratchnet.network.MultiLayerNet`.
    use_dropout : bool
    dropout_ration : float in [0, 1)
        The book's spelling: the probability of dropping a unit (the book's form of dropout).
    use_batchnorm : bool
    seed, dtype, loss_form
        Keyword-only, as :class:`scratchnet.network.MultiLayerNet`.
    """

    def __init__(self, input_size: int, hidden_size_list: Sequence[int], output_size: int,
                 activation: str = "relu", weight_init_std="relu", weight_decay_lambda: float = 0,
                 use_dropout: bool = False, dropout_ration: float = 0.5, use_batchnorm: bool = False,
                 **kwargs) -> None:
        super().__init__(input_size, hidden_size_list, output_size, activation, weight_init_std,
                         weight_decay_lambda, use_dropout, dropout_ration, use_batchnorm,
                         dropout_inverted=False, **kwargs)
        self.dropout_ration = dropout_ration

    def __repr__(self) -> str:
        return super().__repr__().replace("MultiLayerNet(", "MultiLayerNetExtend(", 1).replace(
            "dropout_ratio=", "dropout_ration=")
