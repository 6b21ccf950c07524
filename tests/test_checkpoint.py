"""Weights and checkpoints: round trips without pickle, atomic writes, clear errors."""
import json
import zipfile

import numpy as np
import pytest

from fastnn import Adam, TwoLayerNet
from fastnn.checkpoint import (
    CheckpointError, load_checkpoint, load_net, load_params, save_checkpoint, save_params,
)
from fastnn.trainer import Trainer, TrainingInterrupted


@pytest.fixture
def net(dtype):
    return TwoLayerNet(12, 5, 3, activation="relu", dtype=dtype, seed=3)


def test_weights_round_trip(net, tmp_path):
    path = tmp_path / "w.npz"
    save_params(net, path, note="hi")
    with np.load(path, allow_pickle=False) as z:            # plain arrays, no pickle
        assert sorted(z.files) == ["W1", "W2", "b1", "b2", "meta"]
        meta = json.loads(str(z["meta"]))
    # the architecture, from which load_net rebuilds the network; it keeps the keys that
    # files of the two-layer net held before architectures were recorded
    assert meta["net"] == net.architecture()
    assert {k: meta["net"][k] for k in ("sizes", "activation", "dtype")} == \
        {"sizes": [12, 5, 3], "activation": "relu", "dtype": net.dtype.name}
    assert meta["extra"] == {"note": "hi"}
    back = load_net(path)
    assert back.sizes == net.sizes and back.activation == "relu" and back.dtype == net.dtype
    for k in net.params:
        np.testing.assert_array_equal(back.params[k], net.params[k])
        assert back.params[k].dtype == net.dtype
    x = np.random.default_rng(0).random((4, 12)).astype(net.dtype)
    np.testing.assert_array_equal(back.predict(x), net.predict(x))
    assert list(tmp_path.iterdir()) == [path]                # no temporary file left


def test_checkpoint_round_trip_resumes(tmp_path):
    rng = np.random.default_rng(1)
    x, t = rng.random((60, 12)), rng.integers(0, 3, 60)

    def trainer(**kw):
        net = TwoLayerNet(12, 5, 3, seed=3)
        return Trainer(net, x, t, x[:20], t[:20], batch_size=7, iterations=30,
                       optimizer=Adam(0.01), seed=4, **kw)

    def stop(tr, event):
        if event == "step" and tr.iteration == 11:
            raise KeyboardInterrupt

    full = trainer()
    full.fit()
    part = trainer(callbacks=[stop])
    with pytest.raises(TrainingInterrupted):
        part.fit()
    save_checkpoint(part.state_dict(), tmp_path / "c.npz", args={"lr": 0.01})
    state, extra = load_checkpoint(tmp_path / "c.npz")
    assert extra == {"args": {"lr": 0.01}}
    again = trainer()
    again.load_state_dict(state)
    again.fit()
    for k in full.net.params:
        np.testing.assert_array_equal(again.net.params[k], full.net.params[k])
    assert again.history["loss"] == full.history["loss"]
    assert load_net(tmp_path / "c.npz").sizes == (12, 5, 3)   # a checkpoint holds weights too


