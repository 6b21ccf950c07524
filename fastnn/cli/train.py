"""``fastnn train``: train the book's two-layer network and write the results to a directory.

Writes weights.npz, history.json, history.csv, accuracy.png and loss.png
into the output directory (each file atomically). Ctrl-C stops after the
current batch and writes checkpoint.npz, from which ``--resume`` continues
the same run exactly.
"""
import argparse
import csv
import io
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

#: Settings that define a run, with their defaults. On --resume they come from the
#: checkpoint; giving one with another value is an error.
RUN_DEFAULTS = {
    "dataset": "mnist", "data_dir": None, "grad": "backprop", "numerical_method": "incremental",
    "activation": "sigmoid", "hidden": 50, "epochs": None, "iterations": None, "batch_size": 100,
    "lr": 0.1, "dtype": "float32", "seed": None, "sampling": "shuffle",
}
#: Iterations when neither --epochs nor --iterations is given: about 5 s on two cores,
#: 0.90-0.91 test accuracy on the bundled sample. The book's run is --iterations 10000.
DEFAULT_ITERATIONS = 3000
#: The files a run writes; an output directory holding any of them is not reused silently.
OUTPUTS = ("weights.npz", "history.json", "history.csv", "accuracy.png", "loss.png", "checkpoint.npz")
CHECKPOINT = "checkpoint.npz"


def _positive(kind):
    def parse(text):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {kind.__name__}, got {text!r}") from None
        if not (v > 0 and math.isfinite(v)):
            raise argparse.ArgumentTypeError(f"expected a number > 0, got {text}")
        return v
    parse.__name__ = kind.__name__
    return parse


def register(sub):
    p = sub.add_parser(
        "train", help="train the two-layer network (MNIST, or the bundled sample offline)",
        description="Train TwoLayerNet(784, HIDDEN, 10) with mini-batch SGD, as in the book, and "
                    "write weights, history and plots to an output directory. Without --epochs or "
                    f"--iterations it runs {DEFAULT_ITERATIONS} iterations; the book's run is "
                    "--iterations 10000 (with --dtype float64 for the book's arithmetic).")
    d = p.add_argument_group("data")
    d.add_argument("--dataset", choices=("mnist", "mnist-sample", "fashion-mnist"),
                   help="mnist (default): cached or downloaded MNIST, else the bundled sample")
    d.add_argument("--data-dir", metavar="DIR", help="directory holding the four IDX files")
    d.add_argument("--no-download", action="store_true", help="never use the network")
    n = p.add_argument_group("network and training")
    n.add_argument("--activation", choices=("sigmoid", "relu"), help="hidden activation (sigmoid)")
    n.add_argument("--hidden", type=_positive(int), metavar="H", help="hidden units (50)")
    n.add_argument("--grad", choices=("backprop", "numerical"), help="how to get gradients (backprop)")
    n.add_argument("--numerical-method", choices=("incremental", "full"),
                   help="numerical gradient algorithm (incremental)")
    length = n.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=_positive(int), metavar="N", help="train N epochs")
    length.add_argument("--iterations", type=_positive(int), metavar="N",
                        help=f"train N mini-batches ({DEFAULT_ITERATIONS})")
    n.add_argument("--batch-size", type=_positive(int), metavar="B", help="samples per batch (100)")
    n.add_argument("--lr", type=_positive(float), help="learning rate (0.1)")
    n.add_argument("--sampling", choices=("shuffle", "random"),
                   help="shuffle: each sample once per epoch (default); random: the book's "
                        "batches drawn with replacement")
    n.add_argument("--dtype", choices=("float32", "float64"), help="arithmetic (float32)")
    n.add_argument("--seed", type=int, help="seed for weights and batches (default: random, printed)")
    r = p.add_argument_group("run")
    r.add_argument("--threads", type=_positive(int), metavar="N", help="numba threads")
    r.add_argument("--out", metavar="DIR", help="output directory (default runs/YYYYmmdd-HHMMSS)")
    r.add_argument("--force", action="store_true",
                   help="write into an output directory that already holds results")
    r.add_argument("--resume", metavar="PATH",
                   help="continue the run saved in PATH (a checkpoint.npz or its directory)")
    r.add_argument("--quiet", action="store_true", help="print only the final summary")
    p.set_defaults(func=run)


