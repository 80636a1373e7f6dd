"""FACADE: the textbook's ``common.optimizer`` module name. Every class lives in :mod:`scratchnet.optimizers`.

This module holds nothing of its own but the book's names, so that a chapter script's
``from scratchnet.optimizer import *`` supplies what ``from common.optimizer import *`` did,
``np`` included (the book's ``optimizer_compare_mnist.py`` goes on to use ``np``)::

    from scratchnet.optimizer import *
    optimizers = {"SGD": SGD(), "Momentum": Momentum(), "AdaGrad": AdaGrad(), "Adam": Adam()}
"""

from __future__ import annotations

import numpy as np

from .optimizers import SGD, AdaGrad, Adam, Momentum, Nesterov, RMSProp, RMSprop

__all__ = ["np", "SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "RMSProp", "Adam"]
