"""`fastnn evaluate`, `fastnn bench` and the training plots, checked for what they
report rather than that they run: accuracies against the reference network on the
same data, benchmark records, the curves drawn."""
import json
import re
import subprocess
import sys
import urllib.request

import numpy as np
import pytest

from fastnn import TwoLayerNet
from fastnn import plots
from fastnn.checkpoint import load_params, save_checkpoint, save_params
from fastnn.cli import main
from fastnn.datasets import load
from fastnn.trainer import Trainer

from . import reference as R

REPORT = re.compile(r"(test|train) accuracy (\d\.\d{4})  loss (\d+\.\d{4})  \((\d+) images")


@pytest.fixture(scope="module")
def sample():
    return load("mnist-sample", dtype=np.float32, verbose=False)


def trained_net(sample, seed=0):
    (x, t), _ = sample.train, sample.test
    net = TwoLayerNet(784, 8, 10, dtype=np.float32, seed=seed, activation="relu")
    rng = np.random.default_rng(seed)
    for _ in range(30):
        idx = rng.choice(x.shape[0], 50, replace=False)
        net.train_step(x[idx], t[idx], lr=0.5)
    return net


def reference_report(path, x, t):
    p, _ = load_params(path)
    p = {k: v.astype(np.float64) for k, v in p.items()}
    x = x.astype(np.float64)
    return R.two_layer_accuracy(p, x, t, "relu"), R.two_layer_loss(p, x, t, "relu")


def evaluate(capsys, *argv):
    status = main(["evaluate", *argv])
    out, err = capsys.readouterr()
    assert status == 0, err
    m = REPORT.search(out)
    assert m, out
    return m.group(1), float(m.group(2)), float(m.group(3)), int(m.group(4)), out


def no_network(*args, **kwargs):
    raise AssertionError("evaluate --no-download opened a URL")


@pytest.mark.parametrize("split", ["test", "train"])
@pytest.mark.parametrize("batch", ["10000", "777"])
def test_evaluate_weights_reports_reference_accuracy(tmp_path, capsys, monkeypatch, sample, split, batch):
    net = trained_net(sample)
    path = tmp_path / "weights.npz"
    save_params(net, path, dataset="mnist-sample")
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    got_split, acc, loss, n, _ = evaluate(capsys, str(path), "--split", split, "--batch-size", batch,
                                          "--no-download")
    x, t = sample.test if split == "test" else sample.train
    ref_acc, ref_loss = reference_report(path, x, t)
    assert 0.3 < ref_acc < 0.99                            # trained, yet not all right
    assert (got_split, n) == (split, len(t))
    assert acc == float(f"{ref_acc:.4f}")                  # printed to 4 decimals
    assert abs(loss - ref_loss) <= 5e-5                    # rounding to 4 decimals


def test_evaluate_checkpoint_and_run_directory(tmp_path, capsys, sample):
    """A checkpoint written mid-run (weights inside, dataset in its args) and a directory
    holding it: both evaluate the checkpoint's parameters."""
    (x, t), (xt, tt) = sample.train, sample.test
    net = TwoLayerNet(784, 8, 10, dtype=np.float32, seed=1, activation="relu")
    tr = Trainer(net, x[:500], t[:500], lr=0.5, batch_size=50, iterations=15, seed=2)
    tr.fit()
    run = tmp_path / "run"
    run.mkdir()
    save_checkpoint(tr.state_dict(), run / "checkpoint.npz", args={"dataset": "mnist-sample"})
    ref_acc, ref_loss = reference_report(run / "checkpoint.npz", xt, tt)
    for target in (run / "checkpoint.npz", run):
        _, acc, loss, n, out = evaluate(capsys, str(target), "--no-download")
        assert out.startswith("data: mnist-sample")
        assert n == len(tt) and acc == float(f"{ref_acc:.4f}") and abs(loss - ref_loss) <= 5e-5


def test_evaluate_other_dataset_without_download(tmp_path, capsys, monkeypatch, sample):
    """--dataset mnist with --no-download and an empty cache: the bundled sample, no URL."""
    net = trained_net(sample)
    path = tmp_path / "w.npz"
    save_params(net, path, dataset="mnist-sample")
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    _, acc, _, n, out = evaluate(capsys, str(path), "--dataset", "mnist", "--no-download")
    assert n == 2000 and acc == float(f"{reference_report(path, *sample.test)[0]:.4f}")


def test_evaluate_rejects_a_bad_batch_size(tmp_path, capsys, sample):
    path = tmp_path / "w.npz"
    save_params(trained_net(sample), path, dataset="mnist-sample")
    with pytest.raises(SystemExit) as exit_:
        main(["evaluate", str(path), "--batch-size", "0", "--no-download"])
    assert exit_.value.code == 2
    assert "argument --batch-size: expected a number > 0, got 0" in capsys.readouterr().err


