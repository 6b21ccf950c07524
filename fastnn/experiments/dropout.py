"""Dropout against overfitting (the book's overfit_dropout.py, figures 6-22 and 6-23): the
overfitting setup without dropout and with dropout ratio 0.2 after every hidden layer;
masks drawn from the run's seeded generator."""
from . import _overfit

TITLE = "dropout on 300 training rows: train and test accuracy per epoch"
BOOK = "ch06/overfit_dropout.py"
EPOCHS = 301
RATIO = 0.2
VARIANTS = {"no dropout": dict(use_dropout=False),
            f"dropout ratio={RATIO}": dict(use_dropout=True, dropout_ratio=RATIO)}
SETTING = _overfit.setting(EPOCHS, f"dropout ratio {RATIO} or none")
NEEDS_DATA = True
X_NAME = "epoch"


def run_once(data, rng, dtype, progress=None, epochs=EPOCHS):
    return _overfit.run_variants(data, rng, dtype, VARIANTS, epochs, progress)


def draw(fig, runs):
    _overfit.draw(fig, runs, list(VARIANTS))


def summarise(runs):
    return _overfit.summarise(runs, list(VARIANTS))
