"""Networks built from one description: the tables of :mod:`kernels.graph`.

A :class:`Network` is a sequence of operations (Affine, Sigmoid or Relu,
..., SoftmaxWithLoss) compiled into the tables ``ops`` and ``fops``.  Its
parameters live in one flat buffer ``theta`` (P,) of the network's dtype;
``params`` holds named views into it (``W1 b1 ... Wn bn``), so the book's
``net.params["W1"]`` and an optimizer that works on the whole buffer see the
same numbers.  Everything else derives from the tables:

- the layer path (``fastnn.layers`` objects over views into ``theta``),
  with gradients written into a flat buffer of the same layout;
- the evaluator :meth:`Network.evaluate` (``kernels.graph.forward``);
- :meth:`Network.architecture`, a JSON-able dict from which
  :func:`from_architecture` rebuilds an identical network (for files).

:class:`MultiLayerNet` (the book's chapter 6) and
:class:`~fastnn.network.TwoLayerNet` are such networks.
"""
import math

import numpy as np

import kernels.graph as G
from kernels.losses import cross_entropy_dense, cross_entropy_labels

from ._checks import (
    ShapeError, _shape_str, as_float_array, as_labels, describe, one_of, positive_float, positive_int,
)
from .layers import Affine, Relu, Sigmoid, SoftmaxWithLoss
from .threads import Adaptive, blas_for

#: Activation layers by name (the hidden layers' nonlinearity).
ACTIVATIONS = {"sigmoid": Sigmoid, "relu": Relu}
#: Weight initialisation names of the book's chapter 6: name -> numerator of the variance,
#: std = sqrt(numerator / fan_in) ("relu"/"he": He et al.; "sigmoid"/"xavier": Glorot).
INIT_NAMES = {"relu": 2.0, "he": 2.0, "sigmoid": 1.0, "xavier": 1.0}
DTYPES = ("float32", "float64")

_LAYERS = {G.SIGMOID: Sigmoid, G.RELU: Relu}
_CLASSES = {}       # class name -> class, for from_architecture


def network_class(cls):
    """Class decorator: ``cls`` may be rebuilt by :func:`from_architecture` from its name."""
    _CLASSES[cls.__name__] = cls
    return cls


