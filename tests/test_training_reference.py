"""Fused SGD (step, run, evaluate, train_step) and the Trainer's three paths against
the reference network and SGD of tests/reference.py.

Inputs are dense (no zero pixel) or have rows with 1-7 non-zeros, so that the fused
kernels' four-at-a-time loop and its remainder, every thread's range of samples and
of W1 rows, and every range boundary carry non-zero values.
"""
import numba
import numpy as np
import pytest

from fastnn import TwoLayerNet
from fastnn.fused import FusedSGD
from fastnn.threads import num_threads
from fastnn.trainer import Trainer

from . import reference as R
from .reference import agree

MAX_THREADS = min(2, numba.config.NUMBA_NUM_THREADS)
THREADS = sorted({1, MAX_THREADS})
D, H, C = 13, 5, 4          # D = 13: W1 row ranges [0, 6) and [6, 13) on two threads

#: Fused step against the reference SGD step, normwise relative.  Measured: float64
#: <= 7.3e-16 (params and losses), float32 <= 3.3e-7 (the float32 rounding of the step).
TOL = {np.float64: 5e-15, np.float32: 1e-6}


def make_net(p, activation="sigmoid", dtype=np.float64):
    net = TwoLayerNet(D, H, C, activation=activation, dtype=dtype)
    for k in p:
        net.params[k][...] = p[k]
    return net


def data(kind, n, rng):
    if kind == "dense":
        return R.dense_inputs(rng, n, D)
    x = np.zeros((n, D))
    for i in range(n):                                  # 1..7 non-zeros: remainders 0..3 of 4
        cols = rng.choice(D, 1 + i % 7, replace=False)
        x[i, cols] = rng.uniform(0.05, 1.0, cols.size)
    return x


def targets(kind, labels, rng):
    if kind == "labels":
        return labels
    if kind == "one-hot":
        return np.eye(C)[labels]
    return R.softmax(rng.standard_normal((labels.size, C)))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("xkind", ["dense", "sparse"])
@pytest.mark.parametrize("tkind", ["labels", "one-hot", "soft"])
def test_fused_step_is_one_sgd_step(dtype, activation, threads, parallel, xkind, tkind):
    rng = np.random.default_rng(abs(hash((xkind, tkind))) % 1000)
    p = R.two_layer_params(rng, D, H, C, dtype)
    x = data(xkind, 11, rng).astype(dtype)
    t = targets(tkind, rng.integers(0, C, 11), rng)
    t = t if tkind == "labels" else t.astype(dtype)
    net = make_net(p, activation, dtype)
    ref = {k: v.astype(np.float64) for k, v in p.items()}
    x64 = x.astype(np.float64)
    with num_threads(threads):
        opt = FusedSGD(net, 0.3, parallel=parallel)
        for step in range(2):
            loss = opt.step(x, t)
            ref_loss = R.train_sgd(ref, x64, np.asarray(t, np.float64) if tkind != "labels" else t,
                                   [np.arange(11)], 0.3, activation)[0]
            agree(loss, ref_loss, TOL[dtype], f"loss {step}")
            for k in ref:
                agree(net.params[k], ref[k], TOL[dtype], f"{k} after step {step}")


def test_train_step_is_one_sgd_step():
    rng = np.random.default_rng(1)
    p = R.two_layer_params(rng, D, H, C)
    x, t = R.dense_inputs(rng, 9, D), rng.integers(0, C, 9)
    net, ref = make_net(p, "relu"), {k: v.copy() for k, v in p.items()}
    for lr in (0.1, 0.1, 0.7):                                # a new lr makes a new FusedSGD
        loss = net.train_step(x, t, lr=lr)
        agree(loss, R.train_sgd(ref, x, t, [np.arange(9)], lr, "relu")[0], TOL[np.float64], "loss")
        for k in ref:
            agree(net.params[k], ref[k], TOL[np.float64], k)


