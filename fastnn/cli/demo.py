"""``fastnn demo``: the book's small examples, printed with their values."""
import numpy as np


def register(sub):
    p = sub.add_parser("demo", help="print the book's small examples (gates, softmax, 3-layer forward)")
    p.set_defaults(func=run)


def run(args):
    from .. import AND, NAND, OR, XOR, cross_entropy_error, mean_squared_error, softmax
    from ..examples import forward, init_network

    pairs = [(0, 0), (1, 0), (0, 1), (1, 1)]
    for gate in (AND, NAND, OR, XOR):
        print(f"{gate.__name__:4s} " + "  ".join(f"{a}{b}->{gate(a, b)}" for a, b in pairs))
    print("softmax([0.3, 2.9, 4.0]) =", softmax(np.array([0.3, 2.9, 4.0])))
    t = np.eye(10)[2]
    for y in ([0.1, 0.05, 0.6, 0, 0.05, 0.1, 0, 0.1, 0, 0], [0.1, 0.05, 0.1, 0, 0.05, 0.1, 0, 0.6, 0, 0]):
        y = np.array(y)
        print(f"MSE {mean_squared_error(y, t):.4f}  CE {cross_entropy_error(y, t):.15g}")
    print("3-layer forward of [1.0, 0.5] =", forward(init_network(), np.array([1.0, 0.5])))
    return 0
