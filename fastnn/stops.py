"""How a training run stops early: an interruption (a signal or a request) or a divergence."""

__all__ = ["TrainingDiverged", "TrainingInterrupted"]


class TrainingInterrupted(KeyboardInterrupt):
    """A stop signal (SIGINT, SIGTERM, SIGHUP), ``request_stop`` or a callback's
    KeyboardInterrupt stopped ``fit`` between two batches.

    ``trainer`` is consistent: ``trainer.state_dict()`` resumes the run exactly.
    ``signum``: the signal's number, or None when no signal stopped it.
    """

    def __init__(self, trainer, signum=None):
        super().__init__(f"training stopped after iteration {trainer.iteration}")
        self.trainer = trainer
        self.signum = signum


class TrainingDiverged(FloatingPointError):
    """The loss of iteration ``iteration`` (counted from 1) was ``loss``, NaN or infinite.

    The trainer's counters stop before the batch (or fused block) that diverged,
    but its parameters are no longer finite: continue from a saved state instead.
    ``losses``: the finite batch losses of the fused block before the one that diverged
    (not in the history, which stops with the counters); empty on the other paths.
    """

    def __init__(self, trainer, iteration, loss, losses=()):
        super().__init__(f"training diverged: the loss is {loss} at iteration {iteration}")
        self.trainer = trainer
        self.iteration = iteration
        self.loss = loss
        self.losses = list(losses)
