"""Random shapes, dtypes, row numbers and keyword values thrown at the public fastnn API.

Run by tests/test_api_fuzz.py in a subprocess, so that a segfault or an abort
is a test failure rather than a dead pytest:

    python -m tests.api_fuzz LOG

Every call must either raise a documented error (ValueError, including
ShapeError, DataError and CheckpointError, or TypeError) whose one-line
message starts by naming an argument the call was given, or return what the
NumPy formulas of tests/reference.py give.  Before each call, one line
describing it is appended to LOG and flushed, so that after a crash the last
line says which call killed the interpreter.  Exit status 0 when every
property held, 1 otherwise (hypothesis prints the falsifying example).
"""
import re
import sys
import traceback

import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

import fastnn
from fastnn import Adam, Affine, Momentum, Relu, SGD, Sigmoid, SoftmaxWithLoss, TwoLayerNet
from fastnn.fused import FusedSGD

from . import reference as ref

#: Agreement with the float64 reference, as max |a - b| / (1 + |b|).  Measured over 120
#: random nets and SGD runs of up to 4 steps (lr 0.5, weights of std 1): float32 9.0e-7,
#: float64 1.2e-15; the bounds leave a margin of about 10x and 1000x.
TOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}

#: The numerical gradient (delta = 0, h = 1e-4, float64 inside) against backprop, same
#: measure, away from ReLU kinks: at most 1.9e-8 (float64 nets) and 4.1e-8 (float32, rounded
#: to float32) over 3000 random examples of ``replaced_params``; bounds 1e-6 and 1e-5.
NUMGRAD_TOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-6}

#: Derandomized and bounded: the same 300 examples per property on every run (about 2300
#: calls, 10-30 s on the shared 2-core machine once the kernels are compiled; about 2.5 min
#: with an empty numba cache).  1500 random examples per property also passed.
SETTINGS = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))

_log = None
#: Per property: calls that returned (and were compared with the reference) and calls refused.
counts = {}
_current = None


def log(text):
    """Append the call about to be made to the log (flushed: it must survive a crash)."""
    if _log is not None:
        _log.write(text + "\n")
        _log.flush()


# -- the oracle ------------------------------------------------------------------
def call(what, fn, names):
    """(True, result) if fn() returned; (False, error) if it raised a documented error naming
    one of ``names``.  Anything else fails the property."""
    log(what)
    tally = counts.setdefault(_current, [0, 0])
    try:
        result = fn()
        tally[0] += 1
        return True, result
    except (ValueError, TypeError) as e:
        tally[1] += 1
        msg = str(e)
        assert "\n" not in msg, f"{what}: a message of more than one line: {msg!r}"
        head = msg.split(": ")[0]
        assert any(re.search(rf"(^|\W){re.escape(n)}(\W|$)", head) for n in names), \
            f"{what}: {type(e).__name__} {msg!r} names none of {names}"
        return False, e


def close(a, b, dtype, what):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, f"{what}: shape {a.shape}, reference {b.shape}"
    same = (a == b) | (np.isnan(a) & np.isnan(b))           # equal infinities, NaN where the reference has NaN
    err = np.max(np.where(same, 0.0, np.abs(a - b) / (1 + np.abs(b))), initial=0.0)
    assert err <= TOL[np.dtype(dtype)], f"{what}: differs from the reference by {err:.3g}"


# -- the reference network -------------------------------------------------------
def ref_forward(p, x, act):
    a1 = ref.affine_forward(x, p["W1"], p["b1"])
    z1 = ref.sigmoid(a1) if act == "sigmoid" else ref.relu(a1)
    return a1, z1, ref.affine_forward(z1, p["W2"], p["b2"])


def ref_gradient(p, x, t, act):
    """(loss, grads) of the book's network by backprop, in NumPy."""
    a1, z1, a2 = ref_forward(p, x, act)
    loss, _, da2 = ref.softmax_with_loss(a2, t)
    dz1, dW2, db2 = ref.affine_backward(z1, p["W2"], da2)
    da1 = ref.sigmoid_grad(dz1, z1) if act == "sigmoid" else ref.relu_grad(dz1, a1)
    _, dW1, db1 = ref.affine_backward(x, p["W1"], da1)
    return loss, {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}