def test_bench_smoke_run(tmp_path, capsys):
    """A tiny `fastnn bench`: one batch size, one dtype, one thread, two rounds."""
    out_json = tmp_path / "bench.json"
    status = main(["bench", "--batches", "4", "--dtypes", "float64", "--threads", "1",
                   "--impls", "numpy,layers,fused", "--rounds", "2", "--no-roofline", "--no-plot",
                   "--json", str(out_json)])
    out, err = capsys.readouterr()
    assert status == 0, err
    doc = json.loads(out_json.read_text())
    rows = doc["results"]
    assert sorted(r["impl"] for r in rows) == ["fused", "layers", "numpy"]
    for r in rows:
        assert (r["dtype"], r["batch"], r["threads"]) == ("float64", 4, 1)
        assert r["median_s"] > 0 and r["samples_per_s"] == pytest.approx(4 / r["median_s"])
    numpy_row = next(r for r in rows if r["impl"] == "numpy")
    assert numpy_row["ratio_vs_numpy"] == pytest.approx(1.0)
    assert "float64 batch    4 threads 1:" in out and f"wrote {out_json}" in out


def test_console_script_in_a_subprocess(tmp_path, sample):
    """`python -m fastnn evaluate` as a process: exit status and report (bundled data only)."""
    path = tmp_path / "w.npz"
    save_params(trained_net(sample), path, dataset="mnist-sample")
    p = subprocess.run([sys.executable, "-m", "fastnn", "evaluate", str(path), "--no-download",
                        "--batch-size", "500"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    acc = float(REPORT.search(p.stdout).group(2))
    assert acc == float(f"{reference_report(path, *sample.test)[0]:.4f}")


# ---------------------------------------------------------------------------
# plots: the curves hold the history's values
# ---------------------------------------------------------------------------
HISTORY = {"epoch": [1, 2, 3], "iteration": [4, 8, 10], "train_acc": [0.5, 0.7, 0.8],
           "test_acc": [0.4, 0.6, 0.75], "train_loss": [2.0, 1.5, 1.2], "test_loss": [2.1, 1.6, 1.3],
           "loss": [2.3, 2.1, 1.9, 1.7, 1.6, 1.5, 1.45, 1.4, 1.3, 1.1]}


def lines(fig):
    (ax,) = fig.axes
    return ax, {ln.get_label(): (list(ln.get_xdata()), list(ln.get_ydata())) for ln in ax.get_lines()}


def test_accuracy_plot_content(tmp_path, drawn):
    plots.plot_accuracy(HISTORY, tmp_path / "acc.png")
    ax, curves = lines(drawn[0])
    assert curves == {"train acc": ([1, 2, 3], [0.5, 0.7, 0.8]), "test acc": ([1, 2, 3], [0.4, 0.6, 0.75])}
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("epochs", "accuracy")
    lo, hi = ax.get_ylim()           # fitted to the values 0.4 to 0.8, with a margin
    assert 0.3 < lo < 0.4 and 0.8 < hi < 0.9
    assert (tmp_path / "acc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    no_test = dict(HISTORY, test_acc=[None, None, None])
    plots.plot_accuracy(no_test, tmp_path / "acc2.svg")
    assert set(lines(drawn[1])[1]) == {"train acc"}
    assert (tmp_path / "acc2.svg").read_text().lstrip().startswith("<?xml")


def test_loss_plot_content(tmp_path, drawn):
    plots.plot_loss(HISTORY, tmp_path / "loss.png")
    ax, curves = lines(drawn[0])
    assert curves["batch loss"] == (list(range(1, 11)), HISTORY["loss"])
    assert curves["epoch mean"] == ([4, 8, 10], [2.0, 1.5, 1.2])
    assert curves["test loss"] == ([4, 8, 10], [2.1, 1.6, 1.3])
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_yscale()) == ("iteration", "loss (log scale)",
                                                                   "log")


def test_gradient_plots_content(tmp_path, drawn):
    """Chapter 4: the descent path of x0^2 + x1^2 from (-3, 4) with lr 0.1 shrinks by
    0.8 per step: x_k = 0.8^k x_0 (the book's figure 4-10)."""
    plots.plot_descent_path(tmp_path / "path.png")
    (ax,) = drawn[0].axes
    pts = [np.column_stack(ln.get_data()) for ln in ax.get_lines() if len(ln.get_xdata()) > 2]
    path = max(pts, key=len)
    want = np.array([[-3.0, 4.0]]) * 0.8 ** np.arange(len(path))[:, None]
    R.agree(path, want, 1e-11, "descent path")    # measured 7.7e-13: central differences are exact for a quadratic
    plots.plot_gradient_field(tmp_path / "field.png")
    (ax,) = drawn[1].axes
    (quiver,) = [c for c in ax.collections if hasattr(c, "U")]
    x0, x1 = quiver.X.ravel(), quiver.Y.ravel()
    # arrows point along minus the gradient, -(2 x0, 2 x1), whatever their scaling
    u, v = np.asarray(quiver.U).ravel(), np.asarray(quiver.V).ravel()
    nz = (x0 != 0) | (x1 != 0)
    cos = -(u * 2 * x0 + v * 2 * x1)[nz] / (np.hypot(u, v) * np.hypot(2 * x0, 2 * x1))[nz]
    assert np.all(cos > 1 - 1e-9)
