"""Perceptron logic gates: y = step(w . x + b), and XOR from two layers of them."""
import numpy as np

from .functions import step_function

#: (weights, bias) of the single-layer gates.
GATES = {
    "AND": (np.array([0.5, 0.5]), -0.7),
    "NAND": (np.array([-0.5, -0.5]), 0.7),
    "OR": (np.array([0.5, 0.5]), -0.2),
}


def perceptron(x, w, b):
    """step(sum(w * x) + b) as 0 or 1.  x, w: (D,)."""
    return int(step_function(np.dot(np.asarray(x, dtype=np.float64), w) + b))


def AND(x1, x2):
    return perceptron([x1, x2], *GATES["AND"])


def NAND(x1, x2):
    return perceptron([x1, x2], *GATES["NAND"])


def OR(x1, x2):
    return perceptron([x1, x2], *GATES["OR"])


def XOR(x1, x2):
    """A two-layer perceptron: AND(NAND(x1, x2), OR(x1, x2))."""
    return AND(NAND(x1, x2), OR(x1, x2))