def run(args):
    import numpy as np

    from ..checkpoint import load_checkpoint, save_checkpoint, save_params
    from ..datasets import load
    from ..network import TwoLayerNet
    from ..trainer import Trainer, TrainingInterrupted

    state = None
    if args.resume:
        ckpt = _checkpoint_path(args.resume)
        state, extra = load_checkpoint(ckpt)
        _apply_saved(args, extra.get("args"), ckpt)
        out = Path(args.out) if args.out else ckpt.parent
        _check_out(out, args, resuming=True)
    else:
        for key, value in RUN_DEFAULTS.items():
            if getattr(args, key) is None:
                setattr(args, key, value)
        if args.epochs is None and args.iterations is None:
            args.iterations = DEFAULT_ITERATIONS
        if args.seed is None:
            args.seed = int(np.random.SeedSequence().entropy % 2**32)
        out = Path(args.out) if args.out else _new_run_dir()
        _check_out(out, args, resuming=False)

    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, flush=True))
    data = load(args.dataset, data_dir=args.data_dir, download=False if args.no_download else None,
                dtype=args.dtype)
    args.dataset = data.name  # what was loaded: a resumed run must use the same data
    say(f"data: {data.describe()}")
    net = TwoLayerNet(data.train[0].shape[1], args.hidden, len(data.classes), activation=args.activation,
                      dtype=args.dtype, seed=args.seed)
    progress = _Progress() if not args.quiet and sys.stderr.isatty() else None
    callbacks = [cb for cb in (progress, None if args.quiet else _EpochPrinter(progress)) if cb]
    trainer = Trainer(net, *data.train, *data.test, lr=args.lr, batch_size=args.batch_size,
                      epochs=args.epochs, iterations=args.iterations, sampling=args.sampling,
                      grad=args.grad, numerical_method=args.numerical_method, seed=[args.seed, 1],
                      threads=args.threads, callbacks=callbacks,
                      # a progress bar redrawn every 10 steps; otherwise 100 steps per call
                      steps_per_call=10 if progress else 100)
    if state is not None:
        trainer.load_state_dict(state)
    D, H, C = net.sizes
    say(f"network {D}-{H}-{C} {args.activation} {args.dtype}, SGD lr {args.lr:g}, batch "
        f"{args.batch_size}, {trainer.total_steps} iterations = {trainer.epochs} epochs of "
        f"{trainer.steps_per_epoch} ({args.sampling}), {args.grad} ({trainer.step_kind}), "
        f"seed {args.seed}")
    if state is not None:
        say(f"resuming at iteration {trainer.iteration} (epoch {trainer.epoch + 1}) from {ckpt}")
    say(f"output: {out}")

    _write_environment(out, trainer, resuming=state is not None)
    start_iteration = trainer.iteration
    t0 = time.perf_counter()
    try:
        trainer.fit()
    except TrainingInterrupted:
        if progress:
            progress.clear()
        path = out / CHECKPOINT
        save_checkpoint(trainer.state_dict(), path, args=_saved_args(args))
        print(f"interrupted at iteration {trainer.iteration}/{trainer.total_steps}; checkpoint "
              f"saved to {path}\nresume with: fastnn train --resume {out}", file=sys.stderr)
        return 130
    wall = time.perf_counter() - t0
    if progress:
        progress.clear()

    h = trainer.history
    summary = {"test_acc": h["test_acc"][-1], "test_loss": h["test_loss"][-1],
               "train_acc": h["train_acc"][-1], "iterations": trainer.iteration,
               "wall_time": wall, "train_time": float(sum(h["time"]))}
    save_params(net, out / "weights.npz", dataset=data.name, args=_saved_args(args), summary=summary)
    record = {"dataset": data.describe(), "args": _saved_args(args), "config": trainer.config(),
              "summary": summary, "history": h}
    _write_text(out / "history.json", json.dumps(_json_safe(record), indent=1) + "\n")
    _write_text(out / "history.csv", _history_csv(h))
    from ..plots import plot_accuracy, plot_loss
    plot_accuracy(h, out / "accuracy.png")
    plot_loss(h, out / "loss.png")
    if (out / CHECKPOINT).exists():
        (out / CHECKPOINT).unlink()  # superseded by the results just written
    samples = (trainer.iteration - start_iteration) * args.batch_size
    print(f"test accuracy {summary['test_acc']:.4f} (loss {summary['test_loss']:.4f}) after "
          f"{trainer.iteration} iterations; {wall:.1f} s, {samples / wall:,.0f} samples/s; "
          f"results in {out}")
    return 0


