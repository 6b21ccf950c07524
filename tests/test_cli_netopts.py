"""Network and optimizer options of `fastnn train` / `gradcheck` (fastnn.cli.netopts), files
that record the architecture and the optimizer, and resumed runs equal to uninterrupted ones."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from fastnn import MultiLayerNet, TwoLayerNet
from fastnn.checkpoint import CheckpointError, load_net, load_params, load_weights, save_params
from fastnn.cli import build_parser, main
from fastnn.cli.netopts import network_from_args, optimizer_from_args, weight_init_of

from .test_cli_train import interrupt_at

QUICK = ["--dataset", "mnist-sample", "--no-download", "--seed", "3"]
OLD_RUN = Path(__file__).resolve().parent / "data" / "two-layer-v1"


def parse(*argv):
    return build_parser().parse_args(["gradcheck", *argv])


def built(*argv):
    """(network, optimizer) the gradcheck options build; gradcheck fills in the defaults."""
    args = parse(*argv)
    return network_from_args(args, 784, 10, dtype="float64", seed=0), optimizer_from_args(args)


# -- options ---------------------------------------------------------------------------
def test_defaults_are_the_books_run():
    args = build_parser().parse_args(["train"])
    assert (args.hidden, args.activation, args.optimizer, args.lr) == (None,) * 4   # filled later
    net, opt = built("--activation", "sigmoid")
    assert type(net) is TwoLayerNet and net.sizes == (784, 50, 10)
    assert net.activation == "sigmoid" and net.weight_decay_lambda == 0.0
    assert type(opt).__name__ == "SGD" and opt.lr == 0.1
    # the weights are TwoLayerNet's own draw with the book's std 0.01
    ref = TwoLayerNet(784, 50, 10, 0.01, activation="sigmoid", seed=0)
    for k in ref.params:
        np.testing.assert_array_equal(net.params[k], ref.params[k])


def test_deeper_networks_and_optimizers():
    net, opt = built("--hidden", "100,100,100", "--activation", "relu", "--weight-init", "he",
                     "--weight-decay", "1e-4", "--optimizer", "adam")
    assert type(net) is MultiLayerNet and net.sizes == (784, 100, 100, 100, 10)
    assert net.weight_decay_lambda == 1e-4
    assert type(opt).__name__ == "Adam" and opt.lr == 0.001      # Adam's own default lr
    assert (opt.beta1, opt.beta2) == (0.9, 0.999)
    _, opt = built("--optimizer", "momentum", "--momentum", "0.5", "--lr", "0.02")
    assert (type(opt).__name__, opt.lr, opt.momentum) == ("Momentum", 0.02, 0.5)
    _, opt = built("--optimizer", "adam", "--beta1", "0.8", "--beta2", "0.99")
    assert (opt.beta1, opt.beta2) == (0.8, 0.99)
    # one width with an initialisation by name: the same two layers as a MultiLayerNet
    net, _ = built("--hidden", "30", "--weight-init", "xavier")
    assert type(net) is MultiLayerNet and net.sizes == (784, 30, 10)
    net, _ = built("--hidden", "30", "--weight-init", "0.05")
    assert type(net) is TwoLayerNet and np.std(net.params["W1"]) == pytest.approx(0.05, rel=0.05)


@pytest.mark.parametrize("hidden, activation, expected", [
    ([50], "relu", 0.01), ([100, 100], "relu", "he"), ([100, 100], "sigmoid", "xavier")])
def test_default_weight_init(hidden, activation, expected):
    args = parse("--hidden", ",".join(map(str, hidden)), "--activation", activation)
    assert weight_init_of(args) == expected


@pytest.mark.parametrize("argv, message", [
    (["--hidden", ""], "argument --hidden: expected a comma-separated list of hidden widths"),
    (["--hidden", "100,,5"], "argument --hidden: expected a comma-separated list"),
    (["--hidden", "100,0"], "argument --hidden: expected widths > 0, got 0 in '100,0'"),
    (["--hidden", "100,-3"], "argument --hidden: expected widths > 0, got -3"),
    (["--hidden", "1e2"], "argument --hidden: expected integer widths such as 100,100, got '1e2'"),
    (["--activation", "tanh"], "argument --activation: invalid choice: 'tanh' (choose from "
                               "'sigmoid', 'relu')"),
    (["--weight-init", "glorot"], "argument --weight-init: expected one of he, relu, xavier, "
                                  "sigmoid or a standard deviation > 0, got 'glorot'"),
    (["--weight-init", "0"], "argument --weight-init: expected one of he"),
    (["--weight-decay", "-0.0001"], "argument --weight-decay: expected a finite number >= 0, "
                                    "got '-0.0001'"),
    (["--weight-decay=-1e-4"], "argument --weight-decay: expected a finite number >= 0, "
                               "got '-1e-4'"),
    (["--weight-decay", "inf"], "argument --weight-decay: expected a finite number >= 0"),
    (["--optimizer", "lbfgs"], "argument --optimizer: invalid choice: 'lbfgs' (choose from "
                               "'sgd', 'momentum', 'nesterov', 'adagrad', 'rmsprop', 'adam')"),
    (["--momentum", "1"], "argument --momentum: expected a number in [0, 1), got '1'"),
    (["--beta1", "-0.1"], "argument --beta1: expected a number in [0, 1), got '-0.1'"),
    (["--beta2", "1.5"], "argument --beta2: expected a number in [0, 1), got '1.5'"),
    (["--lr", "0"], "argument --lr: expected a number > 0, got 0"),
])
@pytest.mark.parametrize("command", ["train", "gradcheck"])
def test_bad_values_get_one_message(command, argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        main([command, *argv])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"fastnn {command}: error: {message}")
    assert list(tmp_path.iterdir()) == []          # nothing written


@pytest.mark.parametrize("argv, message", [
    (["--optimizer", "adam", "--momentum", "0.5"],
     "--momentum: applies to --optimizer momentum or nesterov, not adam"),
    (["--beta1", "0.5"], "--beta1: applies to --optimizer adam, not sgd"),
])
def test_settings_of_another_optimizer_are_refused(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["train", *QUICK, *argv]) == 2
    assert capsys.readouterr().err.strip() == f"fastnn train: error: {message}"
    assert list(tmp_path.iterdir()) == []


# -- runs and files ----------------------------------------------------------------------
def test_deep_run_files_rebuild_the_network(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", *QUICK, "--hidden", "16,12", "--activation", "relu", "--weight-init",
                 "he", "--weight-decay", "1e-3", "--optimizer", "adam", "--iterations", "30",
                 "--out", str(run)]) == 0
    out = capsys.readouterr().out
    assert "network 784-16-12-10 relu, weights he, weight decay 0.001, float32; " \
           "Adam lr 0.001 (the default), beta1 0.9, beta2 0.999" in out
    record = json.loads((run / "history.json").read_text())
    assert record["args"]["hidden"] == [16, 12] and record["args"]["optimizer"] == "adam"
    assert record["args"]["lr"] == 0.001 and record["args"]["weight_init"] == "he"
    net = load_net(run / "weights.npz")                      # from the file alone
    assert type(net) is MultiLayerNet and net.sizes == (784, 16, 12, 10)
    assert net.activation == "relu" and net.weight_decay_lambda == 1e-3
    assert net.dtype == np.float32
    params, _ = load_params(run / "weights.npz")
    assert sorted(params) == ["W1", "W2", "W3", "b1", "b2", "b3"]
    for k in params:
        np.testing.assert_array_equal(net.params[k], params[k])
    test_acc, test_loss = record["history"]["test_acc"][-1], record["history"]["test_loss"][-1]
    assert main(["evaluate", str(run), "--no-plots"]) == 0
    assert f"test accuracy {test_acc:.4f}  loss {test_loss:.4f}  (2000 images, 784-16-12-10 relu " \
           "float32" in capsys.readouterr().out
    # predict: the same network, rebuilt from the run folder, on two test digits saved as .npy
    from fastnn.datasets import load
    x, _ = load("mnist-sample", download=False).test
    for i in range(2):
        np.save(tmp_path / f"d{i}.npy", x[i].reshape(28, 28))
    assert main(["predict", str(run), str(tmp_path / "d0.npy"), str(tmp_path / "d1.npy"),
                 "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["class"] for r in rows] == list(np.argmax(net.predict(
        np.stack([np.load(tmp_path / f"d{i}.npy").reshape(-1) for i in range(2)])
        .astype(np.float32)), axis=1))


def test_weights_of_another_architecture_name_the_array(tmp_path):
    small = MultiLayerNet(20, [6, 5], 3, seed=0)
    save_params(small, tmp_path / "w.npz")
    other = MultiLayerNet(20, [6, 4], 3, seed=0)
    with pytest.raises(CheckpointError, match=r"w\.npz: W2 is \(6, 5\) float64, expected "
                                              r"\(6, 4\) float64 for the 20-6-4-3 network"):
        load_weights(other, tmp_path / "w.npz")
    deeper = MultiLayerNet(20, [6, 5, 5], 3, seed=0)
    with pytest.raises(CheckpointError, match="missing array W4 of the 20-6-5-5-3 network"):
        load_weights(deeper, tmp_path / "w.npz")
    shallow = MultiLayerNet(20, [6], 3, seed=0)
    with pytest.raises(CheckpointError, match="array W3 is not a parameter of the 20-6-3 network"):
        load_weights(shallow, tmp_path / "w.npz")
    same = MultiLayerNet(20, [6, 5], 3, seed=1)
    load_weights(same, tmp_path / "w.npz")
    np.testing.assert_array_equal(same.theta, small.theta)


def test_files_of_the_two_layer_format_still_load(tmp_path, capsys):
    """weights.npz and checkpoint.npz written by fastnn before architectures were recorded
    (commit 0beef8c: ``fastnn train --dataset mnist-sample --hidden 8 --seed 3 --iterations 20
    --sampling random``; 784-8-10 sigmoid float32, SGD lr 0.1)."""
    for name in ("weights.npz", "checkpoint.npz"):
        net = load_net(OLD_RUN / name)
        assert type(net) is TwoLayerNet and net.sizes == (784, 8, 10)
        assert net.activation == "sigmoid" and net.dtype == np.float32
    assert main(["evaluate", str(OLD_RUN / "weights.npz"), "--no-plots"]) == 0
    assert "test accuracy 0.1105  loss 2.3011  (2000 images, 784-8-10 sigmoid float32" in \
        capsys.readouterr().out
    # its checkpoint resumes: 20 old iterations + 10 now == 30 from scratch with this version,
    # up to the float32 exp: the old 20 iterations used the C library's expf, this version
    # kernels.exponential (both within 1 ulp), so the weights differ by rounding only:
    # measured at most 1.9e-9 absolute (3.7e-6 relative, on the smallest weights).  One
    # step fewer differs by 8e-5 in W1 and 6e-3 in b2.
    run = tmp_path / "old"
    shutil.copytree(OLD_RUN, run)
    assert main(["train", "--resume", str(run), "--iterations", "10", "--quiet"]) == 0
    assert main(["train", *QUICK, "--hidden", "8", "--iterations", "30", "--sampling", "random",
                 "--out", str(tmp_path / "new"), "--quiet"]) == 0
    a, _ = load_params(run / "weights.npz")
    b, _ = load_params(tmp_path / "new" / "weights.npz")
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("optimizer", [
    ["--optimizer", "adam"],
    ["--optimizer", "momentum", "--lr", "0.05", "--momentum", "0.8"],
])
def test_resumed_run_equals_one_run(optimizer, tmp_path, capsys, monkeypatch):
    """The optimizer's state (moments, velocity, step count) travels in the checkpoint: a run
    stopped at iteration 97 and resumed gives the same bits as one uninterrupted run."""
    args = [*QUICK, "--hidden", "12,9", "--activation", "relu", "--dtype", "float64",
            "--iterations", "150", *optimizer]
    assert main(["train", *args, "--out", str(tmp_path / "whole"), "--quiet"]) == 0
    run = tmp_path / "parts"
    interrupt_at(monkeypatch, 97)
    assert main(["train", *args, "--out", str(run), "--quiet"]) == 130
    capsys.readouterr()
    assert main(["train", "--resume", str(run), *optimizer]) == 0   # the same values: allowed
    assert "resuming at iteration 97 (epoch 2)" in capsys.readouterr().out
    a, _ = load_params(tmp_path / "whole" / "weights.npz")
    b, _ = load_params(run / "weights.npz")
    assert sorted(a) == ["W1", "W2", "W3", "b1", "b2", "b3"]
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    ha = json.loads((tmp_path / "whole" / "history.json").read_text())["history"]
    hb = json.loads((run / "history.json").read_text())["history"]
    for key in ("loss", "train_acc", "test_acc", "test_loss", "train_loss"):
        assert ha[key] == hb[key]


def test_resume_refuses_other_network_or_optimizer(tmp_path, capsys, monkeypatch):
    run = tmp_path / "r"
    interrupt_at(monkeypatch, 5)
    assert main(["train", *QUICK, "--hidden", "8,8", "--optimizer", "adam", "--iterations", "20",
                 "--out", str(run), "--quiet"]) == 130
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--optimizer", "sgd"]) == 2
    assert "--optimizer: the checkpoint's run used 'adam', not 'sgd'" in capsys.readouterr().err
    assert main(["train", "--resume", str(run), "--hidden", "8"]) == 2
    assert "--hidden: the checkpoint's run used [8, 8], not [8]" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"])
def test_every_optimizer_trains_and_records_its_path(name, tmp_path, capsys):
    run = tmp_path / name
    assert main(["train", *QUICK, "--hidden", "10,10", "--activation", "relu", "--optimizer", name,
                 "--iterations", "40", "--out", str(run)]) == 0
    out = capsys.readouterr().out
    record = json.loads((run / "history.json").read_text())
    loss = record["history"]["loss"]
    assert np.mean(loss[-10:]) < np.mean(loss[:10])          # it learns
    env = json.loads((run / "environment.json").read_text())[-1]
    assert f"backprop ({env['step']}" in out
    assert env["step"] in ("fused", "layers")
    # the layer path runs only with a reason, printed and recorded
    assert (env["step"] == "layers") == (env["fused_not_used"] is not None)
    if env["fused_not_used"]:
        assert f"(layers: {env['fused_not_used']})" in out


def test_trainer_says_why_the_fused_step_does_not_apply():
    from fastnn.optimizers import SGD
    from fastnn.trainer import Trainer

    class Mine:
        """An optimizer of one's own: the book's protocol and nothing else."""
        lr = 0.1

        def update(self, params, grads):
            for k in params:
                params[k] -= self.lr * grads[k]

    rng = np.random.default_rng(0)
    x, t = rng.random((40, 6)), rng.integers(0, 3, 40)
    net = MultiLayerNet(6, [5, 4], 3, seed=0)
    tr = Trainer(net, x, t, optimizer=Mine(), batch_size=10, iterations=4, seed=0)
    assert tr.step_kind == "layers"
    assert tr.step_note == "the optimizer Mine has no fused update (not one of fastnn.optimizers)"
    tr.fit()
    with pytest.raises(ValueError, match="^fused: the fused step does not apply: the optimizer "
                                         "Mine has no fused update"):
        Trainer(net, x, t, optimizer=Mine(), batch_size=10, iterations=4, fused=True)
    tr = Trainer(net, x, t, optimizer=SGD(0.1), batch_size=10, iterations=4, fused=False)
    assert (tr.step_kind, tr.step_note) == ("layers", "fused=False")


def test_numerical_methods_are_the_librarys():
    from fastnn.cli.runopts import NUMERICAL_METHODS
    from fastnn.numerical import METHODS
    assert NUMERICAL_METHODS == METHODS


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"])
def test_trainer_fused_path_equals_layer_path(name):
    """Trainer on the fused step and on the layer path: the same run (float64, 3 epochs of a
    784-16-12-10 ReLU net with weight decay), the same weights and history up to rounding."""
    from fastnn.datasets import load
    from fastnn.optimizers import make
    from fastnn.trainer import Trainer
    x, t = load("mnist-sample", download=False, dtype="float64").train
    x, t = x[:600], t[:600]
    runs = []
    for fused in (True, False):
        net = MultiLayerNet(784, [16, 12], 10, weight_decay_lambda=1e-3, dtype="float64", seed=0)
        tr = Trainer(net, x, t, x[:200], t[:200], optimizer=make(name), batch_size=50, epochs=3,
                     seed=0, fused=fused)
        assert tr.step_kind == ("fused" if fused else "layers")
        tr.fit()
        runs.append((net.theta.copy(), tr.history))
    (a, ha), (b, hb) = runs
    np.testing.assert_allclose(a, b, rtol=RTOL_PATHS, atol=ATOL_PATHS)
    np.testing.assert_allclose(ha["loss"], hb["loss"], rtol=RTOL_PATHS)
    np.testing.assert_allclose(ha["test_loss"], hb["test_loss"], rtol=RTOL_PATHS)


#: Fused step against layer path, float64, 36 steps: the two sum in different orders.
#: Measured: largest weight difference 3.3e-13 (RMSprop, whose 1/sqrt(h) magnifies the first
#: steps' rounding), 2.1e-15 or less for the others; batch and test losses within 2.4e-13 rel.
RTOL_PATHS, ATOL_PATHS = 1e-9, 1e-12


def test_a_network_the_fused_step_cannot_take_trains_on_the_layer_path(monkeypatch):
    """Fused checks the operations at its first call; one it has no kernel for (here: Fused
    refusing every network) sends the Trainer to the layer path, with the reason."""
    import fastnn.fused
    from fastnn.optimizers import Adam
    from fastnn.trainer import Trainer

    def refuse(self, x, t):
        raise ValueError("net: the fused step has no kernel for Dropout yet")
    monkeypatch.setattr(fastnn.fused.Fused, "prepare", refuse)
    rng = np.random.default_rng(0)
    x, t = rng.random((40, 6)), rng.integers(0, 3, 40)
    tr = Trainer(MultiLayerNet(6, [5], 3, seed=0), x, t, optimizer=Adam(), batch_size=10,
                 iterations=3, seed=0)
    assert tr.step_kind == "layers"
    assert tr.step_note == ("the fused step does not take this network (net: the fused step has "
                            "no kernel for Dropout yet)")
    tr.fit()


def test_gradcheck_takes_the_network_options(capsys):
    assert main(["gradcheck", "--dataset", "mnist-sample", "--no-download", "--hidden", "12,9",
                 "--weight-init", "he", "--weight-decay", "0.01", "--steps", "3",
                 "--optimizer", "momentum"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("gradcheck: relu net 784-12-9-10 float64, 3 digits of mnist-sample, "
                          "3 training steps (Momentum), numerical gradient by 'cached'")
    for k in ("W1", "b1", "W2", "b2", "W3", "b3"):
        assert f"\n  {k} " in out
    assert "OK: max abs difference" in out


@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-12), ("float32", 1e-5)])
def test_evaluate_a_deeper_net(dtype, rtol):
    """fastnn.trainer.evaluate on a MultiLayerNet with weight decay: the accuracy of
    net.accuracy and the book's cross-entropy of net.predict, without the decay term.
    Measured agreement: float64 ~1e-16, float32 ~1e-7 (relative)."""
    from fastnn.trainer import evaluate
    rng = np.random.default_rng(1)
    net = MultiLayerNet(30, [20, 10], 4, weight_decay_lambda=0.5, dtype=dtype, seed=0)
    x, t = rng.random((257, 30)).astype(dtype), rng.integers(0, 4, 257)
    acc, loss = evaluate(net, x, t, batch_size=100)
    y = net.predict(x).astype(np.float64)
    assert acc == net.accuracy(x, t)
    assert loss == pytest.approx(-np.mean(np.log(y[np.arange(257), t] + 1e-7)), rel=rtol)
    assert loss < net.loss(x, t)          # net.loss adds 0.5 * lambda * sum(W**2)


def test_a_networks_state_and_generator_travel_in_the_files(tmp_path):
    """A network with a state buffer besides its parameters (``net.state``: batch
    normalization's running statistics) and a generator of its own (``net.rng``: dropout
    masks): weights files keep the state, checkpoints both, and a resumed Trainer gets them
    back exactly. Here a MultiLayerNet that moves its state and draws from its rng at
    every gradient, standing in for such networks."""
    from fastnn.checkpoint import load_checkpoint, save_checkpoint
    from fastnn.model import network_class
    from fastnn.optimizers import Adam
    from fastnn.trainer import Trainer, TrainingInterrupted

    @network_class          # files name its class; load_checkpoint rebuilds it to check them
    class Stateful(MultiLayerNet):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self.state = np.zeros(7, self.dtype)
            self.rng = np.random.default_rng(5)

        def gradient(self, x, t):
            self.state += self.rng.random(7)         # state that follows the batches
            return super().gradient(x, t)

    rng = np.random.default_rng(0)
    x, t = rng.random((60, 6)), rng.integers(0, 3, 60)

    def trainer(net, callbacks=()):
        return Trainer(net, x, t, optimizer=Adam(), batch_size=10, iterations=12, seed=0,
                       fused=False, callbacks=callbacks)

    def stop_at_7(tr, event):
        if event == "step" and tr.iteration == 7:
            raise KeyboardInterrupt
    whole = Stateful(6, [5], 3, seed=0)
    trainer(whole).fit()
    net = Stateful(6, [5], 3, seed=0)
    tr = trainer(net, [stop_at_7])
    with pytest.raises(TrainingInterrupted):
        tr.fit()
    save_checkpoint(tr.state_dict(), tmp_path / "c.npz")
    state, _ = load_checkpoint(tmp_path / "c.npz")
    again = Stateful(6, [5], 3, seed=0)
    tr2 = trainer(again)
    tr2.load_state_dict(state)
    np.testing.assert_array_equal(again.state, net.state)
    tr2.fit()
    np.testing.assert_array_equal(again.theta, whole.theta)
    np.testing.assert_array_equal(again.state, whole.state)
    save_params(whole, tmp_path / "w.npz")
    params, _ = load_params(tmp_path / "w.npz")
    assert sorted(params) == ["W1", "W2", "b1", "b2"]
    with np.load(tmp_path / "w.npz") as z:
        np.testing.assert_array_equal(z["net.state"], whole.state)
    fresh = Stateful(6, [5], 3, seed=1)
    from fastnn.architecture import load_network_state
    with pytest.raises(ValueError, match=r"the network's state buffer is \(7,\) float64, the file "
                                         r"holds \(3,\) float64"):
        load_network_state(fresh, np.zeros(3), "w.npz")
