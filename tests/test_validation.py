"""Validation split, early stopping and learning-rate schedules: Trainer and `fastnn train`."""
import json

import numpy as np
import pytest

from fastnn import SGD, TwoLayerNet
from fastnn.checkpoint import load_checkpoint, save_checkpoint
from fastnn.cli import main
from fastnn.datasets import load
from fastnn.network import PARAM_NAMES
from fastnn.schedules import parse_schedule
from fastnn.splits import stratified_split
from fastnn.trainer import EPOCH_KEYS, Trainer, TrainingInterrupted


@pytest.fixture(scope="module")
def small():
    d = load("mnist-sample", verbose=False)
    (x, t), (xt, tt) = d.train, d.test
    return x[:1000], t[:1000], xt[:300], tt[:300]


def noise(n=300, d=20, seed=0):
    """Random inputs with random labels: nothing to learn, so the validation loss
    rises once the network starts memorising its training set."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), rng.integers(0, 10, n)


# -- the split -----------------------------------------------------------------
@pytest.mark.parametrize("fraction", [0.01, 0.1, 0.25, 0.5])
def test_split_is_stratified_disjoint_and_complete(fraction):
    t = np.random.default_rng(1).choice(10, 997, p=np.linspace(1, 3, 10) / 20)
    train, val = stratified_split(t, fraction, np.random.default_rng(2))
    assert np.intersect1d(train, val).size == 0
    assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(t.size))
    for c in range(10):
        n = np.count_nonzero(t == c)
        # each class gives round(fraction * n) of its samples, at least one
        assert np.count_nonzero(t[val] == c) == max(1, int(np.floor(fraction * n + 0.5)))


def test_split_follows_the_seed():
    t = np.arange(500) % 10
    a = stratified_split(t, 0.2, np.random.default_rng(5))[1]
    b = stratified_split(t, 0.2, np.random.default_rng(5))[1]
    c = stratified_split(t, 0.2, np.random.default_rng(6))[1]
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_trainer_holds_out_validation_rows(small):
    x, t, xt, tt = small
    tr = Trainer(TwoLayerNet(784, 5, 10, seed=0), x, t, xt, tt, validation_split=0.2, epochs=1,
                 seed=0)
    n_val = sum(int(np.floor(0.2 * np.count_nonzero(t == c) + 0.5)) for c in range(10))
    assert abs(n_val - 200) <= 5                    # rounded class by class
    assert tr.x_val.shape == (n_val, 784) and tr.x_train.shape == (1000 - n_val, 784)
    # disjoint: no validation row is among the training rows
    rows = {r.tobytes() for r in tr.x_train}
    dup = {r.tobytes() for r in x}
    assert len(dup) == 1000                        # the sample has no repeated digits here
    assert not any(r.tobytes() in rows for r in tr.x_val)
    h = tr.fit()
    assert set(h) == set(EPOCH_KEYS) | {"val_acc", "val_loss", "loss"}
    assert h["test_acc"] == [h["test_acc"][0]] and h["test_acc"][0] is not None


def test_no_validation_keeps_the_history_as_it_was(small):
    h = Trainer(TwoLayerNet(784, 5, 10, seed=0), *small, epochs=1, seed=0).fit()
    assert set(h) == set(EPOCH_KEYS) | {"loss"}


def test_test_set_only_at_the_end_unless_asked(small):
    x, t, xt, tt = small
    kw = dict(validation_split=0.1, batch_size=100, epochs=3, seed=0)
    h = Trainer(TwoLayerNet(784, 5, 10, seed=0), x, t, xt, tt, **kw).fit()
    assert [a is None for a in h["test_acc"]] == [True, True, False]
    h = Trainer(TwoLayerNet(784, 5, 10, seed=0), x, t, xt, tt, eval_test_each_epoch=True, **kw).fit()
    assert all(a is not None for a in h["test_acc"]) and len(h["val_loss"]) == 3


@pytest.mark.parametrize("bad", [0, 0.0, -0.1, 0.51, 1, float("nan")])
def test_bad_fraction_is_refused(small, bad):
    with pytest.raises(ValueError, match=r"validation_split: expected a fraction in \(0, 0.5\]"):
        Trainer(TwoLayerNet(784, 5, 10), *small, validation_split=bad)


# -- early stopping ------------------------------------------------------------
@pytest.mark.parametrize("fused", [True, False], ids=["fused", "layers"])
def test_early_stopping_restores_the_best_epoch(fused):
    x, t = noise()
    net = TwoLayerNet(20, 64, 10, activation="relu", dtype=np.float64, seed=0)
    snapshots = []

    def keep(trainer, event):
        if event == "epoch":
            snapshots.append({k: trainer.net.params[k].copy() for k in PARAM_NAMES})

    tr = Trainer(net, x, t, lr=0.5, batch_size=30, epochs=60, seed=0, validation_split=0.2,
                 early_stopping=3, fused=fused, callbacks=[keep])
    h = tr.fit()
    val = h["val_loss"]
    assert tr.stopped_early and len(val) < 60            # it did stop early
    best = int(np.argmin(val))
    assert tr.best_epoch == best + 1 and len(val) == best + 1 + 3
    assert min(val[best + 1:]) >= val[best]
    # the last snapshot was taken after the restore; the best epoch's is the one kept
    for k in PARAM_NAMES:
        np.testing.assert_array_equal(net.params[k], snapshots[best][k])
        assert not np.array_equal(net.params[k], snapshots[-2][k])
    # the test figures of the last epoch are those of the weights kept
    assert h["test_acc"][-1] is None                     # no test set given here


def test_early_stopping_needs_validation(small):
    with pytest.raises(ValueError, match="early_stopping: needs validation_split"):
        Trainer(TwoLayerNet(784, 5, 10), *small, early_stopping=2)


def test_resume_with_validation_and_early_stopping_is_exact(tmp_path):
    x, t = noise()

    def make(callbacks=()):
        net = TwoLayerNet(20, 64, 10, activation="relu", dtype=np.float64, seed=0)
        return Trainer(net, x, t, lr=0.5, batch_size=30, epochs=60, seed=0, validation_split=0.2,
                       early_stopping=3, lr_schedule="step:2:0.9", fused=False,
                       callbacks=callbacks, handle_signals=False)

    def stop(trainer, event):              # inside epoch 5, after the best epoch so far
        if trainer.iteration == 4 * trainer.steps_per_epoch + 3:
            trainer.request_stop()

    whole = make()
    whole.fit()
    part = make([stop])
    with pytest.raises(TrainingInterrupted):
        part.fit()
    assert part.best_epoch is not None
    save_checkpoint(part.state_dict(), tmp_path / "c.npz")
    state, _ = load_checkpoint(tmp_path / "c.npz")
    rest = make()
    rest.load_state_dict(state)
    rest.fit()
    assert rest.best_epoch == whole.best_epoch and rest.stopped_early
    for k in PARAM_NAMES:
        np.testing.assert_array_equal(rest.net.params[k], whole.net.params[k])
    assert rest.history["val_loss"] == whole.history["val_loss"]


# -- schedules -----------------------------------------------------------------
def test_schedules():
    s = parse_schedule("step:2:0.5")
    assert [s.lr(0.1, e, 6) for e in range(5)] == [0.1, 0.1, 0.05, 0.05, 0.025]
    c = parse_schedule("cosine")
    assert c.lr(0.2, 0, 4) == 0.2 and c.lr(0.2, 2, 4) == pytest.approx(0.1, abs=1e-15)
    assert c.lr(0.2, 3, 4) > 0


@pytest.mark.parametrize("bad", ["step", "step:2", "step:x:0.5", "step:0:0.5", "step:2:0",
                                 "step:2:1.5", "cos", "linear:3"])
def test_bad_schedule_is_refused(bad):
    with pytest.raises(ValueError, match="lr_schedule: "):
        parse_schedule(bad)


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "layers"])
def test_schedule_sets_the_lr_each_epoch(small, fused):
    tr = Trainer(TwoLayerNet(784, 5, 10, seed=0), *small, optimizer=SGD(0.4), batch_size=100,
                 epochs=4, seed=0, lr_schedule="step:1:0.5", fused=fused)
    h = tr.fit()
    assert h["lr"] == [0.4, 0.2, 0.1, 0.05]
    # the same as four runs of one epoch at those rates, one after the other
    net = TwoLayerNet(784, 5, 10, seed=0)
    ref = Trainer(net, *small, optimizer=SGD(0.4), batch_size=100, epochs=4, seed=0, fused=fused,
                  callbacks=[lambda tr_, ev: ev == "epoch" and setattr(
                      tr_.optimizer, "lr", tr_.optimizer.lr / 2) or (
                      tr_._fused is not None and ev == "epoch" and setattr(
                          tr_._fused, "lr", tr_.optimizer.lr))])
    ref.fit()
    for k in PARAM_NAMES:
        np.testing.assert_array_equal(tr.net.params[k], net.params[k])


# -- the command line ------------------------------------------------------------
QUICK = ["train", "--dataset", "mnist-sample", "--no-download", "--hidden", "8", "--seed", "3",
         "--quiet"]


def test_cli_validation_early_stopping_and_resume(tmp_path, capsys):
    run = tmp_path / "run"
    assert main([*QUICK, "--epochs", "2", "--validation", "0.1", "--lr-schedule", "cosine",
                 "--early-stopping", "5", "--out", str(run)]) == 0
    record = json.loads((run / "history.json").read_text())
    h = record["history"]
    assert len(h["val_acc"]) == 2 and h["test_acc"][0] is None and h["test_acc"][1] is not None
    assert h["lr"][0] == 0.1 and h["lr"][1] == pytest.approx(0.05)
    assert record["args"]["validation"] == 0.1 and record["args"]["lr_schedule"] == "cosine"
    c = record["config"]
    assert abs(c["n_val"] - 800) <= 5 and c["n_train"] + c["n_val"] == 8000
    header = (run / "history.csv").read_text().splitlines()[0]
    assert header.endswith(",val_acc,val_loss,lr")
    capsys.readouterr()
    # resume takes the options from the checkpoint and continues them
    assert main([*QUICK[:1], "--resume", str(run), "--epochs", "1", "--quiet"]) == 0
    h = json.loads((run / "history.json").read_text())["history"]
    assert len(h["val_acc"]) == 3
    assert main([*QUICK[:1], "--resume", str(run), "--validation", "0.2", "--epochs", "1"]) == 2
    assert "--validation: the checkpoint's run used 0.1" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--validation", "0.6"], "argument --validation: expected a fraction in (0, 0.5]"),
    (["--validation", "0"], "argument --validation: expected a fraction in (0, 0.5]"),
    (["--lr-schedule", "step:2"], "argument --lr-schedule: expected 'step:EPOCHS:GAMMA'"),
    (["--early-stopping", "2"], "--early-stopping: needs --validation FRACTION"),
])
def test_cli_bad_options_write_nothing(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) if "argument" in message else _status(2):
        main([*QUICK, "--iterations", "5", "--out", "run", *argv])
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


class _status:
    def __init__(self, code):
        self.code = code

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_resume_a_checkpoint_written_before_these_options(tmp_path, capsys):
    run = tmp_path / "run"
    assert main([*QUICK, "--iterations", "100", "--out", str(run)]) == 0
    state, extra = load_checkpoint(run / "checkpoint.npz")
    old_args = {k: v for k, v in extra["args"].items()
                if k not in ("validation", "early_stopping", "lr_schedule", "eval_test_each_epoch")}
    for key in ("validation_split", "n_val", "early_stopping", "lr_schedule", "eval_test_each_epoch"):
        del state["config"][key]
    del state["best"]
    save_checkpoint(state, run / "checkpoint.npz", args=old_args)
    assert main([*QUICK[:1], "--resume", str(run), "--iterations", "20", "--quiet"]) == 0
    h = json.loads((run / "history.json").read_text())["history"]
    assert h["iteration"][-1] == 120 and "val_acc" not in h


def test_evaluate_the_validation_split(tmp_path, capsys):
    run = tmp_path / "run"
    assert main([*QUICK, "--epochs", "2", "--validation", "0.1", "--out", str(run)]) == 0
    h = json.loads((run / "history.json").read_text())
    n_val = h["config"]["n_val"]
    capsys.readouterr()
    assert main(["evaluate", str(run), "--split", "val", "--no-plots"]) == 0
    line = capsys.readouterr().out.splitlines()[1]
    assert line.startswith("val accuracy ") and f"({n_val} images" in line
    # the same rows as the trainer's: the same accuracy (the fused evaluation may round a
    # near-tie differently: at most one image apart)
    assert abs(float(line.split()[2]) - h["history"]["val_acc"][-1]) <= 1 / n_val + 5e-5
    plain = tmp_path / "plain"
    assert main([*QUICK, "--iterations", "10", "--out", str(plain)]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(plain), "--split", "val"]) == 2
    assert "--split val: the run held out no validation set" in capsys.readouterr().err
