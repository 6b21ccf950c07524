"""``fastnn train --dropout RATIO --batchnorm`` (fastnn.cli.netopts): the MultiLayerNetExtend
they build, bad values, and run files from which evaluate, predict and --resume rebuild the
same network with its running statistics (net.state) and dropout generator (net.rng)."""
import json

import numpy as np
import pytest

from fastnn import MultiLayerNet, MultiLayerNetExtend
from fastnn.checkpoint import load_checkpoint, load_net, load_params, save_checkpoint
from fastnn.cli import build_parser, main
from fastnn.cli.netopts import network_from_args
from fastnn.cli.runopts import RUN_DEFAULTS

from .test_cli_train import interrupt_at

QUICK = ["--dataset", "mnist-sample", "--no-download", "--seed", "3"]
EXTEND = ["--hidden", "12,9", "--activation", "relu", "--batchnorm", "--dropout", "0.2",
          "--optimizer", "adam"]


def built(*argv):
    """The network ``fastnn train`` builds from ``argv`` (defaults filled in as train does)."""
    args = build_parser().parse_args(["train", *argv])
    for key, value in RUN_DEFAULTS.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return network_from_args(args, 784, 10, dtype="float64", seed=0)


def test_options_build_multilayernetextend():
    net = built("--hidden", "20,10", "--activation", "relu", "--weight-init", "he",
                "--weight-decay", "1e-3", "--dropout", "0.25", "--batchnorm")
    assert type(net) is MultiLayerNetExtend and net.sizes == (784, 20, 10, 10)
    assert (net.use_dropout, net.dropout_ratio, net.use_batchnorm) == (True, 0.25, True)
    assert net.activation == "relu" and net.weight_decay_lambda == 1e-3
    ref = MultiLayerNetExtend(784, [20, 10], 10, "relu", "he", 1e-3, use_dropout=True,
                              dropout_ratio=0.25, use_batchnorm=True, seed=0)
    for k in ref.params:                            # the same draw as the class itself
        np.testing.assert_array_equal(net.params[k], ref.params[k])
    net = built("--hidden", "30", "--batchnorm")    # one width: still the extended net
    assert type(net) is MultiLayerNetExtend and (net.use_dropout, net.use_batchnorm) == (False, True)
    net = built("--hidden", "20,10", "--dropout", "0.5")
    assert (net.use_dropout, net.dropout_ratio, net.use_batchnorm) == (True, 0.5, False)
    assert type(built("--hidden", "20,10", "--dropout", "0")) is MultiLayerNet   # 0: none


@pytest.mark.parametrize("value", ["1", "-0.1", "1.5", "nan", "x"])
def test_bad_dropout_ratios_get_one_message(value, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        main(["train", "--dropout", value])
    assert e.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"fastnn train: error: argument --dropout: expected a dropout ratio in [0, 1) "
        f"(0: no dropout), got {value!r}")
    assert list(tmp_path.iterdir()) == []


def test_numerical_gradient_is_refused_with_them(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["train", *QUICK, "--batchnorm", "--grad", "numerical", "--iterations", "2"]) == 2
    assert capsys.readouterr().err.strip() == (
        "fastnn train: error: --grad numerical: not available with --dropout or --batchnorm "
        "(their numerical gradient is for checking backprop: it holds one set of dropout masks and "
        "leaves batch norm's running statistics); use backprop")


def test_gradcheck_offers_them(capsys):
    """fastnn gradcheck --batchnorm --dropout: the full method on the training loss, gamma and
    beta reported, backprop with the masks the numerical gradient held (measured max abs 1.6e-7
    with delta 0 on 5 digits; a mask drawn anew would differ by ~1e-2)."""
    assert main(["gradcheck", "--dataset", "mnist-sample", "--no-download", "--hidden", "10,8", "--batchnorm",
                 "--dropout", "0.2", "--batch", "5", "--tol", "1e-4"]) == 0
    out = capsys.readouterr().out
    assert "batch norm, dropout 0.2" in out and "numerical gradient by 'full'" in out
    plain = out.split("delta = 0) vs backprop:")[1]
    rows = {line.split()[0]: [float(v) for v in line.split()[1:]] for line in plain.splitlines()[2:]
            if line.strip() and not line.startswith("OK")}
    assert {"gamma1", "beta1", "gamma2", "beta2"} <= set(rows)
    assert max(r[1] for r in rows.values()) < 1e-6


