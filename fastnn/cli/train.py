"""``fastnn train``: train the book's two-layer network and write the results to a directory.

The run folder (``--out``) ends up holding weights.npz, history.json,
history.csv, history.jsonl, accuracy.png, loss.png and checkpoint.npz (the
state that ``--resume RUN --iterations MORE`` extends). Everything is written
into a hidden work folder beside it and published in one step (see
fastnn.runfolder), so the folder holds one complete run or nothing; while the
run goes on it holds the latest checkpoint and the history so far.

SIGINT, SIGTERM and SIGHUP stop after the current step (or fused block),
save a checkpoint, print the resume command and exit with 128 + the signal's
number; a second signal stops at once. Exit status: 0 done, 2 bad input,
3 diverged (non-finite loss), 4 results could not be written.
"""
import argparse
import csv
import io
import json
import math
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

from .._signals import SignalInterrupt, exit_status, signal_name
from . import option_error, positive

#: Settings that define a run, with their defaults. On --resume they come from the
#: checkpoint; giving one with another value is an error (--epochs and --iterations
#: then say how much longer to train).
RUN_DEFAULTS = {
    "dataset": "mnist", "data_dir": None, "grad": "backprop", "numerical_method": "incremental",
    "activation": "sigmoid", "hidden": 50, "epochs": None, "iterations": None, "batch_size": 100,
    "lr": 0.1, "dtype": "float32", "seed": None, "sampling": "shuffle",
    "validation": None, "early_stopping": None, "lr_schedule": None, "eval_test_each_epoch": False,
}
#: Options added after the first checkpoints were written: a checkpoint without them
#: recorded a run that did not use them.
LATER_OPTIONS = ("validation", "early_stopping", "lr_schedule", "eval_test_each_epoch")
#: Iterations when neither --epochs nor --iterations is given: about 5 s on two cores,
#: 0.90-0.91 test accuracy on the bundled sample. The book's run is --iterations 10000.
DEFAULT_ITERATIONS = 3000
CHECKPOINT = "checkpoint.npz"
#: What a finished run publishes; an interrupted one publishes the first two.
ENVIRONMENT = "environment.json"
PROGRESS_FILES = (CHECKPOINT, "history.jsonl", ENVIRONMENT)
RESULT_FILES = PROGRESS_FILES + ("weights.npz", "history.json", "history.csv", "accuracy.png",
                                 "loss.png")
#: Without --checkpoint-every: a checkpoint after an epoch once this many seconds have passed.
CHECKPOINT_SECONDS = 60.0
#: Exit statuses besides 0, 2 (bad input) and 128 + a signal's number.
EXIT_DIVERGED = 3
EXIT_NOT_SAVED = 4
#: Python argument names in the library's messages, and the options that set them.
OPTION_NAMES = {"batch_size": "--batch-size", "hidden_size": "--hidden", "threads": "--threads",
                "data_dir": "--data-dir", "iterations": "--iterations", "epochs": "--epochs",
                "seed": "--seed", "lr": "--lr", "validation_split": "--validation",
                "early_stopping": "--early-stopping", "lr_schedule": "--lr-schedule"}
MAX_SEED = 2**64 - 1


def trainer_seed(seed):
    """The Trainer's seed for a run of --seed ``seed`` (the network's is ``seed`` itself):
    it draws the validation split, then the batches."""
    return [seed, 1]


def _seed(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not 0 <= v <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"expected an integer from 0 to 2**64-1, got {text}")
    return v


def _fraction(text):
    from ..splits import check_fraction
    try:
        return check_fraction("fraction", float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction in (0, 0.5] of the training set, "
                                         f"got {text!r}") from None


def _schedule(text):
    from ..schedules import parse_schedule
    try:
        return str(parse_schedule(text, "schedule"))
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix("schedule: ")) from None


