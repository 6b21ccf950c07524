"""The training history: per-epoch lists and the loss of every iteration."""

__all__ = ["EPOCH_KEYS", "OPTIONAL_KEYS", "epoch_keys", "new_history"]

#: Per-epoch summaries kept in ``history``, one list entry per epoch.
EPOCH_KEYS = ("epoch", "iteration", "train_acc", "test_acc", "train_loss", "test_loss", "time")
#: Per-epoch keys a history holds only when the run uses them: validation figures
#: (validation_split) and the learning rate of each epoch (lr_schedule).
OPTIONAL_KEYS = ("val_acc", "val_loss", "lr")


def new_history(extra=()):
    """An empty history: per-epoch lists (EPOCH_KEYS, then the OPTIONAL_KEYS in ``extra``)
    and ``loss`` per iteration."""
    h = {k: [] for k in EPOCH_KEYS + tuple(k for k in OPTIONAL_KEYS if k in extra)}
    h["loss"] = []
    return h


def epoch_keys(history):
    """The per-epoch keys of ``history``: EPOCH_KEYS and the OPTIONAL_KEYS it holds."""
    return EPOCH_KEYS + tuple(k for k in OPTIONAL_KEYS if k in history)
