"""Learning-rate schedules, set once per epoch.

    s = parse_schedule("step:5:0.5")      # lr halved every 5 epochs
    s.lr(0.1, epoch=7, epochs=20)         # 0.05 (epoch counted from 0)
    parse_schedule("cosine").lr(0.1, 10, 20)   # 0.05: half-way down a cosine to 0

``step:EPOCHS:GAMMA``: lr * GAMMA ** (epoch // EPOCHS).
``cosine``: lr * (1 + cos(pi * epoch / epochs)) / 2, from lr at the first epoch
towards 0 at the end (the last epoch's rate is still above 0).
"""
import math

__all__ = ["Schedule", "parse_schedule"]

FORMS = "'step:EPOCHS:GAMMA' (for example step:5:0.5) or 'cosine'"


class Schedule:
    """A parsed schedule: ``kind`` "step" or "cosine"; ``every`` and ``gamma`` for step."""

    def __init__(self, kind, every=None, gamma=None):
        self.kind, self.every, self.gamma = kind, every, gamma

    def lr(self, base, epoch, epochs):
        """The learning rate of epoch ``epoch`` (from 0) of ``epochs``, starting at ``base``."""
        if self.kind == "step":
            return base * self.gamma ** (epoch // self.every)
        return base * (1 + math.cos(math.pi * epoch / max(epochs, 1))) / 2

    def __str__(self):
        return f"step:{self.every}:{self.gamma:g}" if self.kind == "step" else "cosine"

    def __repr__(self):
        return f"parse_schedule({str(self)!r})"


def parse_schedule(text, name="lr_schedule"):
    """A Schedule from its text; ValueError naming ``name`` when it does not parse."""
    if isinstance(text, Schedule):
        return text
    if not isinstance(text, str):
        raise TypeError(f"{name}: expected {FORMS}, got {type(text).__name__}")
    if text == "cosine":
        return Schedule("cosine")
    parts = text.split(":")
    if len(parts) == 3 and parts[0] == "step":
        try:
            every, gamma = int(parts[1]), float(parts[2])
        except ValueError:
            every = gamma = None
        if every is not None and every > 0 and 0 < gamma <= 1 and math.isfinite(gamma):
            return Schedule("step", every, gamma)
        raise ValueError(f"{name}: in {text!r}, EPOCHS must be an integer > 0 and GAMMA a "
                         "number in (0, 1]")
    raise ValueError(f"{name}: expected {FORMS}, got {text!r}")