def register(sub):
    p = sub.add_parser(
        "train", help="train the two-layer network (MNIST, or the bundled sample offline)",
        description="Train TwoLayerNet(784, HIDDEN, 10) with mini-batch SGD, as in the book, and "
                    "write weights, history and plots to an output directory. Without --epochs or "
                    f"--iterations it runs {DEFAULT_ITERATIONS} iterations; the book's run is "
                    "--iterations 10000 (with --dtype float64 for the book's arithmetic).",
        epilog="Ctrl-C, SIGTERM and SIGHUP stop after the current step and save a checkpoint "
               "(exit 130, 143, 129). Exit status: 0 done, 2 bad input, 3 diverged (the loss "
               "became NaN or infinite), 4 results could not be written.")
    d = p.add_argument_group("data")
    d.add_argument("--dataset", choices=("mnist", "mnist-sample", "fashion-mnist"),
                   help="mnist (default): cached or downloaded MNIST, else the bundled sample")
    d.add_argument("--data-dir", metavar="DIR", help="directory holding the four IDX files")
    d.add_argument("--no-download", action="store_true", help="never use the network")
    n = p.add_argument_group("network and training")
    n.add_argument("--activation", choices=("sigmoid", "relu"), help="hidden activation (sigmoid)")
    n.add_argument("--hidden", type=positive(int), metavar="H", help="hidden units (50)")
    n.add_argument("--grad", choices=("backprop", "numerical"), help="how to get gradients (backprop)")
    n.add_argument("--numerical-method", choices=("incremental", "full"),
                   help="numerical gradient algorithm (incremental)")
    length = n.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=positive(int), metavar="N",
                        help="train N epochs (with --resume: N more)")
    length.add_argument("--iterations", type=positive(int), metavar="N",
                        help=f"train N mini-batches ({DEFAULT_ITERATIONS}; with --resume: N more)")
    n.add_argument("--batch-size", type=positive(int), metavar="B", help="samples per batch (100)")
    n.add_argument("--lr", type=positive(float), help="learning rate (0.1)")
    n.add_argument("--sampling", choices=("shuffle", "random"),
                   help="shuffle: each sample once per epoch (default); random: the book's "
                        "batches drawn with replacement")
    n.add_argument("--dtype", choices=("float32", "float64"), help="arithmetic (float32)")
    n.add_argument("--seed", type=_seed, help="seed for weights and batches (default: random, printed)")
    n.add_argument("--lr-schedule", type=_schedule, metavar="SPEC",
                   help="step:EPOCHS:GAMMA (lr times GAMMA every EPOCHS epochs) or cosine "
                        "(down to 0 by the last epoch); default: constant lr")
    v = p.add_argument_group("validation")
    v.add_argument("--validation", type=_fraction, metavar="FRACTION",
                   help="hold out FRACTION (0 to 0.5) of the training set, stratified by class "
                        "and drawn with the seed; epochs then report validation figures and the "
                        "test set is evaluated only at the end (default: no validation set)")
    v.add_argument("--early-stopping", type=positive(int), metavar="PATIENCE",
                   help="with --validation: stop when the validation loss has not improved for "
                        "PATIENCE epochs and keep the best epoch's weights")
    v.add_argument("--eval-test-each-epoch", action="store_true", default=None,
                   help="with --validation: evaluate the test set after every epoch too")
    r = p.add_argument_group("run")
    r.add_argument("--threads", type=positive(int), metavar="N",
                   help="numba threads while training, at most the cores (default: numba's, the "
                        "cores or NUMBA_NUM_THREADS)")
    r.add_argument("--out", metavar="DIR", help="output directory (default runs/YYYYmmdd-HHMMSS)")
    r.add_argument("--force", action="store_true",
                   help="write into an output directory that already holds results")
    r.add_argument("--resume", metavar="PATH",
                   help="continue the run saved in PATH (a checkpoint.npz or its directory) with "
                        "the options recorded in its checkpoint (give none of them, or the same "
                        "values); with --iterations or --epochs, extend it by that much")
    r.add_argument("--checkpoint-every", type=positive(int), metavar="N",
                   help="save a checkpoint every N iterations (default: after the first epoch, "
                        f"then after an epoch at most once every {CHECKPOINT_SECONDS:.0f} s)")
    r.add_argument("--quiet", action="store_true", help="print only the final summary")
    p.set_defaults(func=run)


def run(args):
    from .._signals import StopSignals
    with StopSignals() as stop:
        try:
            return _run(args, stop)
        except (ValueError, TypeError) as e:
            err = option_error(e, OPTION_NAMES)
            if err is e:
                raise
            raise err from None