@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("parallel", [False, True])
def test_fused_run_over_row_numbers(threads, parallel):
    """run(data, order, start, nsteps, batch): step s on order[start + s*batch:][:batch],
    the last batch short (order has 2 + 3*4 + 3 rows from start 2)."""
    rng = np.random.default_rng(2)
    p = R.two_layer_params(rng, D, H, C)
    x, t = data("sparse", 20, rng), rng.integers(0, C, 20)
    order = rng.permutation(20)[:17]
    net, ref = make_net(p), {k: v.copy() for k, v in p.items()}
    with num_threads(threads):
        opt = FusedSGD(net, 0.2, parallel=parallel)
        losses = opt.run(opt.prepare(x, t), order, 2, 4, 4)
    batches = [order[2 + 4 * s:2 + 4 * s + 4] for s in range(4)]
    assert [b.size for b in batches] == [4, 4, 4, 3]
    agree(losses, R.train_sgd(ref, x, t, batches, 0.2), 5e-15, "losses")   # measured 2e-16
    for k in ref:
        agree(net.params[k], ref[k], 5e-15, k)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
@pytest.mark.parametrize("threads", THREADS)
def test_fused_evaluate(dtype, activation, threads):
    rng = np.random.default_rng(3)
    p = R.two_layer_params(rng, D, H, C, dtype, scale=1.0)
    x, t = data("sparse", 31, rng).astype(dtype), rng.integers(0, C, 31)  # 31: chunks 15 + 16
    net = make_net(p, activation, dtype)
    with num_threads(threads):
        opt = FusedSGD(net, 0.1)
        acc, loss = opt.evaluate(opt.prepare(x, t))
        acc2, none = opt.evaluate(opt.prepare(x, t), loss=False)
    p64, x64 = {k: v.astype(np.float64) for k, v in p.items()}, x.astype(np.float64)
    ref_acc = R.two_layer_accuracy(p64, x64, t, activation)
    assert 0 < ref_acc < 1
    assert acc == acc2 == ref_acc and none is None
    agree(loss, R.two_layer_loss(p64, x64, t, activation), TOL[dtype], "evaluate loss")


# ---------------------------------------------------------------------------
# Trainer: fused, layers and numerical paths against one reference loop
# ---------------------------------------------------------------------------
def reference_run(p, x, t, xt, tt, batch, epochs, seed, lr, activation, grad):
    """The trainer's schedule: one permutation per epoch from default_rng(seed), batches
    consecutive slices (the last one short); per epoch the accuracies and test loss."""
    rng = np.random.default_rng(seed)
    ref = {k: v.copy() for k, v in p.items()}
    hist = {"loss": [], "train_acc": [], "test_acc": [], "test_loss": []}
    N = x.shape[0]
    for _ in range(epochs):
        order = rng.permutation(N)
        for i in range(0, N, batch):
            rows = order[i:i + batch]
            hist["loss"].append(R.two_layer_loss(ref, x[rows], t[rows], activation))
            g = grad(ref, x[rows], t[rows], activation)
            for k in ref:
                ref[k] = ref[k] - lr * g[k]
        hist["train_acc"].append(R.two_layer_accuracy(ref, x, t, activation))
        hist["test_acc"].append(R.two_layer_accuracy(ref, xt, tt, activation))
        hist["test_loss"].append(R.two_layer_loss(ref, xt, tt, activation))
    return ref, hist