def test_run_files_rebuild_the_network_with_its_running_statistics(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", *QUICK, *EXTEND, "--iterations", "40", "--out", str(run)]) == 0
    out = capsys.readouterr().out
    assert "network 784-12-9-10 relu, weights he, batch norm, dropout 0.2, float32; Adam" in out
    record = json.loads((run / "history.json").read_text())
    assert (record["args"]["dropout"], record["args"]["batchnorm"]) == (0.2, True)
    test_acc = record["history"]["test_acc"][-1]    # the trained network, in memory
    net = load_net(run / "weights.npz")
    assert type(net) is MultiLayerNetExtend and net.sizes == (784, 12, 9, 10)
    assert (net.use_dropout, net.dropout_ratio, net.use_batchnorm) == (True, 0.2, True)
    assert np.abs(net.state).max() > 0              # the running statistics were saved
    from fastnn.datasets import load
    x, t = load("mnist-sample", download=False).test
    assert net.accuracy(x, t) == test_acc
    assert main(["evaluate", str(run), "--no-plots"]) == 0
    assert f"test accuracy {test_acc:.4f}" in capsys.readouterr().out
    # the running statistics matter: without them the same weights score otherwise
    saved = net.state.copy()
    net.state[...] = 0
    assert net.accuracy(x, t) != test_acc
    net.state[...] = saved
    files = [str(tmp_path / f"d{i}.npy") for i in range(3)]
    for i, f in enumerate(files):
        np.save(f, x[i].reshape(28, 28))
    assert main(["predict", str(run), *files, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["class"] for r in rows] == list(np.argmax(net.predict(x[:3]), axis=1))


def test_resumed_run_equals_one_run(tmp_path, capsys, monkeypatch):
    """Running statistics and the dropout generator travel in the checkpoint: a run stopped at
    iteration 97 and resumed gives the same bits as one uninterrupted run."""
    args = [*QUICK, *EXTEND, "--dtype", "float64", "--iterations", "150"]
    assert main(["train", *args, "--out", str(tmp_path / "whole"), "--quiet"]) == 0
    run = tmp_path / "parts"
    interrupt_at(monkeypatch, 97)
    assert main(["train", *args, "--out", str(run), "--quiet"]) == 130
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--batchnorm", "--dropout", "0.2"]) == 0
    assert "resuming at iteration 97 (epoch 2)" in capsys.readouterr().out
    a, b = load_net(tmp_path / "whole" / "weights.npz"), load_net(run / "weights.npz")
    np.testing.assert_array_equal(a.theta, b.theta)
    np.testing.assert_array_equal(a.state, b.state)
    ha = json.loads((tmp_path / "whole" / "history.json").read_text())["history"]
    hb = json.loads((run / "history.json").read_text())["history"]
    for key in ("loss", "train_acc", "test_acc", "test_loss", "train_loss"):
        assert ha[key] == hb[key]


def test_resume_refuses_other_regularization(tmp_path, capsys, monkeypatch):
    run = tmp_path / "r"
    interrupt_at(monkeypatch, 5)
    assert main(["train", *QUICK, "--hidden", "8,8", "--dropout", "0.2", "--iterations", "20",
                 "--out", str(run), "--quiet"]) == 130
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--dropout", "0.3"]) == 2
    assert "--dropout: the checkpoint's run used 0.2, not 0.3" in capsys.readouterr().err
    assert main(["train", "--resume", str(run), "--batchnorm"]) == 2
    assert "--batchnorm: the checkpoint's run used False, not True" in capsys.readouterr().err


def test_early_stoppings_best_weights_include_the_running_statistics(tmp_path):
    from fastnn.optimizers import Adam
    from fastnn.trainer import Trainer
    rng = np.random.default_rng(0)
    x, t = rng.random((60, 6)), rng.integers(0, 3, 60)
    net = MultiLayerNetExtend(6, [5], 3, use_batchnorm=True, seed=0)
    tr = Trainer(net, x, t, optimizer=Adam(), batch_size=10, iterations=12, seed=0,
                 validation_split=0.2, early_stopping=1, fused=False)
    net.state[...] = rng.random(net.state.shape)
    best_theta, best_state = net.theta.copy(), net.state.copy()
    tr._watch(1.0)                                  # the best epoch so far
    save_checkpoint(tr.state_dict(), tmp_path / "c.npz")
    net.theta[...] += 1
    net.state[...] += 1
    tr._watch(2.0)                                  # worse, patience 1: the best put back
    assert tr.stopped_early
    np.testing.assert_array_equal(net.theta, best_theta)
    np.testing.assert_array_equal(net.state, best_state)
    # and the best state travels in checkpoints
    state, _ = load_checkpoint(tmp_path / "c.npz")
    np.testing.assert_array_equal(state["best"]["net_state"], best_state)
    again = MultiLayerNetExtend(6, [5], 3, use_batchnorm=True, seed=1)
    tr2 = Trainer(again, x, t, optimizer=Adam(), batch_size=10, iterations=12, seed=0,
                  validation_split=0.2, early_stopping=1, fused=False)
    tr2.load_state_dict(state)
    again.state[...] = 0
    tr2._restore_best()
    np.testing.assert_array_equal(again.state, best_state)


def test_sweep_trials_take_them():
    """fastnn sweep builds its trials with fastnn train's builder: --dropout and --batchnorm
    reach the network (an option it did not pass would be refused by check_buildable)."""
    from fastnn.sweep.options import parse_options
    from fastnn.sweep.trial import build_run
    rng = np.random.default_rng(0)
    data = {"train": (rng.random((200, 784), dtype=np.float32), rng.integers(0, 10, 200)),
            "val": (rng.random((20, 784), dtype=np.float32), rng.integers(0, 10, 20)),
            "classes": 10}
    args = parse_options(["--hidden", "8,8", "--dropout", "0.3", "--batchnorm", "--seed", "1",
                          "--iterations", "2"])
    net, _ = build_run(args, data)
    assert type(net) is MultiLayerNetExtend
    assert (net.use_dropout, net.dropout_ratio, net.use_batchnorm) == (True, 0.3, True)
    net, _ = build_run(parse_options(["--hidden", "8,8", "--seed", "1", "--iterations", "2"]), data)
    assert type(net) is MultiLayerNet
