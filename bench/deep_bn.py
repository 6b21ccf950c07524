"""Batch normalization on the fused path, side by side with NumPy and PyTorch.

    python -m bench.deep_bn [--threads 2] [--rounds 9] [--seconds 0.5] [--dropout 0.0]

784-100-100-100-100-10, every hidden layer Affine -> BatchNorm -> ReLU (the book's
MultiLayerNetExtend with use_batchnorm), He init, Adam lr 1e-3, float32, batch 100, on the
bundled MNIST sample (issue 12's bar: the fused step >= 3x PyTorch eager with BatchNorm1d):

- a lean NumPy implementation (:func:`make_numpy`: the book's batch-norm formulas, in-place Adam),
- PyTorch eager (:func:`make_torch`: Linear, BatchNorm1d (eps 1e-6 and momentum 0.1 = the book's
  1e-6 and 0.9), ReLU; ``torch.optim.Adam``; skipped without torch),
- ``fastnn.fused.Fused`` of MultiLayerNetExtend in blocks of 80 steps (an epoch of the sample,
  as the trainer runs them),
- and for scale the same fused step without batch norm (bench.deep's case): what the
  normalisation costs on the fused path.

With ``--dropout R`` every implementation adds Dropout(R) after each ReLU.  Timed as
bench.deep times (every case once per round, in turn; medians of samples/s); each
implementation computes with its own thread pool at ``--threads`` and the others at 1.
"""
import argparse
import os
import sys

import numpy as np

from . import cases
from . import deep
from .deep import ADAM, BATCH, DEEP, _data, he_weights, load_he, measure, numpy_adam, torch_layers

EPS = 1e-6
MOMENTUM = 0.9


def _batches(n, batch):
    order = np.random.default_rng(1).permutation(n)
    state = {"i": 0}

    def rows():
        i = state["i"]
        if i + batch > n:
            i = 0
        state["i"] = i + batch
        return order[i:i + batch]
    return rows


def make_numpy(sizes=DEEP, dtype="float32", batch=BATCH, dropout=0.0):
    """The network and Adam in plain NumPy, written lean (the book's batch-norm forward and
    backward per hidden layer, in-place Adam over W, b, gamma, beta)."""
    dt = np.dtype(dtype)
    x, t = _data(dt)
    layers = he_weights(sizes, dt)
    H = sizes[1:-1]
    gb = [(np.ones(h, dt), np.zeros(h, dt)) for h in H]
    run = [(np.zeros(h, dt), np.zeros(h, dt)) for h in H]
    params = [p for wb in layers for p in wb] + [p for g in gb for p in g]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    rows = _batches(x.shape[0], batch)
    rng = np.random.default_rng(2)
    state = {"t": 0}

    def step():
        r = rows()
        xb, tb = x[r], t[r]
        n = xb.shape[0]
        h = xb
        cache = []
        for k, (W, b) in enumerate(layers):
            a = h @ W + b
            if k == len(layers) - 1:
                cache.append((h,))
                h = a
                break
            gamma, beta = gb[k]
            mu = a.mean(axis=0)
            xc = a - mu
            var = np.mean(xc * xc, axis=0)
            std = np.sqrt(var + EPS)
            xn = xc / std
            rm, rv = run[k]
            rm *= MOMENTUM
            rm += (1 - MOMENTUM) * mu
            rv *= MOMENTUM
            rv += (1 - MOMENTUM) * var
            z = np.maximum(gamma * xn + beta, 0)
            mask = rng.random(z.shape) > dropout if dropout else None
            if mask is not None:
                z *= mask
            cache.append((h, xn, std, z, mask))
            h = z
        h = h - h.max(axis=1, keepdims=True)
        e = np.exp(h)
        y = e / e.sum(axis=1, keepdims=True)
        loss = -np.mean(np.log(y[np.arange(n), tb] + 1e-7))
        dout = y
        dout[np.arange(n), tb] -= 1
        dout /= n
        gW = [None] * len(layers)
        gG = [None] * len(H)
        for k in range(len(layers) - 1, -1, -1):
            W, _ = layers[k]
            if k < len(layers) - 1:
                _, xn, std, z, mask = cache[k]
                if mask is not None:
                    dout *= mask
                dout *= z > 0
                dgamma = np.sum(xn * dout, axis=0)
                dbeta = dout.sum(axis=0)
                gG[k] = (dgamma, dbeta)
                dxc = gb[k][0] / std * (dout - xn * (dgamma / n))
                dout = dxc - dxc.mean(axis=0)
            gW[k] = (cache[k][0].T @ dout, dout.sum(axis=0))
            if k:
                dout = dout @ W.T
        grads = [g for wb in gW for g in wb] + [g for p in gG for g in p]
        numpy_adam(params, grads, m, v, state)
        return loss
    step.steps = 1
    return step