def f64(params):
    return {k: np.array(v, dtype=np.float64) for k, v in params.items()}


def ref_accuracy_ok(p, x, labels, act, acc):
    """acc equals the reference accuracy up to samples whose two best scores nearly tie."""
    _, _, a2 = ref_forward(p, x.astype(np.float64), act)
    hits = np.argmax(a2, axis=1) == labels
    top2 = np.sort(a2, axis=1)[:, -2:] if a2.shape[1] > 1 else np.zeros((len(a2), 2))
    ties = np.sum(top2[:, 1] - top2[:, 0] <= 1e-4 * (1 + np.abs(top2[:, 1])))
    return abs(acc * len(labels) - hits.sum()) <= ties


# -- strategies ------------------------------------------------------------------
FLOATS = (np.float32, np.float64)
values = st.sampled_from([0.0, 0.0, 0.0, 1.0, 0.5, -1.5, 3.0, 1e-3])
sizes = st.tuples(st.integers(1, 12), st.integers(1, 6), st.integers(2, 5))  # D, H, C


@st.composite
def nets(draw):
    D, H, C = draw(sizes)
    dtype = draw(st.sampled_from(FLOATS))
    act = draw(st.sampled_from(["sigmoid", "relu"]))
    net = TwoLayerNet(D, H, C, 1.0, activation=act, dtype=dtype, seed=draw(st.integers(0, 3)))
    return net


@st.composite
def batches(draw, D, C, dtype, n=None):
    """A well-formed batch for a net of input size D and C classes: x (N, D), labels (N,)."""
    N = n or draw(st.integers(1, 10))
    x = np.array(draw(st.lists(values, min_size=N * D, max_size=N * D)), dtype=dtype).reshape(N, D)
    t = np.array(draw(st.lists(st.integers(0, C - 1), min_size=N, max_size=N)), dtype=np.int64)
    return x, t


ANY_DTYPES = [np.float32, np.float64, np.int64, np.int32, np.uint8, np.bool_, np.float16, np.complex128]


@st.composite
def arrays_near(draw, shape, dtype):
    """An array of roughly ``shape`` and ``dtype``: often right, often one thing wrong."""
    kind = draw(st.sampled_from(["ok", "ok", "dim", "rank", "dtype", "nan", "fortran", "strided",
                                 "empty", "list"]))
    shape = list(shape)
    if kind == "dim":
        i = draw(st.integers(0, len(shape) - 1))
        shape[i] = max(0, shape[i] + draw(st.sampled_from([-1, 1, 2])))
    elif kind == "rank":
        shape = shape + [draw(st.integers(1, 2))] if draw(st.booleans()) or len(shape) == 1 \
            else shape[:-1]
    elif kind == "empty":
        shape[0] = 0
    dt = draw(st.sampled_from(ANY_DTYPES)) if kind == "dtype" else dtype
    a = np.resize(np.array([0.5, 0.0, -1.0, 2.0, 0.0]), shape).astype(dt)
    if kind == "nan" and a.size and a.dtype.kind in "fc":
        a.reshape(-1)[draw(st.integers(0, a.size - 1))] = draw(st.sampled_from([np.nan, np.inf]))
    elif kind == "fortran":
        a = np.asfortranarray(a)
    elif kind == "strided":
        a = np.repeat(a, 2, axis=-1)[..., ::2] if a.ndim else a
    elif kind == "list":
        return a.tolist()
    return a


