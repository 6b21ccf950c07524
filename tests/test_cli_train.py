"""`fastnn train` and `fastnn evaluate`: outputs, resume, and one clear error per bad input."""
import json
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from fastnn.checkpoint import load_params
from fastnn.cli import main
from fastnn.datasets import FASHION_MNIST_DIR, write_idx
from fastnn.trainer import Trainer

QUICK = ["--dataset", "mnist-sample", "--hidden", "8", "--seed", "3"]
ROOT = Path(__file__).resolve().parent.parent


def train(capsys, *argv):
    status = main(["train", *QUICK, *argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_train_writes_results_and_evaluate_reads_them(tmp_path, capsys):
    out_dir = tmp_path / "run"
    status, out, err = train(capsys, "--iterations", "200", "--out", str(out_dir))
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("data: mnist-sample: 8000 train / 2000 test images from the bundled")
    epochs = [ln for ln in lines if ln.startswith("epoch ")]
    assert len(epochs) == 3                                    # 80 + 80 + 40 iterations
    assert re.fullmatch(r"epoch 1/3  \d+\.\d+m?s  loss \d\.\d{3}  train 0\.\d{3}  "
                        r"test 0\.\d{3} \(loss \d\.\d{3}\)  ETA \d+\.\d+m?s", epochs[0])
    assert re.fullmatch(r"time: first step \d+\.\d+m?s \(compilation or cache loading\), "
                        r"training \d+\.\d+m?s, evaluation .*; writing the results \d+\.\d+m?s",
                        lines[-2])
    summary = lines[-1]
    assert re.match(r"test accuracy 0\.\d{4} \(loss \d\.\d{4}\) after 200 iterations; [\d.]+ s, "
                    r"[\d,]+ samples/s; results in ", summary)
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "accuracy.png", "checkpoint.npz", "environment.json", "history.csv", "history.json",
        "history.jsonl", "loss.png", "weights.npz"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]      # no work folder left
    for png in ("accuracy.png", "loss.png"):
        assert (out_dir / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    record = json.loads((out_dir / "history.json").read_text(),
                        parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    h = record["history"]
    assert h["iteration"] == [80, 160, 200] and len(h["loss"]) == 200
    assert record["args"]["seed"] == 3 and record["config"]["total_steps"] == 200
    csv_lines = (out_dir / "history.csv").read_text().splitlines()
    assert csv_lines[0] == "epoch,iteration,train_acc,test_acc,train_loss,test_loss,time"
    assert len(csv_lines) == 4
    params, meta = load_params(out_dir / "weights.npz")
    assert {k: meta["net"][k] for k in ("class", "sizes", "activation", "dtype")} == \
        {"class": "TwoLayerNet", "sizes": [784, 8, 10], "activation": "sigmoid", "dtype": "float32"}
    test_acc = h["test_acc"][-1]

    assert main(["evaluate", str(out_dir)]) == 0              # dataset taken from the weights
    out, _ = capsys.readouterr()
    assert f"test accuracy {test_acc:.4f}  loss {h['test_loss'][-1]:.4f}  (2000 images" in out


def test_same_seed_same_weights(tmp_path, capsys):
    for name in ("a", "b"):
        assert train(capsys, "--iterations", "30", "--out", str(tmp_path / name), "--quiet")[0] == 0
    a, _ = load_params(tmp_path / "a" / "weights.npz")
    b, _ = load_params(tmp_path / "b" / "weights.npz")
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def interrupt_at(monkeypatch, k):
    """Make the next Trainer behave as if Ctrl-C came during iteration k."""
    real_init = Trainer.__init__

    def init(self, *a, callbacks=(), **kw):
        def stop(trainer, event):
            if event == "step" and trainer.iteration == k:
                raise KeyboardInterrupt
        # one iteration per call, so that the stop comes exactly at iteration k
        real_init(self, *a, callbacks=[*callbacks, stop], **{**kw, "steps_per_call": 1})
        monkeypatch.setattr(Trainer, "__init__", real_init)
    monkeypatch.setattr(Trainer, "__init__", init)


@pytest.mark.parametrize("sampling", ["shuffle", "random"])
def test_interrupt_then_resume_equals_one_run(tmp_path, capsys, monkeypatch, sampling):
    args = ["--iterations", "150", "--sampling", sampling, "--activation", "relu", "--dtype", "float64"]
    assert train(capsys, *args, "--out", str(tmp_path / "whole"))[0] == 0

    run = tmp_path / "parts"
    interrupt_at(monkeypatch, 97)
    status, out, err = train(capsys, *args, "--out", str(run))
    assert status == 130
    assert f"interrupted at iteration 97/150; checkpoint saved to {run / 'checkpoint.npz'}" in err
    assert f"resume with: fastnn train --resume {run}" in err
    assert sorted(p.name for p in run.iterdir()) == ["checkpoint.npz", "environment.json", "history.jsonl"]

    assert main(["train", "--resume", str(run), "--lr", "0.1"]) == 0   # same value: allowed
    out, err = capsys.readouterr()
    assert "resuming at iteration 97 (epoch 2)" in out
    assert (run / "weights.npz").exists()
    a, _ = load_params(tmp_path / "whole" / "weights.npz")
    b, _ = load_params(run / "weights.npz")
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    ha = json.loads((tmp_path / "whole" / "history.json").read_text())["history"]
    hb = json.loads((run / "history.json").read_text())["history"]
    for key in ("loss", "train_acc", "test_acc", "test_loss", "train_loss"):
        assert ha[key] == hb[key]


def test_resume_errors(tmp_path, capsys, monkeypatch):
    run = tmp_path / "r"
    interrupt_at(monkeypatch, 5)
    assert train(capsys, "--iterations", "20", "--out", str(run))[0] == 130
    assert main(["train", "--resume", str(run), "--lr", "0.5"]) == 2
    assert "--lr: the checkpoint's run used 0.1, not 0.5" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path)]) == 2
    assert f"--resume {tmp_path}: no checkpoint.npz in that directory" in capsys.readouterr().err
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 not really")
    assert main(["train", "--resume", str(tmp_path / "bad.npz")]) == 2
    assert "bad.npz: not a readable .npz file" in capsys.readouterr().err


