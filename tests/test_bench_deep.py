"""bench.deep's runner: cases timed in worker processes of their own, or in this process, give
the Markdown tables (tiny NumPy cases, so that a run takes seconds; nothing timed is asserted)."""
import importlib

import numpy as np
import pytest

from fastnn.cli.bench import _runner


@pytest.fixture
def deep():
    _runner()                                       # the source checkout's bench package
    return importlib.import_module("bench.deep")


def tiny(deep):
    return [deep.Case("tiny NumPy", "numpy", "make_numpy", dict(sizes=[784, 8, 10])),
            deep.Case("tiny NumPy, wider", "numpy", "make_numpy", dict(sizes=[784, 16, 10]))]


def test_worker_processes_time_every_case_at_every_count(deep):
    case = tiny(deep)[0]
    runs = deep.run_isolated([case], (1, 2), rounds=2, seconds=0.02, lead=0)
    assert set(runs) == {("tiny NumPy", 1), ("tiny NumPy", 2)}
    assert all(len(v) == 2 and min(v) > 0 for v in runs.values())
    (n, med, lo, hi), = deep.best(runs).values()         # the faster count's median and spread
    assert med == max(float(np.median(v)) for v in runs.values())
    assert (lo, hi) == (min(runs[("tiny NumPy", n)]), max(runs[("tiny NumPy", n)]))

def test_a_worker_that_fails_names_its_case(deep):
    bad = deep.Case("no such case", "numpy", "make_nothing")
    with pytest.raises(RuntimeError, match="no such case at 1 thread: its worker process ended"):
        deep.run_isolated([bad], (1,), rounds=1, seconds=0.01)


@pytest.mark.parametrize("mode, threads", [([], "1"), (["--in-process"], "best")])
def test_main_prints_the_table_and_how_cases_were_isolated(deep, monkeypatch, capsys, mode, threads):
    monkeypatch.setattr(deep, "tables", lambda: {"deep": tiny(deep)})
    argv = ["--only", "deep", "--rounds", "1", "--seconds", "0.02", "--lead", "0", "--threads", threads]
    assert deep.main(argv + mode) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"threads {'best of 1 and 2' if threads == 'best' else 1}, 1 rounds of 0.02 s per case")
    assert out[1].startswith("isolation: none" if mode else "isolation: every case in a worker process")
    table = out[out.index("deep") + 1:out.index("deep") + 5]
    assert table[0] == ("| case | samples/s | vs first |" + (" threads |" if threads == "best" else "")
                        + " rounds min-max |")
    assert table[2].startswith("| tiny NumPy | ") and "| 1.00x |" in table[2]
    assert table[3].startswith("| tiny NumPy, wider | ")

def test_load_keeps_a_spinning_process_for_the_run_only(deep, monkeypatch, capsys):
    started = []
    real_start = deep.start_load

    def start():
        started.append(real_start())
        return started[-1]
    monkeypatch.setattr(deep, "start_load", start)
    monkeypatch.setattr(deep, "tables", lambda: {"deep": tiny(deep)[:1]})
    assert deep.main(["--only", "deep", "--rounds", "1", "--seconds", "0.02", "--in-process", "--load"]) == 0
    assert "load: one core kept busy" in capsys.readouterr().out
    assert len(started) == 1 and started[0].poll() is not None     # stopped when the run ended


def test_bad_options_name_the_option(deep, capsys):
    for argv, word in ((["--threads", "0"], "--threads"), (["--only", "deeper"], "--only"),
                       (["--rounds", "0"], "--rounds")):
        with pytest.raises(SystemExit):
            deep.main(argv)
        assert word in capsys.readouterr().err
