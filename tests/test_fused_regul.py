"""Fused steps (kernels.train, fastnn.fused.Fused) of networks with dropout and batch
normalization against the layer path (MultiLayerNetExtend.gradient + the optimizer's update),
across optimizers, depths, dtypes, kernels and thread counts; the Trainer's choice of path."""
import numba
import numpy as np
import pytest

import kernels.graph as KG
import kernels.optimizers as KO
import kernels.train as KT
from fastnn import optimizers
from fastnn.extend import MultiLayerNetExtend
from fastnn.fused import Fused
from fastnn.threads import num_threads

from . import train_reference as TR

THREADS = sorted({1, min(2, numba.config.NUMBA_NUM_THREADS)})
MODES = {"batchnorm": (True, 0.0), "dropout": (False, 0.3), "both": (True, 0.3)}
# Measured agreement with the layer path (FASTNN_SHOW_AGREEMENT=1, normwise relative after 4
# steps, every optimizer, depths 1-4, 144 cases): float32 at most 3.0e-7 (parameters), 1.2e-8
# (losses), 6.0e-8 (running statistics); float64 3.2e-14, 4.8e-16 and 7.8e-16 (running
# variances).  float64 parameters sit above the plain net's 3.4e-15 because of one group: the
# bias b of an Affine followed by batch normalization.  Its gradient is 0 in exact arithmetic
# (batch normalization subtracts the batch mean), so both paths compute rounding noise of
# ~1e-17, summed in different orders, and Adam, RMSprop and AdaGrad divide it by its own root
# mean square: such a b moves by noise, up to ~1e-10 absolute in 4 steps at lr 0.03 on either
# path (measured 1.7e-11; 1.5e-11 in the running means, which include b), and its rounding
# trail reaches the other parameters.  Those b and running means get an absolute tolerance.
TOL = {np.float64: (2e-13, 1e-14), np.float32: (3e-6, 3e-7)}
NOISE_B = 1e-9


def make(mode, depth, dtype, name, lam=0.0, D=31, C=6, seed=None, width=None):
    bn, ratio = MODES[mode]
    hidden = [9, 8, 7, 6][:depth] if width is None else [width] * depth
    net = MultiLayerNetExtend(D, hidden, C, ("relu", "sigmoid")[depth % 2], weight_init_std=0.3,
                              weight_decay_lambda=lam, use_dropout=ratio > 0, dropout_ratio=ratio or None,
                              use_batchnorm=bn, dtype=dtype, seed=depth if seed is None else seed)
    return net, optimizers.make(name, lr=0.03)


def batches(rng, n_steps, N, D, C, dtype):
    x = rng.random((n_steps * N, D))
    x[x < 0.5] = 0.0
    return x.astype(dtype), rng.integers(0, C, n_steps * N)


def noisy_biases(net):
    """Mask over theta of the biases of Affines followed by batch normalization."""
    m = np.zeros(net.theta.size, bool)
    ops = net.ops
    for k in range(ops.shape[0] - 1):
        if ops[k, KG.KIND] == KG.AFFINE and ops[k + 1, KG.KIND] == KG.BATCHNORM:
            p = int(ops[k, KG.POFF] + ops[k, KG.IN] * ops[k, KG.OUT])
            m[p:p + int(ops[k, KG.OUT])] = True
    return m


