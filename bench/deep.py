"""Deeper networks and every optimizer on the fused path, side by side with NumPy and PyTorch.

    python -m bench.deep [--threads 2] [--rounds 9] [--only deep,optimizers,kernels]

Three tables, each timed in rounds (every case once per round, in turn; medians):

- **deep**: 784-100-100-100-100-10 ReLU, He init, Adam lr 1e-3, float32, batch 100, on
  the bundled MNIST sample: a lean NumPy implementation (:func:`make_numpy`), PyTorch eager
  (``torch.optim.Adam``; skipped without torch) and ``fastnn.fused.Fused`` in blocks of 80
  steps (an epoch of the sample, as the trainer runs them).
- **optimizers**: 784-50-10 ReLU float32 batch 100, every optimizer on the fused path,
  against plain SGD on it (``FusedSGD``).
- **kernels**: 784-50-10 ReLU SGD float32 batch 100: the two-layer kernels of
  ``kernels.fused`` against the kernels of ``kernels.train`` that run any network.

Each implementation computes with its own thread pool at ``--threads`` and the others at 1
(bench.cases.threads).
"""
import argparse
import sys
import time

import numpy as np

from . import cases

DEEP = (784, 100, 100, 100, 100, 10)
SMALL = (784, 50, 10)
BATCH = 100
ADAM = dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8)
#: Hyper-parameters of the optimizers table (the book's ch. 6 comparison uses these lrs).
OPTIMIZERS = {"sgd": dict(lr=0.1), "momentum": dict(lr=0.1, momentum=0.9), "nesterov": dict(lr=0.1, momentum=0.9),
              "adagrad": dict(lr=0.1), "rmsprop": dict(lr=0.01), "adam": ADAM}


def he_weights(sizes, dtype, seed=0):
    """[(W, b)]: W ~ N(0, 2 / fan_in) (He), b = 0."""
    rng = np.random.default_rng(seed)
    return [((np.sqrt(2.0 / a) * rng.standard_normal((a, b))).astype(dtype), np.zeros(b, dtype))
            for a, b in zip(sizes[:-1], sizes[1:])]


def _data(dtype):
    x, t = cases.mnist(dtype)
    return np.ascontiguousarray(x), t


# -- lean NumPy ------------------------------------------------------------------------
def numpy_adam(params, grads, m, v, state):
    """The book's Adam with ADAM's settings, in place over lists of arrays (its bias
    correction folded into the rate); advances ``state["t"]``."""
    lr, b1, b2, eps = ADAM["lr"], ADAM["beta1"], ADAM["beta2"], ADAM["eps"]
    state["t"] += 1
    tt = state["t"]
    lr_t = lr * np.sqrt(1.0 - b2 ** tt) / (1.0 - b1 ** tt)
    for p, g, mi, vi in zip(params, grads, m, v):
        mi += (1 - b1) * (g - mi)
        vi += (1 - b2) * (g * g - vi)
        p -= lr_t * mi / (np.sqrt(vi) + eps)


def make_numpy(sizes=DEEP, dtype="float32", batch=BATCH):
    """The same network and Adam in plain NumPy, written lean: in-place updates, ReLU by
    np.maximum, one softmax; a step per call on the next batch of a shuffled epoch."""
    dt = np.dtype(dtype)
    x, t = _data(dt)
    layers = he_weights(sizes, dt)
    params = [p for wb in layers for p in wb]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    state = {"t": 0, "i": 0, "order": np.random.default_rng(1).permutation(x.shape[0])}

    def step():
        i = state["i"]
        if i + batch > x.shape[0]:
            i = 0
        rows = state["order"][i:i + batch]
        state["i"] = i + batch
        xb, tb = x[rows], t[rows]
        hs = [xb]
        h = xb
        for k, (W, b) in enumerate(layers):
            h = h @ W + b
            if k < len(layers) - 1:
                h = np.maximum(h, 0)
            hs.append(h)
        h = h - h.max(axis=1, keepdims=True)
        e = np.exp(h)
        y = e / e.sum(axis=1, keepdims=True)
        n = xb.shape[0]
        loss = -np.mean(np.log(y[np.arange(n), tb] + 1e-7))
        dout = y
        dout[np.arange(n), tb] -= 1
        dout /= n
        grads = []
        for k in range(len(layers) - 1, -1, -1):
            W, _ = layers[k]
            grads.append((hs[k].T @ dout, dout.sum(axis=0)))
            if k:
                dout = dout @ W.T
                dout *= hs[k] > 0
        grads = [g for wb in reversed(grads) for g in wb]
        numpy_adam(params, grads, m, v, state)
        return loss
    step.steps = 1
    return step


