"""``fastnn demo``: the book's small examples, printed with their values."""
import numpy as np


def register(sub):
    p = sub.add_parser("demo", help="print the book's small examples (gates, softmax, 3-layer forward, "
                                    "numerical gradients)",
                       description="Print the small examples of the book's chapters 2 to 4, "
                                   "computed by fastnn: perceptron gates, activation functions, "
                                   "softmax, a three-layer forward pass and numerical gradients.")
    p.add_argument("--plots", metavar="DIR", default=None,
                   help="also write gradient_field.png and descent_path.png (chapter 4) into DIR")
    p.set_defaults(func=run)


def run(args):
    if args.plots is not None:          # a bad directory fails before anything is printed
        _make_dir(args.plots)
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

    from ..gradient import gradient_descent, numerical_diff, numerical_gradient
    from ..plots import function_2

    print("numerical_diff of x0^2 + 4^2 at 3.0 =", numerical_diff(lambda x0: x0 * x0 + 4.0 ** 2.0, 3.0))
    for point in ((3.0, 4.0), (0.0, 2.0), (3.0, 0.0)):
        print(f"numerical_gradient of x0^2 + x1^2 at {point} =", numerical_gradient(function_2, np.array(point)))
    print("gradient_descent from (-3, 4), lr 0.1, 100 steps =",
          gradient_descent(function_2, np.array([-3.0, 4.0]), lr=0.1, step_num=100))
    if args.plots is not None:
        _write_plots(args.plots)
    return 0


def _make_dir(directory):
    import os

    if os.path.exists(directory) and not os.path.isdir(directory):
        raise NotADirectoryError(f"--plots {directory}: exists and is not a directory")
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as e:
        raise OSError(f"--plots {directory}: cannot create the directory ({e.strerror or e})") from None


def _write_plots(directory):
    """Both chapter-4 figures into directory; an error names the figure, not the temporary
    file it is written through."""
    import os

    from ..plots import plot_descent_path, plot_gradient_field

    for fn, name in ((plot_gradient_field, "gradient_field.png"), (plot_descent_path, "descent_path.png")):
        target = os.path.join(directory, name)
        try:
            fn(target)
        except OSError as e:
            raise OSError(f"{target}: cannot write the figure ({e.strerror or e})") from None
        print("wrote", target)
