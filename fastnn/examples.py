"""The book's 3-layer forward example: fixed weights, sigmoid hidden layers, identity output."""
import numpy as np

from .functions import identity_function, sigmoid
from .layers import Affine


def init_network(dtype=np.float64):
    """The book's weights: W1 (2, 3), W2 (3, 2), W3 (2, 2) and their biases."""
    a = lambda v: np.array(v, dtype=dtype)  # noqa: E731
    return {
        "W1": a([[0.1, 0.3, 0.5], [0.2, 0.4, 0.6]]), "b1": a([0.1, 0.2, 0.3]),
        "W2": a([[0.1, 0.4], [0.2, 0.5], [0.3, 0.6]]), "b2": a([0.1, 0.2]),
        "W3": a([[0.1, 0.3], [0.2, 0.4]]), "b3": a([0.1, 0.2]),
    }


def forward(network, x):
    """x: (2,) or (N, 2) -> y: (2,) or (N, 2); sigmoid, sigmoid, identity."""
    z = x
    for i in (1, 2, 3):
        a = Affine(network[f"W{i}"], network[f"b{i}"]).forward(z)
        z = sigmoid(a) if i < 3 else identity_function(a)
    return z
