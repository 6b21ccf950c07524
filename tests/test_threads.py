"""The thread policy: same bits on any thread count, settings restored, clear errors."""
import json

import numba
import numpy as np
import pytest

import kernels.fused as KF
from fastnn import TwoLayerNet
from fastnn.cli import main
from fastnn.datasets import load_mnist
from fastnn.fused import FusedSGD
from fastnn.threads import (Adaptive, blas_threads, _blas_pools, check_environment, check_threads,
                            cores, num_threads)
from fastnn.trainer import Trainer

TWO = numba.config.NUMBA_NUM_THREADS >= 2


@pytest.fixture(scope="module")
def sample():
    (x, t), (xt, tt) = load_mnist(dataset="mnist-sample", verbose=False)
    return x[:2000], t[:2000], xt[:500], tt[:500]


def _train(sample, threads, activation, dtype, parallel=None, batch=100, iterations=60):
    net = TwoLayerNet(784, 30, 10, activation=activation, dtype=dtype, seed=0)
    tr = Trainer(net, *sample, batch_size=batch, iterations=iterations, seed=0, threads=threads)
    tr._fused.parallel = parallel       # True: the parallel kernels whatever the machine's load
    return net.params, tr.fit()


@pytest.mark.skipif(not TWO, reason="needs two numba threads")
@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_same_weights_bit_for_bit_on_one_and_two_threads(sample, activation, dtype):
    p1, h1 = _train(sample, 1, activation, dtype)
    for parallel in (True, None):       # forced parallel, and the default (adaptive) choice
        p2, h2 = _train(sample, 2, activation, dtype, parallel)
        for k in p1:
            assert np.array_equal(p1[k], p2[k]), k
        assert h1["loss"] == h2["loss"] and h1["test_loss"] == h2["test_loss"]


@pytest.mark.skipif(not TWO, reason="needs two numba threads")
def test_fastnn_train_threads_1_and_2_write_the_same_weights(tmp_path):
    weights = []
    for n in (1, 2):
        out = tmp_path / f"t{n}"
        assert main(["train", "--dataset", "mnist-sample", "--iterations", "150", "--activation", "relu",
                     "--seed", "0", "--quiet", "--threads", str(n), "--out", str(out)]) == 0
        with np.load(out / "weights.npz") as z:
            weights.append({k: z[k] for k in ("W1", "b1", "W2", "b2")})
    for k in weights[0]:
        assert np.array_equal(weights[0][k], weights[1][k]), k


@pytest.mark.parametrize("batch", [1, 7, 64, 100, 257])
def test_serial_and_parallel_kernels_give_the_same_bits(sample, batch):
    """Forced serial and parallel kernels, with every thread count available."""
    x, t = sample[0][:4 * batch], sample[1][:4 * batch]
    results = []
    for n, parallel in [(1, False)] + [(n, True) for n in range(1, numba.config.NUMBA_NUM_THREADS + 1)]:
        net = TwoLayerNet(784, 20, 10, dtype=np.float32, seed=1)
        opt = FusedSGD(net, 0.1, parallel=parallel)
        with num_threads(n):
            losses = opt.run(opt.prepare(x, t), np.arange(x.shape[0], dtype=np.int64), 0, 4, batch).copy()
            ev = opt.evaluate(opt.prepare(x, t))
        results.append((net.params, losses, ev))
    for params, losses, ev in results[1:]:
        for k in params:
            assert np.array_equal(params[k], results[0][0][k]), k
        assert np.array_equal(losses, results[0][1]) and ev == results[0][2]


def test_chunks_depend_on_the_batch_only():
    assert [KF.chunks(n) for n in (1, 7, 8, 16, 100, 128, 10000)] == [1, 1, 1, 2, 12, 16, 16]


def test_user_settings_restored(sample):
    x, t = sample[0][:100], sample[1][:100]
    before = numba.get_num_threads()
    blas_before = [p.get_num_threads() for p in _blas_pools()]
    net = TwoLayerNet(784, 20, 10, seed=0)
    net.gradient(x, t)
    net.accuracy(x, t)
    FusedSGD(net, 0.1).step(x, t)
    with blas_threads(1):
        assert all(p.get_num_threads() == 1 for p in _blas_pools())
    assert numba.get_num_threads() == before
    assert [p.get_num_threads() for p in _blas_pools()] == blas_before