# -- properties ------------------------------------------------------------------
@SETTINGS
@given(nets(), st.data())
def fused_run_with_random_rows(net, data):
    """FusedSGD.run with random order arrays, start/nsteps/batch, and data prepared for this
    net or another one: an error naming the argument, or the reference SGD steps."""
    D, H, C = net.sizes
    x, t = data.draw(batches(D, C, net.dtype))
    N = len(x)
    opt = FusedSGD(net, 0.5)
    other = data.draw(st.sampled_from(["same", "same", "same", "input", "classes", "dtype"]))
    if other == "same":
        prepared = opt.prepare(x, t)
    else:
        D2 = D + 1 if other == "input" else D
        C2 = C + 1 if other == "classes" else C
        dt2 = (np.float32 if net.dtype == np.float64 else np.float64) if other == "dtype" else net.dtype
        net2 = TwoLayerNet(D2, H, C2, dtype=dt2, seed=0)
        x2, t2 = data.draw(batches(D2, C2, dt2, n=N))
        prepared = FusedSGD(net2, 0.1).prepare(x2, t2)
    fault = "data" if other != "same" else data.draw(st.sampled_from(
        ["none", "none", "none", "order_dtype", "order_range", "order_rank", "order_list", "start", "nsteps",
         "batch", "too_far"]))
    nsteps = data.draw(st.integers(1, 4))
    batch = data.draw(st.integers(1, 5))
    start = data.draw(st.integers(0, 3))
    M = start + (nsteps - 1) * batch + data.draw(st.integers(1, batch + 2))
    order = np.array(data.draw(st.lists(st.integers(0, N - 1), min_size=M, max_size=M)), dtype=np.int64)
    if fault == "order_dtype":
        order = order.astype(data.draw(st.sampled_from([np.float64, np.bool_, np.complex64, object])))
    elif fault == "order_range":
        used = st.integers(start, min(M, start + nsteps * batch) - 1)       # a row a step reads
        order[data.draw(used)] = data.draw(st.sampled_from([-1, N, N + 7, -2**40, 2**62]))
    elif fault == "order_rank":
        order = order.reshape(1, -1)
    elif fault == "order_list":
        order = order.tolist()          # a list of row numbers is accepted
    elif fault == "start":
        start = data.draw(st.sampled_from([-1, -2**62, 1.0, "0", None, M, 2**63]))
    elif fault == "nsteps":
        nsteps = data.draw(st.sampled_from([0, -1, 2.0, None, True, 10**6]))
    elif fault == "batch":
        batch = data.draw(st.sampled_from([0, -3, 1.5, "2", None, np.int8(-1)]))
    elif fault == "too_far":
        start, nsteps = start + M, nsteps + 1
    if fault in ("order_dtype", "order_range", "order_rank") and data.draw(st.booleans()):
        order = np.asfortranarray(np.stack([order, order]))[0] if np.ndim(order) == 1 else order
    before = f64(net.params)
    shown = order.tolist() if isinstance(order, np.ndarray) else order
    ok, out = call(f"FusedSGD.run(data={other}, fault={fault}, order={np.asarray(order).dtype}"
                   f"{np.shape(order)}={shown}, "
                   f"start={start!r}, nsteps={nsteps!r}, batch={batch!r}) on {net._sizes} {net.dtype}",
                   lambda: opt.run(prepared, order, start, nsteps, batch).copy(),
                   ["data", "order", "start", "nsteps", "batch"])
    if not ok:
        close(net.params["W1"], before["W1"], net.dtype, "W1 after a refused run")
        return
    assert fault in ("none", "order_list"), f"run accepted a {fault} fault"
    order = np.asarray(order)
    p = before
    losses = []
    for s in range(nsteps):
        r = order[start + s * batch:start + (s + 1) * batch]
        loss, g = ref_gradient(p, x[r].astype(np.float64), t[r], net.activation)
        losses.append(loss)
        for k in p:
            p[k] -= 0.5 * g[k]
    close(out, losses, net.dtype, "losses")
    for k in p:
        close(net.params[k], p[k], net.dtype, k)
    ok, res = call("FusedSGD.evaluate(prepared)", lambda: opt.evaluate(prepared), ["data"])
    assert ok and ref_accuracy_ok(p, x, t, net.activation, res[0])


METHODS = ["predict", "loss", "accuracy", "gradient", "numerical_gradient", "train_step",
           "fused_run", "fused_evaluate", "trainer"]


