"""Trainer: batches, determinism, resume, evaluation and argument checks."""
import os
import signal

import numpy as np
import pytest

from fastnn import Momentum, MultiLayerNet, TwoLayerNet
from fastnn.datasets import load
from fastnn.trainer import Trainer, TrainingDiverged, TrainingInterrupted, evaluate


@pytest.fixture(scope="module")
def sample():
    return load("mnist-sample", verbose=False)


@pytest.fixture(scope="module")
def small(sample):
    """1000 training and 500 test digits of the sample."""
    (x, t), (xt, tt) = sample.train, sample.test
    return x[:1000], t[:1000], xt[:500], tt[:500]


def make(small, dtype=np.float64, hidden=10, seed=0, **kw):
    net = TwoLayerNet(784, hidden, 10, dtype=dtype, seed=1)
    return Trainer(net, *small, seed=seed, **kw)


def same(a, b):
    """Parameters and histories (but for wall times) equal bit for bit."""
    for k in a.net.params:
        np.testing.assert_array_equal(a.net.params[k], b.net.params[k])
    drop = lambda h: {k: v for k, v in h.items() if k != "time"}  # noqa: E731
    assert drop(a.history) == drop(b.history)
    assert len(a.history["time"]) == len(b.history["time"])


# -- batches -----------------------------------------------------------------
class Recording(Trainer):
    """Records the sample numbers of every batch it trains on."""

    def _block_indices(self, k):
        idx = super()._block_indices(k)
        B = self.batch_size
        self.seen.extend(idx[i:i + B].copy() for i in range(0, idx.size, B))
        return idx


def numbered(n, d=784):
    x = np.zeros((n, d))
    x[:, 0] = np.arange(n)
    return x, np.arange(n) % 10


def test_shuffle_visits_every_sample_once_per_epoch():
    x, t = numbered(250)
    tr = Recording(TwoLayerNet(784, 3, 10), x, t, batch_size=100, epochs=3, seed=5)
    tr.seen = []
    tr.fit()
    assert tr.steps_per_epoch == 3                      # 100 + 100 + the last 50
    assert [len(b) for b in tr.seen] == [100, 100, 50] * 3
    epochs = [np.concatenate(tr.seen[i:i + 3]) for i in (0, 3, 6)]
    for order in epochs:
        np.testing.assert_array_equal(np.sort(order), np.arange(250))
    assert not np.array_equal(epochs[0], epochs[1])    # a fresh order each epoch
    assert tr.history["iteration"] == [3, 6, 9]


def test_random_sampling_is_the_books():
    x, t = numbered(250)
    tr = Recording(TwoLayerNet(784, 3, 10), x, t, batch_size=100, iterations=5,
                   sampling="random", seed=5)
    tr.seen = []
    tr.fit()
    assert tr.steps_per_epoch == 2                      # max(250 // 100, 1)
    assert [len(b) for b in tr.seen] == [100] * 5
    expected = np.random.default_rng(5)
    for batch in tr.seen:
        np.testing.assert_array_equal(batch, expected.choice(250, 100))
    assert tr.history["epoch"] == [1, 2, 3] and tr.history["iteration"] == [2, 4, 5]


def test_iterations_end_with_a_partial_epoch(small):
    tr = make(small, batch_size=100, iterations=25)
    h = tr.fit()
    assert tr.epochs == 3 and h["iteration"] == [10, 20, 25]
    assert len(h["loss"]) == 25
    assert h["train_loss"][2] == pytest.approx(np.mean(h["loss"][20:]))
    for key in ("train_acc", "test_acc", "train_loss", "test_loss", "time"):
        assert len(h[key]) == 3 and all(np.isfinite(h[key]))


def test_default_length_is_the_books_10000_iterations(small):
    assert make(small).total_steps == 10000


# -- determinism and learning ------------------------------------------------
@pytest.mark.parametrize("sampling", ["shuffle", "random"])
def test_same_seed_same_result(small, dtype, sampling):
    a, b = (make(small, dtype, sampling=sampling, epochs=2, seed=7) for _ in range(2))
    a.fit()
    b.fit()
    same(a, b)
    assert a.net.params["W1"].dtype == dtype
    c = make(small, dtype, sampling=sampling, epochs=2, seed=8)
    c.fit()
    assert not np.array_equal(a.net.params["W1"], c.net.params["W1"])