def _run(args, stop):
    import numpy as np

    from ..checkpoint import CheckpointError, load_checkpoint
    from ..datasets import load
    from ..network import TwoLayerNet
    from ..runfolder import HistoryLog, RunFolder
    from ..trainer import Trainer, TrainingDiverged, TrainingInterrupted

    state = ckpt = None
    if args.out == "":
        raise ValueError("--out: expected a directory name, got ''")
    if args.resume:
        ckpt = _checkpoint_path(args.resume)
        try:
            state, extra = load_checkpoint(ckpt)
        except CheckpointError as e:
            raise CheckpointError(f"--resume {e}") from None
        _apply_saved(args, extra.get("args"), ckpt, state)
        out = Path(args.out) if args.out is not None else ckpt.parent
        in_place = out.is_dir() and os.path.samefile(out, ckpt.parent)
        _check_out(out, args.force or in_place)
    else:
        for key, value in RUN_DEFAULTS.items():
            if getattr(args, key) is None:
                setattr(args, key, value)
        if args.epochs is None and args.iterations is None:
            args.iterations = DEFAULT_ITERATIONS
        if args.seed is None:
            args.seed = int(np.random.SeedSequence().entropy % 2**32)
        if args.early_stopping is not None and args.validation is None:
            raise ValueError("--early-stopping: needs --validation FRACTION (it watches the "
                             "validation loss)")
        if args.data_dir is not None:   # recorded for evaluate, from wherever it runs
            args.data_dir = os.path.abspath(args.data_dir)
        out = Path(args.out) if args.out is not None else _new_run_dir()
        in_place = False
        _check_out(out, args.force)

    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, flush=True))
    with RunFolder(out) as folder:
        data = load(args.dataset, data_dir=args.data_dir,
                    download=False if args.no_download else None, dtype=args.dtype)
        args.dataset = data.name  # what was loaded: a resumed run must use the same data
        say(f"data: {data.describe()}")
        net = TwoLayerNet(data.train[0].shape[1], args.hidden, len(data.classes),
                          activation=args.activation, dtype=args.dtype, seed=args.seed)
        progress = _Progress() if not args.quiet and sys.stderr.isatty() else None
        # a progress bar redrawn every 10 steps; otherwise 100 steps per call
        per_call = 10 if progress else 100
        if args.checkpoint_every:
            per_call = min(per_call, args.checkpoint_every)
        trainer = Trainer(net, *data.train, *data.test, lr=args.lr, batch_size=args.batch_size,
                          epochs=args.epochs, iterations=args.iterations, sampling=args.sampling,
                          grad=args.grad, numerical_method=args.numerical_method,
                          seed=trainer_seed(args.seed), threads=args.threads, steps_per_call=per_call,
                          validation_split=args.validation, early_stopping=args.early_stopping,
                          lr_schedule=args.lr_schedule,
                          eval_test_each_epoch=args.eval_test_each_epoch,
                          handle_signals=False)  # the handlers are ours, for the whole run
        if state is not None:
            trainer.load_state_dict(state)
        saved_args = _saved_args(args)
        log = HistoryLog(folder.path("history.jsonl"), trainer.history, on_error=lambda e: print(
            f"warning: history.jsonl not written ({e}); it is rewritten at the end", file=sys.stderr))
        checkpoints = _Checkpointer(folder, trainer, saved_args, args.checkpoint_every,
                                    say if not args.quiet else None)
        if ckpt is not None and in_place:
            checkpoints.published = trainer.iteration   # the checkpoint already there
        trainer.callbacks[:0] = [cb for cb in (progress, log, checkpoints,
                                               None if args.quiet else _EpochPrinter(progress)) if cb]
        stop.on_stop = trainer.request_stop
        if stop.signum is not None:                      # came while the data were loading
            trainer.request_stop(stop.signum)
        D, H, C = net.sizes
        say(f"network {D}-{H}-{C} {args.activation} {args.dtype}, SGD lr {args.lr:g}, batch "
            f"{args.batch_size}, {trainer.total_steps} iterations = "
            f"{_plural(trainer.epochs, 'epoch')} of {trainer.steps_per_epoch} ({args.sampling}), "
            f"{args.grad} ({trainer.step_kind}), seed {args.seed}")
        if trainer.x_val is not None:
            say(f"validation: {len(trainer.x_val)} of the {len(trainer.x_val) + len(trainer.x_train)} "
                f"training images held out (stratified, seed {args.seed}); the test set is "
                f"evaluated {'every epoch' if args.eval_test_each_epoch else 'at the end'}")
        if state is not None:
            say(f"resuming at iteration {trainer.iteration} (epoch {trainer.epoch + 1}) from {ckpt}")
        say(f"output: {out}")

        _write_environment(folder, ckpt, trainer)
        start_iteration = trainer.iteration
        t0 = time.perf_counter()
        try:
            try:
                trainer.fit()
            except TrainingInterrupted as e:
                if progress:
                    progress.clear()
                try:
                    return _interrupted(e, trainer, folder, log, checkpoints, out)
                except OSError as err:
                    return _not_saved(err, trainer, folder, log, checkpoints, saved_args, out)
            except TrainingDiverged as e:
                if progress:
                    progress.clear()
                return _diverged(e, trainer, folder, checkpoints, out)
            wall = max(time.perf_counter() - t0, 1e-9)
            if progress:
                progress.clear()
            try:
                t_write = time.perf_counter()
                summary = _write_results(trainer, data, saved_args, folder, log, wall)
                writing = time.perf_counter() - t_write
            except OSError as e:
                return _not_saved(e, trainer, folder, log, checkpoints, saved_args, out)
        except SignalInterrupt as e:
            if progress:
                progress.clear()
            print(f"{signal_name(e.signum)} again: stopped at once; {checkpoints.kept(out)}",
                  file=sys.stderr)
            return exit_status(e.signum)
        finally:
            log.close()

    if trainer.stopped_early:
        print(f"early stopping: the validation loss last improved at epoch {trainer.best_epoch}; "
              f"its weights are kept and tested")
    tm = trainer.timing
    steady = tm["steady_iterations"]
    if steady:      # throughput of the steps after the first, which compiles
        rate = f"{steady * args.batch_size / max(tm['steps'], 1e-9):,.0f} samples/s"
    else:
        samples = (trainer.iteration - start_iteration) * args.batch_size
        rate = (f"{samples / max(tm['first_step'], 1e-9):,.0f} samples/s including compilation "
                "(a single call)")
    if not args.quiet:
        other = max(wall - tm["first_step"] - tm["steps"] - tm["first_eval"] - tm["eval"], 0.0)
        print(f"time: first step {_secs(tm['first_step'])} (compilation or cache loading), "
              f"training {_secs(tm['steps'])}, evaluation {_secs(tm['first_eval'] + tm['eval'])} "
              f"(first {_secs(tm['first_eval'])}), other {_secs(other)}; writing the results "
              f"{_secs(writing)}")
    val = ""
    if "val_acc" in summary:
        val = f"validation accuracy {summary['val_acc']:.4f} (loss {summary['val_loss']:.4f}), "
    print(f"{val}test accuracy {summary['test_acc']:.4f} (loss {summary['test_loss']:.4f}) after "
          f"{trainer.iteration} iterations; {wall:.1f} s, {rate}; "
          f"results in {out}")
    if stop.signum is not None:   # the signal came after the last step: the results are complete
        print(f"{signal_name(stop.signum)} received after the last iteration; the results are "
              "complete", file=sys.stderr)
        return exit_status(stop.signum)
    return 0


