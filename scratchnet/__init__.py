"""scratchnet: a from-scratch NumPy deep-learning framework for MNIST.

Modules follow the textbook's names: ``functions`` (activations, softmax), ``losses``,
``gradient`` (numerical differentiation), ``layers``, ``network``, ``optimizers``, ``trainer``.
scratchnet needs NumPy alone; it never imports the ``dataset`` package.
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
    Pooling,
    Relu,
    Sigmoid,
    Softmax,
    SoftmaxWithLoss,
)
from .losses import cross_entropy_error, mean_squared_error, softmax_cross_entropy
from .network import MultiLayerNet, Sequential, TwoLayerNet
from .optimizers import SGD, AdaGrad, Adam, Momentum, Nesterov, RMSProp, get_optimizer
from .simple_convnet import SimpleConvNet
from .trainer import Trainer
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
    "SimpleConvNet",
    "DeepConvNet",
    "rel_error",
    "gradient_check",
    "check_layer",
    "GradCheckResult",
    "SGD",
    "Momentum",
    "Nesterov",
    "AdaGrad",
    "RMSProp",
    "Adam",
    "get_optimizer",
    "Trainer",
]
