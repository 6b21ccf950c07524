"""The book's two-layer network: Affine -> sigmoid or ReLU -> Affine -> softmax."""
import numpy as np

from ._checks import (
    ShapeError, _shape_str, as_float_array, as_labels, describe, one_of, positive_float, positive_int,
)
from .layers import Affine, Relu, Sigmoid, SoftmaxWithLoss
from .threads import Adaptive, blas_for

ACTIVATIONS = {"sigmoid": Sigmoid, "relu": Relu}
PARAM_NAMES = ("W1", "b1", "W2", "b2")


class TwoLayerNet:
    """input_size -> hidden_size (sigmoid or ReLU) -> output_size (softmax).

    params: ``W1`` (D, H), ``b1`` (H,), ``W2`` (H, C), ``b2`` (C,), with
    weights drawn as ``weight_init_std * N(0, 1)`` from ``rng`` (or a fresh
    ``np.random.default_rng(seed)``) and zero biases, in ``dtype``.
    Targets ``t`` are integer labels (N,) or one-hot (N, C).

    The sizes and dtype are fixed at construction: an entry of ``params``
    replaced by an array of another shape or dtype is refused by every method
    (ShapeError / TypeError naming the entry); one that is not C-contiguous
    or not writeable is copied into a C-contiguous array, values unchanged.
    """

    def __init__(self, input_size, hidden_size, output_size, weight_init_std=0.01, *,
                 activation="sigmoid", dtype=np.float64, seed=None, rng=None):
        D = positive_int("input_size", input_size)
        H = positive_int("hidden_size", hidden_size)
        C = positive_int("output_size", output_size)
        one_of("activation", activation, tuple(ACTIVATIONS))
        try:
            dtype = np.dtype(dtype)
        except TypeError:
            raise TypeError(f"dtype: expected float32 or float64, got {dtype!r}") from None
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype: expected float32 or float64, got {dtype}")
        if rng is None:
            rng = np.random.default_rng(seed)
        elif not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng: expected a numpy.random.Generator, got {type(rng).__name__}")
        weight_init_std = positive_float("weight_init_std", weight_init_std, allow_zero=True)
        self._sizes = (D, H, C)
        self._shapes = {"W1": (D, H), "b1": (H,), "W2": (H, C), "b2": (C,)}
        self.activation = activation
        self.dtype = dtype
        self.params = {
            "W1": (weight_init_std * rng.standard_normal((D, H))).astype(dtype),
            "b1": np.zeros(H, dtype=dtype),
            "W2": (weight_init_std * rng.standard_normal((H, C))).astype(dtype),
            "b2": np.zeros(C, dtype=dtype),
        }
        self._layers = None

    @property
    def sizes(self):
        """(input_size, hidden_size, output_size), as built; checks ``params`` first."""
        self.check_params()
        return self._sizes

    def check_params(self):
        """Raise unless ``params`` holds W1, b1, W2, b2 of the built shapes and the net's dtype.

        Entries that are not C-contiguous and writeable are replaced by
        C-contiguous copies (same values), so that kernels may write into them.
        """
        p = self.params
        dt = self.dtype
        if not isinstance(p, dict):
            raise TypeError(f"params: expected a dict with {', '.join(PARAM_NAMES)}, got {type(p).__name__}")
        one_of("activation", self.activation, tuple(ACTIVATIONS))
        for k, shape in self._shapes.items():
            a = p.get(k)
            if type(a) is np.ndarray and a.dtype == dt and a.shape == shape:
                if not (a.flags.c_contiguous and a.flags.writeable):
                    p[k] = np.array(a, order="C")
                continue
            if a is None:
                raise ValueError(f"params: missing {k!r}; expected {_shape_str(shape)} {dt}")
            if not isinstance(a, np.ndarray):
                raise TypeError(f"params[{k!r}]: expected {_shape_str(shape)} {dt} array, got {type(a).__name__}")
            if a.dtype != dt:
                raise TypeError(f"params[{k!r}]: expected {_shape_str(shape)} {dt} like the net, got {describe(a)}")
            if a.shape != shape:
                raise ShapeError(f"params[{k!r}]: expected {_shape_str(shape)} {dt} "
                                 f"(the net is {'-'.join(map(str, self._sizes))}), got {describe(a)}")
            p[k] = np.array(a, order="C")       # an ndarray subclass: a plain copy

    # -- layers follow self.params, also when an entry is replaced --------
    def _sync(self):
        self.check_params()
        p = self.params
        L = self._layers
        if L is None or L[0].W is not p["W1"] or L[0].b is not p["b1"] \
                or L[2].W is not p["W2"] or L[2].b is not p["b2"]:
            for k in PARAM_NAMES:
                p[k] = as_float_array(f"params['{k}']", p[k], dtype=self.dtype)
            self._layers = [Affine(p["W1"], p["b1"]), ACTIVATIONS[self.activation](),
                            Affine(p["W2"], p["b2"])]
            self._last = SoftmaxWithLoss()
        return self._layers

    def check_input(self, x, t=None):
        """Validate a batch: x (N, input_size) float32 or float64, finite (converted to the
        net's dtype, as NumPy's same-kind casting would); t labels or one-hot."""
        D, _, C = self.sizes
        if isinstance(x, np.ndarray) and x.dtype != self.dtype and x.dtype in (np.float32, np.float64):
            x = x.astype(self.dtype)
        x = as_float_array("x", x, shape=(None, D), dtype=self.dtype)
        if t is None:
            return x
        t = t if isinstance(t, np.ndarray) else np.asarray(t)
        N = x.shape[0]
        if t.ndim == 2:
            if t.shape != (N, C):
                raise ShapeError(f"t: expected ({N},) integer labels or ({N}, {C}) one-hot, got {describe(t)}")
            t = as_float_array("t", t.astype(self.dtype, copy=False), shape=(N, C))
        else:
            t = as_labels("t", t, N, C)
        return x, t

    def _check_batch(self, x, t):
        """check_input for methods that need targets: t None is an error, not a missing value."""
        if t is None:
            _, _, C = self.sizes
            raise TypeError(f"t: expected (N,) integer labels or (N, {C}) one-hot, got None")
        return self.check_input(x, t)

    def _threads(self, call, x):
        """BLAS threads for one layer-path call on x (fastnn.threads.blas_for), timed per
        (call, batch size) so that a busy machine moves it to one thread."""
        if getattr(self, "_adaptive", None) is None:
            self._adaptive = Adaptive(probe_units=8)
        return blas_for(x.shape[0] * x.shape[1] * self.params["W1"].shape[1], self._adaptive,
                        (call, x.shape[0]))

    def _scores(self, x):
        out = x
        for layer in self._sync():       # x checked: the layers' unchecked paths
            out = layer._forward(out)
        return out

    def scores(self, x):
        """Pre-softmax outputs a2 = affine(activation(affine(x))).  (N, C)."""
        x = self.check_input(x)
        with self._threads("scores", x):
            return self._scores(x)

    def predict(self, x):
        """Class probabilities softmax(scores(x)).  x: (N, D) -> (N, C)."""
        from .functions import softmax
        return softmax(self.scores(x))

    def _loss(self, x, t):
        a = self._scores(x)
        return self._last._forward(a, "labels" if t.ndim == 1 else "dense", t)

    def loss(self, x, t):
        """Mean cross-entropy of predict(x) against t (with the book's 1e-7)."""
        x, t = self._check_batch(x, t)
        with self._threads("loss", x):
            return self._loss(x, t)

    def accuracy(self, x, t, batch_size=10000):
        """Fraction of samples whose arg-max class equals the label."""
        batch_size = positive_int("batch_size", batch_size)
        x, t = self._check_batch(x, t)
        labels = t if t.ndim == 1 else np.argmax(t, axis=1)
        hits = 0
        for i in range(0, x.shape[0], batch_size):
            xc = x[i:i + batch_size]
            with self._threads("scores", xc):
                a = self._scores(xc)
            hits += int(np.sum(np.argmax(a, axis=1) == labels[i:i + batch_size]))
        return hits / x.shape[0]

    def gradient(self, x, t):
        """Gradients of the loss by backprop through the layers: dict like ``params``."""
        x, t = self._check_batch(x, t)
        with self._threads("gradient", x):
            self._loss(x, t)
            a1, act, a2 = self._layers
            dout = act._backward(a2._backward(self._last.backward(1)))
            a1._backward(dout, need_dx=False)          # dx of the input is not needed
        return {"W1": a1.dW, "b1": a1.db, "W2": a2.dW, "b2": a2.db}

    def numerical_gradient(self, x, t, method="incremental", *, h=1e-4, delta=1e-7):
        """Gradients of the loss by central differences (h = 1e-4): dict like ``params``.

        method "incremental" (default; from cached activations, milliseconds) or
        "full" (the book's algorithm: the whole batch loss recomputed for every
        parameter moved by +h and -h).  Both give the same numbers to about
        1e-11 in float64; see :mod:`fastnn.numerical`.  delta is the book's
        constant inside the log (0 for the plain cross-entropy).
        """
        from .numerical import numerical_gradient
        self._check_batch(x, t)
        return numerical_gradient(self, x, t, method, h=h, delta=delta)

    def train_step(self, x, t, lr=0.01):
        """One fused SGD step (gradient and update in one compiled call); returns the loss.

        Same result as ``SGD(lr).update(params, gradient(x, t))``; see :mod:`fastnn.fused`.
        """
        opt = getattr(self, "_fused", None)
        if opt is None or opt.lr != lr:
            from .fused import FusedSGD
            opt = self._fused = FusedSGD(self, lr)
        return opt.step(x, t)

