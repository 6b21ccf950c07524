"""A sweep's output folder: what it is (sweep.json) and what it has done (results.jsonl).

    folder = SweepFolder(out, spec, resume=False)   # refuses another sweep's folder
    done = folder.finished()                        # {index: record} already there
    folder.append(record)                           # one line, written with one write()

Each finished trial is one JSON line appended with a single ``write`` to a file
opened with O_APPEND, then fsync'ed: a reader sees whole lines, and a line cut
short by a crash (no newline) is ignored on reading and dropped when the sweep
is resumed. Only the process that runs the sweep writes here; workers return
records to it.
"""
import json
import math
import os
import time
from pathlib import Path

from .._atomic import atomic_write

__all__ = ["SweepFolder", "read_results", "FolderError"]

SPEC_FILE = "sweep.json"
RESULTS = "results.jsonl"


class FolderError(ValueError):
    """An output folder that this sweep cannot use."""


def read_results(path):
    """{index: record} of the complete lines of a results.jsonl; a later line of a trial
    replaces an earlier one only if the earlier one is not "ok"."""
    out = {}
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return out
    for line in data.split(b"\n")[:-1]:     # the part after the last newline is incomplete
        if not line.strip():
            continue
        rec = json.loads(line)
        old = out.get(rec["index"])
        if old is None or old.get("status") != "ok":
            out[rec["index"]] = rec
    return out


class SweepFolder:
    """The output folder of the sweep ``spec`` (see the module docstring).

    Without ``resume`` the folder must be new, or hold this sweep with no trial finished
    (a start that failed, say at an unreachable scheduler); with it, it must hold this
    sweep (the same spec digest) or nothing yet."""

    def __init__(self, out, spec, n_trials, resume=False):
        self.out = Path(out)
        self.results = self.out / RESULTS
        if self.out.exists() and not self.out.is_dir():
            raise FolderError(f"--out {out}: exists and is not a directory")
        info = self.out / SPEC_FILE
        mine = {"digest": spec.digest(), "trials": n_trials, "spec": spec.identity(),
                "spec_file": str(spec.path)}
        if info.exists():
            try:
                theirs = json.loads(info.read_text())
            except (OSError, ValueError) as e:
                raise FolderError(f"--out {out}: {SPEC_FILE} cannot be read ({e}); choose "
                                  "another folder") from None
            if theirs.get("digest") != mine["digest"]:
                raise FolderError(
                    f"--out {out}: holds another sweep (from {theirs.get('spec_file', '?')}, "
                    f"digest {theirs.get('digest')}; this spec's is {mine['digest']}); "
                    "choose another folder")
            n = len(read_results(self.results))
            if not resume and n:        # a start that finished no trial has nothing to keep
                raise FolderError(f"--out {out}: already holds this sweep ({n} of {n_trials} "
                                  "trials done); pass --resume to finish it, or choose another "
                                  "folder")
        elif self.results.exists():
            raise FolderError(f"--out {out}: holds {RESULTS} without {SPEC_FILE}; choose "
                              "another folder")
        self.out.mkdir(parents=True, exist_ok=True)
        if not info.exists():
            mine["created"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            with atomic_write(info) as f:
                f.write((json.dumps(mine, indent=1) + "\n").encode())
        self._drop_partial_line()

    def _drop_partial_line(self):
        """Cut a last line that a crash left without its newline."""
        try:
            data = self.results.read_bytes()
        except FileNotFoundError:
            return
        keep = data.rfind(b"\n") + 1
        if keep != len(data):
            with open(self.results, "r+b") as f:
                f.truncate(keep)
                os.fsync(f.fileno())

    def finished(self):
        """{index: record} of the trials already done ("ok" or "diverged": they are
        deterministic; "error" records are run again)."""
        return {i: r for i, r in read_results(self.results).items()
                if r.get("status") in ("ok", "diverged")}

    def all_records(self):
        return read_results(self.results)

    def append(self, record):
        """Append ``record`` as one JSON line, in one write, and make it durable."""
        line = (json.dumps(_json_safe(record), separators=(",", ":")) + "\n").encode()
        fd = os.open(self.results, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            n = os.write(fd, line)
            if n != len(line):
                raise OSError(f"{self.results}: short write ({n} of {len(line)} bytes)")
            os.fsync(fd)
        finally:
            os.close(fd)

    def write_text(self, name, text):
        with atomic_write(self.out / name) as f:
            f.write(text.encode())
        return self.out / name


def _json_safe(x):
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {str(k): _json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v) for v in x]
    if hasattr(x, "item"):      # numpy scalars
        return _json_safe(x.item())
    return x
