"""The run folder of ``fastnn train``: the files it holds, a fresh folder's name, and the
checks that keep a run from overwriting results or the folder it runs in."""
import time
from pathlib import Path

CHECKPOINT = "checkpoint.npz"
#: What a finished run publishes; an interrupted one publishes the first two.
ENVIRONMENT = "environment.json"
PROGRESS_FILES = (CHECKPOINT, "history.jsonl", ENVIRONMENT)
RESULT_FILES = PROGRESS_FILES + ("weights.npz", "history.json", "history.csv", "accuracy.png",
                                 "loss.png")
#: Without --checkpoint-every: a checkpoint after an epoch once this many seconds have passed.


def checkpoint_path(resume):
    p = Path(resume)
    if p.is_dir():
        p = p / CHECKPOINT
        if not p.exists():
            raise ValueError(f"--resume {resume}: no {CHECKPOINT} in that directory; nothing to resume")
    elif not p.exists():
        raise ValueError(f"--resume {resume}: no such file or directory")
    return p


def new_run_dir():
    base = Path("runs") / time.strftime("%Y%m%d-%H%M%S")
    out, i = base, 1
    while out.exists():
        i += 1
        out = base.with_name(f"{base.name}-{i}")
    return out


def check_out(out, replace):
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
