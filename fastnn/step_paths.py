"""Which path computes a training iteration: the fused step (fastnn.fused) where it applies,
else the layer path (``net.gradient`` then ``optimizer.update``)."""
from .network import TwoLayerNet
from .optimizers import SGD

try:  # the fused training step, where this version of fastnn has it
    from . import fused as _fused
except ImportError:
    _fused = None

__all__ = ["fused_step", "last_loss"]


def last_loss(net, x, t):
    """The batch loss (with the weight-decay term) of the ``net.gradient(x, t)`` just
    computed: ``net.last_loss`` where the network keeps it, else ``net.loss(x, t)``."""
    loss = getattr(net, "last_loss", None)
    return loss if loss is not None else net.loss(x, t)


def fused_step(net, optimizer, fused):
    """(the fused step for net and optimizer, or None; why not, "" when it applies).

    fastnn.fused.Fused takes any description and any fastnn optimizer; FusedSGD (versions
    without Fused) the TwoLayerNet with plain SGD only. fused=False: never."""
    if fused is False:
        return None, "fused=False"
    if _fused is None:
        return None, "this version of fastnn has no fused training step"
    if getattr(optimizer, "kind", None) is None:
        return None, (f"the optimizer {type(optimizer).__name__} has no fused update "
                      "(not one of fastnn.optimizers)")
    if hasattr(_fused, "Fused"):
        try:
            return _fused.Fused(net, optimizer), ""
        except (TypeError, ValueError) as e:
            return None, f"the fused step does not take this network or optimizer ({e})"
    if type(optimizer) is SGD and isinstance(net, TwoLayerNet) and hasattr(_fused, "FusedSGD"):
        return _fused.FusedSGD(net, optimizer.lr), ""
    return None, (f"the fused step of this version of fastnn takes the two-layer net with plain "
                  f"SGD only, not {type(net).__name__} with {type(optimizer).__name__}")
