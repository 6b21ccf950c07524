"""The book's formulas in plain NumPy: the trusted reference for every kernel.

Written as plainly as the book writes them, with no attention to speed.
"""
import numpy as np

#: Tolerances per dtype for comparing kernels with these formulas.
TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-12, atol=1e-13)}


def step_function(x):
    return np.array(x > 0, dtype=np.int64)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def sigmoid_grad(dout, y):
    return dout * (1.0 - y) * y


def relu(x):
    return np.maximum(0, x)


def relu_grad(dout, x):
    dx = dout.copy()
    dx[x <= 0] = 0
    return dx


def identity_function(x):
    return x


def softmax(a):
    a = a - np.max(a, axis=-1, keepdims=True)
    e = np.exp(a)
    return e / np.sum(e, axis=-1, keepdims=True)


def mean_squared_error(y, t):
    return 0.5 * np.sum((y - t) ** 2)


def cross_entropy_error(y, t):
    """Batch version: t one-hot (same shape as y) or labels; mean over the batch."""
    if y.ndim == 1:
        t = t.reshape(1, -1) if np.ndim(t) else np.array([t])
        y = y.reshape(1, -1)
    if t.shape == y.shape:
        return -np.sum(t * np.log(y + 1e-7)) / y.shape[0]
    return -np.sum(np.log(y[np.arange(y.shape[0]), t] + 1e-7)) / y.shape[0]


def affine_forward(x, W, b):
    return np.dot(x.reshape(x.shape[0], -1), W) + b


def affine_backward(x, W, dout):
    x2 = x.reshape(x.shape[0], -1)
    return np.dot(dout, W.T).reshape(x.shape), np.dot(x2.T, dout), np.sum(dout, axis=0)


def softmax_with_loss(a, t):
    """(loss, y, dx) with dx = (y - t) / N for one-hot or label t."""
    y = softmax(a)
    loss = cross_entropy_error(y, t)
    N = y.shape[0]
    dx = y.copy()
    if t.shape == y.shape:
        dx = (y - t) / N
    else:
        dx[np.arange(N), t] -= 1
        dx = dx / N
    return loss, y, dx


def numerical_gradient(f, x, h=1e-4):
    """Central differences, one element at a time (x is float64 or longdouble, restored
    afterwards)."""
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    while not it.finished:
        i = it.multi_index
        v = x[i]
        x[i] = v + h
        f1 = f()
        x[i] = v - h
        f2 = f()
        x[i] = v
        grad[i] = (f1 - f2) / (2 * h)
        it.iternext()
    return grad


# ---------------------------------------------------------------------------
# The two-layer network of chapters 4 and 5, written from the equations
#   a1 = x W1 + b1,  z1 = act(a1),  a2 = z1 W2 + b2,  y = softmax(a2),
#   L = -sum_n log(y[n, t_n] + delta) / N
# and its gradients by the chain rule, one line per equation.
# ---------------------------------------------------------------------------
def _one_hot(t, C, dtype):
    t = np.asarray(t)
    if t.ndim == 2:
        return t.astype(dtype)
    return np.eye(C, dtype=dtype)[t]


def two_layer_forward(params, x, activation="sigmoid"):
    """(a1, z1, a2, y) of the network for x: (N, D)."""
    act = sigmoid if activation == "sigmoid" else relu
    a1 = np.dot(x, params["W1"]) + params["b1"]
    z1 = act(a1)
    a2 = np.dot(z1, params["W2"]) + params["b2"]
    return a1, z1, a2, softmax(a2)


def two_layer_predict(params, x, activation="sigmoid"):
    """Class probabilities y = softmax(a2): (N, C)."""
    return two_layer_forward(params, x, activation)[3]


def two_layer_loss(params, x, labels, activation="sigmoid", delta=1e-7):
    """Mean cross-entropy with the book's delta inside the log; labels (N,) or one-hot/soft (N, C)."""
    y = two_layer_predict(params, x, activation)
    T = _one_hot(labels, y.shape[1], y.dtype)
    return -np.sum(T * np.log(y + delta)) / y.shape[0]


