"""A training run's output folder, written all-or-nothing, and its streamed history.

    folder = RunFolder("runs/x")        # a hidden work folder beside runs/x
    folder.open()
    ...                                 # files written into folder.work
    folder.publish(["checkpoint.npz", "history.jsonl"])
    folder.close()                      # the work folder goes; runs/x stays

``publish`` makes the folder hold exactly the named run files of the work
folder, in one step: a snapshot folder beside it is filled with hard links
(the files are not copied) and swapped with the run folder by
``exchange_dirs``. A reader never sees a mix of two runs, or a half-written
file; files of the user's own in the folder (anything not in RUN_FILES) are
carried over. A run that fails before it publishes leaves nothing behind, not
even the folders it created.

``HistoryLog`` appends one JSON line per epoch to ``history.jsonl`` and
flushes it; ``read_history`` builds the history back from those lines.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import stat
import tempfile
from pathlib import Path

from ._atomic import atomic_write, exchange_dirs

__all__ = ["HISTORY_LOG", "RUN_FILES", "HistoryLog", "RunFolder", "read_history"]

HISTORY_LOG = "history.jsonl"
#: The files a run owns in its folder; anything else there is the user's and is kept.
RUN_FILES = ("weights.npz", "checkpoint.npz", HISTORY_LOG, "history.json", "history.csv",
             "accuracy.png", "loss.png", "environment.json")


class RunFolder:
    """The output folder ``out`` of one run and the hidden work folder beside it."""

    def __init__(self, out):
        self.out = Path(out)
        # publish where a symlinked folder points, not over the link
        self._real = Path(os.path.realpath(self.out))
        self.work = None
        self.published = False
        self._created = []

    # -- life cycle --------------------------------------------------------
    def open(self):
        """Create the parents of ``out`` as needed and the work folder beside it.

        Raises OSError naming ``out`` when it cannot be written there."""
        real = self._real
        if real.exists() and not real.is_dir():
            raise NotADirectoryError(f"--out {self.out}: exists and is not a directory")
        missing, p = [], real.parent
        while not p.exists() and p != p.parent:
            missing.append(p)
            p = p.parent
        try:
            for d in reversed(missing):
                d.mkdir()
                self._created.append(d)
            self._remove_stale()
            self.work = Path(tempfile.mkdtemp(dir=real.parent, prefix=self._prefix()))
        except OSError as e:
            self._remove_created()
            raise OSError(f"--out {self.out}: cannot write there ({e.strerror or e})") from None
        return self

    def close(self):
        """Remove the work folder, and the folders ``open`` created if nothing was published."""
        if self.work is not None:
            shutil.rmtree(self.work, ignore_errors=True)
            self.work = None
        if not self.published:
            self._remove_created()

    def __enter__(self):
        return self.open()

    def __exit__(self, *exc):
        self.close()
        return False

    def _prefix(self):
        return f".{self._real.name}.fastnn-{os.getpid()}-"

    def _remove_created(self):
        for d in reversed(self._created):
            try:
                d.rmdir()
            except OSError:
                break
        self._created = []

    def _remove_stale(self):
        """Work folders left beside ``out`` by a process that no longer exists (kill -9)."""
        pattern = re.compile(re.escape(f".{self._real.name}.fastnn-") + r"(\d+)-")
        for entry in os.scandir(self._real.parent):
            m = pattern.match(entry.name)
            if m and entry.is_dir(follow_symlinks=False) and not _alive(int(m.group(1))):
                shutil.rmtree(entry.path, ignore_errors=True)

    # -- files -------------------------------------------------------------
    def path(self, name):
        """Where to write run file ``name`` before it is published."""
        return self.work / name

    def publish(self, names):
        """Make ``out`` hold exactly the run files ``names`` from the work folder (plus the
        user's own files), in one step. On failure ``out`` is left as it was."""
        real = self._real
        snap = Path(tempfile.mkdtemp(dir=real.parent, prefix=self._prefix()))
        moved = []
        try:
            for name in names:
                _link(self.work / name, snap / name)
            if real.is_dir():
                for entry in os.scandir(real):
                    if entry.name in RUN_FILES:
                        continue
                    if entry.is_dir(follow_symlinks=False):   # a folder of the user's: moved
                        os.rename(entry.path, snap / entry.name)
                        moved.append(entry.name)
                    else:
                        _link(Path(entry.path), snap / entry.name)
                os.chmod(snap, stat.S_IMODE(real.stat().st_mode))
                exchange_dirs(snap, real)
                moved = []
            else:
                umask = os.umask(0)
                os.umask(umask)
                os.chmod(snap, 0o777 & ~umask)
                os.rename(snap, real)
            self.published = True
            self._created = []
        finally:
            for name in moved:                  # failed before the swap: put them back
                with contextlib.suppress(OSError):
                    os.rename(snap / name, real / name)
            shutil.rmtree(snap, ignore_errors=True)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _link(src, dst):
    """dst as a second name of src (a copy where hard links are not allowed)."""
    if src.is_symlink():
        os.symlink(os.readlink(src), dst)
        return
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


# -- the history, one line per epoch ----------------------------------------------
def _finite(x):
    """NaN and inf as null, so that every line is strict JSON."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, list):
        return [_finite(v) for v in x]
    return x


class HistoryLog:
    """``history.jsonl``: one JSON object per finished epoch (the EPOCH_KEYS values and
    ``loss``, the epoch's per-iteration losses), appended and flushed as the epoch ends.

    path: the file, created afresh with the epochs already in ``history`` (a resumed run).
    A write that fails (a full disk) is undone, reported once through ``on_error``,
    and the file is rewritten whole by ``complete`` at the end.
    """

    def __init__(self, path, history, on_error=None):
        from .history import epoch_keys
        self.keys = epoch_keys(history)
        self.path = Path(path)
        self.on_error = on_error
        self.failed = None
        self.written = 0                    # epochs in the file
        self._f = open(self.path, "ab")
        for e in range(len(history["epoch"])):
            self._append(history, e)

    def _line(self, h, e):
        end = h["iteration"][e]
        start = h["iteration"][e - 1] if e else 0
        record = {k: h[k][e] for k in self.keys}
        record["loss"] = h["loss"][start:end]
        return (json.dumps(_finite(record), separators=(",", ":")) + "\n").encode()

    def _append(self, h, e):
        if self.failed is not None:
            return
        good = self._f.tell()
        try:
            self._f.write(self._line(h, e))
            self._f.flush()
            self.written = e + 1
        except OSError as err:
            self.failed = err
            try:
                self._f.truncate(good)
            except OSError:
                pass
            if self.on_error is not None:
                self.on_error(err)

    def __call__(self, trainer, event):
        """Trainer callback: append the epoch that just ended."""
        if event == "epoch":
            self._append(trainer.history, len(trainer.history["epoch"]) - 1)

    def complete(self, history):
        """Make the file hold every epoch of ``history`` (rewritten atomically if a write
        had failed); raises OSError naming the file if that fails too."""
        if self.failed is None and self.written == len(history["epoch"]):
            self._f.flush()
            return
        self._f.close()
        with atomic_write(self.path) as f:
            for e in range(len(history["epoch"])):
                f.write(self._line(history, e))
        self._f = open(self.path, "ab")
        self.failed, self.written = None, len(history["epoch"])

    def close(self):
        self._f.close()


def read_history(path):
    """The history (EPOCH_KEYS lists and ``loss``) from a history.jsonl. A last line
    cut short by a crash is left out; any other bad line raises ValueError naming it."""
    from .history import new_history
    h = None
    lines = Path(path).read_bytes().split(b"\n")
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if h is None:       # the optional keys (validation, lr) the run records
                h = new_history(record if isinstance(record, dict) else ())
            values = [record[k] for k in h if k != "loss"]
            losses = list(record["loss"])
        except (ValueError, KeyError, TypeError) as e:
            if i == len(lines):             # the unterminated last line: cut short
                break
            raise ValueError(f"{path}: line {i} is not a history record ({e})") from None
        for k, v in zip((k for k in h if k != "loss"), values):
            h[k].append(v)
        h["loss"].extend(losses)
    return new_history() if h is None else h