def assert_same_training(a, b, la, lb, dtype, what):
    tol_p, tol_l = TOL[dtype]
    noisy = noisy_biases(a)
    scale = float(np.abs(a.theta).max())
    TR.R.agree(b.theta[~noisy], a.theta[~noisy], tol_p, f"{what} theta", scale=scale)
    if noisy.any():
        assert np.abs(b.theta[noisy] - a.theta[noisy]).max() <= (NOISE_B if dtype == np.float64 else 1e-4)
    TR.R.agree(lb, la, tol_l, f"{what} losses")
    for k, v in a.running.items():
        # a running mean includes the mean of b's noise (above): an absolute tolerance too
        tol = NOISE_B if k.startswith("running_mean") and dtype == np.float64 else tol_p
        TR.R.agree(b.running[k], v, tol, f"{what} {k}", scale=max(1.0, float(np.abs(v).max())))
    # the fused path drew its masks from the net's generator as the layer path did: both
    # generators are in the same state after the steps
    assert a.rng.bit_generator.state == b.rng.bit_generator.state


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("name", list(KO.NAMES))
@pytest.mark.parametrize("depth", [1, 2, 3, 4])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_step_equals_layer_path(mode, name, depth, dtype):
    """Four steps of Fused(net, opt).step == net.gradient + opt.update on a twin net (same
    seed: same weights and the same dropout masks), with weight decay on alternate cases;
    the second step runs on the layer path for both nets, so the paths continue each other."""
    lam = 0.02 if (depth + len(name)) % 2 else 0.0
    rng = np.random.default_rng(depth * 7 + len(name))
    N = 37
    x, t = batches(rng, 4, N, 31, 6, dtype)
    if depth % 2:
        t = np.eye(6, dtype=dtype)[t]
    a, oa = make(mode, depth, dtype, name, lam)
    b, ob = make(mode, depth, dtype, name, lam)
    fused = Fused(b, ob)
    la, lb = [], []
    for s in range(4):
        xb, tb = x[s * N:(s + 1) * N], t[s * N:(s + 1) * N]
        g = a.gradient(xb, tb)
        la.append(a.last_loss)
        oa.update(a.params, g)
        if s == 1:
            g = b.gradient(xb, tb)
            lb.append(b.last_loss)
            ob.update(b.params, g)
        else:
            lb.append(fused.step(xb, tb))
    assert oa.t == ob.t == 4
    assert_same_training(a, b, la, lb, dtype, f"{mode} {name} depth {depth}")


def test_a_test_that_can_fail():
    """The comparison above notices a wrong mask, a wrong momentum and a missing gamma update."""
    dtype = np.float64
    x, t = batches(np.random.default_rng(0), 2, 40, 31, 6, dtype)
    for spoil in ("mask", "momentum", "gamma"):
        a, oa = make("both", 2, dtype, "adam")
        b, ob = make("both", 2, dtype, "adam")
        f = Fused(b, ob)
        la, lb = [], []
        for s in range(2):
            xb, tb = x[s * 40:(s + 1) * 40], t[s * 40:(s + 1) * 40]
            g = a.gradient(xb, tb)
            la.append(a.last_loss)
            oa.update(a.params, g)
            if spoil == "mask":
                b.rng.random(1)
            lb.append(f.step(xb, tb))
            if spoil == "gamma":
                b.params["gamma1"][...] = a.params["gamma1"] + 0.01
        if spoil == "momentum":
            b.state[:] = b.state * 0.99
        with pytest.raises(AssertionError):
            assert_same_training(a, b, la, lb, dtype, spoil)


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("width", [None, 64])
def test_bits_equal_serial_parallel_any_threads(mode, dtype, width):
    """run() of 40 steps (more than Fused.MASK_STEPS, so the masks come in two pieces, and a
    short last batch) on the serial kernel, the parallel kernel on 1 and 2 threads, and 40
    single step() calls: the same bits (theta, running statistics, losses, generator state).
    Hidden layers of 64 make the dense products large enough for the parallel kernel to split
    them (rows of the forward between batch normalizations, the backward's two products)."""
    assert 64 * 64 * 64 >= KT.DENSE_PARALLEL_MIN > 64 * 9 * 8     # batch x in x out of the widest Affine
    x, t = batches(np.random.default_rng(5), 1, 64 * 40 - 9, 50, 7, dtype)
    order = np.random.default_rng(6).permutation(x.shape[0])
    results = []
    for parallel, threads in [(False, 1)] + [(True, n) for n in THREADS]:
        net, opt = make(mode, 3, dtype, "adam", lam=0.01, D=50, C=7, seed=4, width=width)
        f = Fused(net, opt, parallel=parallel)
        with num_threads(threads):
            losses = f.run(f.prepare(x, t), order, 0, 40, 64).copy()
        results.append((net.theta.copy(), net.state.copy(), losses, net.rng.random()))
    net, opt = make(mode, 3, dtype, "adam", lam=0.01, D=50, C=7, seed=4, width=width)
    f = Fused(net, opt, parallel=False)
    losses = [f.step(x[order[s * 64:(s + 1) * 64]], t[order[s * 64:(s + 1) * 64]]) for s in range(40)]
    results.append((net.theta.copy(), net.state.copy(), np.array(losses), net.rng.random()))
    for r in results[1:]:
        for u, v in zip(results[0], r):
            np.testing.assert_array_equal(u, v)


