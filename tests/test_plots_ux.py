"""Training plots: a title naming the run, fitted axes, a diverged run marked as such."""
import numpy as np
import pytest

from fastnn import TwoLayerNet, plots
from fastnn.cli import main
from fastnn.datasets import load
from fastnn.trainer import Trainer, TrainingDiverged

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def data():
    d = load("mnist-sample", verbose=False)
    (x, t), (xt, tt) = d.train, d.test
    return x[:1000], t[:1000], xt[:300], tt[:300]


TITLE = plots.run_title("mnist-sample", (784, 10, 10), "relu", "SGD", 0.1, 7, batch=50)


def test_title_names_the_run():
    assert TITLE == "mnist-sample, 784-10-10 relu, SGD lr 0.1, batch 50, seed 7"


def test_normal_run(tmp_path, data, drawn):
    tr = Trainer(TwoLayerNet(784, 10, 10, activation="relu", seed=0), *data, lr=0.1,
                 batch_size=50, epochs=4, seed=7, validation_split=0.1, eval_test_each_epoch=True)
    h = tr.fit()
    plots.plot_accuracy(h, tmp_path / "acc.png", TITLE)
    plots.plot_loss(h, tmp_path / "loss.png", TITLE)
    for fig, name in zip(drawn, ("acc.png", "loss.png")):
        (ax,) = fig.axes
        assert ax.get_title() == TITLE
        assert (tmp_path / name).read_bytes()[:8] == PNG
        assert all(len(ln.get_xdata()) > 0 for ln in ax.get_lines())
        assert not [t for t in ax.texts if "DIVERGED" in t.get_text()]
    acc, loss = drawn[0].axes[0], drawn[1].axes[0]
    labels = {ln.get_label() for ln in acc.get_lines()}
    assert labels == {"train acc", "val acc", "test acc"}
    values = np.concatenate([ln.get_ydata() for ln in acc.get_lines()])
    lo, hi = acc.get_ylim()
    assert lo <= values.min() and values.max() <= hi      # every point shown
    assert hi - lo < 1.5 * (values.max() - values.min()) + 0.03   # and the axis fitted to them
    assert acc.get_xlim() == (0.5, 4.5)
    assert {ln.get_label() for ln in loss.get_lines()} == {"batch loss", "epoch mean",
                                                           "val loss", "test loss"}
    assert loss.get_yscale() == "log"


@pytest.mark.filterwarnings("ignore::RuntimeWarning")     # the overflow that makes it diverge
def test_diverged_run_says_so(tmp_path, data, drawn):
    tr = Trainer(TwoLayerNet(784, 10, 10, dtype=np.float32, seed=0), *data, lr=1e300,
                 batch_size=50, epochs=4, seed=7, fused=False)
    with pytest.raises(TrainingDiverged) as info:
        tr.fit()
    e = info.value
    h = tr.history
    plots.plot_accuracy(h, tmp_path / "acc.png", TITLE, diverged=(e.iteration, e.loss))
    plots.plot_loss(h, tmp_path / "loss.png", TITLE, diverged=(e.iteration, e.loss))
    for fig, name in zip(drawn, ("acc.png", "loss.png")):
        (ax,) = fig.axes
        assert ax.get_title() == TITLE and (tmp_path / name).read_bytes()[:8] == PNG
        notes = [t.get_text() for t in ax.texts if "DIVERGED" in t.get_text()]
        assert notes == [f"DIVERGED: loss {e.loss} at iteration {e.iteration}"]
        lo, hi = ax.get_xlim()
        assert hi - lo >= 1                          # not matplotlib's 0.96-1.04 of one point
    loss = drawn[1].axes[0]
    # the finite batch losses before the divergence are drawn
    assert len(loss.get_lines()[0].get_xdata()) == e.iteration - 1 > 0


def test_nan_in_history_is_found(tmp_path, drawn):
    h = {"epoch": [1], "iteration": [3], "train_acc": [0.5], "test_acc": [0.4],
         "train_loss": [2.0], "test_loss": [2.1], "time": [0.1], "loss": [2.3, 2.2, float("nan")]}
    plots.plot_loss(h, tmp_path / "loss.png")
    (ax,) = drawn[0].axes
    assert [t.get_text() for t in ax.texts] == ["DIVERGED: loss nan at iteration 3"]


def test_cli_diverged_run_writes_marked_plots(tmp_path, capsys, drawn):
    run = tmp_path / "r"
    status = main(["train", "--dataset", "mnist-sample", "--no-download", "--hidden", "8",
                   "--seed", "3", "--lr", "1e300", "--iterations", "200", "--out", str(run)])
    err = capsys.readouterr().err
    assert status == 3 and f"the curves up to the divergence: {run / 'accuracy.png'}" in err
    for fig, name in zip(drawn, ("accuracy.png", "loss.png")):
        (ax,) = fig.axes
        assert ax.get_title().startswith("mnist-sample, 784-8-10 sigmoid, SGD lr 1e+300")
        assert [t.get_text() for t in ax.texts if "DIVERGED" in t.get_text()]
        assert (run / name).read_bytes()[:8] == PNG
    # the finite loss of iteration 1, from the fused block that diverged at iteration 2
    (line,) = drawn[1].axes[0].get_lines()
    assert list(line.get_xdata()) == [1]


def test_long_title_is_broken_into_two_lines_inside_the_figure(tmp_path, drawn):
    """A title the width of a 6-inch figure would cut off is broken at the ", " nearest
    its middle, and every line is drawn inside the figure."""
    long = plots.run_title("fashion-mnist", (784, 100, 100, 100, 100, 10), "relu", "Adam", 0.002, 0,
                           schedule="cosine", batch=100)
    assert len(long) > plots.TITLE_WIDTH
    plots.plot_accuracy({"epoch": [1, 2], "train_acc": [0.5, 0.6], "test_acc": [0.4, 0.5],
                         "loss": [1.0, 0.5]}, tmp_path / "acc.png", long)
    (fig,) = drawn
    title = fig.axes[0].title
    assert title.get_text().replace("\n", " ") == long
    assert title.get_text().count("\n") == 1
    fig.canvas.draw()
    box = title.get_window_extent()
    assert 0 <= box.x0 and box.x1 <= fig.bbox.width and box.y1 <= fig.bbox.height
    assert plots._two_lines(TITLE) == TITLE           # a short title is left alone