def test_adaptive_follows_the_faster_variant():
    ad = Adaptive(probe_units=2, probe_every=10)
    slow = {True: 3.0, False: 1.0}        # parallel three times slower (a busy machine)
    ran = []
    for _ in range(200):
        parallel, _ = ad.choose("k")
        ran.append(parallel)
        ad.record("k", parallel, slow[parallel])
    assert ad.current("k") is False
    assert sum(ran[-100:]) <= 10          # now and then a comparison, otherwise serial
    slow = {True: 1.0, False: 2.0}        # the machine is quiet again
    for _ in range(700):
        parallel, _ = ad.choose("k")
        ad.record("k", parallel, slow[parallel])
    assert ad.current("k") is True
    slow = {True: 5.0, False: 2.0}        # busy again: noticed within a few windows
    for _ in range(10):
        parallel, _ = ad.choose("k")
        ad.record("k", parallel, slow[parallel])
    assert ad.current("k") is False


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_threads_outside_the_cores(bad):
    with pytest.raises(ValueError, match=r"^threads: expected an integer in \[1, \d+\]"):
        check_threads("threads", bad)
    with pytest.raises(ValueError, match=r"^threads: expected an integer"):
        check_threads("threads", cores() + 1)


def test_threads_too_many_on_the_command_line(tmp_path, capsys):
    code = main(["train", "--dataset", "mnist-sample", "--iterations", "1", "--quiet",
                 "--threads", str(cores() + 1), "--out", str(tmp_path / "run")])
    assert code == 2
    assert "threads: expected an integer in [1, " in capsys.readouterr().err


@pytest.mark.parametrize("key", ["NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"])
def test_environment_that_conflicts_is_named(key):
    check_environment({key: "1"})
    with pytest.raises(ValueError, match=rf"^{key}={cores() + 1}: expected a thread count in \[1, {cores()}\]"):
        check_environment({key: str(cores() + 1)})
    with pytest.raises(ValueError, match=rf"^{key}=two:"):
        check_environment({key: "two"})


def test_trainer_names_the_environment(sample, monkeypatch):
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", str(cores() + 3))
    with pytest.raises(ValueError, match="OPENBLAS_NUM_THREADS"):
        Trainer(TwoLayerNet(784, 5, 10), sample[0], sample[1], iterations=1)


@pytest.mark.parametrize("net_dtype, x_dtype", [(np.float64, np.float32), (np.float32, np.float64)])
def test_other_float_dtype_converted_at_the_boundary(sample, net_dtype, x_dtype):
    x, t = sample[0][:50], sample[1][:50]
    a = TwoLayerNet(784, 20, 10, dtype=net_dtype, seed=0)
    b = TwoLayerNet(784, 20, 10, dtype=net_dtype, seed=0)
    xa, xb = x.astype(x_dtype), x.astype(x_dtype).astype(net_dtype)   # what NumPy's cast gives
    assert np.array_equal(a.predict(xa), b.predict(xb))
    assert a.loss(xa, t) == b.loss(xb, t)
    assert a.accuracy(xa, t) == b.accuracy(xb, t)
    ga, gb = a.gradient(xa, t), b.gradient(xb, t)
    assert all(np.array_equal(ga[k], gb[k]) and ga[k].dtype == net_dtype for k in ga)
    assert FusedSGD(a, 0.1).step(xa, t) == FusedSGD(b, 0.1).step(xb, t)
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)


def test_run_folder_records_versions_and_threads(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--dataset", "mnist-sample", "--iterations", "5", "--quiet", "--threads", "1",
                 "--out", str(out)]) == 0
    rec = json.loads((out / "environment.json").read_text())
    assert len(rec) == 1
    assert rec[0]["numba_threads"] == 1 and rec[0]["numba"] == numba.__version__
    assert rec[0]["numpy"] == np.__version__ and rec[0]["start_iteration"] == 0