# -- PyTorch eager -----------------------------------------------------------------------
def torch_layers(sizes, dt, hidden):
    """torch.nn.Linear layers holding :func:`he_weights`, each hidden one followed by the
    modules ``hidden(width)`` returns."""
    import torch
    mods = []
    for k, (W, b) in enumerate(he_weights(sizes, dt)):
        lin = torch.nn.Linear(W.shape[0], W.shape[1])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(W.T.copy()))
            lin.bias.copy_(torch.from_numpy(b))
        mods.append(lin)
        if k < len(sizes) - 2:
            mods += hidden(W.shape[1])
    return mods


def make_torch(sizes=DEEP, dtype="float32", batch=BATCH):
    """nn.Sequential of Linear/ReLU with the same He weights, CrossEntropyLoss, torch.optim.Adam."""
    import torch
    dt = np.dtype(dtype)
    x, t = _data(dt)
    tx, tt = torch.from_numpy(x), torch.from_numpy(t.astype(np.int64))
    model = torch.nn.Sequential(*torch_layers(sizes, dt, lambda width: [torch.nn.ReLU()])).to(getattr(torch, dt.name))
    opt = torch.optim.Adam(model.parameters(), lr=ADAM["lr"], betas=(ADAM["beta1"], ADAM["beta2"]),
                           eps=ADAM["eps"])
    lossf = torch.nn.CrossEntropyLoss()
    order = torch.from_numpy(np.random.default_rng(1).permutation(x.shape[0]))
    state = {"i": 0}

    def step():
        i = state["i"]
        if i + batch > x.shape[0]:
            i = 0
        rows = order[i:i + batch]
        state["i"] = i + batch
        opt.zero_grad(set_to_none=True)
        loss = lossf(model(tx[rows]), tt[rows])
        loss.backward()
        opt.step()
        return loss.item()
    step.steps = 1
    return step


# -- fastnn fused --------------------------------------------------------------------------
def load_he(net, sizes, dtype):
    """Copy :func:`he_weights` into a fastnn net's W1 b1 ... Wn bn."""
    for k, (W, b) in enumerate(he_weights(sizes, dtype), 1):
        net.params[f"W{k}"][...] = W
        net.params[f"b{k}"][...] = b


def network(sizes, dtype):
    """fastnn.MultiLayerNet (ReLU) with the He weights of :func:`he_weights` (those the other
    implementations start from)."""
    from fastnn import MultiLayerNet
    net = MultiLayerNet(sizes[0], list(sizes[1:-1]), sizes[-1], activation="relu", weight_init_std="he",
                        dtype=dtype, seed=0)
    load_he(net, sizes, dtype)
    return net


def optimizer(name, settings):
    """fastnn.optimizers.make(name, **settings)."""
    from fastnn import optimizers
    return optimizers.make(name, **settings)


def make_fused(sizes=DEEP, dtype="float32", batch=BATCH, name="adam", settings=ADAM, sgd_class=False):
    """Fused steps in blocks of an epoch of the sample (80 steps of 100), as the trainer runs them."""
    from fastnn.fused import Fused, FusedSGD
    dt = np.dtype(dtype)
    x, t = _data(dt)
    net = network(sizes, dt)
    f = FusedSGD(net, settings["lr"]) if sgd_class else Fused(net, optimizer(name, settings))
    data = f.prepare(x, t)
    order = np.random.default_rng(1).permutation(x.shape[0])
    steps = x.shape[0] // batch

    def step():
        return f.run(data, order, 0, steps, batch)[-1]
    step.steps = steps
    return step


