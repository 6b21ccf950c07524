"""``fastnn train``: train a network (by default the book's two-layer one) and write the results
to a directory.

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
import os
import sys
import time
from pathlib import Path

from .._signals import SignalInterrupt, exit_status, signal_name
from . import option_error, positive
from .checkpointer import CHECKPOINT_SECONDS, Checkpointer
from .endings import EXIT_DIVERGED, EXIT_NOT_SAVED, diverged, interrupted, not_saved
from .netopts import (add_network_options, add_optimizer_options, check_optimizer_args,
                      default_lr, describe_network, describe_optimizer, hyper_parameters,
                      is_extended, is_two_layer, multilayer_class, network_from_args, optimizer_class,
                      optimizer_from_args, weight_init_of)
from .progress import EpochPrinter, Progress, plural, secs
from .resume import apply_saved, saved_args_of
from .results import write_environment, write_results
from .rundir import CHECKPOINT, RESULT_FILES, check_out, checkpoint_path, new_run_dir
from .runopts import (DEFAULT_ITERATIONS, NUMERICAL_METHODS, OPTION_NAMES, RUN_DEFAULTS,
                      parse_fraction, parse_schedule_option, parse_seed, trainer_seed)

# names other modules and the tests import from here
_secs = secs
__all__ = ["CHECKPOINT", "DEFAULT_ITERATIONS", "EXIT_DIVERGED", "EXIT_NOT_SAVED", "RESULT_FILES",
           "RUN_DEFAULTS", "register", "run", "trainer_seed"]


def register(sub):
    p = sub.add_parser(
        "train", help="train a network (MNIST, or the bundled sample offline)",
        description="Train a network on images with mini-batches and write weights, history and "
                    "plots to an output directory. By default the book's run: TwoLayerNet(784, 50, "
                    "10), sigmoid, SGD lr 0.1; --hidden 100,100,100 --activation relu "
                    "--optimizer adam and the like build deeper networks and other optimizers "
                    "(MultiLayerNet, fastnn.optimizers). Without --epochs or "
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
    add_network_options(p, fill=False)     # filled in by _run, or by --resume from the checkpoint
    add_optimizer_options(p, fill=False)
    n = p.add_argument_group("training")
    n.add_argument("--grad", choices=("backprop", "numerical"), help="how to get gradients (backprop)")
    n.add_argument("--numerical-method", choices=NUMERICAL_METHODS,
                   help="numerical gradient algorithm (default: the fastest that applies, "
                        "incremental for the two-layer net, else cached)")
    length = n.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=positive(int), metavar="N",
                        help="train N epochs (with --resume: N more)")
    length.add_argument("--iterations", type=positive(int), metavar="N",
                        help=f"train N mini-batches ({DEFAULT_ITERATIONS}; with --resume: N more)")
    n.add_argument("--batch-size", type=positive(int), metavar="B", help="samples per batch (100)")
    n.add_argument("--sampling", choices=("shuffle", "random"),
                   help="shuffle: each sample once per epoch (default); random: the book's "
                        "batches drawn with replacement")
    n.add_argument("--dtype", choices=("float32", "float64"), help="arithmetic (float32)")
    n.add_argument("--seed", type=parse_seed, help="seed for weights and batches (default: random, printed)")
    n.add_argument("--lr-schedule", type=parse_schedule_option, metavar="SPEC",
                   help="step:EPOCHS:GAMMA (lr times GAMMA every EPOCHS epochs) or cosine "
                        "(down to 0 by the last epoch); default: constant lr")
    v = p.add_argument_group("validation")
    v.add_argument("--validation", type=parse_fraction, metavar="FRACTION",
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


def build_model(args, input_size, classes):
    """(net, optimizer) as fastnn train builds them from its options ``args`` (defaults
    filled in), recording in ``args`` the numerical method and optimizer settings used."""
    if is_extended(args) and args.grad == "numerical":
        raise ValueError("--grad numerical: not available with --dropout or --batchnorm "
                         "(their numerical gradient is for checking backprop: it holds one set of "
                         "dropout masks and leaves batch norm's running statistics); use backprop")
    net = network_from_args(args, input_size, classes, dtype=args.dtype, seed=args.seed)
    optimizer = optimizer_from_args(args)
    if args.numerical_method is None and is_extended(args):
        args.numerical_method = "cached"    # recorded only: backprop is the only gradient
    elif args.numerical_method is None:
        from ..numerical import default_method
        args.numerical_method = default_method(net)
    for key, value in hyper_parameters(optimizer).items():
        setattr(args, key, value)
    return net, optimizer


def _run(args, stop):
    import numpy as np

    from ..checkpoint import CheckpointError, load_checkpoint
    from ..datasets import load
    from ..runfolder import HistoryLog, RunFolder
    from ..trainer import Trainer, TrainingDiverged, TrainingInterrupted

    state = ckpt = None
    if args.out == "":
        raise ValueError("--out: expected a directory name, got ''")
    if args.resume:
        ckpt = checkpoint_path(args.resume)
        try:
            state, extra = load_checkpoint(ckpt)
        except CheckpointError as e:
            raise CheckpointError(f"--resume {e}") from None
        apply_saved(args, extra.get("args"), ckpt, state)
        out = Path(args.out) if args.out is not None else ckpt.parent
        in_place = out.is_dir() and os.path.samefile(out, ckpt.parent)
        check_out(out, args.force or in_place)
        lr_given = True
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
        lr_given = args.lr is not None
        if args.lr is None:
            args.lr = default_lr(args.optimizer)
        args.weight_init = weight_init_of(args)     # recorded as used
        if args.data_dir is not None:   # recorded for evaluate, from wherever it runs
            args.data_dir = os.path.abspath(args.data_dir)
        out = Path(args.out) if args.out is not None else new_run_dir()
        in_place = False
        check_out(out, args.force)

    check_optimizer_args(args)      # bad input stops before any data are read
    optimizer_class(args.optimizer)
    if not is_two_layer(args):
        multilayer_class(args)
    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, flush=True))
    with RunFolder(out) as folder:
        data = load(args.dataset, data_dir=args.data_dir,
                    download=False if args.no_download else None, dtype=args.dtype)
        args.dataset = data.name  # what was loaded: a resumed run must use the same data
        say(f"data: {data.describe()}")
        net, optimizer = build_model(args, data.train[0].shape[1], len(data.classes))
        progress = Progress() if not args.quiet and sys.stderr.isatty() else None
        # a progress bar redrawn every 10 steps; otherwise 100 steps per call
        per_call = 10 if progress else 100
        if args.checkpoint_every:
            per_call = min(per_call, args.checkpoint_every)
        trainer = Trainer(net, *data.train, *data.test, optimizer=optimizer, batch_size=args.batch_size,
                          epochs=args.epochs, iterations=args.iterations, sampling=args.sampling,
                          grad=args.grad, numerical_method=args.numerical_method,
                          seed=trainer_seed(args.seed), threads=args.threads, steps_per_call=per_call,
                          validation_split=args.validation, early_stopping=args.early_stopping,
                          lr_schedule=args.lr_schedule,
                          eval_test_each_epoch=args.eval_test_each_epoch,
                          handle_signals=False)  # the handlers are ours, for the whole run
        if state is not None:
            trainer.load_state_dict(state)
        saved_args = saved_args_of(args)
        log = HistoryLog(folder.path("history.jsonl"), trainer.history, on_error=lambda e: print(
            f"warning: history.jsonl not written ({e}); it is rewritten at the end", file=sys.stderr))
        checkpoints = Checkpointer(folder, trainer, saved_args, args.checkpoint_every,
                                    say if not args.quiet else None)
        if ckpt is not None and in_place:
            checkpoints.published = trainer.iteration   # the checkpoint already there
        trainer.callbacks[:0] = [cb for cb in (progress, log, checkpoints,
                                               None if args.quiet else EpochPrinter(progress)) if cb]
        stop.on_stop = trainer.request_stop
        if stop.signum is not None:                      # came while the data were loading
            trainer.request_stop(stop.signum)
        say(f"network {describe_network(net, args)}; {describe_optimizer(optimizer, lr_given)}")
        path = (f"method {trainer.numerical_method}" if trainer.step_kind == "numerical" else
                trainer.step_kind + (f": {trainer.step_note}" if trainer.step_note else ""))
        say(f"batch {args.batch_size}, {trainer.total_steps} iterations = "
            f"{plural(trainer.epochs, 'epoch')} of {trainer.steps_per_epoch} ({args.sampling}), "
            f"{args.grad} ({path}), seed {args.seed}")
        if trainer.x_val is not None:
            say(f"validation: {len(trainer.x_val)} of the {len(trainer.x_val) + len(trainer.x_train)} "
                f"training images held out (stratified, seed {args.seed}); the test set is "
                f"evaluated {'every epoch' if args.eval_test_each_epoch else 'at the end'}")
        if state is not None:
            say(f"resuming at iteration {trainer.iteration} (epoch {trainer.epoch + 1}) from {ckpt}")
        say(f"output: {out}")

        write_environment(folder, ckpt, trainer)
        start_iteration = trainer.iteration
        t0 = time.perf_counter()
        try:
            try:
                trainer.fit()
            except TrainingInterrupted as e:
                if progress:
                    progress.clear()
                try:
                    return interrupted(e, trainer, folder, log, checkpoints, out)
                except OSError as err:
                    return not_saved(err, trainer, folder, log, checkpoints, saved_args, out)
            except TrainingDiverged as e:
                if progress:
                    progress.clear()
                return diverged(e, trainer, folder, checkpoints, out)
            wall = max(time.perf_counter() - t0, 1e-9)
            if progress:
                progress.clear()
            try:
                t_write = time.perf_counter()
                summary = write_results(trainer, data, saved_args, folder, log, wall)
                writing = time.perf_counter() - t_write
            except OSError as e:
                return not_saved(e, trainer, folder, log, checkpoints, saved_args, out)
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
        print(f"time: first step {secs(tm['first_step'])} (compilation or cache loading), "
              f"training {secs(tm['steps'])}, evaluation {secs(tm['first_eval'] + tm['eval'])} "
              f"(first {secs(tm['first_eval'])}), other {secs(other)}; writing the results "
              f"{secs(writing)}")
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