def test_failed_save_keeps_the_old_file(net, tmp_path, monkeypatch):
    path = tmp_path / "w.npz"
    save_params(net, path)
    before = path.read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")
    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(OSError, match="disk full"):
        save_params(net, path)
    assert path.read_bytes() == before
    assert list(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize("dtype", [np.float64])
def test_bad_files_name_the_file(net, tmp_path):
    good = tmp_path / "good.npz"
    save_params(net, good)
    data = good.read_bytes()
    cases = {
        "missing.npz": None,
        "truncated.npz": data[: len(data) // 2],
        "empty.npz": b"",
        "text.npz": b"this is not a zip file at all\n" * 10,
    }
    for name, content in cases.items():
        p = tmp_path / name
        if content is not None:
            p.write_bytes(content)
        with pytest.raises(CheckpointError, match=name):
            load_net(p)
    with pytest.raises(CheckpointError, match="is a directory"):
        load_net(tmp_path)
    np.savez(tmp_path / "plain.npz", W1=np.zeros((2, 2)))
    with pytest.raises(CheckpointError, match=r"plain\.npz: no 'meta' entry"):
        load_net(tmp_path / "plain.npz")
    np.save(tmp_path / "one.npy", np.zeros(3))
    with pytest.raises(CheckpointError, match=r"one\.npy: not a \.npz archive"):
        load_net(tmp_path / "one.npy")
    with pytest.raises(CheckpointError, match="expected a fastnn-checkpoint file, got format 'fastnn-weights'"):
        load_checkpoint(good)


@pytest.mark.parametrize("dtype", [np.float32])
def test_inconsistent_contents_are_refused(net, tmp_path):
    meta = {"format": "fastnn-weights", "version": 1,
            "net": {"sizes": [12, 5, 3], "activation": "relu", "dtype": "float32"}, "extra": {}}
    arrays = dict(net.params)

    def write(name, meta=meta, **changes):
        p = tmp_path / name
        np.savez(p, meta=np.array(json.dumps(meta)), **{**arrays, **changes})
        return p

    load_net(write("ok.npz"))
    with pytest.raises(CheckpointError, match=r"W1 is \(5, 12\) float32, expected \(12, 5\) float32"):
        load_net(write("shape.npz", W1=net.params["W1"].T.copy()))
    with pytest.raises(CheckpointError, match=r"b2 is \(3,\) float64"):
        load_net(write("dtype.npz", b2=net.params["b2"].astype(np.float64)))
    with pytest.raises(CheckpointError, match="W2 holds NaN"):
        load_net(write("nan.npz", W2=np.full_like(net.params["W2"], np.nan)))
    with pytest.raises(CheckpointError, match="format version 7"):
        load_net(write("version.npz", meta={**meta, "version": 7}))
    p = tmp_path / "pickled.npz"
    np.savez(p, meta=np.array([{"a": 1}], dtype=object), **arrays)
    with pytest.raises(CheckpointError, match="pickled.npz"):
        load_params(p)


def test_corrupt_members_are_reported(net, tmp_path):
    p = tmp_path / "w.npz"
    save_params(net, p)
    with zipfile.ZipFile(p, "a") as z:          # a member that is not an .npy
        z.writestr("junk.npy", b"garbage")
    with pytest.raises(CheckpointError, match=r"w\.npz: entry 'junk' is not a numpy array"):
        load_net(p)
    q = tmp_path / "flipped.npz"
    save_params(net, q)
    data = bytearray(q.read_bytes())
    with zipfile.ZipFile(q) as z:
        info = z.getinfo("W1.npy")
    at = info.header_offset + 30 + len(info.filename) + 200   # inside W1's data
    data[at] ^= 0xFF
    q.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"flipped\.npz: not a readable \.npz file, truncated or corrupt"):
        load_net(q)


# -- atomic files and folders ---------------------------------------------------------------
def test_failed_write_names_the_file(tmp_path):
    import errno
    from fastnn._atomic import atomic_write
    path = tmp_path / "w.bin"
    with pytest.raises(OSError) as e:
        with atomic_write(path) as f:
            f.write(b"x")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert e.value.errno == errno.ENOSPC and e.value.filename == str(path)
    assert str(e.value) == f"[Errno 28] No space left on device: '{path}'"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("atomic", [True, False], ids=["renameat2", "two-renames"])
def test_exchange_dirs(tmp_path, monkeypatch, atomic):
    from fastnn import _atomic
    if not atomic:
        monkeypatch.setattr(_atomic, "_renameat2", lambda: None)
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "new").write_text("n")
    (b / "old").write_text("o")
    swapped = _atomic.exchange_dirs(a, b)
    assert swapped is (atomic and _atomic._renameat2() is not None)
    assert [p.name for p in b.iterdir()] == ["new"] and [p.name for p in a.iterdir()] == ["old"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]


def test_run_folder_publishes_in_one_step_and_keeps_the_users_files(tmp_path, monkeypatch):
    from fastnn import runfolder
    out = tmp_path / "run"
    out.mkdir()
    (out / "weights.npz").write_text("an older run")
    (out / "notes.txt").write_text("mine")
    (out / "mine").mkdir()
    folder = runfolder.RunFolder(out).open()
    (folder.path("checkpoint.npz")).write_text("new")
    (folder.path("history.jsonl")).write_text("")

    def broken(a, b):
        raise OSError(5, "Input/output error")
    monkeypatch.setattr(runfolder, "exchange_dirs", broken)   # fails: nothing changes
    with pytest.raises(OSError):
        folder.publish(["checkpoint.npz", "history.jsonl"])
    assert sorted(p.name for p in out.iterdir()) == ["mine", "notes.txt", "weights.npz"]
    monkeypatch.undo()
    folder.publish(["checkpoint.npz", "history.jsonl"])
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.npz", "history.jsonl", "mine",
                                                     "notes.txt"]
    with open(folder.path("history.jsonl"), "a") as f:         # one file under two names
        f.write("line\n")
    assert (out / "history.jsonl").read_text() == "line\n"
    folder.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_run_folder_that_never_publishes_leaves_nothing(tmp_path):
    from fastnn.runfolder import RunFolder
    with RunFolder(tmp_path / "a" / "b" / "run") as folder:
        folder.path("checkpoint.npz").write_text("x")
    assert list(tmp_path.iterdir()) == []