def test_learns_the_sample(sample):
    # measured: 0.88 test accuracy after 5 epochs (400 iterations); chance is 0.1
    net = TwoLayerNet(784, 50, 10, activation="relu", dtype=np.float32, seed=0)
    h = Trainer(net, *sample.train, *sample.test, epochs=5, lr=0.1, seed=0).fit()
    assert h["test_acc"][-1] > 0.85
    assert h["train_loss"][-1] < h["train_loss"][0] / 2


def test_float32_and_float64_runs_agree(small):
    a, b = make(small, np.float32, epochs=2), make(small, np.float64, epochs=2)
    a.fit()
    b.fit()
    np.testing.assert_allclose(a.history["loss"], b.history["loss"], rtol=1e-3)


def test_evaluate_matches_the_network(small, dtype):
    tr = make(small, dtype, epochs=1)
    tr.fit()
    acc, loss = evaluate(tr.net, tr.x_test, tr.t_test, batch_size=64)
    assert acc == tr.net.accuracy(tr.x_test, tr.t_test)
    assert loss == pytest.approx(tr.net.loss(tr.x_test, tr.t_test), rel=1e-5 if dtype == np.float32 else 1e-12)
    assert tr.history["test_acc"][-1] == acc


def test_data_converted_to_the_net_dtype_once(small):
    x, t, xt, tt = small
    onehot = np.eye(10)[t]
    net = TwoLayerNet(784, 5, 10, dtype=np.float32)
    tr = Trainer(net, (x * 255).astype(np.uint8), onehot, epochs=1)
    assert tr.x_train.dtype == np.float32 and tr.x_train.flags.c_contiguous
    np.testing.assert_array_equal(tr.t_train, t)
    assert tr.x_test is None
    tr.fit()
    assert tr.history["test_acc"] == [None]


# -- stopping and resuming ---------------------------------------------------
def stop_at(k):
    def cb(trainer, event):
        if event == "step" and trainer.iteration == k:
            raise KeyboardInterrupt
    return cb


@pytest.mark.parametrize("sampling,k", [("shuffle", 13), ("random", 13), ("shuffle", 20)])
def test_resume_continues_exactly(small, sampling, k):
    full = make(small, sampling=sampling, iterations=35)
    full.fit()
    first = make(small, sampling=sampling, iterations=35, callbacks=[stop_at(k)])
    with pytest.raises(TrainingInterrupted) as err:
        first.fit()
    assert err.value.trainer is first and first.interrupted and first.iteration == k
    state = first.state_dict()
    second = make(small, sampling=sampling, iterations=35, seed=999)  # the seed comes from the state
    second.load_state_dict(state)
    second.fit()
    same(full, second)


def test_resume_restores_optimizer_state(small):
    kw = dict(iterations=12)
    full = make(small, optimizer=Momentum(0.05), **kw)
    full.fit()
    first = make(small, optimizer=Momentum(0.05), callbacks=[stop_at(5)], **kw)
    with pytest.raises(TrainingInterrupted):
        first.fit()
    second = make(small, optimizer=Momentum(0.05), **kw)
    second.load_state_dict(first.state_dict())
    second.fit()
    same(full, second)


def test_resume_refuses_another_run(small):
    tr = make(small, iterations=5, callbacks=[stop_at(3)])
    with pytest.raises(TrainingInterrupted):
        tr.fit()
    with pytest.raises(ValueError, match="batch_size"):
        make(small, iterations=5, batch_size=50).load_state_dict(tr.state_dict())
    with pytest.raises(ValueError, match="optimizer"):
        make(small, iterations=5, optimizer=Momentum()).load_state_dict(tr.state_dict())


@pytest.fixture
def handlers():
    """The stop signals' handlers set to Python's defaults for the test, then put back:
    a test suite run as a background job (`make test &`) starts with SIGINT ignored."""
    sigs = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    old = {s: signal.getsignal(s) for s in sigs}
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    yield
    for s, h in old.items():
        signal.signal(s, h)


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM", "SIGHUP"])
def test_stop_signal_stops_after_the_current_batch(small, handlers, sig):
    signum = getattr(signal, sig)
    before = signal.getsignal(signum)

    def cb(trainer, event):
        if event == "step" and trainer.iteration == 4:
            os.kill(os.getpid(), signum)
    tr = make(small, iterations=20, callbacks=[cb])
    with pytest.raises(TrainingInterrupted) as e:
        tr.fit()
    assert e.value.signum == signum
    assert tr.iteration in (4, 5) and len(tr.history["loss"]) == tr.iteration
    assert signal.getsignal(signum) is before                  # the handler is put back


