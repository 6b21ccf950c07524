"""Checkpoints of a ``fastnn train`` run, saved while it trains and published with its history."""
import sys
import time

from .rundir import CHECKPOINT, PROGRESS_FILES

#: Without --checkpoint-every: a checkpoint after an epoch once this many seconds have passed.
CHECKPOINT_SECONDS = 60.0


class Checkpointer:
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
                print(f"warning: checkpoint not saved ({user_path(e, self.folder, out)}); "
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


def user_path(e, folder, out):
    """The error with the work folder's name replaced by the run folder's."""
    text = str(e)
    return text.replace(str(folder.work), str(out)) if folder.work else text