def make_torch(sizes=DEEP, dtype="float32", batch=BATCH, dropout=0.0):
    """nn.Sequential of Linear, BatchNorm1d, ReLU (and Dropout) with the same He weights,
    CrossEntropyLoss, torch.optim.Adam."""
    import torch
    dt = np.dtype(dtype)
    x, t = _data(dt)
    tx, tt = torch.from_numpy(x), torch.from_numpy(t.astype(np.int64))
    torch.manual_seed(0)
    def hidden(width):
        mods = [torch.nn.BatchNorm1d(width, eps=EPS, momentum=1 - MOMENTUM), torch.nn.ReLU()]
        return mods + [torch.nn.Dropout(dropout)] if dropout else mods

    model = torch.nn.Sequential(*torch_layers(sizes, dt, hidden)).to(getattr(torch, dt.name))
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=ADAM["lr"], betas=(ADAM["beta1"], ADAM["beta2"]),
                           eps=ADAM["eps"])
    lossf = torch.nn.CrossEntropyLoss()
    rows = _batches(x.shape[0], batch)

    def step():
        r = torch.from_numpy(rows())
        opt.zero_grad(set_to_none=True)
        loss = lossf(model(tx[r]), tt[r])
        loss.backward()
        opt.step()
        return loss.item()
    step.steps = 1
    return step


def network(sizes, dtype, dropout=0.0):
    """MultiLayerNetExtend (ReLU, batch norm, dropout if > 0) with :func:`bench.deep.he_weights`."""
    from fastnn.extend import MultiLayerNetExtend
    kw = {"use_dropout": True, "dropout_ratio": dropout} if dropout else {}
    net = MultiLayerNetExtend(sizes[0], list(sizes[1:-1]), sizes[-1], activation="relu", weight_init_std="he",
                              use_batchnorm=True, dtype=dtype, seed=0, **kw)
    load_he(net, sizes, dtype)
    return net


def make_fused(sizes=DEEP, dtype="float32", batch=BATCH, dropout=0.0):
    """Fused Adam steps in blocks of an epoch of the sample (80 steps of 100), as the trainer runs them."""
    from fastnn import optimizers
    from fastnn.fused import Fused
    dt = np.dtype(dtype)
    x, t = _data(dt)
    f = Fused(network(sizes, dt, dropout), optimizers.make("adam", **ADAM))
    data = f.prepare(x, t)
    order = np.random.default_rng(1).permutation(x.shape[0])
    steps = x.shape[0] // batch

    def step():
        return f.run(data, order, 0, steps, batch)[-1]
    step.steps = steps
    return step


def table(dropout=0.0):
    """[(label, pool, factory)] as bench.deep.measure takes them."""
    out = [("NumPy (lean)", "numpy", lambda: make_numpy(dropout=dropout))]
    if cases.has_torch():
        out.append(("PyTorch eager", "torch", lambda: make_torch(dropout=dropout)))
    out.append(("fastnn Fused", "fused", lambda: make_fused(dropout=dropout)))
    out.append(("fastnn Fused, no batch norm or dropout (bench.deep)", "fused", deep.make_fused))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--seconds", type=float, default=0.5, help="per case and round")
    p.add_argument("--dropout", type=float, default=0.0, help="Dropout(R) after every ReLU (0: none)")
    args = p.parse_args(argv)
    print(f"784-100x4-10 Affine-BatchNorm-ReLU{f'-Dropout({args.dropout})' if args.dropout else ''}, Adam, "
          f"float32, batch {BATCH}; threads {args.threads}, {args.rounds} rounds of {args.seconds} s per case; "
          f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    med = measure(table(args.dropout), args.threads, args.rounds, args.seconds)
    base = next(iter(med.values()))
    torch_ = med.get("PyTorch eager")
    print("| case | samples/s | vs NumPy |" + (" vs PyTorch |" if torch_ else "")
          + "\n|---|---|---|" + ("---|" if torch_ else ""))
    for label, v in med.items():
        print(f"| {label} | {v:,.0f} | {v / base:.2f}x |" + (f" {v / torch_:.2f}x |" if torch_ else ""))
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    sys.exit(main())