# -- the ways a run ends ------------------------------------------------------------
class _Checkpointer:
    """Trainer callback: a checkpoint every ``every`` iterations, or (every=None) after the
    first epoch and then after an epoch once CHECKPOINT_SECONDS have passed; written and
    published atomically."""

    def __init__(self, folder, trainer, saved_args, every, say):
        self.folder = folder
        self.saved_args = saved_args
        self.every = every
        self.say = say
        self.last_iteration = trainer.iteration
        self.last_time = time.monotonic()
        self.published = None       # iteration of the checkpoint in the run folder
        self.start_state = trainer.state_dict()    # the last finite state before any checkpoint

    def __call__(self, trainer, event):
        if self.every is not None:
            # not at a "step" that ends an epoch: the state is consistent after its evaluation
            due = (event == "epoch" or trainer._pos < trainer.steps_per_epoch) and \
                trainer.iteration - self.last_iteration >= self.every
        else:   # the first epoch's, so that the folder and its log exist early; then by time
            due = event == "epoch" and (self.published is None or
                                        time.monotonic() - self.last_time >= CHECKPOINT_SECONDS)
        if due and trainer.iteration < trainer.total_steps:
            try:
                self.save(trainer.state_dict())
            except OSError as e:
                out = self.folder.out
                print(f"warning: checkpoint not saved ({_user_path(e, self.folder, out)}); "
                      f"{self.kept(out)}", file=sys.stderr)
            self.last_iteration = trainer.iteration
            self.last_time = time.monotonic()

    def save(self, state, *, publish=True):
        """Write ``state`` as the work folder's checkpoint and publish it with the history."""
        from ..checkpoint import save_checkpoint
        save_checkpoint(state, self.folder.path(CHECKPOINT), args=self.saved_args)
        if publish:
            self.folder.publish(PROGRESS_FILES)
            self.published = state["counters"]["iteration"]
            if self.say:
                self.say(f"checkpoint: iteration {self.published} saved to "
                         f"{self.folder.out / CHECKPOINT}")

    def kept(self, out):
        """What the run folder holds of this run, read back from it."""
        if self.published is None:
            return "no checkpoint had been saved"
        from ..checkpoint import load_checkpoint
        try:   # a signal may have come between a publication and its record here
            iteration = load_checkpoint(out / CHECKPOINT)[0]["counters"]["iteration"]
        except (OSError, ValueError):
            iteration = self.published
        return f"the checkpoint of iteration {iteration} is kept in {out / CHECKPOINT}"