@SETTINGS
@given(nets(), st.data())
def replaced_params(net, data):
    """An entry of net.params replaced by an array of another shape, dtype or layout, then
    any method: an error naming the entry, or the reference result on the values given."""
    D, H, C = net.sizes
    x, t = data.draw(batches(D, C, net.dtype))
    key = data.draw(st.sampled_from(["W1", "b1", "W2", "b2"]))
    new = data.draw(arrays_near(net.params[key].shape, net.dtype))
    if isinstance(new, np.ndarray) and new.size and new.dtype.kind == "f" and new.shape == net.params[key].shape:
        new = new + np.asarray(data.draw(values), dtype=new.dtype)        # some other values
    net.params[key] = new
    method = data.draw(st.sampled_from(METHODS))
    expected_ok = (isinstance(new, np.ndarray) and new.dtype == net.dtype
                   and new.shape == net._shapes[key])
    finite = expected_ok and np.isfinite(new).all()
    given_values = f64({k: net.params[k] for k in net.params}) if expected_ok else None

    def run():
        if method == "predict":
            return net.predict(x)
        if method == "loss":
            return net.loss(x, t)
        if method == "accuracy":
            return net.accuracy(x, t)
        if method == "gradient":
            return net.gradient(x, t)
        if method == "numerical_gradient":
            return net.numerical_gradient(x[:2], t[:2], delta=0.0)
        if method == "train_step":
            return net.train_step(x, t, 0.5)
        if method in ("fused_run", "fused_evaluate"):
            opt = FusedSGD(net, 0.5)
            d = opt.prepare(x, t)
            if method == "fused_evaluate":
                return opt.evaluate(d)
            return opt.run(d, np.arange(len(x)), 0, 1, len(x)).copy()
        from fastnn.trainer import Trainer
        return Trainer(net, x, t, batch_size=len(x), iterations=1, lr=0.5, seed=0).fit()

    layout = "" if not isinstance(new, np.ndarray) or new.flags.c_contiguous else " not C-contiguous"
    ok, out = call(f"params[{key!r}] = {fastnn._checks.describe(np.asarray(new))}{layout}; "
                   f"{method} on {net._sizes} {net.dtype}", run, ["params"])
    if finite or not expected_ok:
        assert ok == expected_ok, f"{method}: params[{key!r}] of {fastnn._checks.describe(np.asarray(new))} " \
                                  f"{'accepted' if ok else 'refused'}"
    if not ok or not finite:     # NaN weights: refused, or computed with (no values to compare)
        return
    p, act, dt = given_values, net.activation, net.dtype
    x64 = x.astype(np.float64)
    if method == "predict":
        close(out, ref.softmax(ref_forward(p, x64, act)[2]), dt, "predict")
    elif method in ("loss", "gradient", "train_step", "fused_run"):
        loss, g = ref_gradient(p, x64, t, act)
        if method == "loss":
            close(out, loss, dt, "loss")
        elif method == "gradient":
            for k in g:
                close(out[k], g[k], dt, f"gradient {k}")
        else:
            close(np.ravel(out)[0], loss, dt, method)
            for k in g:
                close(net.params[k], p[k] - 0.5 * g[k], dt, f"{method} {k}")
    elif method in ("accuracy", "fused_evaluate"):
        acc = out if method == "accuracy" else out[0]
        assert ref_accuracy_ok(p, x, t, act, acc), method
    elif method == "numerical_gradient":
        a1 = ref_forward(p, x64[:2], act)[0]
        if act == "relu" and np.min(np.abs(a1)) < 1e-3:
            return      # a ReLU kink within h of a unit: central differences differ from backprop there
        _, g = ref_gradient(p, x64[:2], t[:2], act)
        for k in g:   # central differences, h = 1e-4, computed in float64 (NUMGRAD_TOL)
            err = np.max(np.abs(out[k] - g[k]) / (1 + np.abs(g[k])))
            assert err < NUMGRAD_TOL[np.dtype(dt)], f"numerical gradient {k}: {err:.3g} from backprop"