def two_layer_accuracy(params, x, t, activation="sigmoid"):
    """Fraction of samples whose most probable class is the label (labels or one-hot t)."""
    y = two_layer_predict(params, x, activation)
    t = np.asarray(t)
    labels = np.argmax(t, axis=1) if t.ndim == 2 else t
    return float(np.mean(np.argmax(y, axis=1) == labels))


def two_layer_gradient(params, x, t, activation="sigmoid"):
    """dL/dW1, dL/db1, dL/dW2, dL/db2 by the chain rule (delta ignored, as in the book)."""
    a1, z1, a2, y = two_layer_forward(params, x, activation)
    N = x.shape[0]
    da2 = (y - _one_hot(t, y.shape[1], y.dtype)) / N          # softmax + cross-entropy
    dz1 = np.dot(da2, params["W2"].T)
    if activation == "sigmoid":
        da1 = dz1 * z1 * (1 - z1)                               # sigma' = sigma (1 - sigma)
    else:
        da1 = dz1 * (a1 > 0)                                    # relu' = 1 where a > 0
    return {"W1": np.dot(x.T, da1), "b1": da1.sum(axis=0),
            "W2": np.dot(z1.T, da2), "b2": da2.sum(axis=0)}


def two_layer_numerical_gradient(params, x, t, activation="sigmoid", h=1e-4, delta=1e-7,
                                 dtype=np.float64):
    """The book's algorithm: every parameter moved by +h and -h, the whole batch loss
    recomputed each time; central difference (L(p + h) - L(p - h)) / (2 h).

    Computes in ``dtype`` (np.longdouble gives a reference with less rounding)."""
    p = {k: np.array(v, dtype=dtype) for k, v in params.items()}
    xx = np.asarray(x, dtype=dtype)
    hh = dtype(h)
    grads = {}
    for key in ("W1", "b1", "W2", "b2"):
        grads[key] = numerical_gradient(
            lambda: two_layer_loss(p, xx, t, activation, delta), p[key], hh)
    return grads


# ---------------------------------------------------------------------------
# Optimizers (chapter 6), update(params, grads) in place
# ---------------------------------------------------------------------------
class SGD:
    """W = W - lr * dL/dW."""

    def __init__(self, lr=0.01):
        self.lr = lr

    def update(self, params, grads):
        for key in params:
            params[key] = params[key] - self.lr * grads[key]


class Momentum:
    """v = momentum * v - lr * dL/dW;  W = W + v  (v starts at 0)."""

    def __init__(self, lr=0.01, momentum=0.9):
        self.lr, self.momentum, self.v = lr, momentum, None

    def update(self, params, grads):
        if self.v is None:
            self.v = {k: np.zeros_like(v) for k, v in params.items()}
        for key in params:
            self.v[key] = self.momentum * self.v[key] - self.lr * grads[key]
            params[key] = params[key] + self.v[key]


class Nesterov:
    """The book's Nesterov update: v = momentum * v - lr * dL/dW;
    W = W + momentum^2 * v - (1 + momentum) * lr * dL/dW  (v starts at 0)."""

    def __init__(self, lr=0.01, momentum=0.9):
        self.lr, self.momentum, self.v = lr, momentum, None

    def update(self, params, grads):
        if self.v is None:
            self.v = {k: np.zeros_like(v) for k, v in params.items()}
        for key in params:
            self.v[key] = self.momentum * self.v[key] - self.lr * grads[key]
            params[key] = (params[key] + self.momentum ** 2 * self.v[key]
                           - (1 + self.momentum) * self.lr * grads[key])


