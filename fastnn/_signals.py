"""Stop signals: SIGINT, SIGTERM and SIGHUP all ask a run to stop after its current step.

    with StopSignals(on_stop=trainer.request_stop) as stop:
        ...                      # stop.signum is set once a signal has come

The first signal calls ``on_stop(signum)`` and lets the work finish its step;
a second one raises SignalInterrupt (a KeyboardInterrupt) at once. A signal
whose handler was SIG_IGN when the block started (``nohup cmd &``, a shell's
background job) stays ignored. Handlers are installed only in the main thread
and restored when the block ends.
"""
from __future__ import annotations

import signal
import threading

__all__ = ["STOP_SIGNALS", "SignalInterrupt", "StopSignals", "exit_status", "signal_name"]

#: The signals that stop a run: Ctrl-C, `kill`/`timeout`/`docker stop`, a closed terminal.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP")
                     if hasattr(signal, name))


def signal_name(signum):
    """'SIGTERM' for 15; 'Ctrl-C' is not used: the name is what ``kill -l`` prints."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def exit_status(signum):
    """The shell's convention for a process ended by a signal: 128 + its number
    (130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP)."""
    return 128 + int(signum)


class SignalInterrupt(KeyboardInterrupt):
    """A second stop signal: the work was interrupted at once. ``signum`` says which."""

    def __init__(self, signum):
        super().__init__(f"{signal_name(signum)} received twice: stopped at once")
        self.signum = signum


class StopSignals:
    """Context manager: the first stop signal calls ``on_stop(signum)`` (if given) and
    sets ``signum``; the next one raises SignalInterrupt. Ignored signals stay ignored."""

    def __init__(self, on_stop=None):
        self.on_stop = on_stop
        self.signum = None
        self._old = {}

    def _handler(self, signum, frame):
        if self.signum is not None:
            raise SignalInterrupt(signum)
        self.signum = signum
        if self.on_stop is not None:
            self.on_stop(signum)

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                old = signal.getsignal(sig)
                if old is signal.SIG_IGN or old is None:  # None: set outside Python; leave it
                    continue
                try:
                    signal.signal(sig, self._handler)
                except (ValueError, OSError):
                    continue
                self._old[sig] = old
        return self

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()
        return False
