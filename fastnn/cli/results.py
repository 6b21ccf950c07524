"""The result files of a finished ``fastnn train`` run: weights, checkpoint, history as JSON
and CSV, the two plots, and environment.json."""
import csv
import io
import json
import math

from .rundir import CHECKPOINT, ENVIRONMENT, RESULT_FILES


def write_results(trainer, data, saved_args, folder, log, wall):
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
    write_text(folder.path("history.json"), json.dumps(json_safe(record), indent=1) + "\n")
    write_text(folder.path("history.csv"), history_csv(streamed))
    title = plot_title(trainer, saved_args)
    plot_accuracy(streamed, folder.path("accuracy.png"), title)
    plot_loss(streamed, folder.path("loss.png"), title)
    folder.publish(RESULT_FILES)
    return summary


def plot_title(trainer, args):
    from ..plots import run_title
    return run_title(args["dataset"], trainer.net.sizes, args["activation"],
                     type(trainer.optimizer).__name__, args["lr"], args["seed"],
                     schedule=args["lr_schedule"], batch=args["batch_size"],
                     validation=args["validation"])


def write_text(path, text):
    from .._atomic import atomic_write
    with atomic_write(path) as f:
        f.write(text.encode())


def json_safe(x):
    """NaN and inf (a diverged run) as null, so that the file is strict JSON."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_safe(v) for v in x]
    return x


def history_csv(h):
    from ..trainer import epoch_keys
    keys = epoch_keys(h)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(keys)
    for row in zip(*(h[k] for k in keys)):
        w.writerow(["" if v is None else repr(v) if isinstance(v, float) else v for v in row])
    return buf.getvalue()


def write_environment(folder, ckpt, trainer):
    """environment.json in the run folder: library versions and thread counts, one record
    per start of the run (a resumed run adds one to those beside its checkpoint), so that
    a result can be traced."""
    from ..threads import blas_limit, describe, num_threads
    with num_threads(trainer._numba_threads()), blas_limit(trainer.blas_threads):  # as in fit
        info = {"start_iteration": trainer.iteration, "step": trainer.step_kind,
                "fused_not_used": trainer.step_note or None, **describe()}
    before = None if ckpt is None else ckpt.parent / ENVIRONMENT
    records = json.loads(before.read_text()) if before is not None and before.is_file() else []
    write_text(folder.path(ENVIRONMENT), json.dumps(records + [info], indent=1) + "\n")
