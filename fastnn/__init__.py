"""fastnn: the network of *Deep Learning from Scratch* on fast numba kernels.

The book's API (functions, layers, ``TwoLayerNet``, ``MultiLayerNet``) checked at the boundary;
the compiled work is done by the separate :mod:`kernels` package.
"""
from .functions import (
    cross_entropy_error, identity_function, mean_squared_error, relu, sigmoid, softmax,
    step_function,
)
from .gradient import gradient_descent, numerical_diff, numerical_gradient
from .layers import AddLayer, Affine, MulLayer, Relu, Sigmoid, SoftmaxWithLoss
from .network import TwoLayerNet
from .model import MultiLayerNet
from .inference import predict
from .optimizers import SGD, AdaGrad, Adam, Momentum, Nesterov, RMSprop
from .perceptron import AND, NAND, OR, XOR
from ._checks import ShapeError

__version__ = "0.1.0"
