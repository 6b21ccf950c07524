"""fastnn sweep: the spec, the trials, the output folder, and sweeps on a real LocalCluster.

The cluster tests start a LocalCluster of two worker processes (one thread each) in
this process and run sweeps on it by address, as ``fastnn sweep --scheduler`` does;
each trial's record is compared with the same trial run in this process.
"""
import json
import os
import signal
import socket

import numpy as np
import pytest

from fastnn.sweep import (FolderError, SchedulerUnreachable, SpecError, SweepFolder,
                          SweepInterrupted, expand, load_spec, parse_spec, read_results,
                          run_sweep, run_trial)
from fastnn.sweep.options import OptionError, option_names
from fastnn.sweep.runner import connect, task_of
from fastnn.sweep.trial import data_spec

#: Small, fast trials: 300 sample images (240 train / 60 validation), 20 hidden units.
SMALL = """
[sweep]
seed = 7
{sweep}
[data]
dataset = "mnist-sample"
train_size = 300
validation = 0.2
[train]
hidden = 20
activation = "relu"
epochs = {epochs}
[axes]
{axes}
"""

#: What a trial computes (deterministic); timings and the worker's name are not.
DETERMINISTIC = ("index", "config", "repeat", "seed", "values", "status", "history", "val_acc",
                 "val_loss", "train_acc", "train_loss", "test_acc", "test_loss", "iterations")


def write_spec(tmp_path, axes, sweep="", epochs=2, name="spec.toml"):
    path = tmp_path / name
    path.write_text(SMALL.format(axes=axes, sweep=sweep, epochs=epochs))
    return path


def same(rec):
    out = {k: rec.get(k) for k in DETERMINISTIC}
    out["history"] = {k: v for k, v in (rec.get("history") or {}).items() if k != "time"}
    return json.loads(json.dumps(out))      # as read back from results.jsonl


def in_process(spec):
    """Every trial of ``spec`` run here, one after another: {index: record}."""
    ds = data_spec(spec)
    return {t.index: run_trial(task_of(t), ds) for t in expand(spec)}