def test_existing_results_are_not_overwritten(tmp_path, capsys):
    run = tmp_path / "r"
    run.mkdir()
    (run / "history.json").write_text("mine")
    (run / "notes.txt").write_text("keep")
    status, out, err = train(capsys, "--iterations", "5", "--out", str(run))
    assert status == 2 and "epoch" not in out
    assert f"fastnn train: error: --out {run}: already holds results (history.json)" in err
    assert (run / "history.json").read_text() == "mine"
    assert train(capsys, "--iterations", "5", "--out", str(run), "--force", "--quiet")[0] == 0
    assert (run / "notes.txt").read_text() == "keep" and (run / "weights.npz").exists()


def test_unwritable_output_is_refused_before_training(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    status, out, err = train(capsys, "--iterations", "5", "--out", str(blocker / "run"))
    assert status == 2 and out == ""
    assert f"--out {blocker / 'run'}: cannot write there" in err
    status, out, err = train(capsys, "--iterations", "5", "--out", str(blocker))
    assert status == 2 and "exists and is not a directory" in err


@pytest.mark.parametrize("argv,message", [
    (["--lr", "-0.1"], "argument --lr: expected a number > 0, got -0.1"),
    (["--lr", "0"], "argument --lr: expected a number > 0, got 0"),
    (["--batch-size", "0"], "argument --batch-size: expected a number > 0"),
    (["--epochs", "2", "--iterations", "5"], "not allowed with argument"),
    (["--dtype", "float16"], "argument --dtype: invalid choice"),
    (["--epochs", "x"], "argument --epochs: expected an integer, got 'x'"),
    (["--seed", "-1"], "argument --seed: expected an integer from 0 to 2**64-1, got -1"),
    (["--seed", "1.5"], "argument --seed: expected an integer, got '1.5'"),
    (["--checkpoint-every", "0"], "argument --checkpoint-every: expected a number > 0, got 0"),
    (["--threads", "0"], "argument --threads: expected a number > 0, got 0"),
])
def test_bad_options_are_argparse_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", *argv])
    assert e.value.code == 2
    assert message in capsys.readouterr().err


def test_batch_larger_than_the_data(tmp_path, capsys):
    status, out, err = train(capsys, "--batch-size", "9000", "--out", str(tmp_path / "r"))
    assert status == 2
    assert "fastnn train: error: --batch-size: expected at most the 8000 training samples, got 9000" in err
    assert list(tmp_path.iterdir()) == []                       # no empty folder, no work folder


def idx_dir(tmp_path, n=20, labels=None, images=None):
    d = tmp_path / "data"
    d.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    for split in ("train", "t10k"):
        write_idx(d / f"{split}-images-idx3-ubyte.gz",
                  rng.integers(0, 256, (n, 28, 28), dtype=np.uint8) if images is None else images)
        write_idx(d / f"{split}-labels-idx1-ubyte.gz",
                  rng.integers(0, 10, n, dtype=np.uint8) if labels is None else labels)
    return d


def run_on(d, tmp_path, capsys):
    status = main(["train", "--dataset", "mnist", "--data-dir", str(d), "--batch-size", "10",
                   "--iterations", "4", "--hidden", "4", "--out", str(tmp_path / "out")])
    return status, capsys.readouterr()


def test_data_problems(tmp_path, capsys):
    status, (out, err) = run_on(tmp_path / "nowhere", tmp_path, capsys)
    assert status == 2 and f"--data-dir {tmp_path / 'nowhere'}: no such directory" in err
    assert not (tmp_path / "out").exists()                      # a failed run leaves no folder

    d = idx_dir(tmp_path)
    status, (out, err) = run_on(d, tmp_path, capsys)
    assert status == 0, err                                     # the good directory trains
    assert "data: mnist: 20 train / 20 test images from" in out

    images = d / "train-images-idx3-ubyte.gz"
    labels = d / "train-labels-idx1-ubyte.gz"
    write_idx(images, np.zeros((20, 28), np.uint8))             # IDX, but 2 dimensions
    status, (out, err) = run_on(d, tmp_path / "a", capsys)
    assert status == 2 and f"{images}: wrong magic number" in err

    d = idx_dir(tmp_path)
    data = images.read_bytes()
    images.write_bytes(data[: len(data) // 2])
    status, (out, err) = run_on(d, tmp_path / "b", capsys)
    assert status == 2 and str(images) in err and ("truncated" in err or "corrupt" in err)

    d = idx_dir(tmp_path, labels=np.full(20, 12, np.uint8))
    status, (out, err) = run_on(d, tmp_path / "c", capsys)
    assert status == 2 and str(labels) in err and "12" in err


def test_evaluate_errors(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "missing.npz")]) == 2
    assert f"{tmp_path / 'missing.npz'}: no such file" in capsys.readouterr().err
    (tmp_path / "cut.npz").write_bytes(b"PK\x03\x04\x14\x00")
    assert main(["evaluate", str(tmp_path / "cut.npz")]) == 2
    assert "cut.npz: not a readable .npz file, truncated or corrupt" in capsys.readouterr().err
    from fastnn import TwoLayerNet
    from fastnn.checkpoint import save_params
    save_params(TwoLayerNet(12, 3, 10), tmp_path / "small.npz")
    assert main(["evaluate", str(tmp_path / "small.npz"), "--dataset", "mnist-sample"]) == 2
    assert "a 12-3-10 network does not fit mnist-sample (784 inputs" in capsys.readouterr().err


@pytest.mark.skipif(not FASHION_MNIST_DIR.is_dir(), reason="Fashion-MNIST is not installed")
def test_fashion_mnist(tmp_path, capsys):
    status, out, err = train(capsys, "--dataset", "fashion-mnist", "--iterations", "50",
                             "--out", str(tmp_path / "f"))
    assert status == 0, err
    assert "data: fashion-mnist: 60000 train / 10000 test images" in out


def default_signals():
    """In the child: Ctrl-C and the other stop signals at their defaults, as in a terminal,
    even when the test suite runs as a background job with SIGINT ignored."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


def cli(*argv, **kw):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "fastnn", *argv], cwd=kw.get("cwd"), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=default_signals)


def test_subprocess_bad_option_exits_2():
    p = cli("train", "--lr", "-1")
    out, err = p.communicate(timeout=60)
    assert p.returncode == 2 and "argument --lr: expected a number > 0" in err


def test_subprocess_ctrl_c_saves_a_checkpoint(tmp_path):
    run = tmp_path / "r"
    p = cli("train", *QUICK, "--iterations", "1000000", "--out", str(run))
    guard = threading.Timer(120, p.kill)                         # never hang the suite
    guard.start()
    try:
        line = p.stdout.readline()
        while line and not re.match(r"epoch +1/", line):       # training is under way
            line = p.stdout.readline()
        assert line, p.stderr.read()
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
    finally:
        guard.cancel()
        if p.poll() is None:
            p.kill()
    assert p.returncode == 130, err
    assert f"resume with: fastnn train --resume {run}" in err
    assert (run / "checkpoint.npz").exists()
