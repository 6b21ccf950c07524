"""Fault injection for `fastnn train` and `fastnn evaluate`: real signals, kill -9, a full disk,
divergence, staged output folders, resume and extension.

Child processes get their signal dispositions set explicitly (``preexec_fn``), so that the
tests behave the same when pytest itself runs as a background job with SIGINT ignored.
Signals are sent once the child has printed that training is under way; no test waits on a
fixed sleep.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from fastnn.checkpoint import load_checkpoint, load_params
from fastnn.cli import main
from fastnn.datasets import write_idx
from fastnn.runfolder import read_history
from fastnn.trainer import Trainer

from .test_cli_train import interrupt_at

ROOT = Path(__file__).resolve().parent.parent
QUICK = ["--dataset", "mnist-sample", "--no-download", "--hidden", "8", "--seed", "3"]
LONG = ["--iterations", "1000000"]          # never finishes on its own: stopped by the test
STOP = {"SIGINT": 130, "SIGTERM": 143, "SIGHUP": 129}

#: Run fastnn in a child after patching its file writes: every write of a file whose
#: temporary name starts with '.NAME.' (NAME in $FAIL_NAMES) under $FAIL_UNDER raises
#: ENOSPC, as on a full disk.
FULL_DISK = r"""
import errno, io, os, sys, tempfile
names = os.environ["FAIL_NAMES"].split(",")
under = os.path.realpath(os.environ["FAIL_UNDER"])
real_mkstemp, real_fdopen, paths = tempfile.mkstemp, os.fdopen, {}
def mkstemp(*a, **k):
    fd, path = real_mkstemp(*a, **k)
    paths[fd] = path
    return fd, path
class Full(io.RawIOBase):
    def writable(self):
        return True
    def write(self, b):
        raise OSError(errno.ENOSPC, "No space left on device")
def fdopen(fd, *a, **k):
    path = paths.pop(fd, "")
    if os.path.realpath(path).startswith(under + os.sep) and \
            any(os.path.basename(path).startswith("." + n + ".") for n in names):
        os.close(fd)
        return io.BufferedWriter(Full())
    return real_fdopen(fd, *a, **k)