def check_dtype(dtype):
    """np.dtype float32 or float64, else TypeError naming ``dtype``."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype: expected float32 or float64, got {dtype!r}") from None
    if dt not in (np.float32, np.float64):
        raise TypeError(f"dtype: expected float32 or float64, got {dt}")
    return dt


def check_rng(rng, seed):
    """The Generator ``rng``, or a fresh ``np.random.default_rng(seed)`` when rng is None."""
    if rng is None:
        return np.random.default_rng(seed)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng: expected a numpy.random.Generator, got {type(rng).__name__}")
    return rng


def weight_stds(weight_init_std, sizes):
    """The standard deviation of each W (one per Affine) for the widths ``sizes``.

    "relu" / "he": sqrt(2 / fan_in); "sigmoid" / "xavier": sqrt(1 / fan_in)
    (names as in the book, any case); a number >= 0: that std for every W.
    """
    if isinstance(weight_init_std, str):
        num = INIT_NAMES.get(weight_init_std.lower())
        if num is None:
            raise ValueError(f"weight_init_std: expected one of {', '.join(map(repr, INIT_NAMES))} "
                             f"or a number >= 0, got {weight_init_std!r}")
        return [math.sqrt(num / n) for n in sizes[:-1]]
    std = positive_float("weight_init_std", weight_init_std, allow_zero=True)
    return [std] * (len(sizes) - 1)


def check_weight_decay(lam):
    """float(lam) for a finite lam >= 0, else ValueError naming weight_decay_lambda."""
    return positive_float("weight_decay_lambda", lam, allow_zero=True)


class Network:
    """A fully connected network built from its description, with the layer path.

    sizes: (input, hidden..., output) widths; activation: "relu" or "sigmoid"
    after every Affine but the last; dtype float32 or float64;
    weight_decay_lambda >= 0 (the loss adds 0.5 * lambda * sum of W**2 over
    every W, the gradient lambda * W to each dW).  Parameters start at zero;
    subclasses draw the weights.  Targets ``t`` are integer labels (N,) or
    one-hot (N, C).

    Attributes: ``ops``, ``fops`` (the :mod:`kernels.graph` tables),
    ``theta`` (P,) the flat parameters, ``params`` the dict of named views
    into ``theta``, ``dtype``, ``sizes``, ``activation``,
    ``weight_decay_lambda``.  The tables, ``theta``, the sizes and the dtype
    are fixed at construction.  An entry of ``params`` replaced by the user
    is copied into ``theta`` by :meth:`check_params` (which every method calls
    first) and the entry points at its view again; later changes to the
    replacing array are not seen.  An array of another shape or dtype is
    refused (ShapeError / TypeError naming the entry and the network), and
    nothing is copied then.
    """

    def __init__(self, sizes, activation="relu", *, dtype=np.float64, weight_decay_lambda=0.0):
        sizes = tuple(positive_int("sizes", s) for s in sizes)
        if len(sizes) < 2:
            raise ValueError(f"sizes: expected at least (input, output) widths, got {sizes}")
        one_of("activation", activation, tuple(ACTIVATIONS))
        self._dtype = check_dtype(dtype)
        self._sizes = sizes
        self._activation = activation
        self._ops, self._fops, n_params, self._acts_width = self._describe(sizes, activation)
        self._theta = np.zeros(n_params, dtype=self._dtype)
        self._layout = G.param_layout(self._ops)
        self._shapes = {name: shape for name, _, shape in self._layout}
        self._names_at = {o: name for name, o, _ in self._layout}
        # (name, start, stop, shape or None for 1-D): the views, made per gradient call
        self._spans = [(name, o, o + math.prod(shape), shape if len(shape) > 1 else None)
                       for name, o, shape in self._layout]
        self._views = self._views_of(self._theta)
        self.params = dict(self._views)
        self.weight_decay_lambda = weight_decay_lambda
        # multiply-adds of one sample's forward products: the layer path's BLAS work measure
        self._macs = sum(int(r[G.IN]) * int(r[G.OUT]) for r in self._ops if r[G.KIND] == G.AFFINE)
        self._layers = None
        self._sync()            # the layers, over the views (theta is zero: finite)
        self._last = SoftmaxWithLoss()
        self._adaptive = None
        self.last_loss = None

    # -- the description -----------------------------------------------
    def _describe(self, sizes, activation):
        """The tables (ops, fops, n_params, acts_width) of this network (subclasses with more
        operations override it)."""
        return G.mlp(sizes, activation)

    def _infer(self, x, acts):
        """Inference forward of a checked chunk x through the compiled walker: probabilities."""
        return G.forward(self._ops, self._theta, x, acts)

    @property
    def ops(self):
        """(n_ops, kernels.graph.NCOLS) int64: one row per operation (read, do not modify)."""
        return self._ops

    @property
    def fops(self):
        """(n_ops, kernels.graph.NFCOLS) float64: per-operation constants."""
        return self._fops

    @property
    def theta(self):
        """(P,) the parameters, W1 b1 W2 b2 ... in order (``params`` are views into it)."""
        return self._theta

    @property
    def dtype(self):
        return self._dtype

    @property
    def activation(self):
        """The hidden layers' activation name, "relu" or "sigmoid"."""
        return self._activation

    @property
    def sizes(self):
        """(input, hidden..., output) widths, as built; checks ``params`` first."""
        self.check_params()
        return self._sizes

    @property
    def weight_decay_lambda(self):
        """L2 weight decay: the loss adds 0.5 * lambda * sum(W**2), dW adds lambda * W."""
        return self._lambda

    @weight_decay_lambda.setter
    def weight_decay_lambda(self, lam):
        self._lambda = check_weight_decay(lam)

    @property
    def acts_width(self):
        """Width per sample of the activation buffer of :func:`kernels.graph.forward`
        (its length is N * acts_width for N samples)."""
        return self._acts_width

    @property
    def param_names(self):
        """("W1", "b1", ..., "Wn", "bn"): the keys of ``params``, in theta's order."""
        return tuple(self._shapes)

    def param_views(self, buf):
        """Dict of named views (like ``params``) into ``buf`` (P,), a buffer of theta's layout
        (a flat gradient, an optimizer's flat state)."""
        if not isinstance(buf, np.ndarray) or buf.shape != self._theta.shape:
            raise ShapeError(f"buf: expected ({self._theta.size},) like theta, got {describe(np.asarray(buf))}")
        return self._views_of(buf)

    def _views_of(self, buf):
        return {name: buf[i:j] if shape is None else buf[i:j].reshape(shape) for name, i, j, shape in self._spans}

    def architecture(self):
        """A JSON-able dict describing the network; :func:`from_architecture` rebuilds it."""
        return {
            "class": type(self).__name__,
            "sizes": list(self._sizes),
            "activation": self._activation,
            "weight_decay_lambda": self._lambda,
            "dtype": self._dtype.name,
            "ops": [[G.KIND_NAMES[int(r[G.KIND])], int(r[G.IN]), int(r[G.OUT])] for r in self._ops],
        }

    @classmethod
    def _empty(cls, arch):
        """A network of ``cls`` with zero parameters from a checked architecture dict."""
        net = cls.__new__(cls)
        Network.__init__(net, arch["sizes"], arch["activation"], dtype=arch["dtype"],
                         weight_decay_lambda=arch["weight_decay_lambda"])
        return net

    def _draw_weights(self, stds, rng):
        """W_k = stds[k] * N(0, 1) drawn in order W1, W2, ... (rounded to the dtype); b = 0."""
        for i, std in enumerate(stds, start=1):
            W = self._views[f"W{i}"]
            W[...] = std * rng.standard_normal(W.shape)
            self._views[f"b{i}"][...] = 0

    def __repr__(self):
        return (f"{type(self).__name__}({'-'.join(map(str, self._sizes))}, {self._activation}, "
                f"{self._dtype.name}, weight_decay_lambda={self._lambda})")

    # -- checks ---------------------------------------------------------
    def check_params(self):
        """Raise unless ``params`` holds every entry with its shape and the net's dtype.

        An entry replaced since the last check is copied into ``theta`` and
        the entry points at its view again.  All entries are checked before
        any is copied, so an error leaves ``theta`` as it was.
        """
        p = self.params
        views = self._views
        if type(p) is dict:
            for k, v in views.items():
                if p.get(k) is not v or not v.flags.writeable:
                    break
            else:
                return
        elif not isinstance(p, dict):
            raise TypeError(f"params: expected a dict with {', '.join(self._shapes)}, got {type(p).__name__}")
        dt = self._dtype
        replaced = []
        for k, shape in self._shapes.items():
            a = p.get(k)
            if a is views[k]:
                a.flags.writeable = True        # made read-only by the user: theta is writeable
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
            as_float_array(f"params[{k!r}]", a, dtype=dt)        # finite values
            replaced.append((k, a))
        for k, a in replaced:
            views[k][...] = a
            p[k] = views[k]

    def check_input(self, x, t=None, *, finite=True):
        """Validate a batch: x (N, input) float32 or float64, finite (converted to the
        net's dtype, as NumPy's same-kind casting would); t labels (N,) or one-hot (N, C).
        finite=False leaves NaN and inf in x to a caller that finds them itself.

        Returns x, or (x, t) with t intp labels or a dense (N, C) array of the dtype.
        """
        self.check_params()
        D, C = self._sizes[0], self._sizes[-1]
        if isinstance(x, np.ndarray) and x.dtype != self._dtype and x.dtype in (np.float32, np.float64):
            x = x.astype(self._dtype)
        x = as_float_array("x", x, shape=(None, D), dtype=self._dtype, finite=bool(finite))
        if t is None:
            return x
        t = t if isinstance(t, np.ndarray) else np.asarray(t)
        N = x.shape[0]
        if t.ndim == 2:
            if t.shape != (N, C):
                raise ShapeError(f"t: expected ({N},) integer labels or ({N}, {C}) one-hot, got {describe(t)}")
            t = as_float_array("t", t.astype(self._dtype, copy=False), shape=(N, C))
        else:
            t = as_labels("t", t, N, C)
        return x, t

    def _check_batch(self, x, t):
        """check_input for methods that need targets: t None is an error, not a missing value."""
        if t is None:
            raise TypeError(f"t: expected (N,) integer labels or (N, {self._sizes[-1]}) one-hot, got None")
        return self.check_input(x, t)

    # -- the layer path ---------------------------------------------------
    def _sync(self):
        """The layers, built once over views into theta; checks ``params`` first."""
        self.check_params()
        if self._layers is None:
            built = [self._make_layer(k, row) for k, row in enumerate(self._ops[:-1])]
            self._layers = [layer for layer, _ in built]
            # backward's order: (layer, names of its parameters, whether its dx is needed)
            self._backprop = [(layer, names, k > 0) for k, (layer, names) in enumerate(built)][::-1]
        return self._layers

    def _make_layer(self, k, row):
        """(layer, names of its parameters) for operation k, a row of ``ops`` before the last
        (SoftmaxWithLoss, kept as ``_last``).  A layer with parameters takes views into theta
        and its ``_backward(dout, need_dx, *grads)`` writes their gradients into the views
        ``grads``.  Networks with more kinds of operation extend this."""
        kind = int(row[G.KIND])
        if kind == G.AFFINE:
            p = int(row[G.POFF])
            names = (self._names_at[p], self._names_at[p + int(row[G.IN]) * int(row[G.OUT])])
            return Affine(*(self._views[n] for n in names)), names
        if kind in _LAYERS:
            return _LAYERS[kind](), ()
        raise ValueError(f"operation {k}: {G.KIND_NAMES.get(kind, kind)} has no layer yet")

    def _threads(self, call, x):
        """BLAS threads for one layer-path call on x (fastnn.threads.blas_for), timed per
        (call, batch size) so that a busy machine moves it to one thread."""
        if self._adaptive is None:
            self._adaptive = Adaptive(probe_units=8)
        return blas_for(x.shape[0] * self._macs, self._adaptive, (call, x.shape[0]))

    def _scores(self, x):
        out = x
        for layer in self._sync():       # x checked: the layers' unchecked paths
            out = layer._forward(out)
        return out

    def _decay(self):
        """0.5 * lambda * sum of W**2 (0.0 without weight decay)."""
        lam = self._lambda
        return 0.5 * lam * G.weight_sq_sum(self._ops, self._theta) if lam else 0.0

    def _loss(self, x, t):
        a = self._scores(x)
        loss = self._last._forward(a, "labels" if t.ndim == 1 else "dense", t)
        return loss + self._decay() if self._lambda else loss

    def scores(self, x):
        """Pre-softmax outputs of the last Affine (what the book's predict returns).  (N, C)."""
        x = self.check_input(x)
        with self._threads("scores", x):
            return self._scores(x)

    def predict(self, x):
        """Class probabilities softmax(scores(x)).  x: (N, D) -> (N, C).

        fastnn's predict returns probabilities for every network (the book's
        MultiLayerNet.predict returns the pre-softmax scores: :meth:`scores`).
        """
        from .functions import softmax
        return softmax(self.scores(x))

    def loss(self, x, t):
        """Mean cross-entropy of predict(x) against t (with the book's 1e-7), plus
        0.5 * weight_decay_lambda * sum of W**2 over every W."""
        x, t = self._check_batch(x, t)
        with self._threads("loss", x):
            return self._loss(x, t)

    def accuracy(self, x, t, batch_size=10000):
        """Fraction of samples whose arg-max class equals the label (layer path, in chunks)."""
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

    def _gradient_into(self, x, t, grad, g):
        """Backprop on a checked batch into ``grad`` (P,) of theta's layout, whose named
        views are ``g``; returns the loss (also kept as ``last_loss``)."""
        loss = self._loss(x, t)
        dout = self._last.backward(1)
        for layer, names, need_dx in self._backprop:
            if names:       # the first layer's dx is not needed
                dout = layer._backward(dout, need_dx, *map(g.__getitem__, names))
            else:
                dout = layer._backward(dout)
        if self._lambda:
            G.add_weight_decay(self._ops, self._theta, grad, self._lambda)
        self.last_loss = loss
        return loss

    def _gradient(self, x, t):
        """(grad (P,), its named views): a new buffer, filled by backprop on (x, t)."""
        x, t = self._check_batch(x, t)
        grad = np.empty_like(self._theta)
        g = self._views_of(grad)
        with self._threads("gradient", x):
            self._gradient_into(x, t, grad, g)
        return grad, g

    def gradient_flat(self, x, t):
        """Gradient of the loss by backprop: a new (P,) array of theta's layout.

        Sets ``last_loss`` to the batch's loss (before any update).
        """
        return self._gradient(x, t)[0]

    def gradient(self, x, t):
        """Gradients of the loss by backprop through the layers: a dict like ``params``.

        The arrays are views into one new flat buffer of theta's layout (a
        later call does not change them).  dW includes weight_decay_lambda * W.
        Sets ``last_loss`` to the batch's loss (before any update).
        """
        return self._gradient(x, t)[1]

    def numerical_gradient(self, x, t, method=None, *, h=1e-4, delta=1e-7):
        """Gradients of the loss (weight decay included) by the book's central differences
        (h = 1e-4): a dict like ``params``, new arrays.

        method: None (the fastest that applies), "incremental" (two-layer nets,
        from cached activations through exact series), "cached" (any net) or
        "full" (the book's algorithm: the whole batch loss recomputed for every
        parameter moved by +h and -h); see :mod:`fastnn.numerical`.  delta is
        the book's constant inside the log (0 for the plain cross-entropy).
        """
        from .numerical import numerical_gradient
        self._check_batch(x, t)
        return numerical_gradient(self, x, t, method, h=h, delta=delta)

    # -- evaluation --------------------------------------------------------
    def evaluate(self, x, t, batch_size=10000):
        """(accuracy, loss) over a whole data set in chunks of ``batch_size`` rows.

        Forward passes only, through the compiled walker ``kernels.graph.forward``;
        the loss is the mean cross-entropy plus the weight-decay term, like :meth:`loss`.
        """
        batch_size = positive_int("batch_size", batch_size)
        x, t = self._check_batch(x, t)
        x = np.ascontiguousarray(x)
        labels = t if t.ndim == 1 else None
        N = x.shape[0]
        B = min(batch_size, N)
        acts = np.empty(B * self._acts_width, dtype=self._dtype)
        hits = 0
        total = 0.0
        for i in range(0, N, B):
            xc = x[i:i + B]
            n = xc.shape[0]
            with self._threads("evaluate", xc):
                y = self._infer(xc, acts[:n * self._acts_width])
            if labels is not None:
                total += cross_entropy_labels(y, labels[i:i + n]) * n
                hits += int(np.count_nonzero(np.argmax(y, axis=1) == labels[i:i + n]))
            else:
                tc = np.ascontiguousarray(t[i:i + n])
                total += cross_entropy_dense(y, tc) * n
                hits += int(np.count_nonzero(np.argmax(y, axis=1) == np.argmax(tc, axis=1)))
        return hits / N, total / N + self._decay()


