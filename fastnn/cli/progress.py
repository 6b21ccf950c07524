"""What ``fastnn train`` prints while it trains: a progress bar and one line per epoch."""
import sys
import time


class Progress:
    """A one-line progress bar on stderr, redrawn at most ten times a second."""

    def __init__(self, width=30):
        self.width = width
        self.last = 0.0
        self.shown = False

    def __call__(self, trainer, event):
        if event != "step":
            return
        now = time.monotonic()
        if now - self.last < 0.1:
            return
        self.last = now
        done = trainer._pos / trainer.steps_per_epoch
        bar = "#" * int(done * self.width)
        sys.stderr.write(f"\repoch {trainer.epoch + 1}/{trainer.epochs} [{bar:<{self.width}}] "
                         f"{trainer._pos}/{trainer.steps_per_epoch}  loss {trainer.last_loss:.3f} ")
        sys.stderr.flush()
        self.shown = True

    def clear(self):
        if self.shown:
            sys.stderr.write("\r" + " " * (self.width + 60) + "\r")
            sys.stderr.flush()
            self.shown = False


def plural(n, word):
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def secs(t):
    """A duration with enough digits: 4.2ms, 0.052s, 1.23s, 12.3s, 123s, 12m05s."""
    if t >= 600:
        return f"{int(t // 60)}m{int(t % 60):02d}s"
    for limit, text in ((0.01, f"{t * 1e3:.1f}ms"), (1, f"{t:.3f}s"), (10, f"{t:.2f}s"),
                        (100, f"{t:.1f}s")):
        if t < limit:
            return text
    return f"{t:.0f}s"


class EpochPrinter:
    """``epoch 3/16  0.123s  loss 0.231  train 0.934  test 0.930 (loss 0.241)  ETA 1.6s``
    after every epoch (``val`` before ``test`` with a validation set)."""

    def __init__(self, progress):
        self.progress = progress

    def __call__(self, trainer, event):
        if event != "epoch":
            return
        if self.progress:
            self.progress.clear()
        h = trainer.history
        w = len(str(trainer.epochs))
        parts = [f"epoch {h['epoch'][-1]:>{w}}/{trainer.epochs}", secs(h["time"][-1]),
                 f"loss {h['train_loss'][-1]:.3f}", f"train {h['train_acc'][-1]:.3f}"]
        if "val_acc" in h:
            parts.append(f"val {h['val_acc'][-1]:.3f} (loss {h['val_loss'][-1]:.3f})")
        if h["test_acc"][-1] is not None:
            parts.append(f"test {h['test_acc'][-1]:.3f} (loss {h['test_loss'][-1]:.3f})")
        left = (trainer.total_steps - trainer.iteration) / trainer.steps_per_epoch
        if left > 0 and not trainer.stopped_early:
            # the first epoch of a run pays the compilation: left out when there are others
            times = (h["time"][1:] if len(h["time"]) > 1 else h["time"])[-5:]
            parts.append(f"ETA {secs(left * sum(times) / len(times))}")
        print("  ".join(parts), flush=True)