# -- resume and output directory ------------------------------------------------
def _checkpoint_path(resume):
    p = Path(resume)
    if p.is_dir():
        p = p / CHECKPOINT
        if not p.exists():
            raise ValueError(f"--resume {resume}: no {CHECKPOINT} in that directory; nothing to resume")
    return p


def _saved_args(args):
    return {key: getattr(args, key) for key in RUN_DEFAULTS}


def _apply_saved(args, saved, ckpt):
    if not isinstance(saved, dict) or set(saved) != set(RUN_DEFAULTS):
        raise ValueError(f"--resume {ckpt}: the checkpoint does not record the training options")
    for key, value in saved.items():
        given = getattr(args, key)
        if given is not None and given != value:
            opt = "--" + key.replace("_", "-")
            raise ValueError(f"{opt}: the checkpoint's run used {value!r}, not {given!r}; "
                             "--resume continues the same run (leave the option out)")
        setattr(args, key, value)


def _new_run_dir():
    base = Path("runs") / time.strftime("%Y%m%d-%H%M%S")
    out, i = base, 1
    while out.exists():
        i += 1
        out = base.with_name(f"{base.name}-{i}")
    return out


def _check_out(out, args, resuming):
    """Refuse to overwrite results; make sure ``out`` is a writable directory, before training."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out}: exists and is not a directory")
    if out.is_dir() and not (resuming or args.force):
        found = [name for name in OUTPUTS if (out / name).exists()]
        if found:
            raise ValueError(f"--out {out}: already holds results ({', '.join(found)}); choose another "
                             "directory, pass --force to replace them, or --resume to continue")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as e:
        raise OSError(f"--out {out}: cannot write there ({e.strerror or e})") from None


def _write_text(path, text):
    from .._atomic import atomic_write
    with atomic_write(path) as f:
        f.write(text.encode())


def _json_safe(x):
    """NaN and inf (a diverged run) as null, so that the file is strict JSON."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v) for v in x]
    return x


def _history_csv(h):
    from ..trainer import EPOCH_KEYS
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(EPOCH_KEYS)
    for row in zip(*(h[k] for k in EPOCH_KEYS)):
        w.writerow(["" if v is None else repr(v) if isinstance(v, float) else v for v in row])
    return buf.getvalue()


# -- console output -------------------------------------------------------------
class _Progress:
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


class _EpochPrinter:
    """``epoch 3/16  1.2s  loss 0.231  train 0.934  test 0.930`` after every epoch."""

    def __init__(self, progress):
        self.progress = progress

    def __call__(self, trainer, event):
        if event != "epoch":
            return
        if self.progress:
            self.progress.clear()
        h = trainer.history
        w = len(str(trainer.epochs))
        test = "" if h["test_acc"][-1] is None else f"  test {h['test_acc'][-1]:.3f}"
        print(f"epoch {h['epoch'][-1]:>{w}}/{trainer.epochs}  {h['time'][-1]:.1f}s  loss "
              f"{h['train_loss'][-1]:.3f}  train {h['train_acc'][-1]:.3f}{test}", flush=True)


def _write_environment(out, trainer, resuming):
    """environment.json in the run folder: library versions and thread counts, one record
    per start of the run (a resumed run adds one), so that a result can be traced."""
    from ..threads import blas_limit, describe, num_threads
    with num_threads(trainer._numba_threads()), blas_limit(trainer.blas_threads):  # as in fit
        info = {"start_iteration": trainer.iteration, **describe()}
    path = out / "environment.json"
    records = json.loads(path.read_text()) if resuming and path.exists() else []
    _write_text(path, json.dumps(records + [info], indent=1) + "\n")