def from_architecture(arch):
    """A network of the architecture ``arch`` (from :meth:`Network.architecture`), parameters zero."""
    if not isinstance(arch, dict):
        raise TypeError(f"architecture: expected a dict, got {type(arch).__name__}")
    missing = [k for k in ("class", "sizes", "activation", "dtype") if k not in arch]
    if missing:
        raise ValueError(f"architecture: missing {', '.join(map(repr, missing))}")
    name = arch["class"]
    if name not in _CLASSES:
        raise ValueError(f"architecture: class expected one of {', '.join(map(repr, sorted(_CLASSES)))}, "
                         f"got {name!r}")
    sizes = arch["sizes"]
    if not isinstance(sizes, (list, tuple)) or len(sizes) < 2 or \
            not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in sizes):
        raise ValueError(f"architecture: sizes expected a list of at least two positive integers, got {sizes!r}")
    one_of("architecture: activation", arch["activation"], tuple(ACTIVATIONS))
    one_of("architecture: dtype", arch["dtype"], DTYPES)
    checked = {"sizes": [int(s) for s in sizes], "activation": arch["activation"], "dtype": arch["dtype"],
               "weight_decay_lambda": check_weight_decay(arch.get("weight_decay_lambda", 0.0))}
    net = _CLASSES[name]._empty(dict(arch, **checked))
    ops = arch.get("ops")
    if ops is not None and [list(r) for r in ops] != net.architecture()["ops"]:
        raise ValueError(f"architecture: operations {ops!r} differ from those of {net!r}: "
                         f"{net.architecture()['ops']!r}")
    return net