def test_a_second_signal_interrupts_at_once(small, handlers):
    from fastnn._signals import SignalInterrupt

    def cb(trainer, event):
        if event == "step" and trainer.iteration == 4:
            os.kill(os.getpid(), signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGINT)
    tr = make(small, iterations=20, callbacks=[cb])
    with pytest.raises(SignalInterrupt) as e:
        tr.fit()
    assert e.value.signum == signal.SIGINT and tr.iteration == 4


def test_an_ignored_signal_stays_ignored(small, handlers):
    signal.signal(signal.SIGINT, signal.SIG_IGN)               # as in `nohup cmd &`

    def cb(trainer, event):
        if event == "step" and trainer.iteration == 4:
            os.kill(os.getpid(), signal.SIGINT)
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    tr = make(small, iterations=20, callbacks=[cb])
    tr.fit()                                                   # not interrupted
    assert tr.iteration == 20 and signal.getsignal(signal.SIGINT) is signal.SIG_IGN


def test_request_stop_and_divergence(small):
    tr = make(small, iterations=20)
    tr.request_stop()                                          # before fit: no batch at all
    with pytest.raises(TrainingInterrupted) as e:
        tr.fit()
    assert tr.iteration == 0 and e.value.signum is None
    tr.fit()                                                   # the request was used up
    assert tr.iteration == 20
    for fused in (True, False):
        tr = make(small, np.float32, iterations=20, lr=1e300, fused=fused)
        with pytest.raises(TrainingDiverged, match=r"the loss is (nan|inf) at iteration 2$") as e:
            tr.fit()
        assert e.value.iteration == 2 and tr.iteration < 2


# -- gradients -----------------------------------------------------------------
@pytest.mark.skipif(not hasattr(TwoLayerNet, "numerical_gradient"),
                    reason="TwoLayerNet.numerical_gradient is not in this version")
def test_numerical_gradient_training_follows_backprop():
    rng = np.random.default_rng(0)
    x, t = rng.random((20, 6)), rng.integers(0, 3, 20)
    runs = []
    for grad in ("backprop", "numerical"):
        net = TwoLayerNet(6, 4, 3, weight_init_std=0.5, seed=2)
        tr = Trainer(net, x, t, batch_size=5, iterations=6, lr=0.5, grad=grad, fused=False, seed=3)
        tr.fit()
        runs.append(tr)
    assert runs[1].step_kind == "numerical"
    for k in runs[0].net.params:
        np.testing.assert_allclose(runs[1].net.params[k], runs[0].net.params[k], rtol=1e-5, atol=1e-7)


