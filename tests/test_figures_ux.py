"""Honest figures: compilation and evaluation apart from training throughput, epoch lines."""
import re

import pytest

from fastnn import TwoLayerNet
from fastnn.cli import main
from fastnn.cli.train import _secs
from fastnn.datasets import load
from fastnn.trainer import Trainer


def test_timing_separates_first_step_and_evaluation():
    d = load("mnist-sample", verbose=False)
    (x, t), (xt, tt) = d.train, d.test
    tr = Trainer(TwoLayerNet(784, 7, 10, seed=0), x[:1000], t[:1000], xt[:200], tt[:200],
                 batch_size=50, epochs=3, steps_per_call=5, seed=0)
    tr.fit()
    tm = tr.timing
    # 60 iterations in blocks of 5: the first block apart, the 11 others timed as training
    assert tm["steady_iterations"] == 55 and tm["evaluations"] == 3
    assert tm["first_step"] > 0 and tm["steps"] > 0 and tm["first_eval"] > 0 and tm["eval"] > 0
    total = tm["first_step"] + tm["steps"] + tm["first_eval"] + tm["eval"]
    assert total == pytest.approx(sum(tr.history["time"]), rel=1e-9)


@pytest.mark.parametrize("t, text", [(0.0042, "4.2ms"), (0.0523, "0.052s"), (1.234, "1.23s"),
                                     (12.34, "12.3s"), (123.4, "123s"), (725, "12m05s")])
def test_durations_keep_their_digits(t, text):
    assert _secs(t) == text


def test_one_epoch_and_validation_lines(tmp_path, capsys):
    assert main(["train", "--dataset", "mnist-sample", "--no-download", "--hidden", "8",
                 "--seed", "3", "--epochs", "1", "--validation", "0.2",
                 "--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "= 1 epoch of 65 (shuffle)" in out and "1 epochs" not in out
    assert re.search(r"^validation: 1598 of the 8000 training images held out", out, re.M)
    line = next(ln for ln in out.splitlines() if ln.startswith("epoch 1/1"))
    assert re.fullmatch(r"epoch 1/1  \S+  loss \S+  train \S+  val 0\.\d{3} \(loss \d\.\d{3}\)  "
                        r"test 0\.\d{3} \(loss \d\.\d{3}\)", line)
    assert "including compilation (a single call)" in out.splitlines()[-1]
    assert out.splitlines()[-1].startswith("validation accuracy 0.")