@network_class
class MultiLayerNet(Network):
    """The book's fully connected network of chapter 6 (``common/multi_layer_net.py``).

    input_size -> hidden_size_list[0] -> ... -> hidden_size_list[-1] ->
    output_size, an ``activation`` ("relu" or "sigmoid") after every hidden
    Affine, softmax with cross-entropy at the end.  params ``W1 b1 ... Wn bn``
    (n = len(hidden_size_list) + 1) with W_k (fan_in, fan_out) drawn as
    ``std_k * N(0, 1)`` in order from ``rng`` (or a fresh
    ``np.random.default_rng(seed)``), biases zero.  weight_init_std: "relu" or
    "he" (std sqrt(2 / fan_in)), "sigmoid" or "xavier" (sqrt(1 / fan_in)), or a
    number (that std).  weight_decay_lambda: L2 decay, the loss adds
    0.5 * lambda * sum of W**2 over every W.

    Unlike the book's, :meth:`predict` returns probabilities, as every fastnn
    network does; :meth:`scores` returns the last Affine's output.
    """

    def __init__(self, input_size, hidden_size_list, output_size, activation="relu", weight_init_std="relu",
                 weight_decay_lambda=0.0, *, dtype=np.float64, seed=None, rng=None):
        D = positive_int("input_size", input_size)
        C = positive_int("output_size", output_size)
        hidden = _hidden_sizes(hidden_size_list)
        one_of("activation", activation, tuple(ACTIVATIONS))
        dtype = check_dtype(dtype)
        rng = check_rng(rng, seed)
        sizes = (D, *hidden, C)
        stds = weight_stds(weight_init_std, sizes)
        super().__init__(sizes, activation, dtype=dtype, weight_decay_lambda=weight_decay_lambda)
        self._draw_weights(stds, rng)

    @classmethod
    def _empty(cls, arch):
        _hidden_sizes(arch["sizes"][1:-1])
        return super()._empty(arch)

    @property
    def hidden_size_list(self):
        return list(self._sizes[1:-1])


def _hidden_sizes(hidden_size_list):
    """The hidden widths as a tuple of positive ints; one ValueError for anything else."""
    try:
        hidden = list(hidden_size_list)
    except TypeError:
        hidden = None
    if hidden is None or isinstance(hidden_size_list, (str, bytes)):
        raise TypeError(f"hidden_size_list: expected a list of positive integers, got {hidden_size_list!r}")
    if not hidden:
        raise ValueError("hidden_size_list: expected at least one hidden width, got an empty list "
                         "(MultiLayerNet has one or more hidden layers)")
    if not all(isinstance(h, (int, np.integer)) and not isinstance(h, bool) and h > 0 for h in hidden):
        raise ValueError(f"hidden_size_list: expected positive integer widths, got {hidden_size_list!r}")
    return tuple(int(h) for h in hidden)