def _resume_hint(out):
    return f"resume with: fastnn train --resume {shlex.quote(str(out))}"


def _interrupted(e, trainer, folder, log, checkpoints, out):
    """First stop signal: save the checkpoint and the history so far, say how to resume."""
    checkpoints.save(trainer.state_dict(), publish=False)
    log.complete(trainer.history)
    folder.publish(PROGRESS_FILES)
    checkpoints.published = trainer.iteration
    how = f" by {signal_name(e.signum)}" if e.signum is not None else ""
    print(f"interrupted{how} at iteration {trainer.iteration}/{trainer.total_steps}; checkpoint "
          f"saved to {out / CHECKPOINT}\n{_resume_hint(out)}", file=sys.stderr)
    return 130 if e.signum is None else exit_status(e.signum)


def _diverged(e, trainer, folder, checkpoints, out):
    """A NaN or infinite loss: keep the last finite checkpoint, exit EXIT_DIVERGED."""
    if checkpoints.published is None:    # none saved yet: the state the run started from
        checkpoints.save(checkpoints.start_state)
    epoch = trainer.epoch + 1
    print(f"fastnn train: error: training diverged: the loss is {e.loss} at iteration "
          f"{e.iteration} (epoch {epoch}); the last finite state, iteration {checkpoints.published}, "
          f"is kept in {out / CHECKPOINT}; try a smaller --lr", file=sys.stderr)
    _diverged_plots(e, trainer, checkpoints.saved_args, out)
    return EXIT_DIVERGED


def _diverged_plots(e, trainer, args, out):
    """accuracy.png and loss.png of the run up to the divergence, marked as such, in the run
    folder beside the checkpoint (a later publication of the run replaces them)."""
    from ..plots import plot_accuracy, plot_loss
    title = _plot_title(trainer, args)
    h = dict(trainer.history, loss=trainer.history["loss"] + e.losses)   # up to the bad batch
    try:
        plot_accuracy(h, out / "accuracy.png", title, diverged=(e.iteration, e.loss))
        plot_loss(h, out / "loss.png", title, diverged=(e.iteration, e.loss))
    except OSError as err:
        print(f"warning: the plots were not written ({err})", file=sys.stderr)
        return
    print(f"the curves up to the divergence: {out / 'accuracy.png'}, {out / 'loss.png'}",
          file=sys.stderr)


