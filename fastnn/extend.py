"""The book's MultiLayerNetExtend (chapter 6): MultiLayerNet with dropout and batch
normalization, built from one description like every fastnn network.

Every hidden layer is Affine -> [BatchNormalization] -> activation ->
[Dropout], as in the book's ``common/multi_layer_net_extend.py``.  gamma and
beta live in ``theta`` beside the weights (``params`` names them ``gamma1
beta1 ...``); the running mean and variance live in the state buffer
``state`` (``kernels.graph`` lays both out).  Dropout masks are drawn from
the network's generator ``rng`` (the one that drew the weights, unless
replaced), so a seed fixes the weights and every mask.
"""
import numpy as np

import kernels.graph as G

from ._checks import one_of, positive_int
from .model import (
    ACTIVATIONS, Network, _hidden_sizes, check_dtype, check_rng, network_class, weight_stds,
)
from .regularization import BatchNormalization, Dropout, check_dropout_ratio, check_momentum


def _flag(name, v):
    if not isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{name}: expected True or False, got {type(v).__name__} {v!r}")
    return bool(v)


def _ratio(dropout_ration, dropout_ratio):
    """The dropout ratio from the book's spelling or fastnn's, refusing two different values."""
    if dropout_ratio is None:
        return check_dropout_ratio(dropout_ration, "dropout_ration")
    r = check_dropout_ratio(dropout_ratio)
    if dropout_ration != 0.5 and check_dropout_ratio(dropout_ration, "dropout_ration") != r:
        raise ValueError(f"dropout_ratio: given as {dropout_ratio!r} and as dropout_ration={dropout_ration!r} "
                         f"(the book's spelling); give one")
    return r