def make_kernel(which, sizes=SMALL, dtype="float32", batch=BATCH):
    """784-50-10 SGD by kernels.fused ("two-layer") or kernels.train ("any"), serial or parallel as
    fastnn.threads would not choose: both forced to the thread count in effect (parallel if > 1)."""
    import numba

    import kernels.fused as KF
    import kernels.graph as KG
    import kernels.optimizers as KO
    import kernels.train as KT
    from kernels.sparse import to_csr
    dt = np.dtype(dtype)
    x, t = _data(dt)
    csr = to_csr(x)
    order = np.random.default_rng(1).permutation(x.shape[0]).astype(np.int64)
    steps = x.shape[0] // batch
    losses = np.empty(steps)
    layers = he_weights(sizes, dt)
    if which == "two-layer":
        params = [p for wb in layers for p in wb]
        buf = KF.make_buffers(batch, sizes[0], sizes[1], sizes[2], dt)

        def step():
            KF.train_steps(csr, t, order, 0, steps, batch, *params, 0.1, buf, losses, activation="relu",
                           parallel=numba.get_num_threads() > 1)
            return losses[-1]
    else:
        ops, _, P, width = KG.mlp(sizes, "relu")
        theta = np.concatenate([np.concatenate([W.ravel(), b]) for W, b in layers])
        buf = KT.make_buffers(ops, width, P, batch, dt)
        empty = np.zeros(0, dt)
        hp = np.array([0.1, 0.0, 0.0, 0.0])

        def step():
            KT.train_steps(ops, csr, t, order, 0, steps, batch, theta, KO.SGD, hp, 0, empty, empty, 0.0, buf,
                           None, losses, parallel=numba.get_num_threads() > 1)
            return losses[-1]
    step.steps = steps
    return step


# -- the runner ----------------------------------------------------------------------------
def tables(threads):
    """{table: [(label, pool, factory)]}; pool as in bench.cases.threads."""
    deep = [("NumPy (lean)", "numpy", make_numpy)]
    if cases.has_torch():
        deep.append(("PyTorch eager", "torch", make_torch))
    deep.append(("fastnn Fused", "fused", make_fused))
    opts = [(f"Fused {n}" if n != "sgd" else "FusedSGD", "fused",
             (lambda n=n: make_fused(SMALL, name=n, settings=OPTIMIZERS[n], sgd_class=n == "sgd")))
            for n in OPTIMIZERS]
    kern = [("kernels.fused (two-layer)", "fused", lambda: make_kernel("two-layer")),
            ("kernels.train (any network)", "fused", lambda: make_kernel("any"))]
    return {"deep": deep, "optimizers": opts, "kernels": kern}


def measure(cases_, threads, rounds, seconds):
    """Median samples/s per case: ``rounds`` rounds, each case timed for about ``seconds`` in turn."""
    steps = {}
    made = {}
    for label, pool, factory in cases_:
        with cases.threads(threads, pool):
            made[label] = factory()
            for _ in range(2):
                made[label]()
    res = {label: [] for label, _, _ in cases_}
    for _ in range(rounds):
        for label, pool, _ in cases_:
            step = made[label]
            steps[label] = step.steps
            with cases.threads(threads, pool):
                n, t0 = 0, time.perf_counter()
                while True:
                    step()
                    n += 1
                    dt = time.perf_counter() - t0
                    if dt >= seconds:
                        break
            res[label].append(BATCH * step.steps * n / dt)
    return {k: float(np.median(v)) for k, v in res.items()}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--seconds", type=float, default=0.5, help="per case and round")
    p.add_argument("--only", default="deep,optimizers,kernels")
    args = p.parse_args(argv)
    import os
    print(f"threads {args.threads}, {args.rounds} rounds of {args.seconds} s per case; load average before: "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    for name, cs in tables(args.threads).items():
        if name not in args.only.split(","):
            continue
        med = measure(cs, args.threads, args.rounds, args.seconds)
        base = next(iter(med.values()))
        torch_ = med.get("PyTorch eager")
        print(f"\n{name}\n| case | samples/s | vs first |" + (" vs PyTorch |" if torch_ else "")
              + "\n|---|---|---|" + ("---|" if torch_ else ""))
        for label, v in med.items():
            print(f"| {label} | {v:,.0f} | {v / base:.2f}x |" + (f" {v / torch_:.2f}x |" if torch_ else ""))
    print(f"\nload average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    sys.exit(main())