@SETTINGS
@given(nets(), st.data())
def random_batches(net, data):
    """x and t of random shapes, dtypes and values into every method of the net."""
    D, H, C = net.sizes
    N = data.draw(st.integers(1, 6))
    x = data.draw(arrays_near((N, D), net.dtype))
    t_kind = data.draw(st.sampled_from(["labels", "labels", "onehot", "near", "none", "range"]))
    if t_kind == "labels":
        t = np.array(data.draw(st.lists(st.integers(0, C - 1), min_size=N, max_size=N)))
    elif t_kind == "range":
        t = np.array(data.draw(st.lists(st.integers(-2, C + 2), min_size=N, max_size=N)))
        t = t.astype(data.draw(st.sampled_from([np.int64, np.int8, np.uint64, np.float64])))
    elif t_kind == "onehot":
        t = np.eye(C)[data.draw(st.lists(st.integers(0, C - 1), min_size=N, max_size=N))]
    elif t_kind == "near":
        t = data.draw(arrays_near((N,), np.int64))
    else:
        t = None
    method = data.draw(st.sampled_from(["predict", "loss", "accuracy", "gradient",
                                        "numerical_gradient", "train_step", "prepare"]))
    kw = {}
    if method == "accuracy":
        kw["batch_size"] = data.draw(st.one_of(st.integers(-1, 4), st.sampled_from([2.5, None, "3"])))
    if method == "numerical_gradient":
        kw["method"] = data.draw(st.sampled_from(["incremental", "full", "book", None]))
        kw["h"] = data.draw(st.sampled_from([1e-4, 1e-3, 0.0, -1e-4, np.nan, 1.0, "1e-4"]))
        kw["delta"] = data.draw(st.sampled_from([1e-7, 0.0, -1.0, np.inf]))
    if method == "train_step":
        kw["lr"] = data.draw(st.sampled_from([0.1, 0.0, -1.0, np.nan, np.inf, "0.1", None]))
    before = f64(net.params)

    def run():
        if method == "prepare":
            return FusedSGD(net, 0.1).prepare(x, t)
        fn = getattr(net, method)
        return fn(x, **kw) if method == "predict" else fn(x, t, **kw)

    ok, out = call(f"{method}(x={fastnn._checks.describe(np.asarray(x)) if x is not None else None}, "
                   f"t={t_kind} {None if t is None else fastnn._checks.describe(np.asarray(t))}, {kw}) "
                   f"on {net._sizes} {net.dtype}", run, ["x", "t", "batch_size", "method", "h", "delta", "lr"])
    if not ok:
        for k in before:
            assert np.array_equal(net.params[k], before[k].astype(net.dtype)), f"{k} changed by a refused call"
        return
    # accepted: the input must have been a valid batch; check the values
    xa = np.asarray(x)
    assert xa.ndim == 2 and xa.shape[1] == D and xa.size and xa.dtype.kind == "f" and np.isfinite(xa).all(), \
        f"{method} accepted x {xa.shape} {xa.dtype}"
    N = xa.shape[0]
    if isinstance(x, np.ndarray) and x.dtype != net.dtype:
        return      # a float of another width, converted to the net's dtype: no reference at that precision
    x64 = xa.astype(np.float64)
    if method == "predict":
        close(out, ref.softmax(ref_forward(before, x64, net.activation)[2]), net.dtype, "predict")
        return
    ta = np.asarray(t)
    assert ta.shape in ((N,), (N, C)), f"{method} accepted t {ta.shape}"
    labels = ta if ta.ndim == 1 else np.argmax(ta, axis=1)
    assert labels.min() >= 0 and labels.max() < C, f"{method} accepted labels {labels}"
    if method in ("loss", "gradient"):
        loss, g = ref_gradient(before, x64, ta.astype(np.int64) if ta.ndim == 1 else ta, net.activation)
        if method == "loss":
            close(out, loss, net.dtype, "loss")
        else:
            for k in g:
                close(out[k], g[k], net.dtype, k)


