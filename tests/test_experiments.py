"""fastnn experiment: each chapter-6 experiment's conclusion on the bundled sample, fixed seed;
the files it writes; its bad input.

The fast tests run shortened settings where the conclusion already shows; the ``*_book``
tests (slow) run the book's full settings."""
import csv

import numpy as np
import pytest

from fastnn.cli import main
from fastnn.experiments import NAMES, experiment, load_data, run
from fastnn.experiments import batchnorm as BN
from fastnn.experiments import dropout as DO
from fastnn.experiments import init as INIT
from fastnn.experiments import optimizers as OPT
from fastnn.experiments import weight_decay as WD
from fastnn.experiments._common import smooth


@pytest.fixture(scope="module")
def data():
    return load_data("mnist-sample", np.float32)


def tail(curves, name, n=100):
    return float(np.mean(curves[name][1][-n:]))


def test_activations_conclusions():
    r = run("activations", seeds=1, seed=0)
    c = r.runs[0][1]
    std = {k[:-4]: v[1] for k, v in c.items() if k.endswith(" std")}
    assert (std["sigmoid std=1"] > 0.4).all()                  # saturated at 0 and 1
    assert (std["sigmoid std=0.01"] < 0.03).all()               # collapsed at 0.5
    assert (std["sigmoid Xavier"] > 0.1).all()                  # spread kept
    assert std["relu std=0.01"][-1] < 1e-3 * std["relu std=0.01"][0]     # vanishes layer by layer
    assert std["relu Xavier"][-1] < 0.5 * std["relu Xavier"][0]          # shrinks
    assert 0.5 < std["relu He"][-1] / std["relu He"][0] < 2.0            # every layer alike


def test_optimizers_adam_and_adagrad_below_sgd(data):
    c = OPT.run_once(data, np.random.default_rng(0), np.float32, iterations=300)
    sgd = tail(c, "SGD")
    # measured at 300 iterations (mean of the last 100): SGD 0.61, Momentum 0.18, AdaGrad 0.095,
    # Adam 0.11
    for k in ("Adam", "AdaGrad", "Momentum"):
        assert tail(c, k) < 0.5 * sgd, k


def test_init_he_trains_where_std_001_does_not(data):
    c = INIT.run_once(data, np.random.default_rng(0), np.float32, iterations=300)
    # measured at 300 iterations (mean of the last 100): std=0.01 2.302, Xavier 1.88, He 0.61
    assert tail(c, "std=0.01") > 2.25
    assert tail(c, "He") < 1.0 and tail(c, "He") < tail(c, "Xavier")


def test_batchnorm_learns_faster_at_the_same_scale(data):
    scales = BN.SCALES[::5]        # 1, 0.0464, 0.00215, 0.0001
    c = BN.run_once(data, np.random.default_rng(0), np.float32, scales=scales, epochs=10)
    for w in scales:
        bn, nm = c[BN.key(w, True)][1], c[BN.key(w, False)][1]
        assert bn[-1] > nm[-1] + 0.1, w        # measured: ahead by 0.15-0.70 at epoch 10


def overfit_gap(c, name):
    tr, te = c[f"{name} train"][1][-10:].mean(), c[f"{name} test"][1][-10:].mean()
    return tr - te


def test_weight_decay_narrows_the_gap(data):
    c = WD.run_once(data, np.random.default_rng(0), np.float32, epochs=100)
    none, decay = list(WD.VARIANTS)
    # measured at 100 epochs: gap 0.213 without, 0.152 with lambda 0.1 (test 0.78, 0.75)
    assert overfit_gap(c, decay) < overfit_gap(c, none) - 0.02


def test_dropout_narrows_the_gap(data):
    c = DO.run_once(data, np.random.default_rng(0), np.float32, epochs=100)
    none, drop = list(DO.VARIANTS)
    # measured at 100 epochs: gap 0.213 without, 0.045 with dropout 0.2, which still learns
    # (test accuracy 0.29, chance 0.1; 0.65 after the book's 301 epochs)
    assert overfit_gap(c, drop) < overfit_gap(c, none) - 0.02
    assert c[f"{drop} test"][1][-10:].mean() > 0.2


# -- the book's full settings (slow) -------------------------------------------------------------
def test_optimizers_book(data):
    r = run("optimizers", data=data)
    c = r.runs[0][1]
    assert tail(c, "Adam") < tail(c, "SGD") and tail(c, "AdaGrad") < tail(c, "SGD")


