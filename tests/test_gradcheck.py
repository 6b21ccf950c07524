"""gradient_check, the ``fastnn gradcheck`` command and the chapter-4 plots."""
import numpy as np
import pytest

from fastnn import TwoLayerNet
from fastnn.cli import main
from fastnn.datasets import load_mnist
from fastnn.gradcheck import compare, gradient_check
from fastnn.plots import plot_descent_path, plot_gradient_field


def test_compare():
    r = compare(np.array([1.0, 0.0, 2.0]), np.array([1.0, 0.0, 1.0]))
    assert r == {"mean_abs": pytest.approx(1 / 3), "max_abs": 1.0, "max_rel": pytest.approx(1 / 3)}


def test_gradient_check_separates_delta_from_finite_difference():
    (x, t), _ = load_mnist(dataset="mnist-sample", dtype=np.float64)
    net = TwoLayerNet(784, 50, 10, activation="relu", seed=0)
    book = gradient_check(net, x[:3], t[:3])
    plain = gradient_check(net, x[:3], t[:3], delta=0.0)
    assert set(book) == {"W1", "b1", "W2", "b2"}
    # the book's magnitudes: ~4e-10, 2e-9, 6e-9, 1.4e-7 (mostly the 1e-7 inside the log)
    assert 1e-11 < book["W1"]["mean_abs"] < 1e-8
    assert 5e-8 < book["b2"]["mean_abs"] < 5e-7
    for k in book:
        assert plain[k]["max_abs"] < 1e-9
        assert plain[k]["mean_abs"] < book[k]["mean_abs"] / 10


def test_cli_passes_and_fails_on_tolerance(capsys):
    # the bundled sample: the same digits everywhere, online or not (--dataset mnist would
    # download where it can and fall back to the sample where it cannot)
    sample = ["--dataset", "mnist-sample"]
    assert main(["gradcheck", "--batch", "3", *sample]) == 0
    out = capsys.readouterr().out
    assert "3 digits of mnist-sample" in out
    assert "delta = 0" in out and "OK" in out
    assert main(["gradcheck", "--batch", "3", "--tol", "1e-9", *sample]) == 1
    assert "FAIL" in capsys.readouterr().out
    assert main(["gradcheck", "--activation", "sigmoid", "--batch", "5", "--steps", "20",
                 "--dtype", "float32", "--method", "incremental", *sample]) == 0


def test_cli_rejects_bad_batch():
    with pytest.raises(SystemExit):
        main(["gradcheck", "--batch", "101"])


def test_plots_written(tmp_path):
    for fn, name in ((plot_gradient_field, "field.png"), (plot_descent_path, "path.png")):
        path = tmp_path / name
        assert fn(path) == str(path)
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["field.png", "path.png"]   # no temp files left


def test_gradcheck_rejects_a_bad_batch(capsys):
    from fastnn.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["gradcheck", "--batch", "1000"])
    assert exc.value.code == 2
    assert "argument --batch: expected an integer in [3, 100], got '1000'" in capsys.readouterr().err


def test_gradient_check_of_a_deep_net_with_weight_decay():
    from fastnn import MultiLayerNet
    (x, t), _ = load_mnist(dataset="mnist-sample", dtype=np.float64)
    net = MultiLayerNet(784, [30, 20, 15], 10, "relu", weight_decay_lambda=0.1, seed=0)
    book = gradient_check(net, x[:5], t[:5])
    plain = gradient_check(net, x[:5], t[:5], delta=0.0, method="full")
    assert list(book) == list(plain) == ["W1", "b1", "W2", "b2", "W3", "b3", "W4", "b4"]
    for k in book:
        # measured: delta = 1e-7 up to 3.0e-7, delta = 0 up to 1.7e-10
        assert book[k]["max_abs"] < 1e-6
        assert plain[k]["max_abs"] < 1e-9
    assert book["b4"]["mean_abs"] > 1e-8                  # the book's delta shows in the last bias