@SETTINGS
@given(st.data())
def random_keywords(data):
    """Hyper-parameters and sizes of random type and value: an error naming them, or a result."""
    fine = st.sampled_from([0.5, 0.1, 0.9, np.float32(0.25), np.int64(3), 1e-300])
    bad = st.one_of(*[fine] * 16, st.sampled_from(
        [0, -1, 1, 2.0, np.nan, np.inf, -np.inf, "0.1", None, True, [0.1], np.array([0.5, 0.5]), 1j]))
    which = data.draw(st.sampled_from(["SGD", "Momentum", "Adam", "TwoLayerNet", "FusedSGD"]))
    kw = {}
    if which == "SGD":
        kw = {"lr": data.draw(bad)}
    elif which == "Momentum":
        kw = {"lr": data.draw(bad), "momentum": data.draw(bad)}
    elif which == "Adam":
        kw = {"lr": data.draw(bad), "beta1": data.draw(bad), "beta2": data.draw(bad), "eps": data.draw(bad)}
    elif which == "TwoLayerNet":
        size = st.one_of(st.integers(1, 4), st.integers(1, 4), st.integers(1, 4), st.integers(1, 4),
                         st.integers(1, 4), st.sampled_from([0, -1, 2.0, "3", None, True, np.int32(2)]))
        kw = {"input_size": data.draw(size), "hidden_size": data.draw(size), "output_size": data.draw(size),
              "weight_init_std": data.draw(bad),
              "activation": data.draw(st.sampled_from(["relu", "sigmoid", "relu", "tanh", None])),
              "dtype": data.draw(st.sampled_from([np.float32, "float64", np.float64, np.int32, "x", None]))}
    else:
        kw = {"lr": data.draw(bad), "parallel": data.draw(st.sampled_from([None, True, False, 1, "yes"]))}
    cls = {"SGD": SGD, "Momentum": Momentum, "Adam": Adam, "TwoLayerNet": TwoLayerNet,
           "FusedSGD": lambda **k: FusedSGD(TwoLayerNet(3, 2, 2, seed=0), **k)}[which]
    ok, obj = call(f"{which}({kw})", lambda: cls(**kw), list(kw))
    if not ok:
        return
    for k, v in kw.items():     # accepted: every value was in range
        if k in ("lr", "eps"):
            assert np.isfinite(float(v)) and float(v) > 0, f"{which} accepted {k}={v!r}"
        elif k in ("momentum", "beta1", "beta2"):
            assert 0 <= float(v) < 1, f"{which} accepted {k}={v!r}"
        elif k.endswith("_size"):
            assert isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1, \
                f"{which} accepted {k}={v!r}"
    if which in ("SGD", "Momentum", "Adam"):
        p = {"W": np.array([1.0, -2.0])}
        g = {"W": np.array([0.5, 0.25])}
        obj.update(p, g)
        assert np.isfinite(p["W"]).all(), f"{which}({kw}) gave {p['W']}"
        if which == "SGD":
            assert np.array_equal(p["W"], np.array([1.0, -2.0]) - float(kw["lr"]) * g["W"])


