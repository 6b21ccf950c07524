"""fastnn's compiled core: ``@njit`` kernels for the book's network.

Usable on its own (it imports nothing from ``fastnn``).  Kernels assume
valid input: C-contiguous arrays of one float dtype (float32 or float64),
integer labels in range, outputs preallocated by the caller.  The checked,
allocating API is :mod:`fastnn`.

Modules: ``activations``, ``softmax``, ``losses``, ``affine`` (the book's layers,
re-exported here); ``exponential`` (the exp their sigmoid and softmax loops use, which LLVM
vectorises); ``sparse`` (compressed rows of mostly-zero inputs);
``graph`` (the table describing a network); ``optimizers`` (the chapter-6 update
formulas over a flat buffer); ``train`` (whole training steps of any described network
with any optimizer, serial and parallel); ``fused`` (whole SGD steps of the two-layer
network, serial and parallel);
``numgrad`` (the numerical-gradient loop for ``@njit`` losses);
``dropout`` and ``batchnorm`` (the regularising layers of chapter 6);
``twolayer_numgrad`` (the two-layer network's numerical gradient, full and
incremental); ``graph_numgrad`` and ``graph_numgrad_train`` (any described network's,
the latter with dropout and batch normalization in training mode).
"""
from ._config import FASTMATH
from .activations import (
    identity, relu, relu_backward, relu_backward_from_output, relu_parallel,
    sigmoid, sigmoid_backward, sigmoid_parallel, step,
)
from .batchnorm import (
    batchnorm_backward, batchnorm_forward_infer, batchnorm_forward_train, batchnorm_running_update,
)
from .dropout import dropout_backward, dropout_forward, dropout_inference
from .affine import add_bias, affine_backward, affine_backward_params, affine_forward, bias_grad
from .losses import (
    DELTA, cross_entropy_dense, cross_entropy_labels, mean_squared_error,
    softmax_loss_backward_dense, softmax_loss_backward_labels, softmax_loss_dense,
    softmax_loss_fused_dense, softmax_loss_fused_labels, softmax_loss_labels,
)
from .numgrad import numerical_gradient_parallel, numerical_gradient_serial
from .softmax import softmax

__version__ = "0.1.0"
