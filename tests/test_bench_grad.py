"""`fastnn bench --grad`: every way of computing the gradient agrees with backprop."""
import importlib

from fastnn.cli.bench import _runner


def test_grad_table_rows_agree_with_backprop():
    _runner()                                       # the source checkout's bench package
    grad = importlib.import_module("bench.grad")
    rows = grad.measure(hidden=4, batch=3)
    assert [r["method"].split(",")[0] for r in rows] == ["numerical"] * 3 + ["backprop"] * 2
    diffs = {r["method"]: r["max_abs_diff"] for r in rows}
    # measured: 2.1e-7 for the three numerical ways (the book's delta of 1e-7 inside the log
    # dominates), 5.6e-17 for the NumPy layers, 0 for fastnn's backprop against itself
    for name, d in diffs.items():
        assert d < (1e-6 if name.startswith("numerical") else 1e-12), (name, d)
    assert all(r["seconds"] > 0 and r["rounds"] >= 1 for r in rows)
    text = grad.table(rows, "title")
    assert text.splitlines()[0] == "title" and len(text.splitlines()) == 7


def test_deep_table_rows_agree_with_the_book_loop():
    _runner()
    grad = importlib.import_module("bench.grad")
    rows = grad.measure_deep(hidden=(5, 4), batch=3, entries=60, rounds=2)
    assert [r["method"] for r in rows] == ["numerical, NumPy (the book's loop)", "numerical, fastnn cached",
                                           "backprop, fastnn"]
    book, cached, _ = rows
    assert 60 <= book["entries"] < 80 and book["params"] == 784 * 5 + 5 + 5 * 4 + 4 + 4 * 10 + 10
    # measured 1.5e-12: central differences of the same loss, rounded differently
    assert cached["diff_book"] < 1e-10
    # the book's delta inside the log, over 3 samples: measured 1.2e-6
    assert book["diff_backprop"] < 1e-5 and cached["diff_backprop"] < 1e-5
    text = grad.deep_table(rows, "title")
    assert text.splitlines()[0] == "title" and "ran over" in text.splitlines()[-1]


def test_bench_deep_runs_bench_deep_with_threads_and_rounds(monkeypatch):
    """`fastnn bench --deep` calls bench.deep.main on the largest of --threads, 9 rounds (3 quick),
    with --load under --under-load."""
    from fastnn.cli import build_parser
    _runner()
    deep = importlib.import_module("bench.deep")
    calls = []
    monkeypatch.setattr(deep, "main", lambda argv: calls.append(argv) or 0)
    for argv in (["bench", "--deep", "--threads", "1,2"], ["bench", "--deep", "--threads", "1", "--quick"],
                 ["bench", "--deep", "--under-load"]):
        args = build_parser().parse_args(argv)
        assert args.func(args) == 0
    assert calls == [["--threads", "2", "--rounds", "9"], ["--threads", "1", "--rounds", "3"],
                     ["--threads", "2", "--rounds", "9", "--load"]]
