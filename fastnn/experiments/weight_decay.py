"""Weight decay against overfitting (the book's overfit_weight_decay.py, figures 6-20 and
6-21): the overfitting setup without weight decay and with lambda = 0.1."""
from . import _overfit

TITLE = "weight decay on 300 training rows: train and test accuracy per epoch"
BOOK = "ch06/overfit_weight_decay.py"
EPOCHS = 201
LAMBDA = 0.1
VARIANTS = {"no weight decay": dict(weight_decay_lambda=0.0),
            f"weight decay lambda={LAMBDA}": dict(weight_decay_lambda=LAMBDA)}
SETTING = _overfit.setting(EPOCHS, f"weight_decay_lambda 0 and {LAMBDA}")
NEEDS_DATA = True
X_NAME = "epoch"


def run_once(data, rng, dtype, progress=None, epochs=EPOCHS):
    return _overfit.run_variants(data, rng, dtype, VARIANTS, epochs, progress)


def draw(fig, runs):
    _overfit.draw(fig, runs, list(VARIANTS))


def summarise(runs):
    return _overfit.summarise(runs, list(VARIANTS))
