"""The book's two-layer network: Affine -> sigmoid or ReLU -> Affine -> softmax."""
import numpy as np

from ._checks import one_of, positive_float, positive_int
from .model import ACTIVATIONS, Network, check_dtype, check_rng, network_class

__all__ = ["ACTIVATIONS", "PARAM_NAMES", "TwoLayerNet"]

PARAM_NAMES = ("W1", "b1", "W2", "b2")


@network_class
class TwoLayerNet(Network):
    """input_size -> hidden_size (sigmoid or ReLU) -> output_size (softmax).

    A :class:`~fastnn.model.Network` of sizes (D, H, C).  params: ``W1``
    (D, H), ``b1`` (H,), ``W2`` (H, C), ``b2`` (C,), views into the flat
    ``theta``, with weights drawn as ``weight_init_std * N(0, 1)`` (W1, then
    W2) from ``rng`` (or a fresh ``np.random.default_rng(seed)``) and zero
    biases, in ``dtype``.  Targets ``t`` are integer labels (N,) or one-hot
    (N, C).  weight_decay_lambda: L2 decay as in
    :class:`~fastnn.model.MultiLayerNet` (0: none).

    The sizes and dtype are fixed at construction: an entry of ``params``
    replaced by an array of another shape or dtype is refused by every method
    (ShapeError / TypeError naming the entry); one of the right shape and
    dtype is copied into ``theta`` (see :meth:`check_params`).
    """

    def __init__(self, input_size, hidden_size, output_size, weight_init_std=0.01, *,
                 activation="sigmoid", dtype=np.float64, seed=None, rng=None, weight_decay_lambda=0.0):
        D = positive_int("input_size", input_size)
        H = positive_int("hidden_size", hidden_size)
        C = positive_int("output_size", output_size)
        one_of("activation", activation, tuple(ACTIVATIONS))
        dtype = check_dtype(dtype)
        rng = check_rng(rng, seed)
        std = positive_float("weight_init_std", weight_init_std, allow_zero=True)
        super().__init__((D, H, C), activation, dtype=dtype, weight_decay_lambda=weight_decay_lambda)
        self._draw_weights((std, std), rng)

    @classmethod
    def _empty(cls, arch):
        if len(arch["sizes"]) != 3:
            raise ValueError(f"architecture: a TwoLayerNet has sizes (input, hidden, output), "
                             f"got {arch['sizes']!r}")
        return super()._empty(arch)

    def train_step(self, x, t, lr=0.01):
        """One fused SGD step (gradient and update in one compiled call); returns the loss.

        Same result as ``SGD(lr).update(params, gradient(x, t))``; see :mod:`fastnn.fused`.
        """
        opt = getattr(self, "_fused", None)
        if opt is None or opt.lr != lr:
            from .fused import FusedSGD
            opt = self._fused = FusedSGD(self, lr)
        return opt.step(x, t)