def test_init_book(data):
    c = run("init", data=data).runs[0][1]
    assert tail(c, "std=0.01") > 2.2 and tail(c, "He") < 0.5 and tail(c, "Xavier") < 0.5


def test_batchnorm_book(data):
    c = run("batchnorm", data=data).runs[0][1]
    ahead = sum(c[BN.key(w, True)][1][10] > c[BN.key(w, False)][1][10] for w in BN.SCALES)
    assert ahead >= 12          # measured 14 of 16 (the book: "almost all")


def test_weight_decay_and_dropout_book(data):
    for mod in (WD, DO):
        c = mod.run_once(data, np.random.default_rng(0), np.float32)
        a, b = list(mod.VARIANTS)
        # measured gaps: weight decay 0.195 -> 0.157, dropout 0.190 -> 0.106 (test 0.65)
        assert overfit_gap(c, b) < overfit_gap(c, a) - 0.02, mod.BOOK
        assert c[f"{b} test"][1][-10:].mean() > 0.55


# -- files, table, command line, bad input ----------------------------------------------------------
def test_files_and_spread(tmp_path, drawn):
    r = run("activations", seeds=2, seed=5, out=tmp_path)
    assert r.png == str(tmp_path / "activations.png") and (tmp_path / "activations.png").stat().st_size > 0
    rows = list(csv.DictReader(open(r.csv)))
    assert {row["seed"] for row in rows} == {"5", "6"}
    assert {"seed", "curve", "bin", "value"} == set(rows[0])
    first = [float(row["value"]) for row in rows if row["seed"] == "5" and row["curve"] == "relu He layer1"]
    np.testing.assert_array_equal(first, r.runs[0][1]["relu He layer1"][1])
    # one set of axes: per panel a filled outline of the mean counts (cut at the book's 7000)
    # and, with two seeds, a min-max band; 6 configurations x 5 layers
    assert len(drawn) == 1 and len(drawn[0].axes) == 1
    fills, bands = drawn[0].axes[0].collections[:2]
    assert len(fills.get_paths()) == 30 and len(bands.get_paths()) == 30
    from fastnn.experiments import activations as A
    counts = np.array([r.runs[s][1]["relu He layer1"][1] for s in (0, 1)])
    he1 = fills.get_paths()[5 * 5].vertices       # row 6 (relu He), column 1; bin i at 2i+1, 2i+2
    np.testing.assert_allclose(he1[1:61:2, 1] + 5 * A.DY, np.minimum(counts.mean(axis=0), 7000) / 7000)
    assert bands.get_paths()[5 * 5].vertices[:, 1].max() + 5 * A.DY == pytest.approx(
        min(counts.max(), 7000) / 7000)
    assert "(" in r.table.splitlines()[2]            # mean (min-max) across the two seeds


def test_command_line_prints_the_table(tmp_path, capsys):
    assert main(["experiment", "activations", "--out", str(tmp_path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "weight_init_activation_histogram.py" in out and "relu He" in out
    assert (tmp_path / "activations.csv").exists()


def test_unknown_name_lists_the_valid_ones(capsys):
    with pytest.raises(SystemExit) as e:
        main(["experiment", "optimiser"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'optimiser'" in err and all(repr(n) in err for n in NAMES)
    with pytest.raises(ValueError, match="name: expected one of optimizers, init, batchnorm, weight-decay, "
                                         "dropout, activations, got 'x'"):
        experiment("x")


@pytest.mark.parametrize("seeds", ["0", "-2", "two"])
def test_seeds_below_one(seeds, capsys):
    with pytest.raises(SystemExit):
        main(["experiment", "init", "--seeds", seeds])
    assert "argument --seeds: expected an integer >= 1" in capsys.readouterr().err
    with pytest.raises(ValueError, match="seeds: expected a positive integer"):
        run("activations", seeds=0)


def test_out_is_a_file(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("keep")
    assert main(["experiment", "activations", "--out", str(f), "--quiet"]) == 2
    assert "exists and is not a directory" in capsys.readouterr().err
    assert f.read_text() == "keep"


def test_smooth_keeps_length_and_constants():
    y = np.full(50, 3.0)
    np.testing.assert_allclose(smooth(y), y)
    z = np.random.default_rng(0).standard_normal(200)
    assert smooth(z).shape == z.shape and smooth(z).std() < z.std()