class AdaGrad:
    """h = h + (dL/dW)^2;  W = W - lr * dL/dW / (sqrt(h) + eps)  (h starts at 0)."""

    def __init__(self, lr=0.01, eps=1e-7):
        self.lr, self.eps, self.h = lr, eps, None

    def update(self, params, grads):
        if self.h is None:
            self.h = {k: np.zeros_like(v) for k, v in params.items()}
        for key in params:
            self.h[key] = self.h[key] + grads[key] ** 2
            params[key] = params[key] - self.lr * grads[key] / (np.sqrt(self.h[key]) + self.eps)


class RMSprop:
    """h = decay_rate * h + (1 - decay_rate) * (dL/dW)^2;  W = W - lr * dL/dW / (sqrt(h) + eps)."""

    def __init__(self, lr=0.01, decay_rate=0.99, eps=1e-7):
        self.lr, self.decay_rate, self.eps, self.h = lr, decay_rate, eps, None

    def update(self, params, grads):
        if self.h is None:
            self.h = {k: np.zeros_like(v) for k, v in params.items()}
        for key in params:
            self.h[key] = self.decay_rate * self.h[key] + (1 - self.decay_rate) * grads[key] ** 2
            params[key] = params[key] - self.lr * grads[key] / (np.sqrt(self.h[key]) + self.eps)


class Adam:
    """Kingma & Ba, with the bias corrections folded into the step size as in the book:
    m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2;
    lr_t = lr sqrt(1 - beta2^t) / (1 - beta1^t);  W = W - lr_t m / (sqrt(v) + eps)."""

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8):
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.t = 0
        self.m = self.v = None

    def update(self, params, grads):
        if self.m is None:
            self.m = {k: np.zeros_like(v) for k, v in params.items()}
            self.v = {k: np.zeros_like(v) for k, v in params.items()}
        self.t += 1
        lr_t = self.lr * np.sqrt(1 - self.beta2 ** self.t) / (1 - self.beta1 ** self.t)
        for key in params:
            g = grads[key]
            self.m[key] = self.beta1 * self.m[key] + (1 - self.beta1) * g
            self.v[key] = self.beta2 * self.v[key] + (1 - self.beta2) * g ** 2
            params[key] = params[key] - lr_t * self.m[key] / (np.sqrt(self.v[key]) + self.eps)


def train_sgd(params, x, t, batches, lr, activation="sigmoid"):
    """Plain SGD on the rows of each batch in turn (index arrays); returns the losses
    before each update.  params are replaced, not updated in place."""
    losses = []
    for rows in batches:
        losses.append(two_layer_loss(params, x[rows], t[rows], activation))
        g = two_layer_gradient(params, x[rows], t[rows], activation)
        for k in params:
            params[k] = params[k] - lr * g[k]
    return losses


# ---------------------------------------------------------------------------
# Comparing with the reference
# ---------------------------------------------------------------------------
def agree(actual, expected, tol, what="", scale=None):
    """Assert that the normwise relative difference max|actual - expected| / max|expected|
    (or / ``scale`` when given) is at most ``tol`` (shapes equal).  With FASTNN_SHOW_AGREEMENT=1 (and pytest -s) the
    measured difference is printed: that is how the tolerances next to the assertions
    were derived."""
    import os
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    assert a.shape == e.shape, f"{what}: shape {a.shape}, expected {e.shape}"
    if scale is None:
        scale = max(float(np.abs(e).max(initial=0.0)), 1e-300)
    err = float(np.abs(a - e).max(initial=0.0)) / scale
    if os.environ.get("FASTNN_SHOW_AGREEMENT"):
        print(f"\n  agreement {what}: {err:.1e} (tol {tol:.0e})")
    assert err <= tol, f"{what}: relative difference {err:.2e} > tolerance {tol:.0e}"
    return err


def dense_inputs(rng, n, d, dtype=np.float64):
    """(n, d) inputs in [0.05, 1): no zero anywhere, so every pixel, every thread's range
    of pixels and every range boundary carries a non-zero value (unlike MNIST, whose
    pixels 391 and 783 are 0 in every sample digit)."""
    return rng.uniform(0.05, 1.0, (n, d)).astype(dtype)