@network_class
class MultiLayerNetExtend(Network):
    """MultiLayerNet with the book's options: ``use_dropout`` with ``dropout_ration`` (the
    book's spelling) or ``dropout_ratio`` in [0, 1); ``use_batchnorm`` with ``momentum`` in
    (0, 1) for the running statistics.  Other arguments as :class:`fastnn.model.MultiLayerNet`.

    ``predict(x, train_flg=False)`` returns probabilities (``scores`` the last Affine's
    output); ``loss(x, t, train_flg=False)``; ``gradient`` runs the training forward
    (batch statistics, fresh dropout masks) and backprop.  ``state``: (S,) the running
    means and variances, ``running`` named views into it (``running_mean1``,
    ``running_var1``, ...); running variances start at 0 as in the book.
    """

    def __init__(self, input_size, hidden_size_list, output_size, activation="relu", weight_init_std="relu",
                 weight_decay_lambda=0, use_dropout=False, dropout_ration=0.5, use_batchnorm=False, *,
                 dropout_ratio=None, momentum=0.9, dtype=np.float64, seed=None, rng=None):
        D = positive_int("input_size", input_size)
        C = positive_int("output_size", output_size)
        hidden = _hidden_sizes(hidden_size_list)
        one_of("activation", activation, tuple(ACTIVATIONS))
        dtype = check_dtype(dtype)
        rng = check_rng(rng, seed)
        sizes = (D, *hidden, C)
        stds = weight_stds(weight_init_std, sizes)
        self._options(use_dropout, _ratio(dropout_ration, dropout_ratio), use_batchnorm, momentum)
        super().__init__(sizes, activation, dtype=dtype, weight_decay_lambda=weight_decay_lambda)
        self._draw_weights(stds, rng)
        self._init_state()
        self.rng = rng
        self._training = False

    # -- construction ---------------------------------------------------------
    def _options(self, use_dropout, ratio, use_batchnorm, momentum):
        self._use_dropout = _flag("use_dropout", use_dropout)
        self._dropout_ratio = check_dropout_ratio(ratio)
        self._use_batchnorm = _flag("use_batchnorm", use_batchnorm)
        self._momentum = check_momentum(momentum)

    # the options are part of the description (kernels.graph tables): fixed at construction
    use_dropout = property(lambda self: self._use_dropout, doc="Dropout after every hidden activation.")
    dropout_ratio = property(lambda self: self._dropout_ratio, doc="The dropout ratio, in [0, 1).")
    use_batchnorm = property(lambda self: self._use_batchnorm,
                             doc="BatchNormalization after every hidden Affine.")
    momentum = property(lambda self: self._momentum, doc="The running statistics' momentum, in (0, 1).")

    def _describe(self, sizes, activation):
        """The tables, and the state buffer they lay out (the layers, made next, use it)."""
        tables = G.mlp_extend(sizes, activation, self.use_dropout, self.dropout_ratio, self.use_batchnorm,
                              self.momentum)
        self._alloc_state(tables[0])
        return tables

    def _init_state(self):
        """gamma = 1 (beta and the running statistics stay 0, as in the book)."""
        for name, view in self._views.items():
            if name.startswith("gamma"):
                view[...] = 1

    def _alloc_state(self, ops):
        """The state buffer (running statistics), zero, and its named views ``running``."""
        self.state = np.zeros(G.state_size(ops), dtype=self._dtype)
        self.running = {}
        i = 0
        for row in ops:
            if row[G.KIND] == G.AFFINE:
                i += 1
            elif row[G.KIND] == G.BATCHNORM:
                s, n = int(row[G.SOFF]), int(row[G.OUT])
                self.running[f"running_mean{i}"] = self.state[s:s + n]
                self.running[f"running_var{i}"] = self.state[s + n:s + 2 * n]

    @property
    def dropout_ration(self):
        """The book's spelling of :attr:`dropout_ratio`."""
        return self.dropout_ratio

    @property
    def hidden_size_list(self):
        return list(self._sizes[1:-1])

    def architecture(self):
        d = super().architecture()
        d.update(use_dropout=self.use_dropout, dropout_ratio=self.dropout_ratio,
                 use_batchnorm=self.use_batchnorm, momentum=self.momentum)
        return d

    @classmethod
    def _empty(cls, arch):
        net = cls.__new__(cls)
        net._options(arch.get("use_dropout", False), arch.get("dropout_ratio", 0.5),
                     arch.get("use_batchnorm", False), arch.get("momentum", 0.9))
        Network.__init__(net, arch["sizes"], arch["activation"], dtype=arch["dtype"],
                         weight_decay_lambda=arch["weight_decay_lambda"])
        net._init_state()
        net.rng = np.random.default_rng()
        net._training = False
        return net

    def __repr__(self):
        opts = (f", dropout {self.dropout_ratio}" if self.use_dropout else "") + \
               (", batchnorm" if self.use_batchnorm else "")
        return super().__repr__()[:-1] + opts + ")"

    # -- the layer path ---------------------------------------------------------
    def _make_layer(self, k, row):
        kind = int(row[G.KIND])
        if kind == G.BATCHNORM:
            p, n = int(row[G.POFF]), int(row[G.OUT])
            names = (self._names_at[p], self._names_at[p + n])
            i = names[0][len("gamma"):]
            return BatchNormalization(self._views[names[0]], self._views[names[1]], self._fops[k, G.MOMENTUM],
                                      self.running[f"running_mean{i}"], self.running[f"running_var{i}"]), names
        if kind == G.DROPOUT:
            return Dropout(self._fops[k, G.RATIO], rng=getattr(self, "rng", None)), ()
        return super()._make_layer(k, row)

    def _scores(self, x, train_flg=None):
        """The layers' forward; train_flg None: training inside gradient, else inference."""
        train = self._training if train_flg is None else train_flg
        out = x
        for layer in self._sync():
            if isinstance(layer, Dropout):
                layer.rng = self.rng
                out = layer._forward(out, train)
            elif isinstance(layer, BatchNormalization):
                out = layer._forward(out, train)
            else:
                out = layer._forward(out)
        return out

    def _loss(self, x, t, train_flg=None):
        a = self._scores(x, train_flg)
        loss = self._last._forward(a, "labels" if t.ndim == 1 else "dense", t)
        return loss + self._decay() if self._lambda else loss

    def _gradient_into(self, x, t, grad, g):
        """Backprop after a training forward (batch statistics, fresh dropout masks)."""
        self._training = True
        try:
            return super()._gradient_into(x, t, grad, g)
        finally:
            self._training = False

    def _infer(self, x, acts):
        return G.forward_state(self._ops, self._fops, self._theta, self.state, x, acts)

    # -- the book's methods with train_flg ---------------------------------------------
    def scores(self, x, train_flg=False):
        """The last Affine's output (the book's predict).  train_flg=True: batch statistics and
        fresh dropout masks (and the running statistics move), as in training."""
        train = _flag("train_flg", train_flg)
        x = self.check_input(x)
        with self._threads("scores", x):
            return self._scores(x, train)

    def predict(self, x, train_flg=False):
        """Class probabilities softmax(scores(x, train_flg)).  x: (N, D) -> (N, C)."""
        from .functions import softmax
        return softmax(self.scores(x, train_flg))

    def loss(self, x, t, train_flg=False):
        """Mean cross-entropy plus 0.5 * weight_decay_lambda * sum of W**2 (not gamma, beta)."""
        train = _flag("train_flg", train_flg)
        x, t = self._check_batch(x, t)
        with self._threads("loss", x):
            return self._loss(x, t, train)

    def numerical_gradient(self, x, t, method=None, *, h=1e-4, delta=1e-7):
        """Gradients by the book's central differences (see :mod:`fastnn.numerical`).  With
        dropout or batch normalization the loss differentiated is the training one, as in
        the book's gradient check: batch normalization with the batch's mean and variance
        (the running statistics neither used nor moved), dropout with one set of masks drawn
        from ``rng`` as the next :meth:`gradient` would draw it and held fixed for every
        evaluation (the book draws fresh masks at each; its check runs without dropout).
        So ``gradient`` after restoring ``rng``'s state sees the same masks.  Method "full"
        (the default for such nets) only."""
        return super().numerical_gradient(x, t, method, h=h, delta=delta)