tempfile.mkstemp, os.fdopen = mkstemp, fdopen
from fastnn.cli import main
sys.exit(main(sys.argv[1:]))
"""


def start(*argv, ignore=(), code=None, env=None):
    """`python -m fastnn ARGV` with SIGINT/SIGTERM/SIGHUP at their defaults, except those in
    ``ignore`` (SIG_IGN); ``code``: run that Python text instead of the module."""
    def dispositions():
        for name in STOP:
            sig = getattr(signal, name)
            signal.signal(sig, signal.SIG_IGN if name in ignore else signal.SIG_DFL)
    cmd = [sys.executable, "-c", code, *argv] if code else [sys.executable, "-m", "fastnn", *argv]
    return subprocess.Popen(cmd, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=dispositions)


class Child:
    """A running child with a guard that kills it after 120 s, whatever happens."""

    def __init__(self, *argv, **kw):
        self.p = start(*argv, **kw)
        self.guard = threading.Timer(120, self.p.kill)
        self.guard.start()
        self.seen = []

    def wait_for(self, pattern, count=1):
        """Read stdout until ``count`` lines match ``pattern``; the last match."""
        found = 0
        while True:
            line = self.p.stdout.readline()
            assert line, f"ended before {pattern!r}: {self.seen[-5:]} {self.p.stderr.read()}"
            self.seen.append(line)
            m = re.search(pattern, line)
            if m:
                found += 1
                if found == count:
                    return m

    def finish(self):
        try:
            out, err = self.p.communicate(timeout=90)
        finally:
            self.guard.cancel()
            if self.p.poll() is None:
                self.p.kill()
        return self.p.returncode, "".join(self.seen) + out, err

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.guard.cancel()
        if self.p.poll() is None:
            self.p.kill()
            self.p.communicate()


def leftovers(root):
    """Half-written files and work folders anywhere under root."""
    return [str(p) for p in Path(root).rglob("*") if p.name.endswith(".part") or ".fastnn-" in p.name]


def run_files(run):
    return sorted(p.name for p in Path(run).iterdir())


# -- 1. signals ------------------------------------------------------------------------
@pytest.mark.parametrize("sig", sorted(STOP))
def test_stop_signal_saves_a_checkpoint_and_the_log(tmp_path, sig, capsys):
    run = tmp_path / "r"
    with Child("train", *QUICK, *LONG, "--out", str(run)) as c:
        c.wait_for(r"^epoch +2/")                  # two epochs logged
        c.p.send_signal(getattr(signal, sig))
        status, out, err = c.finish()
    assert status == STOP[sig], err
    m = re.search(rf"interrupted by {sig} at iteration (\d+)/1000000; checkpoint saved to "
                  rf"{re.escape(str(run / 'checkpoint.npz'))}\nresume with: fastnn train --resume "
                  rf"{re.escape(str(run))}\n", err)
    assert m, err
    assert "Traceback" not in err and run_files(run) == ["checkpoint.npz", "environment.json", "history.jsonl"]
    assert leftovers(tmp_path) == []
    state, _ = load_checkpoint(run / "checkpoint.npz")
    assert state["counters"]["iteration"] == int(m.group(1)) >= 160
    streamed = read_history(run / "history.jsonl")            # the log so far, every epoch
    assert streamed["epoch"] == state["history"]["epoch"]
    assert streamed["loss"] == state["history"]["loss"][:streamed["iteration"][-1]]

    # the resume command continues it (here extended by 20 iterations, to end soon)
    assert main(["train", "--resume", str(run), "--iterations", "20", "--quiet"]) == 0
    capsys.readouterr()
    assert load_checkpoint(run / "checkpoint.npz")[0]["counters"]["iteration"] == int(m.group(1)) + 20
    assert (run / "weights.npz").exists()


def test_ignored_signal_stays_ignored(tmp_path):
    """`nohup cmd &` / `cmd &` in a script: SIGINT and SIGHUP ignored; SIGTERM still stops."""
    run = tmp_path / "r"
    with Child("train", *QUICK, *LONG, "--out", str(run), ignore=("SIGINT", "SIGHUP")) as c:
        c.wait_for(r"^epoch +1/")
        c.p.send_signal(signal.SIGINT)
        c.p.send_signal(signal.SIGHUP)
        # a handled signal would stop the run within the epoch under way: three more
        # epochs show both were ignored
        c.wait_for(r"^epoch ", count=3)
        assert c.p.poll() is None
        c.p.send_signal(signal.SIGTERM)
        status, out, err = c.finish()
    assert status == 143 and "interrupted by SIGTERM" in err, err
    assert run_files(run) == ["checkpoint.npz", "environment.json", "history.jsonl"]


def test_second_signal_stops_at_once(tmp_path):
    run = tmp_path / "r"
    with Child("train", *QUICK, *LONG, "--checkpoint-every", "40", "--out", str(run)) as c:
        m = c.wait_for(r"^checkpoint: iteration (\d+) saved")
        c.p.send_signal(signal.SIGTERM)
        c.p.send_signal(signal.SIGINT)             # before the first one is dealt with
        status, out, err = c.finish()
    # Python runs pending handlers in signal-number order: either may count as the second
    again = re.search(r"(SIGINT|SIGTERM) again: stopped at once; the checkpoint of iteration", err)
    assert again and status == STOP[again.group(1)], err
    assert "Traceback" not in err and leftovers(tmp_path) == []
    # the folder holds a complete checkpoint, of the last iteration it reports
    kept = int(re.search(r"checkpoint of iteration (\d+) is kept", err).group(1))
    assert kept >= int(m.group(1))
    assert load_checkpoint(run / "checkpoint.npz")[0]["counters"]["iteration"] == kept


def test_kill_9_loses_at_most_checkpoint_every(tmp_path, capsys):
    run = tmp_path / "r"
    with Child("train", *QUICK, *LONG, "--checkpoint-every", "40", "--out", str(run)) as c:
        c.wait_for(r"^checkpoint: iteration (\d+) saved", count=3)
        c.wait_for(r"^epoch ")
        c.p.kill()
        c.finish()
    # the last checkpoint is whole; the history log streamed past it; the work folder stays
    state, extra = load_checkpoint(run / "checkpoint.npz")
    done = state["counters"]["iteration"]
    assert done >= 120 and done % 40 == 0
    assert len(read_history(run / "history.jsonl")["epoch"]) >= len(state["history"]["epoch"])
    assert [p for p in leftovers(tmp_path) if p.endswith(".part")] == []
    # resuming removes the dead process's work folder and ends with whole results
    assert main(["train", "--resume", str(run), "--iterations", "10", "--quiet"]) == 0
    capsys.readouterr()
    assert leftovers(tmp_path) == [] and (run / "weights.npz").exists()


# -- 2. output folders -------------------------------------------------------------------
def test_failed_runs_leave_no_folder(tmp_path, capsys):
    out = tmp_path / "a" / "b" / "run"
    assert main(["train", *QUICK, "--batch-size", "9000", "--out", str(out)]) == 2
    assert main(["train", *QUICK[:-2], "--seed", "3", "--dataset", "mnist", "--data-dir",
                 str(tmp_path / "none"), "--out", str(out)]) == 2
    assert list(tmp_path.iterdir()) == []          # neither the folder nor its parents
    capsys.readouterr()


def test_force_into_a_finished_run_then_interrupted(tmp_path, capsys, monkeypatch):
    """Old weights never sit beside the new run's checkpoint; the user's files stay."""
    run = tmp_path / "r"
    assert main(["train", *QUICK, "--iterations", "30", "--out", str(run), "--quiet"]) == 0
    (run / "notes.txt").write_text("mine")
    (run / "extra").mkdir()
    (run / "extra" / "data.txt").write_text("also mine")
    old = load_params(run / "weights.npz")[0]

    assert main(["train", *QUICK, "--iterations", "30", "--out", str(run)]) == 2
    assert "already holds results" in capsys.readouterr().err

    interrupt_at(monkeypatch, 50)
    assert main(["train", *QUICK[:-1], "4", "--iterations", "200", "--out", str(run),
                 "--force", "--quiet"]) == 130
    capsys.readouterr()
    assert run_files(run) == ["checkpoint.npz", "environment.json", "extra", "history.jsonl", "notes.txt"]
    assert (run / "notes.txt").read_text() == "mine"
    assert (run / "extra" / "data.txt").read_text() == "also mine"
    assert main(["evaluate", str(run)]) == 0                   # the new run, not the old one
    assert "checkpoint.npz" in capsys.readouterr().out
    new = load_params(run / "checkpoint.npz")[0]
    assert not np.array_equal(new["W1"], old["W1"])
    assert leftovers(tmp_path) == []


def test_resume_into_another_folder_obeys_force(tmp_path, capsys, monkeypatch):
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["train", *QUICK, "--iterations", "20", "--out", str(a), "--quiet"]) == 0
    interrupt_at(monkeypatch, 10)
    assert main(["train", *QUICK, "--iterations", "40", "--out", str(b), "--quiet"]) == 130
    a_before = {p.name: p.read_bytes() for p in a.iterdir()}
    b_before = {p.name: p.read_bytes() for p in b.iterdir()}
    capsys.readouterr()
    assert main(["train", "--resume", str(b), "--out", str(a)]) == 2
    assert f"--out {a}: already holds results" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in a.iterdir()} == a_before
    assert main(["train", "--resume", str(b), "--out", str(a), "--force", "--quiet"]) == 0
    capsys.readouterr()
    assert load_checkpoint(a / "checkpoint.npz")[0]["counters"]["iteration"] == 40
    assert {p.name: p.read_bytes() for p in b.iterdir()} == b_before     # b untouched


# -- 3. history ------------------------------------------------------------------------------
def test_history_streams_to_the_run_folder(tmp_path):
    run = tmp_path / "r"
    with Child("train", *QUICK, *LONG, "--out", str(run)) as c:
        c.wait_for(r"^checkpoint: iteration 80 saved")   # by default after the first epoch
        c.wait_for(r"^epoch +4/")
        # written and flushed before the epoch's line is printed: in the folder already
        lines = (run / "history.jsonl").read_text().splitlines()
        assert len(lines) >= 4
        assert json.loads(lines[3])["epoch"] == 4 and len(json.loads(lines[3])["loss"]) == 80
        c.p.send_signal(signal.SIGTERM)
        assert c.finish()[0] == 143


def test_final_history_is_built_from_the_log(tmp_path, capsys):
    run = tmp_path / "r"
    assert main(["train", *QUICK, "--iterations", "170", "--out", str(run), "--quiet"]) == 0
    capsys.readouterr()
    streamed = read_history(run / "history.jsonl")
    record = json.loads((run / "history.json").read_text())
    assert record["history"] == streamed and len(streamed["loss"]) == 170
    assert streamed["iteration"] == [80, 160, 170]
    with open(run / "history.jsonl", "a") as f:                # a line cut short by a crash
        f.write('{"epoch": 4, "iter')
    assert read_history(run / "history.jsonl") == streamed


# -- 4. divergence ------------------------------------------------------------------------
def test_divergence_stops_with_exit_3(tmp_path, capsys):
    run = tmp_path / "r"
    status = main(["train", *QUICK, "--lr", "1e300", "--iterations", "200", "--out", str(run)])
    out, err = capsys.readouterr()
    assert status == 3
    assert re.search(r"fastnn train: error: training diverged: the loss is (nan|inf) at iteration "
                     r"2 \(epoch 1\); the last finite state, iteration 0, is kept in "
                     + re.escape(str(run / "checkpoint.npz")), err), err
    assert "test accuracy" not in out and not (run / "weights.npz").exists()
    params, _ = load_params(run / "checkpoint.npz")            # finite: evaluate reads it
    assert all(np.isfinite(v).all() for v in params.values())
    assert main(["evaluate", str(run)]) == 0


def test_divergence_keeps_the_last_periodic_checkpoint(tmp_path, capsys, monkeypatch):
    real = Trainer._run_one

    def run_one(self):                              # the weights blow up after iteration 80
        if self.iteration == 80:                    # blocks of 25 end at 25, 50, 75, 80
            self.net.params["W2"][...] = np.inf
        real(self)
    monkeypatch.setattr(Trainer, "_run_one", run_one)
    run = tmp_path / "r"
    status = main(["train", *QUICK, "--iterations", "300", "--checkpoint-every", "25",
                   "--out", str(run), "--quiet"])
    err = capsys.readouterr().err
    assert status == 3 and "at iteration 81 (epoch 2); the last finite state, iteration 75" in err
    assert load_checkpoint(run / "checkpoint.npz")[0]["counters"]["iteration"] == 75


# -- 5. evaluate's data ---------------------------------------------------------------------
def idx_dir(path, seed):
    path.mkdir()
    rng = np.random.default_rng(seed)
    for split in ("train", "t10k"):
        write_idx(path / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 256, (50, 28, 28), dtype=np.uint8))
        write_idx(path / f"{split}-labels-idx1-ubyte.gz", rng.integers(0, 10, 50, dtype=np.uint8))
    return path


def test_evaluate_uses_the_recorded_data(tmp_path, capsys, monkeypatch):
    data = idx_dir(tmp_path / "data", 0)
    run = tmp_path / "r"
    monkeypatch.chdir(tmp_path)                     # a relative --data-dir, recorded absolute
    assert main(["train", "--dataset", "mnist", "--data-dir", "data", "--hidden", "4", "--batch-size",
                 "10", "--iterations", "10", "--seed", "0", "--out", str(run), "--quiet"]) == 0
    capsys.readouterr()
    monkeypatch.chdir(ROOT)
    assert main(["evaluate", str(run)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"data: mnist: 50 train / 50 test images from {data} (the data the run "
                          "recorded)\n"), out
    assert main(["evaluate", str(run), "--dataset", "mnist-sample"]) == 0   # told otherwise
    out, err = capsys.readouterr()
    assert "data: mnist-sample: 8000 train / 2000 test" in out and "(as given)" in out
    assert "note: the weights were trained on mnist" in err
    shutil.rmtree(data)
    assert main(["evaluate", str(run)]) == 2
    err = capsys.readouterr().err
    assert f"{data}: no such directory (the directory the run recorded; give --data-dir" in err


# -- 8. extension ---------------------------------------------------------------------------
def test_finished_run_can_be_extended(tmp_path, capsys):
    whole, part = tmp_path / "whole", tmp_path / "part"
    args = [*QUICK, "--dtype", "float64", "--quiet"]
    assert main(["train", *args, "--iterations", "240", "--out", str(whole)]) == 0
    assert main(["train", *args, "--iterations", "160", "--out", str(part)]) == 0
    assert main(["train", "--resume", str(part)]) == 2
    assert "the run is finished (160 iterations); to extend it, add --iterations MORE" in \
        capsys.readouterr().err
    assert main(["train", "--resume", str(part), "--epochs", "1", "--quiet"]) == 0   # 80 more
    capsys.readouterr()
    a, b = load_params(whole / "weights.npz")[0], load_params(part / "weights.npz")[0]
    for k in a:                                     # 160 + 80 is the 240-iteration run, exactly
        np.testing.assert_array_equal(a[k], b[k])
    ha = json.loads((whole / "history.json").read_text())
    hb = json.loads((part / "history.json").read_text())
    assert ha["history"]["loss"] == hb["history"]["loss"] and hb["args"]["iterations"] == 240
    assert read_history(part / "history.jsonl")["iteration"] == [80, 160, 240]


# -- a full disk ------------------------------------------------------------------------------
def test_full_disk_at_save_keeps_the_state_in_the_run_folder(tmp_path):
    run = tmp_path / "r"
    with Child("train", *QUICK, "--iterations", "100", "--out", str(run), code=FULL_DISK,
               env={"FAIL_NAMES": "weights.npz", "FAIL_UNDER": str(tmp_path)}) as c:
        status, out, err = c.finish()
    assert status == 4, err
    assert "Traceback" not in err
    assert (f"fastnn train: error: the results could not be written: [Errno 28] No space left on "
            f"device: '{run / 'weights.npz'}'") in err
    assert (f"kept: the trained state (iteration 100) in {run / 'checkpoint.npz'}; once there is "
            f"space, write the results with: fastnn train --resume {run}") in err
    assert run_files(run) == ["checkpoint.npz", "environment.json", "history.jsonl"] and leftovers(tmp_path) == []
    assert main(["train", "--resume", str(run), "--quiet"]) == 0     # the command it printed
    assert (run / "weights.npz").exists()


def test_full_disk_everywhere_near_the_run_saves_elsewhere(tmp_path, tmp_path_factory):
    run, tmp = tmp_path / "r", tmp_path_factory.mktemp("other-disk")
    with Child("train", *QUICK, "--iterations", "100", "--out", str(run), code=FULL_DISK,
               env={"FAIL_NAMES": "weights.npz,checkpoint.npz", "FAIL_UNDER": str(tmp_path),
                    "TMPDIR": str(tmp)}) as c:
        status, out, err = c.finish()
    assert status == 4, err
    m = re.search(r"kept: the trained state \(iteration 100\) in (\S+)/checkpoint.npz; once there "
                  r"is space, write the results with: fastnn train --resume (\S+) --out (\S+) --force",
                  err)
    assert m, err
    assert Path(m.group(1)).parent == tmp and m.group(2) == m.group(1) and m.group(3) == str(run)
    assert load_checkpoint(Path(m.group(1)) / "checkpoint.npz")[0]["counters"]["iteration"] == 100
    assert not run.exists() and [p for p in leftovers(tmp_path) if ".part" in p] == []


def test_full_disk_during_training_warns_and_goes_on(tmp_path, tmp_path_factory):
    run, tmp = tmp_path / "r", tmp_path_factory.mktemp("other-disk")
    with Child("train", *QUICK, "--iterations", "60", "--checkpoint-every", "20", "--out", str(run),
               code=FULL_DISK, env={"FAIL_NAMES": "checkpoint.npz", "FAIL_UNDER": str(tmp_path),
                                    "TMPDIR": str(tmp)}) as c:
        status, out, err = c.finish()
    warning = (f"warning: checkpoint not saved ([Errno 28] No space left on device: "
               f"'{run / 'checkpoint.npz'}'); no checkpoint had been saved\n")
    assert err.count(warning) == 2, err                 # at 20 and 40; training went on
    assert status == 4 and "kept: the trained state (iteration 60) in " + str(tmp) in err
    assert "Traceback" not in err and not run.exists()


def _mount_tmpfs(path, size):
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    path.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                       capture_output=True)
    return r.returncode == 0


def test_full_disk_on_a_real_tmpfs(tmp_path):
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, "120k"):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        tmp = tmp_path / "tmp"
        tmp.mkdir()
        run = disk / "r"
        p = start("train", *QUICK, "--hidden", "50", "--iterations", "50", "--out", str(run),
                  env={"TMPDIR": str(tmp)})
        out, err = p.communicate(timeout=120)
        assert p.returncode == 4, err
        assert "No space left on device" in err and str(run) in err and "Traceback" not in err
        where = Path(re.search(r"kept: the trained state \(iteration 50\) in (\S+)", err).group(1).rstrip(";"))
        assert load_checkpoint(where)[0]["counters"]["iteration"] == 50
        assert leftovers(disk) == []
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


# -- the options' messages --------------------------------------------------------------------
@pytest.mark.parametrize("argv,message", [
    (["train", "--seed", "-1"], "argument --seed: expected an integer from 0 to 2**64-1, got -1"),
    (["train", "--checkpoint-every", "-5"], "argument --checkpoint-every: expected a number > 0"),
    (["evaluate", "x", "--batch-size", "0"], "argument --batch-size: expected a number > 0, got 0"),
])
def test_bad_flags_name_the_option(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize("argv,message", [
    (["--threads", "100000"], "fastnn train: error: --threads: expected an integer in [1, "),
    (["--out", ""], "fastnn train: error: --out: expected a directory name, got ''"),
    (["--out", "."], "fastnn train: error: --out .: is the current directory or holds it"),
    (["--resume", "nowhere"], "fastnn train: error: --resume nowhere: no such file or directory"),
])
def test_bad_values_name_the_option(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["train", *QUICK, "--iterations", "5", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1, err
    assert list(tmp_path.iterdir()) == []