def _trainer_case(seed=4, n=22):
    rng = np.random.default_rng(seed)
    p = R.two_layer_params(rng, D, H, C)
    x, t = data("dense", n, rng), rng.integers(0, C, n)
    xt, tt = data("sparse", 9, rng), rng.integers(0, C, 9)
    return p, x, t, xt, tt


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
@pytest.mark.parametrize("steps_per_call", [None, 2])
def test_trainer_backprop_paths(fused, activation, steps_per_call):
    """Measured: params and losses <= 4e-16 apart on both paths; accuracies equal."""
    p, x, t, xt, tt = _trainer_case()
    net = make_net(p, activation)
    tr = Trainer(net, x, t, xt, tt, lr=0.5, batch_size=5, epochs=3, seed=7, fused=fused,
                 steps_per_call=steps_per_call, eval_batch=4)
    assert tr.step_kind == ("fused" if fused else "layers")
    hist = tr.fit()
    ref, rh = reference_run(p, x, t, xt, tt, 5, 3, 7, 0.5, activation,
                            lambda q, xb, tb, a: R.two_layer_gradient(q, xb, tb, a))
    assert len(hist["loss"]) == 3 * 5 and hist["iteration"] == [5, 10, 15]
    agree(hist["loss"], rh["loss"], 5e-15, "losses")
    for k in ref:
        agree(net.params[k], ref[k], 5e-15, k)
    assert hist["train_acc"] == rh["train_acc"] and hist["test_acc"] == rh["test_acc"]
    agree(hist["test_loss"], rh["test_loss"], 5e-15, "test loss")
    per_epoch = [np.mean(rh["loss"][5 * e:5 * e + 5]) for e in range(3)]
    agree(hist["train_loss"], per_epoch, 5e-15, "epoch mean loss")


@pytest.mark.parametrize("method", ["incremental", "full"])
@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_trainer_numerical_path(method, activation):
    """grad="numerical" steps with TwoLayerNet.numerical_gradient(method=...), against
    the book's loop in float64 (both with delta = 1e-7 inside the log).  Measured after
    6 steps: params <= 3.7e-12, losses <= 3.8e-13 apart (the float64 rounding of the
    book loop's central differences, 1e-12 per gradient entry, carried through the steps)."""
    p, x, t, xt, tt = _trainer_case(seed=5, n=12)
    net = make_net(p, activation)
    tr = Trainer(net, x, t, xt, tt, lr=0.5, batch_size=4, epochs=2, seed=8, grad="numerical",
                 numerical_method=method)
    assert tr.step_kind == "numerical"
    seen = []
    real = net.numerical_gradient

    def spy(xb, tb, method="incremental", **kw):
        seen.append(method)
        return real(xb, tb, method, **kw)

    net.numerical_gradient = spy
    hist = tr.fit()
    assert seen == [method] * 6
    ref, rh = reference_run(p, x, t, xt, tt, 4, 2, 8, 0.5, activation,
                            lambda q, xb, tb, a: R.two_layer_numerical_gradient(q, xb, tb, a))
    agree(hist["loss"], rh["loss"], 4e-12, "losses")
    for k in ref:
        agree(net.params[k], ref[k], 2e-11, k)
    assert hist["train_acc"] == rh["train_acc"] and hist["test_acc"] == rh["test_acc"]


def test_fused_batch_wider_than_the_input_and_default_lr():
    """A batch of more samples (20) than inputs (3): buffers are sized by the batch."""
    rng = np.random.default_rng(6)
    p = R.two_layer_params(rng, 3, 4, 2)
    x, t = R.dense_inputs(rng, 20, 3), rng.integers(0, 2, 20)
    net = TwoLayerNet(3, 4, 2)
    for k in p:
        net.params[k][...] = p[k]
    opt = FusedSGD(net)
    assert opt.lr == 0.01 and opt.parallel is None
    ref = {k: v.copy() for k, v in p.items()}
    agree(opt.step(x, t), R.train_sgd(ref, x, t, [np.arange(20)], 0.01)[0], 5e-15, "loss")
    for k in ref:
        agree(net.params[k], ref[k], 5e-15, k)
    with pytest.raises(TypeError):
        FusedSGD(net, 0.1, True)                          # parallel is keyword-only