def test_fused_step_matches_the_layers(small):
    a = make(small, np.float64, epochs=1)
    b = make(small, np.float64, epochs=1, fused=False)
    assert a.step_kind == "fused" and b.step_kind == "layers"
    a.fit()
    b.fit()
    for k in a.net.params:
        np.testing.assert_allclose(a.net.params[k], b.net.params[k], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("sampling", ["shuffle", "random"])
def test_steps_per_call_does_not_change_the_result(small, sampling):
    runs = [make(small, np.float32, batch_size=64, iterations=40, sampling=sampling, steps_per_call=k)
            for k in (1, 7, 100)]
    for tr in runs:
        tr.fit()
    assert [tr.iteration for tr in runs] == [40, 40, 40]
    same(runs[0], runs[1])
    same(runs[0], runs[2])
    with pytest.raises(ValueError, match="steps_per_call: expected a positive integer, got 0"):
        make(small, steps_per_call=0)


def test_step_kind_without_sgd(small):
    # every optimizer of fastnn.optimizers trains on the fused step
    tr = make(small, optimizer=Momentum())
    assert tr.step_kind == "fused"


# -- argument checks -------------------------------------------------------------
@pytest.mark.parametrize("kw,match", [
    (dict(batch_size=1001), r"batch_size: expected at most the 1000 training samples"),
    (dict(batch_size=0), r"batch_size: expected a positive integer"),
    (dict(lr=-0.1), r"lr: expected a finite number > 0"),
    (dict(lr=0), r"lr: expected a finite number > 0"),
    (dict(epochs=0), r"epochs: expected a positive integer"),
    (dict(iterations=-5), r"iterations: expected a positive integer"),
    (dict(iterations=2.5), r"iterations: expected a positive integer"),
    (dict(epochs=1, iterations=10), r"epochs, iterations: give one"),
    (dict(sampling="book"), r"sampling: expected one of shuffle, random"),
    (dict(grad="finite"), r"grad: expected one of backprop, numerical"),
    (dict(threads=0), r"threads: expected an integer"),
    (dict(eval_batch=0), r"eval_batch: expected a positive integer"),
])
def test_bad_settings_name_the_argument(small, kw, match):
    with pytest.raises(ValueError, match=match):
        make(small, **kw)


def test_bad_data_name_the_argument(small):
    x, t, xt, tt = small
    net = TwoLayerNet(784, 5, 10)
    with pytest.raises(ValueError, match=r"x_train: expected \(N, 784\) float64, got \(1000, 28, 28\)"):
        Trainer(net, x.reshape(-1, 28, 28), t)
    with pytest.raises(ValueError, match=r"t_train: expected \(1000,\) integer labels"):
        Trainer(net, x, t[:999])
    with pytest.raises(ValueError, match=r"t_train: labels must lie in \[0, 10\)"):
        Trainer(net, x, t + 1)
    with pytest.raises(TypeError, match=r"t_test: expected \(500,\) integer labels"):
        Trainer(net, x, t, xt, tt.astype(float))
    with pytest.raises(ValueError, match=r"x_test, t_test: give both"):
        Trainer(net, x, t, xt)
    with pytest.raises(TypeError, match=r"x_train: expected \(N, 784\) numbers"):
        Trainer(net, x.astype(str), t)
    bad = x.copy()
    bad[3, 4] = np.nan
    with pytest.raises(ValueError, match=r"x_train: expected finite values"):
        Trainer(net, bad, t)
    with pytest.raises(ValueError, match=r"t_train: expected one-hot rows"):
        Trainer(net, x, np.full((1000, 10), 0.1))
    with pytest.raises(TypeError, match=r"net: expected a TwoLayerNet"):
        Trainer("net", x, t)
    with pytest.raises(TypeError, match=r"optimizer: expected an object with update"):
        Trainer(net, x, t, optimizer="sgd")


def test_threads_option(small):
    tr = make(small, iterations=3, threads=1)
    tr.fit()
    assert len(tr.history["loss"]) == 3


@pytest.mark.parametrize("fused, blas, want", [(False, 2, 1), (False, None, 1), (False, 1, 2),
                                               (None, 2, 2)])
def test_one_level_of_parallelism(small, fused, blas, want):
    """With BLAS free to use threads, the layer path keeps numba's kernels on one thread."""
    import numba
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs two numba threads")
    seen = []
    tr = make(small, iterations=2, threads=2, fused=fused, blas_threads=blas,
              callbacks=[lambda trainer, event: seen.append(numba.get_num_threads())])
    tr.fit()
    assert seen and set(seen) == {want}


def test_evaluate_takes_a_set_larger_than_the_trainers_own():
    """Trainer.evaluate on more rows than its training and test sets hold (its evaluation
    buffers were once sized by its own sets only) equals fastnn.trainer.evaluate."""
    rng = np.random.default_rng(0)
    x = rng.random((50, 784)).astype(np.float32)
    t = rng.integers(0, 10, 50)
    net = TwoLayerNet(784, 20, 10, dtype=np.float32, seed=0)
    trainer = Trainer(net, x, t, iterations=2, batch_size=10)
    X = rng.random((300, 784)).astype(np.float32)
    T = rng.integers(0, 10, 300)
    assert trainer.evaluate(X, T) == evaluate(net, X, T)


def test_numerical_training_of_a_deeper_net_uses_the_method_that_applies():
    """grad="numerical" without numerical_method: "cached" for a deeper net (the two-layer
    "incremental" does not apply there), "incremental" for the two-layer one."""
    from fastnn import MultiLayerNet
    rng = np.random.default_rng(0)
    x, t = rng.random((40, 12)), rng.integers(0, 3, 40)
    deep = Trainer(MultiLayerNet(12, [6, 5], 3, seed=0), x, t, grad="numerical", iterations=3, batch_size=10)
    assert deep.numerical_method == "cached"
    deep.fit()
    assert deep.iteration == 3
    assert Trainer(TwoLayerNet(12, 6, 3, seed=0), x, t, grad="numerical", iterations=1,
                   batch_size=10).numerical_method == "incremental"


def test_random_sampling_blocks_are_the_books_draws():
    """The fused path draws a block of k batches at once: the same numbers as k calls of
    the book's rng.choice(N, batch_size)."""
    x, t = numbered(250)
    net = MultiLayerNet(784, [5], 10)
    tr = Trainer(net, x, t, batch_size=50, epochs=1, sampling="random", seed=11)
    assert tr.step_kind == "fused"
    block = tr._block_indices(5)
    expected = np.random.default_rng(11)
    assert block.dtype == np.int64
    np.testing.assert_array_equal(block, np.concatenate([expected.choice(250, 50)
                                                         for _ in range(5)]))