def _write_results(trainer, data, saved_args, folder, log, wall):
    """Every result file into the work folder, then published at once; the summary."""
    from ..checkpoint import save_checkpoint, save_params
    from ..plots import plot_accuracy, plot_loss
    from ..runfolder import read_history
    h = trainer.history
    summary = {"test_acc": h["test_acc"][-1], "test_loss": h["test_loss"][-1],
               "train_acc": h["train_acc"][-1], "iterations": trainer.iteration,
               "wall_time": wall, "train_time": float(sum(h["time"]))}
    if "val_acc" in h:
        summary.update(val_acc=h["val_acc"][-1], val_loss=h["val_loss"][-1])
    if trainer.early_stopping is not None:
        summary.update(best_epoch=trainer.best_epoch, stopped_early=trainer.stopped_early)
    save_checkpoint(trainer.state_dict(), folder.path(CHECKPOINT), args=saved_args)
    save_params(trainer.net, folder.path("weights.npz"), dataset=data.name, args=saved_args,
                summary=summary)
    log.complete(h)
    streamed = read_history(folder.path("history.jsonl"))    # the final files come from the log
    streamed["loss"] = streamed["loss"] if len(streamed["loss"]) == len(h["loss"]) else h["loss"]
    record = {"dataset": data.describe(), "args": saved_args, "config": trainer.config(),
              "summary": summary, "history": streamed}
    _write_text(folder.path("history.json"), json.dumps(_json_safe(record), indent=1) + "\n")
    _write_text(folder.path("history.csv"), _history_csv(streamed))
    title = _plot_title(trainer, saved_args)
    plot_accuracy(streamed, folder.path("accuracy.png"), title)
    plot_loss(streamed, folder.path("loss.png"), title)
    folder.publish(RESULT_FILES)
    return summary


def _plot_title(trainer, args):
    from ..plots import run_title
    return run_title(args["dataset"], trainer.net.sizes, args["activation"],
                     type(trainer.optimizer).__name__, args["lr"], args["seed"],
                     schedule=args["lr_schedule"], batch=args["batch_size"],
                     validation=args["validation"])


def _not_saved(e, trainer, folder, log, checkpoints, saved_args, out):
    """The results could not be written (a full disk): keep the trained state somewhere."""
    from ..checkpoint import save_checkpoint
    print(f"fastnn train: error: the results could not be written: {_user_path(e, folder, out)}",
          file=sys.stderr)
    state = trainer.state_dict()
    places = [None, Path(tempfile.gettempdir()), Path("/dev/shm")]
    for place in places:
        try:
            if place is None:       # the run folder, as a checkpoint (smaller than all results)
                for name in set(RESULT_FILES) - set(PROGRESS_FILES):   # free their space
                    folder.path(name).unlink(missing_ok=True)
                checkpoints.save(state, publish=False)
                log.complete(trainer.history)
                folder.publish(PROGRESS_FILES)
                where = out / CHECKPOINT
            else:
                rescue = Path(tempfile.mkdtemp(dir=place, prefix="fastnn-rescue-"))
                try:
                    save_checkpoint(state, rescue / CHECKPOINT, args=saved_args)
                except OSError:
                    rescue.rmdir()
                    raise
                where = rescue / CHECKPOINT
        except OSError:
            continue
        finish = f"fastnn train --resume {shlex.quote(str(where.parent))}"
        if place is not None:
            finish += f" --out {shlex.quote(str(out))} --force"
        print(f"kept: the trained state (iteration {trainer.iteration}) in {where}; once there "
              f"is space, write the results with: {finish}", file=sys.stderr)
        return EXIT_NOT_SAVED
    print(f"kept: nothing new could be saved anywhere; {checkpoints.kept(out)}", file=sys.stderr)
    return EXIT_NOT_SAVED


def _user_path(e, folder, out):
    """The error with the work folder's name replaced by the run folder's."""
    text = str(e)
    return text.replace(str(folder.work), str(out)) if folder.work else text


# -- resume and output directory ------------------------------------------------
def _checkpoint_path(resume):
    p = Path(resume)
    if p.is_dir():
        p = p / CHECKPOINT
        if not p.exists():
            raise ValueError(f"--resume {resume}: no {CHECKPOINT} in that directory; nothing to resume")
    elif not p.exists():
        raise ValueError(f"--resume {resume}: no such file or directory")
    return p


def _saved_args(args):
    return {key: getattr(args, key) for key in RUN_DEFAULTS}


