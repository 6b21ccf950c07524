"""A plain-NumPy network with the attributes every fastnn network exposes (the issue-11 contract).

``ops`` comes from :func:`kernels.graph.mlp`, ``theta`` is the flat parameter
buffer and ``params`` its named views; ``loss`` and ``gradient`` are the
book's chapter-6 MultiLayerNet formulas (tests/reference.py), weight decay
``0.5 * lambda * sum W^2`` included.  Used where the numerical gradient needs a
network of any depth.
"""
import numpy as np

from kernels import graph as G

from . import reference as R


class StandInNet:
    """sizes (input, hidden..., output), "relu" or "sigmoid"; weights N(0, 1) * scale
    (default sqrt(2 / fan-in)), biases N(0, 1) * 0.1 so that a dropped bias shows."""

    def __init__(self, sizes, activation="relu", weight_decay_lambda=0.0, *, dtype=np.float64,
                 seed=0, scale=None, delta=1e-7):
        self.ops, self.fops, P, _ = G.mlp(sizes, activation)
        self.sizes = tuple(sizes)
        self.activation = activation
        self.weight_decay_lambda = weight_decay_lambda
        self.dtype = np.dtype(dtype)
        self.delta = delta
        self.theta = np.zeros(P, dtype=self.dtype)
        self.params = {name: self.theta[o:o + int(np.prod(s))].reshape(s)
                       for name, o, s in G.param_layout(self.ops)}
        rng = np.random.default_rng(seed)
        for name, p in self.params.items():
            if name[0] == "W":
                std = np.sqrt(2.0 / p.shape[0]) if scale is None else scale
                p[...] = std * rng.standard_normal(p.shape)
            else:
                p[...] = 0.1 * rng.standard_normal(p.shape)

    def check_params(self):
        for name, p in self.params.items():
            assert np.shares_memory(p, self.theta), name

    def check_input(self, x, t):
        return np.asarray(x, dtype=self.dtype), np.asarray(t)

    def _forward(self, x):
        act = R.relu if self.activation == "relu" else R.sigmoid
        n = len(self.sizes) - 1
        zs, a = [x], None
        for i in range(1, n + 1):
            a = R.affine_forward(zs[-1], self.params[f"W{i}"], self.params[f"b{i}"])
            if i < n:
                zs.append(act(a))
        return zs, a

    def decay(self):
        lam = self.weight_decay_lambda
        return sum(0.5 * lam * np.sum(p ** 2) for k, p in self.params.items() if k[0] == "W")

    def loss(self, x, t):
        y = R.softmax(self._forward(x)[1])
        labels = t if t.ndim == 1 else np.argmax(t, axis=1)
        return -np.sum(np.log(y[np.arange(y.shape[0]), labels] + self.delta)) / y.shape[0] + self.decay()

    def gradient(self, x, t):
        """Backprop (the book ignores delta in it) plus lambda * W."""
        zs, a = self._forward(x)
        _, _, dout = R.softmax_with_loss(a, t)
        n = len(self.sizes) - 1
        grads = {}
        for i in range(n, 0, -1):
            W = self.params[f"W{i}"]
            dx, dW, db = R.affine_backward(zs[i - 1], W, dout)
            grads[f"W{i}"] = dW + self.weight_decay_lambda * W
            grads[f"b{i}"] = db
            if i > 1:
                z = zs[i - 1]
                dout = R.relu_grad(dx, z) if self.activation == "relu" else R.sigmoid_grad(dx, z)
        return {k: grads[k] for k in self.params}