def two_layer_params(rng, d, h, c, dtype=np.float64, scale=0.5):
    """Random W1, b1, W2, b2 with non-zero biases (so a dropped bias term shows)."""
    return {"W1": (scale * rng.standard_normal((d, h))).astype(dtype),
            "b1": (scale * rng.standard_normal(h)).astype(dtype),
            "W2": (scale * rng.standard_normal((h, c))).astype(dtype),
            "b2": (scale * rng.standard_normal(c)).astype(dtype)}


# -- the book's MultiLayerNet (chapter 6), any depth ------------------------------------------
def multi_layer_init_stds(weight_init_std, sizes):
    """One std per W, as common/multi_layer_net.py's __init_weight: "relu"/"he" sqrt(2 / n_in),
    "sigmoid"/"xavier" sqrt(1 / n_in), a number for every W."""
    stds = []
    for n_in in sizes[:-1]:
        scale = weight_init_std
        if str(weight_init_std).lower() in ("relu", "he"):
            scale = np.sqrt(2.0 / n_in)
        elif str(weight_init_std).lower() in ("sigmoid", "xavier"):
            scale = np.sqrt(1.0 / n_in)
        stds.append(scale)
    return stds


def multi_layer_params(rng, sizes, dtype=np.float64, scale=0.5):
    """Random W1, b1, ..., Wn, bn for widths ``sizes`` (non-zero biases)."""
    p = {}
    for i in range(1, len(sizes)):
        p[f"W{i}"] = (scale * rng.standard_normal((sizes[i - 1], sizes[i]))).astype(dtype)
        p[f"b{i}"] = (scale * rng.standard_normal(sizes[i])).astype(dtype)
    return p


def multi_layer_forward(params, x, activation="relu"):
    """(inputs of each Affine, pre-activations of each Affine, probabilities y)."""
    act = sigmoid if activation == "sigmoid" else relu
    n = len(params) // 2
    zs, As = [], []
    z = x
    for i in range(1, n + 1):
        zs.append(z)
        a = np.dot(z, params[f"W{i}"]) + params[f"b{i}"]
        As.append(a)
        z = act(a) if i < n else a
    return zs, As, softmax(As[-1])


def multi_layer_scores(params, x, activation="relu"):
    """The last Affine's output (what the book's MultiLayerNet.predict returns)."""
    return multi_layer_forward(params, x, activation)[1][-1]


def multi_layer_loss(params, x, t, activation="relu", weight_decay_lambda=0.0, delta=1e-7):
    """Mean cross-entropy + 0.5 * lambda * sum of W**2 over every W (the book's loss)."""
    y = multi_layer_forward(params, x, activation)[2]
    T = _one_hot(t, y.shape[1], y.dtype)
    decay = sum(0.5 * weight_decay_lambda * np.sum(params[k] ** 2) for k in params if k[0] == "W")
    return -np.sum(T * np.log(y + delta)) / y.shape[0] + decay


def multi_layer_gradient(params, x, t, activation="relu", weight_decay_lambda=0.0):
    """Backprop through every layer; dW_k gets + lambda * W_k (the book's gradient)."""
    zs, As, y = multi_layer_forward(params, x, activation)
    n = len(zs)
    da = (y - _one_hot(t, y.shape[1], y.dtype)) / x.shape[0]
    g = {}
    for i in range(n, 0, -1):
        g[f"W{i}"] = np.dot(zs[i - 1].T, da) + weight_decay_lambda * params[f"W{i}"]
        g[f"b{i}"] = da.sum(axis=0)
        if i > 1:
            dz = np.dot(da, params[f"W{i}"].T)
            z = zs[i - 1]
            da = dz * z * (1 - z) if activation == "sigmoid" else dz * (As[i - 2] > 0)
    return g
