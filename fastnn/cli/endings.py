"""The ways a ``fastnn train`` run ends other than done: interrupted, diverged, or with results
that could not be written. Each keeps what it can and says how to go on."""
import shlex
import sys
import tempfile
from pathlib import Path

from .._signals import exit_status, signal_name
from .checkpointer import user_path
from .results import plot_title
from .rundir import CHECKPOINT, PROGRESS_FILES, RESULT_FILES

#: Exit statuses besides 0, 2 (bad input) and 128 + a signal's number.
EXIT_DIVERGED = 3
EXIT_NOT_SAVED = 4


def resume_hint(out):
    return f"resume with: fastnn train --resume {shlex.quote(str(out))}"


def interrupted(e, trainer, folder, log, checkpoints, out):
    """First stop signal: save the checkpoint and the history so far, say how to resume."""
    checkpoints.save(trainer.state_dict(), publish=False)
    log.complete(trainer.history)
    folder.publish(PROGRESS_FILES)
    checkpoints.published = trainer.iteration
    how = f" by {signal_name(e.signum)}" if e.signum is not None else ""
    print(f"interrupted{how} at iteration {trainer.iteration}/{trainer.total_steps}; checkpoint "
          f"saved to {out / CHECKPOINT}\n{resume_hint(out)}", file=sys.stderr)
    return 130 if e.signum is None else exit_status(e.signum)


def diverged(e, trainer, folder, checkpoints, out):
    """A NaN or infinite loss: keep the last finite checkpoint, exit EXIT_DIVERGED."""
    if checkpoints.published is None:    # none saved yet: the state the run started from
        checkpoints.save(checkpoints.start_state)
    epoch = trainer.epoch + 1
    print(f"fastnn train: error: training diverged: the loss is {e.loss} at iteration "
          f"{e.iteration} (epoch {epoch}); the last finite state, iteration {checkpoints.published}, "
          f"is kept in {out / CHECKPOINT}; try a smaller --lr", file=sys.stderr)
    diverged_plots(e, trainer, checkpoints.saved_args, out)
    return EXIT_DIVERGED


def diverged_plots(e, trainer, args, out):
    """accuracy.png and loss.png of the run up to the divergence, marked as such, in the run
    folder beside the checkpoint (a later publication of the run replaces them)."""
    from ..plots import plot_accuracy, plot_loss
    title = plot_title(trainer, args)
    h = dict(trainer.history, loss=trainer.history["loss"] + e.losses)   # up to the bad batch
    try:
        plot_accuracy(h, out / "accuracy.png", title, diverged=(e.iteration, e.loss))
        plot_loss(h, out / "loss.png", title, diverged=(e.iteration, e.loss))
    except OSError as err:
        print(f"warning: the plots were not written ({err})", file=sys.stderr)
        return
    print(f"the curves up to the divergence: {out / 'accuracy.png'}, {out / 'loss.png'}",
          file=sys.stderr)


def not_saved(e, trainer, folder, log, checkpoints, saved_args, out):
    """The results could not be written (a full disk): keep the trained state somewhere."""
    from ..checkpoint import save_checkpoint
    print(f"fastnn train: error: the results could not be written: {user_path(e, folder, out)}",
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