@pytest.mark.parametrize("mode", list(MODES))
def test_evaluate_uses_running_statistics(mode):
    """Fused.evaluate of a trained net == the net's own evaluator (dropout scaled, batch
    normalization with the running statistics), and differs once the statistics are zeroed."""
    x, t = batches(np.random.default_rng(2), 1, 300, 31, 6, np.float64)
    net, opt = make(mode, 2, np.float64, "adam")
    f = Fused(net, opt)
    data = f.prepare(x, t)
    f.run(data, np.arange(300), 0, 6, 50)
    acc, loss = f.evaluate(data)
    want_acc = net.accuracy(x, t)
    want_loss = net.loss(x, t)
    assert acc == want_acc
    assert loss == pytest.approx(want_loss, rel=1e-12)
    if mode != "dropout":
        net.state[:] = 0
        assert f.evaluate(data)[1] != pytest.approx(want_loss, rel=1e-3)


def test_trainer_takes_the_fused_path_and_trains_as_the_layer_path():
    """Trainer on MultiLayerNetExtend with batch norm and dropout chooses the fused step, and
    its history equals the layer path's (fused=False) from the same seed."""
    from fastnn.trainer import Trainer
    x, t = batches(np.random.default_rng(3), 1, 400, 31, 6, np.float64)
    hist = {}
    for fused in (None, False):
        net, opt = make("both", 2, np.float64, "adam", seed=9)
        tr = Trainer(net, x[:300], t[:300], x[300:], t[300:], optimizer=opt, batch_size=50, epochs=2,
                     fused=fused, seed=1)
        assert tr.step_kind == ("fused" if fused is None else "layers"), tr.step_note
        hist[fused] = tr.fit()
        hist[fused, "theta"] = net.theta.copy()
    h1, h0 = hist[None], hist[False]
    for key in ("loss", "train_loss", "train_acc", "test_loss", "test_acc"):
        np.testing.assert_allclose(h1[key], h0[key], rtol=1e-9, atol=1e-12, err_msg=key)
    noisy = noisy_biases(net)
    np.testing.assert_allclose(hist[None, "theta"][~noisy], hist[False, "theta"][~noisy], rtol=0, atol=1e-12)


def test_cli_train_with_batchnorm_and_dropout_runs_the_fused_step(tmp_path, capsys):
    """fastnn train --batchnorm --dropout 0.2 trains on the fused path and records it."""
    import json

    from fastnn.cli import main
    run = tmp_path / "run"
    assert main(["train", "--dataset", "mnist-sample", "--no-download", "--seed", "3", "--hidden", "12,9",
                 "--batchnorm", "--dropout", "0.2", "--optimizer", "adam", "--iterations", "30",
                 "--out", str(run)]) == 0
    out = capsys.readouterr().out
    env = json.loads((run / "environment.json").read_text())[-1]
    assert env["step"] == "fused" and env["fused_not_used"] is None
    assert "backprop (fused)" in out