# -- the spec -------------------------------------------------------------------
def test_syntax_error_names_line_and_column(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[sweep]\nseed = 1\n[axes]\nlr = 0.1 0.2\n')
    with pytest.raises(SpecError) as e:
        load_spec(path)
    msg = str(e.value)
    assert msg.startswith(f"{path}:") and "TOML syntax error" in msg
    line, col = msg.split(":")[1:3]
    assert (int(line), int(col)) == (4, 10), msg
    path.write_text('[sweep]\nseed = 1\n[axes]\nlr = [0.1, 0.2\n')   # still open at the end
    with pytest.raises(SpecError, match=f"^{path}:4:15: TOML syntax error: .*end of the file"):
        load_spec(path)


def test_unknown_axis_lists_the_valid_options(tmp_path):
    with pytest.raises(SpecError) as e:
        load_spec(write_spec(tmp_path, "learning_rate = [0.1]"))
    msg = str(e.value)
    assert "[axes] learning_rate: unknown option" in msg
    for name in ("lr", "batch_size", "hidden", "dtype", "grad", "numerical_method"):
        assert name in msg.split("vary:")[1]


def test_train_parser_is_the_source_of_axis_names():
    import argparse

    from fastnn.cli.train import register
    holder = argparse.ArgumentParser()
    sub = holder.add_subparsers()
    register(sub)
    dests = {a.dest for a in sub.choices["train"]._actions if a.option_strings}
    names = option_names()
    assert set(names) <= dests and {"lr", "batch_size", "hidden", "dtype", "grad"} <= set(names)
    assert "out" not in names and "seed" not in names


@pytest.mark.parametrize("axes, sweep, expected", [
    ("lr = []", "", "[axes] lr: empty list"),
    ("lr = {choice = []}", "trials = 2", "[axes] lr: choice expects a non-empty list"),
    ("lr = {log_uniform = [1e-2, 1e-6]}", "trials = 2",
     "[axes] lr: log_uniform low 0.01 >= high 1e-06; expected low < high"),
    ("lr = {uniform = [0.5, 0.5]}", "trials = 2", "low 0.5 >= high 0.5"),
    ("lr = {log_uniform = [0, 1]}", "trials = 2", "log_uniform needs low > 0"),
    ("lr = {normal = [0, 1]}", "trials = 2", "expected one of log_uniform, uniform, choice"),
    ("lr = {log_uniform = [1e-3, 1]}", "", "[sweep] trials: needed with random axes (lr)"),
    ("lr = [0.1]", "trials = 3", "[sweep] trials: set, but no axis is random"),
    ("seed = [1, 2]", "", "[axes] seed: not a sweep setting"),
    ("out = ['x']", "", "[axes] out: not a sweep setting"),
    ("epochs = [1, 2]", "", "[axes] epochs: also set in [train]"),
    ("lr = 0.1", "", "expected a list of values (grid) or a table"),
    ("lr = [0.1]", "seeds = 0", "[sweep] seeds: expected an integer >= 1, got 0"),
    ("lr = [0.1]", "metric = 'test_acc'", "[sweep] metric: expected one of val_acc, val_loss"),
])
def test_bad_specs_get_one_clear_message(tmp_path, axes, sweep, expected):
    with pytest.raises(SpecError) as e:
        load_spec(write_spec(tmp_path, axes, sweep))
    assert expected in str(e.value) and str(e.value).startswith(str(tmp_path))


def test_bad_option_values_name_the_trial_and_the_option(tmp_path):
    spec = load_spec(write_spec(tmp_path, "lr = [0.1, -1.0]"))
    with pytest.raises(OptionError) as e:
        expand(spec)
    msg = str(e.value)
    assert "trial 1 (lr = -1.0)" in msg and "--lr" in msg and "expected a number > 0" in msg
    spec = load_spec(write_spec(tmp_path, "dtype = ['float16']"))
    with pytest.raises(OptionError, match="--dtype: invalid choice: 'float16'"):
        expand(spec)


def test_option_combinations_fastnn_train_refuses_are_refused_before_the_sweep():
    spec = parse_spec({"axes": {"optimizer": ["adam", "sgd"], "momentum": [0.9]}})
    with pytest.raises(OptionError, match=r"trial 0 \(optimizer = 'adam', momentum = 0.9\): "
                                          "--momentum: applies to --optimizer momentum or "
                                          "nesterov, not adam"):
        expand(spec)


# -- the trials -----------------------------------------------------------------
def test_list_values_become_comma_separated_options():
    spec = parse_spec({"train": {"hidden": [30, 20]},
                       "axes": {"weight_init": ["he", 0.05], "optimizer": ["sgd"]}})
    argv = [t.argv[:-2] for t in expand(spec)]
    assert argv == [("--hidden", "30,20", "--weight-init", "he", "--optimizer", "sgd"),
                    ("--hidden", "30,20", "--weight-init", "0.05", "--optimizer", "sgd")]
    spec = parse_spec({"axes": {"hidden": [[20], [20, 20]]}})
    assert [t.argv[:2] for t in expand(spec)] == [("--hidden", "20"), ("--hidden", "20,20")]


def test_grid_random_and_seeds_expand_deterministically(tmp_path):
    axes = "batch_size = [30, 60]\nlr = {log_uniform = [1e-4, 1e-1]}\nsampling = {choice = ['shuffle', 'random']}"
    spec = load_spec(write_spec(tmp_path, axes, "trials = 3\nseeds = 2"))
    trials = expand(spec)
    assert len(trials) == 2 * 3 * 2
    assert [t.index for t in trials] == list(range(12))
    assert [t.config for t in trials] == [i // 2 for i in range(12)]
    assert [t.values["batch_size"] for t in trials] == [30] * 6 + [60] * 6
    # the two seeds of a configuration share its values and differ in seed
    for a, b in zip(trials[::2], trials[1::2]):
        assert a.values == b.values and a.seed != b.seed
    assert len({t.seed for t in trials}) == 12
    lrs = [t.values["lr"] for t in trials[::2]]
    assert all(1e-4 <= v <= 1e-1 for v in lrs) and len(set(lrs)) == 6
    assert {t.values["sampling"] for t in trials} <= {"shuffle", "random"}
    assert expand(spec) == trials                                   # a re-run: the same trials
    # configuration c's draws do not depend on how many trials there are
    more = expand(load_spec(write_spec(tmp_path, axes, "trials = 5\nseeds = 2", name="b.toml")))
    assert more[0].values == trials[0].values and more[0].seed == trials[0].seed
    assert trials[0].argv[-2:] == ("--seed", str(trials[0].seed))
    assert "--hidden" in trials[0].argv and "20" in trials[0].argv


def test_log_uniform_draws_are_uniform_in_the_exponent():
    spec = parse_spec({"sweep": {"trials": 400}, "axes": {"lr": {"log_uniform": [1e-6, 1e-2]}}})
    exps = np.log10([t.values["lr"] for t in expand(spec)])
    assert exps.min() >= -6 and exps.max() <= -2
    # 400 draws of U(-6, -2): each quarter of the range holds 100 +- 3 sigma (sigma 8.7)
    counts = np.histogram(exps, bins=4, range=(-6, -2))[0]
    assert np.all(np.abs(counts - 100) < 27), counts


# -- the output folder ----------------------------------------------------------
def test_folder_refuses_another_sweep_and_a_second_run(tmp_path):
    a = load_spec(write_spec(tmp_path, "lr = [0.1]", name="a.toml"))
    b = load_spec(write_spec(tmp_path, "lr = [0.2]", name="b.toml"))
    out = tmp_path / "out"
    SweepFolder(out, a, 1)
    with pytest.raises(FolderError, match="holds another sweep"):
        SweepFolder(out, b, 1, resume=True)
    SweepFolder(out, a, 1).append({"index": 0, "status": "ok"})   # no trial done: a new start
    with pytest.raises(FolderError, match="already holds this sweep .1 of 1 trials done.; pass --resume"):
        SweepFolder(out, a, 1)
    with pytest.raises(FolderError, match="holds another sweep"):
        SweepFolder(out, b, 1)
    SweepFolder(out, a, 1, resume=True)


def test_results_keep_whole_lines_only(tmp_path):
    spec = load_spec(write_spec(tmp_path, "lr = [0.1, 0.2]"))
    folder = SweepFolder(tmp_path / "out", spec, 2)
    folder.append({"index": 0, "status": "ok", "val_acc": 0.5})
    with open(folder.results, "ab") as f:          # a crash in the middle of a line
        f.write(b'{"index": 1, "status": "o')
    assert list(read_results(folder.results)) == [0]
    folder = SweepFolder(tmp_path / "out", spec, 2, resume=True)   # drops the torn line
    folder.append({"index": 1, "status": "ok", "val_acc": float("nan")})
    lines = folder.results.read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[1]) == {"index": 1, "status": "ok", "val_acc": None}


def test_unreachable_scheduler_is_one_line_within_the_timeout():
    import time
    s = socket.socket()
    s.bind(("127.0.0.1", 0))                       # a port nobody listens on
    port = s.getsockname()[1]
    t0 = time.monotonic()
    try:
        with pytest.raises(SchedulerUnreachable) as e:
            with connect(f"tcp://127.0.0.1:{port}", timeout=2):
                pass
    finally:
        s.close()
    assert time.monotonic() - t0 < 30
    msg = str(e.value)
    assert msg.startswith(f"--scheduler tcp://127.0.0.1:{port}: no Dask scheduler answered "
                          "within 2 s") and "\n" not in msg


def test_cli_bad_input_exits_2_with_one_line(tmp_path, capsys):
    from fastnn.cli import main
    path = write_spec(tmp_path, "lr = {log_uniform = [1, 0.1]}", "trials = 2")
    assert main(["sweep", str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("fastnn sweep: error: ") and "low 1 >= high 0.1" in err
    assert "\n" not in err


# -- on a real LocalCluster -----------------------------------------------------
_CONNECT = socket.socket.connect        # before the hermetic guard wraps it


@pytest.fixture(scope="module")
def local_cluster():
    import logging

    from distributed import Client, LocalCluster

    from fastnn.sweep.runner import WORKER_ENV, _environ
    with _environ(WORKER_ENV):
        c = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                         dashboard_address=None, silence_logs=logging.ERROR, env=dict(WORKER_ENV))
    client = Client(c, set_as_default=False)
    yield c, client
    client.close()
    c.close()


@pytest.fixture
def cluster(local_cluster, hermetic, monkeypatch):
    """The module's LocalCluster, reachable through the hermetic guard: it is a loopback
    server these tests started (in a module fixture, set up before the guard), so its
    scheduler's and workers' ports are let through, every other address still checked."""
    c, client = local_cluster
    guarded = socket.socket.connect

    def ours(port):
        # read from the scheduler object, which runs in this process: a call through the
        # client would wait for its event loop, the thread that is connecting
        addresses = [c.scheduler_address, *list(c.scheduler.workers)]
        return port in {int(a.rsplit(":", 1)[1]) for a in addresses}

    def connect(sock, address):
        if sock.family == socket.AF_INET and address[0] == "127.0.0.1" and ours(address[1]):
            return _CONNECT(sock, address)
        return guarded(sock, address)
    monkeypatch.setattr(socket.socket, "connect", connect)
    return local_cluster


def test_grid_and_random_search_equal_running_each_trial_here(tmp_path, cluster):
    c, _ = cluster
    for name, axes, sweep in [
            ("grid", "batch_size = [40, 80]\nlr = [0.05, 0.5]", ""),
            ("random", "lr = {log_uniform = [1e-2, 1]}\nsampling = {choice = ['shuffle', 'random']}",
             "trials = 3\nseeds = 2")]:
        spec = load_spec(write_spec(tmp_path, axes, sweep, name=f"{name}.toml"))
        result = run_sweep(spec, tmp_path / name, scheduler=c.scheduler_address)
        records = read_results(tmp_path / name / "results.jsonl")
        here = in_process(spec)
        assert sorted(records) == sorted(here) == list(range(len(expand(spec))))
        assert result["done"] == len(here) and result["failed"] == 0
        for i in here:
            assert same(records[i]) == same(here[i]), (name, i)
        assert all(r["status"] == "ok" for r in records.values())
        # they ran on the workers, not here
        assert {r["worker"].rsplit(":", 1)[1] for r in records.values()} != {str(os.getpid())}


def test_a_trial_that_raises_is_recorded_and_the_sweep_goes_on(tmp_path, cluster):
    c, _ = cluster
    spec = load_spec(write_spec(tmp_path, "batch_size = [50, 100000]"))
    result = run_sweep(spec, tmp_path / "out", scheduler=c.scheduler_address)
    recs = result["records"]
    assert recs[0]["status"] == "ok"
    assert recs[1]["status"] == "error" and "batch_size: expected at most the 240 training " \
        "samples, got 100000" in recs[1]["error"]
    assert result["done"] == 1 and result["failed"] == 1


def test_worker_killed_mid_sweep_loses_and_duplicates_nothing(tmp_path, cluster):
    c, client = cluster
    spec = load_spec(write_spec(tmp_path, "lr = {log_uniform = [1e-2, 1]}", "trials = 12",
                                epochs=6))
    killed = []

    def kill_one(rec):
        if not killed:
            pids = client.run(os.getpid)
            victim = [p for p in pids.values() if str(p) != rec["worker"].rsplit(":", 1)[1]][0]
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)
    result = run_sweep(spec, tmp_path / "out", scheduler=c.scheduler_address, on_record=kill_one)
    assert killed
    lines = [json.loads(x) for x in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    assert sorted(r["index"] for r in lines) == list(range(12))      # each once
    assert result["done"] == 12 and all(r["status"] == "ok" for r in lines)
    here = in_process(spec)
    for r in lines:
        assert same(r) == same(here[r["index"]])
    client.wait_for_workers(2, timeout=60)       # the nanny restarted it, for the next tests


def test_resume_after_an_interruption_completes_the_same_table(tmp_path, cluster):
    c, _ = cluster
    spec = load_spec(write_spec(tmp_path, "lr = {log_uniform = [1e-2, 1]}", "trials = 8"))
    seen = []

    def stop_after_three(rec):
        seen.append(rec["index"])
        if len(seen) == 3:
            raise KeyboardInterrupt
    with pytest.raises(SweepInterrupted) as e:
        run_sweep(spec, tmp_path / "cut", scheduler=c.scheduler_address, on_record=stop_after_three)
    assert e.value.done == 3 and e.value.total == 8
    assert sorted(read_results(tmp_path / "cut" / "results.jsonl")) == sorted(seen)
    with pytest.raises(FolderError, match="pass --resume"):
        run_sweep(spec, tmp_path / "cut", scheduler=c.scheduler_address)
    again = run_sweep(spec, tmp_path / "cut", scheduler=c.scheduler_address, resume=True)
    assert again["ran"] == 5
    whole = run_sweep(spec, tmp_path / "whole", scheduler=c.scheduler_address)
    lines = (tmp_path / "cut" / "results.jsonl").read_text().splitlines()
    assert len(lines) == 8
    cut = read_results(tmp_path / "cut" / "results.jsonl")
    assert {i: same(r) for i, r in cut.items()} == {i: same(r) for i, r in whole["records"].items()}
    from fastnn.sweep.report import results_csv
    strip = lambda text: [line.rsplit(",", 5)[0] for line in text.splitlines()]   # no timings
    assert strip(results_csv(spec, cut)) == strip(results_csv(spec, whole["records"]))


def test_cli_writes_the_table_csv_and_figures(tmp_path, cluster, capsys):
    from fastnn.cli import main
    c, _ = cluster
    path = write_spec(tmp_path, "batch_size = [40, 80]\nlr = [0.05, 0.5]", "best = 3")
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--scheduler", c.scheduler_address, "--out", str(out),
                 "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "best 3 of 4 trials by val_acc on the validation split" in text
    assert "test_acc is shown for the selected trials only, after selection" in text
    table = (out / "summary.txt").read_text().splitlines()
    assert len(table) == 2 + 3 and table[1].split()[:4] == ["rank", "trial", "batch_size", "lr"]
    rows = (out / "results.csv").read_text().splitlines()
    assert len(rows) == 5 and rows[0].startswith("trial,config,repeat,seed,batch_size,lr,status")
    for name in ("curves.png", "throughput.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    best = min(read_results(out / "results.jsonl").values(), key=lambda r: (-r["val_acc"], r["index"]))
    assert table[2].split()[1] == str(best["index"])
    # the same command again: the folder already holds this sweep
    assert main(["sweep", str(path), "--scheduler", c.scheduler_address, "--out", str(out)]) == 2
    assert "pass --resume" in capsys.readouterr().err


@pytest.mark.slow
def test_ctrl_c_leaves_a_folder_that_resume_completes(tmp_path):
    import subprocess
    import sys
    import time
    # trials of about 0.2 s (2000 images, 784-200-200-10, 20 epochs, learning rates that do not
    # diverge, since a diverging trial stops at once): the 38 after the first two must outlast
    # the poll below and the signal's delivery on a busy machine (trials of a few milliseconds
    # once all finished first, at load 18; with lr up to 1 and faster evaluations, once more)
    spec = SMALL.format(axes="lr = {log_uniform = [1e-3, 1e-1]}", sweep="trials = 40", epochs=20)
    spec = spec.replace("train_size = 300", "train_size = 2000").replace("hidden = 20", 'hidden = "200,200"')
    path = tmp_path / "spec.toml"
    path.write_text(spec)
    out = tmp_path / "out"
    fastnn = [sys.executable, "-m", "fastnn", "sweep", str(path), "--out", str(out)]
    # as from a terminal: SIGINT at its default even where this test runs with it ignored (a CI
    # shell's trap '' INT, which children inherit and fastnn then respects, as under nohup)
    p = subprocess.Popen(fastnn + ["--workers", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    results = out / "results.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and p.poll() is None and \
            (not results.exists() or results.read_text().count("\n") < 2):
        time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    done = len(read_results(results))
    assert 2 <= done < 40
    assert f"interrupted: {done} of 40 trials done" in err and "--resume" in err
    r = subprocess.run(fastnn + ["--resume", "--workers", "2", "--quiet"], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in results.read_text().splitlines()]
    assert sorted(x["index"] for x in lines) == list(range(40))


@pytest.mark.parametrize("name, n, axes", [("book_search", 100, ["lr", "weight_decay"]),
                                           ("methods", 48, ["optimizer", "batch_size", "dtype"])])
def test_examples_are_valid_sweeps(name, n, axes):
    from pathlib import Path

    from fastnn.sweep.report import method_axis
    spec = load_spec(Path(__file__).resolve().parents[1] / "examples" / "sweeps" / f"{name}.toml")
    trials = expand(spec)               # every trial's options checked by fastnn train's parser
    assert len(trials) == n and [a.name for a in spec.axes] == axes
    if name == "book_search":           # the book's ranges and network
        assert all(1e-6 <= t.values["lr"] <= 1e-2 and 1e-8 <= t.values["weight_decay"] <= 1e-4
                   for t in trials)
        assert trials[0].argv[:2] == ("--hidden", "100,100,100,100,100,100")
        assert spec.data["train_size"] == 500 and spec.data["validation"] == 0.2
    else:
        assert method_axis(spec) == "optimizer"


def test_an_option_added_to_fastnn_train_is_an_axis_and_never_silently_ignored(monkeypatch):
    import argparse

    from fastnn.cli.train import register
    from fastnn.sweep import options

    class Raising(argparse.ArgumentParser):
        def error(self, message):
            raise OptionError(message)
    holder = Raising()
    sub = holder.add_subparsers(parser_class=Raising)
    register(sub)
    train = sub.choices["train"]
    train.add_argument("--label-smoothing", type=float, help="a future option")
    monkeypatch.setattr(options, "_train_parser", lambda: train)
    assert "label_smoothing" in option_names()
    spec = parse_spec({"axes": {"label_smoothing": [0.0, 0.1]}})     # a valid axis at once
    with pytest.raises(OptionError, match=r"trial 0 \(label_smoothing = 0.0\): --label-smoothing: "
                                          "fastnn train takes it, but this version of fastnn "
                                          "sweep does not pass it to trials yet"):
        expand(spec)


def test_local_workers_fork_only_before_numba_starts_its_threads():
    """A LocalCluster forks its workers from a process that has not started numba's thread
    pool (fastnn sweep's), and spawns them otherwise: a forked child of a process running
    OpenMP threads could inherit them half-way."""
    import subprocess
    import sys
    code = ("from fastnn.sweep.runner import start_method; print(start_method()); "
            "import numba; numba.get_num_threads(); print(start_method())")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    first = "fork" if sys.platform.startswith("linux") else "spawn"
    assert r.stdout.split() == [first, "spawn"]
