"""scratchnet: a from-scratch NumPy deep-learning framework for MNIST.

Modules follow the textbook's ``common/`` names where it has one:

- ``functions`` (activations, softmax), ``losses``, ``layers``, ``gradient`` (numerical
  differentiation; the fast path beside it in ``fastgrad``), ``gradcheck`` (backprop against it);
- ``network`` (Sequential, TwoLayerNet, MultiLayerNet), with the book's module names
  ``multi_layer_net`` (a facade) and ``multi_layer_net_extend``; ``simple_convnet`` and
  ``deep_convnet`` (chapters 7 and 8);
- ``optimizers`` (and the book's name ``optimizer``, a facade);
- ``trainer`` (the loop), with a run's ``runlog`` (folder, CSV/JSON logs), ``plot`` (curves),
  ``checkpoint`` (files to resume from) and ``interrupt`` (Ctrl-C);
- ``util`` (atomic writes, BLAS threads, text tables, ``im2col``/``col2im``).

The modules starting with ``_`` are internal. scratchnet needs NumPy alone; it never imports ``dataset``.
"""

from .deep_convnet import DeepConvNet
from .functions import identity_function, log_softmax, relu, sigmoid, softmax, step_function
from .gradcheck import GradCheckResult, check_layer, gradient_check, rel_error
from .gradient import gradient_descent, numerical_diff, numerical_gradient
from .layers import (
    Affine,
    BatchNormalization,
    Convolution,
    Dropout,
    Layer,
    Pooling,
    Relu,
    Sigmoid,
    Softmax,
    SoftmaxWithLoss,
)
from .losses import cross_entropy_error, mean_squared_error, softmax_cross_entropy
from .multi_layer_net_extend import MultiLayerNetExtend
from .network import MultiLayerNet, Sequential, TwoLayerNet
from .optimizers import SGD, AdaGrad, Adam, Momentum, Nesterov, Optimizer, RMSProp, get_optimizer
from .simple_convnet import SimpleConvNet
from .trainer import GradientCheckError, Trainer, TrainingDiverged, TrainResult
from .util import col2im, conv_output_size, im2col

__version__ = "0.1.0"

__all__ = [
    "identity_function",
    "step_function",
    "sigmoid",
    "relu",
    "softmax",
    "log_softmax",
    "mean_squared_error",
    "cross_entropy_error",
    "softmax_cross_entropy",
    "numerical_diff",
    "numerical_gradient",
    "gradient_descent",
    "Layer",
    "Affine",
    "Sigmoid",
    "Relu",
    "Softmax",
    "SoftmaxWithLoss",
    "Dropout",
    "BatchNormalization",
    "Convolution",
    "Pooling",
    "conv_output_size",
    "im2col",
    "col2im",
    "Sequential",
    "TwoLayerNet",
    "MultiLayerNet",
    "MultiLayerNetExtend",
    "SimpleConvNet",
    "DeepConvNet",
    "rel_error",
    "gradient_check",
    "check_layer",
    "GradCheckResult",
    "Optimizer",
    "SGD",
    "Momentum",
    "Nesterov",
    "AdaGrad",
    "RMSProp",
    "Adam",
    "get_optimizer",
    "Trainer",
    "TrainResult",
    "TrainingDiverged",
    "GradientCheckError",
]