@SETTINGS
@given(st.data())
def layers_and_functions(data):
    """The layers and functions on arrays of random shape and dtype, called in any order."""
    which = data.draw(st.sampled_from(["Affine", "Relu", "Sigmoid", "SoftmaxWithLoss", "softmax",
                                       "sigmoid", "cross_entropy_error", "mean_squared_error"]))
    D, M, N = data.draw(st.integers(1, 5)), data.draw(st.integers(1, 5)), data.draw(st.integers(1, 4))
    dtype = data.draw(st.sampled_from(FLOATS))
    forward_first = data.draw(st.booleans())
    x = data.draw(arrays_near((N, D), dtype))
    d2 = data.draw(arrays_near((N, M) if which == "Affine" else (N, D), dtype))
    if which == "Affine":
        W = data.draw(arrays_near((D, M), dtype))
        b = data.draw(arrays_near((M,), dtype))

        def run():
            layer = Affine(W, b)
            out = layer.forward(x) if forward_first else None
            dx = layer.backward(d2)
            return out, dx, layer.dW, layer.db
        ok, out = call(f"Affine(W {np.shape(W)}, b {np.shape(b)}); forward={forward_first} x {np.shape(x)}; "
                       f"backward {np.shape(d2)}", run, ["W", "b", "x", "dout", "Affine.backward"])
        if ok:
            assert forward_first, "Affine.backward ran before forward"
            x64, W64, d64 = (np.asarray(a, np.float64) for a in (x, W, d2))
            if x64.ndim == 1:           # a single sample: the reference takes (1, D)
                x64, d64 = x64.reshape(1, -1), d64.reshape(1, -1)
                out = (out[0].reshape(1, -1), out[1].reshape(1, -1)) + out[2:]
            dtype = np.asarray(W).dtype
            close(out[0], ref.affine_forward(x64, W64, np.asarray(b, np.float64)), dtype, "Affine forward")
            dx, dW, db = ref.affine_backward(x64, W64, d64)
            close(out[1], dx, dtype, "dx")
            close(out[2], dW, dtype, "dW")
            close(out[3], db, dtype, "db")
        return
    if which in ("Relu", "Sigmoid"):
        cls = Relu if which == "Relu" else Sigmoid

        def run():
            layer = cls()
            y = layer.forward(x) if forward_first else None
            return y, layer.backward(d2)
        ok, out = call(f"{which}: forward={forward_first} x {np.shape(x)}; backward {np.shape(d2)}", run,
                       ["x", "dout", f"{which}.backward"])
        if ok:
            assert forward_first, f"{which}.backward ran before forward"
            dtype = out[1].dtype
            x64, d64 = np.asarray(x, np.float64), np.asarray(d2, np.float64)
            if np.isfinite(x64).all() and np.isfinite(d64).all():
                y = ref.relu(x64) if which == "Relu" else ref.sigmoid(x64)
                close(out[0], y, dtype, which)
                close(out[1], ref.relu_grad(d64, x64) if which == "Relu" else ref.sigmoid_grad(d64, y), dtype,
                      f"{which} backward")
        return
    C = D
    t = data.draw(st.one_of(st.lists(st.integers(-1, C), min_size=N, max_size=N).map(np.array),
                            st.just(np.eye(C)[np.zeros(N, int)]), arrays_near((N,), np.int64)))
    if which == "SoftmaxWithLoss":
        dout = data.draw(st.sampled_from([1, 2.0, np.nan, np.ones(2), "1"]))

        def run():
            layer = SoftmaxWithLoss()
            loss = layer.forward(x, t) if forward_first else None
            return loss, layer.backward(dout)
        ok, out = call(f"SoftmaxWithLoss: forward={forward_first} x {np.shape(x)}, t {np.shape(t)}; "
                       f"backward({dout!r})", run, ["x", "t", "dout", "SoftmaxWithLoss.backward"])
        if ok:
            assert forward_first, "SoftmaxWithLoss.backward ran before forward"
            dtype = out[1].dtype
            loss, _, dx = ref.softmax_with_loss(np.asarray(x, np.float64), np.asarray(t))
            close(out[0], loss, dtype, "loss")
            close(out[1], dx * float(dout), dtype, "dx")
        return
    fn = getattr(fastnn, which)
    args = (x,) if which in ("softmax", "sigmoid") else (ref.softmax(np.abs(np.asarray(x, float))).astype(dtype)
                                                        if np.asarray(x).size and np.asarray(x).dtype.kind == "f"
                                                        else x, t)
    names = ["a", "x"] if which in ("softmax", "sigmoid") else ["y", "t"]
    ok, out = call(f"{which}{tuple(fastnn._checks.describe(np.asarray(a)) for a in args)}", lambda: fn(*args), names)
    if ok and which in ("softmax", "sigmoid"):
        close(out, getattr(ref, which)(np.asarray(x, np.float64)), out.dtype, which)
    elif ok:
        close(out, getattr(ref, which)(np.asarray(args[0], np.float64), np.asarray(t)), np.asarray(args[0]).dtype,
              which)


@SETTINGS
@given(nets(), st.data())
def trainer_settings(net, data):
    """Trainer with random settings: an error naming the setting, or a run whose fused and
    layer-by-layer paths give the same losses and weights (both checked against each other)."""
    from fastnn.trainer import Trainer

    D, H, C = net._sizes
    x, t = data.draw(batches(D, C, net.dtype, n=data.draw(st.integers(2, 8))))
    N = len(x)
    fine = {"batch_size": st.integers(1, N), "iterations": st.integers(1, 4), "lr": st.sampled_from([0.1, 0.5]),
            "sampling": st.sampled_from(["shuffle", "random"]), "eval_batch": st.integers(1, 9),
            "steps_per_call": st.integers(1, 3)}
    wrong = {"batch_size": [0, N + 1, 2.5, None], "iterations": [0, -1, 1.5], "lr": [0, -1.0, np.nan, "0.1"],
             "sampling": ["book", None], "eval_batch": [0, "5"], "steps_per_call": [0, 1.0]}
    kw = {k: data.draw(v) for k, v in fine.items()}
    bad = data.draw(st.sampled_from([None, None, None] + sorted(wrong)))
    if bad is not None:
        kw[bad] = data.draw(st.sampled_from(wrong[bad]))
    net2 = TwoLayerNet(D, H, C, 1.0, activation=net.activation, dtype=net.dtype, seed=0)
    net2.params.update({k: v.copy() for k, v in net.params.items()})
    ok, hist = call(f"Trainer(x {x.shape}, {kw}) on {net._sizes} {net.dtype}",
                    lambda: Trainer(net, x, t, x, t, seed=1, **kw).fit(), list(kw))
    if not ok:
        assert bad is not None, f"Trainer refused valid settings {kw}"
        return
    assert bad is None, f"Trainer accepted {bad}={kw[bad]!r}"
    ok, hist2 = call("the same on the layer path",
                     lambda: Trainer(net2, x, t, x, t, seed=1, fused=False, **kw).fit(), [])
    close(hist["loss"], hist2["loss"], net.dtype, "fused and layer losses")
    for k in net.params:
        close(net.params[k], net2.params[k], net.dtype, f"fused and layer {k}")
    assert hist["test_acc"] == hist2["test_acc"] or net.dtype == np.float32