def test_fused_converts_replaced_parameters_to_the_net_dtype():
    """A parameter replaced by a non-contiguous array is made contiguous before the step;
    one of another dtype is refused (the kernel would round W1's update to float32)."""
    rng = np.random.default_rng(7)
    p = R.two_layer_params(rng, D, H, C)
    p["W1"] = p["W1"].astype(np.float32).astype(np.float64)
    x, t = R.dense_inputs(rng, 6, D), rng.integers(0, C, 6)
    net = make_net(p)
    net.params["W2"] = np.asfortranarray(p["W2"])
    ref = {k: v.copy() for k, v in p.items()}
    opt = FusedSGD(net, 0.4)
    agree(opt.step(x, t), R.train_sgd(ref, x, t, [np.arange(6)], 0.4)[0], 5e-15, "loss")
    for k in ref:
        assert net.params[k].dtype == np.float64 and net.params[k].flags.c_contiguous
        agree(net.params[k], ref[k], 5e-15, k)
    net.params["W1"] = net.params["W1"].astype(np.float32)
    with pytest.raises(TypeError, match=r"params\['W1'\]"):
        opt.step(x, t)
    net32 = make_net({k: v.astype(np.float32) for k, v in p.items()}, dtype=np.float32)
    net32.params["b2"] = p["b2"]                            # float64 in a float32 net
    with pytest.raises(TypeError, match=r"params\['b2'\]"):
        FusedSGD(net32).step(x.astype(np.float32), t)


def test_fused_run_refuses_steps_past_the_order():
    rng = np.random.default_rng(10)
    x, t = R.dense_inputs(rng, 10, D), rng.integers(0, C, 10)
    opt = FusedSGD(make_net(R.two_layer_params(rng, D, H, C)), 0.1)
    data, order = opt.prepare(x, t), np.arange(10)
    for start, nsteps, batch in ((-1, 1, 2), (10, 1, 2), (0, 3, 5), (4, 4, 2)):   # last step empty
        with pytest.raises(ValueError, match="start"):
            opt.run(data, order, start, nsteps, batch)
    assert opt.run(data, order, 8, 1, 5).shape == (1,)       # a short last step is fine


@pytest.mark.parametrize("tkind", ["one-hot", "soft"])
def test_fused_run_with_dense_targets(tkind):
    rng = np.random.default_rng(8)
    p = R.two_layer_params(rng, D, H, C)
    x = data("dense", 10, rng)
    t = targets(tkind, rng.integers(0, C, 10), rng)
    order = rng.permutation(10)
    net, ref = make_net(p, "relu"), {k: v.copy() for k, v in p.items()}
    opt = FusedSGD(net, 0.3)
    losses = opt.run(opt.prepare(x, t), order, 0, 3, 4)
    batches = [order[0:4], order[4:8], order[8:10]]
    agree(losses, R.train_sgd(ref, x, t, batches, 0.3, "relu"), 5e-15, "losses")
    for k in ref:
        agree(net.params[k], ref[k], 5e-15, k)


def test_fused_large_scores_and_ties():
    """Scores of +-800 (the softmax must subtract each row's maximum) and exact ties
    (the arg-max is the first maximum, as np.argmax)."""
    import kernels.fused as KF
    rng = np.random.default_rng(9)
    p = R.two_layer_params(rng, D, H, C)
    p["b2"] = np.array([0.0, 800.0, -800.0, 790.0])
    x, t = R.dense_inputs(rng, 7, D), rng.integers(0, C, 7)
    net, ref = make_net(p), {k: v.copy() for k, v in p.items()}
    opt = FusedSGD(net, 0.1)
    agree(opt.step(x, t), R.train_sgd(ref, x, t, [np.arange(7)], 0.1)[0], 5e-15, "loss")
    for k in ref:
        agree(net.params[k], ref[k], 5e-15, k)
    tie = {"W1": p["W1"], "b1": p["b1"], "W2": np.zeros((H, C)), "b2": np.array([1.0, 3.0, 3.0, 2.0])}
    net = make_net(tie)
    labels = np.array([1, 2, 1, 2, 0, 1, 3])
    acc, _ = FusedSGD(net).evaluate(FusedSGD(net).prepare(x, labels))
    assert acc == R.two_layer_accuracy(tie, x, labels) == 3 / 7
    assert KF.make_buffers(4, D, H, C, np.float64, threads=0).gW2.shape[0] == 1