def _apply_saved(args, saved, ckpt, state):
    """Take the run's options from the checkpoint; --iterations/--epochs say how much more."""
    if isinstance(saved, dict):
        saved = {**{k: RUN_DEFAULTS[k] for k in LATER_OPTIONS}, **saved}
    if not isinstance(saved, dict) or set(saved) != set(RUN_DEFAULTS):
        raise ValueError(f"--resume {ckpt}: the checkpoint does not record the training options")
    more_iterations, more_epochs = args.iterations, args.epochs
    for key, value in saved.items():
        given = getattr(args, key)
        if key in ("epochs", "iterations"):
            setattr(args, key, value)
            continue
        same = given == value
        if key == "data_dir" and given is not None and value is not None:
            same = os.path.abspath(given) == os.path.abspath(value)
        if given is not None and not same:
            opt = "--" + key.replace("_", "-")
            raise ValueError(f"{opt}: the checkpoint's run used {value!r}, not {given!r}; "
                             "--resume continues the same run (leave the option out)")
        setattr(args, key, value)
    done = int(state["counters"]["iteration"])
    total = int(state["config"]["total_steps"])
    if more_iterations is not None or more_epochs is not None:
        per_epoch = int(state["config"]["steps_per_epoch"])
        args.iterations = done + (more_iterations or more_epochs * per_epoch)
        args.epochs = None
    # a finished state without its results beside it (kept when the disk was full) is
    # resumed to write them; one with its results needs MORE to do anything
    elif (done >= total or (state.get("best") or {}).get("stopped")) and \
            (ckpt.parent / "weights.npz").exists():
        raise ValueError(f"--resume {ckpt}: the run is finished ({done} iterations); to extend "
                         "it, add --iterations MORE or --epochs MORE")


def _new_run_dir():
    base = Path("runs") / time.strftime("%Y%m%d-%H%M%S")
    out, i = base, 1
    while out.exists():
        i += 1
        out = base.with_name(f"{base.name}-{i}")
    return out


def _check_out(out, replace):
    """Refuse to overwrite results (unless ``replace``), and folders that hold the current one."""
    from ..runfolder import RUN_FILES
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out}: exists and is not a directory")
    here, real = Path.cwd().resolve(), out.resolve()
    if real == here or real in here.parents:
        raise ValueError(f"--out {out}: is the current directory or holds it; choose a folder "
                         "for the run")
    if out.is_dir() and not replace:
        found = [name for name in RUN_FILES if (out / name).exists()]
        if found:
            raise ValueError(f"--out {out}: already holds results ({', '.join(found)}); choose another "
                             "directory, pass --force to replace them, or --resume to continue")


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
    from ..trainer import epoch_keys
    keys = epoch_keys(h)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(keys)
    for row in zip(*(h[k] for k in keys)):
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


def _plural(n, word):
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _secs(t):
    """A duration with enough digits: 4.2ms, 0.052s, 1.23s, 12.3s, 123s, 12m05s."""
    if t >= 600:
        return f"{int(t // 60)}m{int(t % 60):02d}s"
    for limit, text in ((0.01, f"{t * 1e3:.1f}ms"), (1, f"{t:.3f}s"), (10, f"{t:.2f}s"),
                        (100, f"{t:.1f}s")):
        if t < limit:
            return text
    return f"{t:.0f}s"


class _EpochPrinter:
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
        parts = [f"epoch {h['epoch'][-1]:>{w}}/{trainer.epochs}", _secs(h["time"][-1]),
                 f"loss {h['train_loss'][-1]:.3f}", f"train {h['train_acc'][-1]:.3f}"]
        if "val_acc" in h:
            parts.append(f"val {h['val_acc'][-1]:.3f} (loss {h['val_loss'][-1]:.3f})")
        if h["test_acc"][-1] is not None:
            parts.append(f"test {h['test_acc'][-1]:.3f} (loss {h['test_loss'][-1]:.3f})")
        left = (trainer.total_steps - trainer.iteration) / trainer.steps_per_epoch
        if left > 0 and not trainer.stopped_early:
            # the first epoch of a run pays the compilation: left out when there are others
            times = (h["time"][1:] if len(h["time"]) > 1 else h["time"])[-5:]
            parts.append(f"ETA {_secs(left * sum(times) / len(times))}")
        print("  ".join(parts), flush=True)


def _write_environment(folder, ckpt, trainer):
    """environment.json in the run folder: library versions and thread counts, one record
    per start of the run (a resumed run adds one to those beside its checkpoint), so that
    a result can be traced."""
    from ..threads import blas_limit, describe, num_threads
    with num_threads(trainer._numba_threads()), blas_limit(trainer.blas_threads):  # as in fit
        info = {"start_iteration": trainer.iteration, **describe()}
    before = None if ckpt is None else ckpt.parent / ENVIRONMENT
    records = json.loads(before.read_text()) if before is not None and before.is_file() else []
    _write_text(folder.path(ENVIRONMENT), json.dumps(records + [info], indent=1) + "\n")