@SETTINGS
@given(st.data())
def numerical_functions(data):
    """numerical_gradient and gradient_descent on arrays and settings of random kind."""
    from fastnn import gradient_descent, numerical_gradient

    x = data.draw(arrays_near((data.draw(st.integers(1, 4)),), np.float64))
    h = data.draw(st.sampled_from([1e-4, 1e-4, 1e-4, 1e-2, 0.0, -1e-4, np.nan, "h"]))
    which = data.draw(st.sampled_from(["numerical_gradient", "gradient_descent"]))
    f = lambda v: float(np.sum(np.asarray(v) ** 2))   # noqa: E731   gradient 2x
    if which == "numerical_gradient":
        ok, g = call(f"numerical_gradient(x {fastnn._checks.describe(np.asarray(x))}, h={h!r})",
                     lambda: numerical_gradient(f, x, h=h), ["x", "h", "f"])
        if ok:
            assert isinstance(x, np.ndarray) and x.dtype.kind == "f" and np.isfinite(x).all()
            # exact for a quadratic up to rounding: x + h and f(x) rounded in x's dtype, over 2h
            np.testing.assert_allclose(g, 2 * x, rtol=0, atol=4 * np.finfo(x.dtype).eps * (1 + x ** 2).max() / h)
        return
    lr = data.draw(st.sampled_from([0.1, 0.1, 0.0, -0.1, np.inf]))
    steps = data.draw(st.sampled_from([0, 1, 5, 5, -1, 2.5]))
    ok, out = call(f"gradient_descent(x {fastnn._checks.describe(np.asarray(x))}, lr={lr!r}, step_num={steps!r})",
                   lambda: gradient_descent(f, x, lr=lr, step_num=steps), ["x", "init_x", "lr", "step_num", "f"])
    if ok:                    # x <- x - lr * 2x, steps times: x * (1 - 2 lr)^steps
        # each step's gradient is off by the rounding bound above (about 1e-3 relative in float32)
        rtol = 1e-3 if x.dtype == np.float32 else 1e-9
        np.testing.assert_allclose(out, x * (1 - 2 * lr) ** steps, rtol=rtol, atol=rtol)


PROPERTIES = (fused_run_with_random_rows, replaced_params, random_batches, random_keywords,
              layers_and_functions, trainer_settings, numerical_functions)


def main(argv):
    global _log
    _log = open(argv[1], "a") if len(argv) > 1 else None
    np.seterr(all="ignore")          # overflow in the reference's exp is not the point here
    global _current
    failed = []
    for prop in PROPERTIES:
        _current = prop.__name__
        log(f"# {prop.__name__}")
        try:
            prop()
        except Exception:
            traceback.print_exc()
            failed.append(prop.__name__)
            continue
        done, refused = counts.get(prop.__name__, (0, 0))
        print(f"{prop.__name__}: {done} calls returned and matched the reference, {refused} refused")
        if min(done, refused) < 0.1 * (done + refused):     # both outcomes must be exercised
            print(f"{prop.__name__}: too one-sided to test anything")
            failed.append(prop.__name__)
    print("failed:" if failed else "all properties held", " ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
