"""The book's hyperparameter search (ch06 hyperparameter_optimization.py) in plain NumPy.

The baseline that ``fastnn sweep examples/sweeps/book_search.toml`` is measured
against (bench/sweep_book.py): the book's algorithm, written here from its
description, as one process.

- Data: the first 500 training images (float32 in [0, 1], integer labels),
  shuffled, the first 20 % (100) held out for validation.
- 100 trials, drawn one after another: weight decay 10**U(-8, -4), lr 10**U(-6, -2).
- Each trial: MultiLayerNet 784-100x6-10 ReLU, He initialisation (std sqrt(2/fan_in)),
  float64 weights, L2 weight decay 0.5*lambda*sum(W**2) in the loss and lambda*W in
  the gradient; plain SGD; the book's Trainer: 50 epochs of max(400/100, 1) = 4
  iterations, each batch drawn with replacement (np.random.choice), the loss
  recomputed after each update, and training and validation accuracy after the first
  iteration of every epoch and once more at the end.
- The 20 best trials by final validation accuracy printed and drawn (validation solid,
  training dashed), the figure saved to a file instead of shown.

    python -m bench.book_search [--trials 100] [--out best.png] [--seed 0]
"""
import argparse
import time

import numpy as np


class Affine:
    def __init__(self, W, b):
        self.W, self.b = W, b

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b

    def backward(self, dout):
        self.dW = self.x.T @ dout
        self.db = dout.sum(axis=0)
        return dout @ self.W.T


class Relu:
    def forward(self, x):
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout):
        dout = dout.copy()
        dout[self.mask] = 0
        return dout


class SoftmaxWithLoss:
    def forward(self, x, t):
        z = x - x.max(axis=1, keepdims=True)
        e = np.exp(z)
        self.y = e / e.sum(axis=1, keepdims=True)
        self.t = t
        n = x.shape[0]
        return -np.sum(np.log(self.y[np.arange(n), t] + 1e-7)) / n

    def backward(self):
        n = self.t.shape[0]
        dx = self.y.copy()
        dx[np.arange(n), self.t] -= 1
        return dx / n


class MultiLayerNet:
    """784-100x6-10 ReLU with He initialisation and L2 weight decay, as in the book."""

    def __init__(self, sizes, weight_decay_lambda, rs):
        self.lam = weight_decay_lambda
        self.params = {}
        self.layers = []
        for i in range(1, len(sizes)):
            W = np.sqrt(2.0 / sizes[i - 1]) * rs.randn(sizes[i - 1], sizes[i])
            self.params[f"W{i}"], self.params[f"b{i}"] = W, np.zeros(sizes[i])
            self.layers.append(Affine(W, self.params[f"b{i}"]))
            if i < len(sizes) - 1:
                self.layers.append(Relu())
        self.last = SoftmaxWithLoss()
        self.n = len(sizes) - 1

    def predict(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def loss(self, x, t):
        decay = sum(0.5 * self.lam * np.sum(self.params[f"W{i}"] ** 2) for i in range(1, self.n + 1))
        return self.last.forward(self.predict(x), t) + decay

    def accuracy(self, x, t):
        return np.sum(np.argmax(self.predict(x), axis=1) == t) / float(x.shape[0])

    def gradient(self, x, t):
        self.loss(x, t)
        dout = self.last.backward()
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        grads = {}
        affines = [layer for layer in self.layers if isinstance(layer, Affine)]
        for i, layer in enumerate(affines, 1):
            grads[f"W{i}"] = layer.dW + self.lam * layer.W
            grads[f"b{i}"] = layer.db
        return grads


def train(x_train, t_train, x_val, t_val, lr, weight_decay, rs, epochs=50, batch_size=100):
    """The book's Trainer with SGD; returns (validation accuracies, training accuracies)."""
    net = MultiLayerNet([784] + [100] * 6 + [10], weight_decay, rs)
    n = x_train.shape[0]
    iter_per_epoch = max(n / batch_size, 1)
    val_acc, train_acc = [], []
    for it in range(int(epochs * iter_per_epoch)):
        mask = rs.choice(n, batch_size)
        xb, tb = x_train[mask], t_train[mask]
        grads = net.gradient(xb, tb)
        for key in net.params:
            net.params[key] -= lr * grads[key]
        net.loss(xb, tb)
        if it % iter_per_epoch == 0:
            train_acc.append(net.accuracy(x_train, t_train))
            val_acc.append(net.accuracy(x_val, t_val))
    net.accuracy(x_val, t_val)
    return val_acc, train_acc


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int, default=100)
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="the figure's file (default: not drawn)")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    from fastnn.datasets import load
    rs = np.random.RandomState(args.seed)
    data = load(args.dataset, dtype=np.float32, verbose=False)
    x, t = data.train[0][:500], data.train[1][:500]
    perm = rs.permutation(x.shape[0])
    x, t = x[perm], t[perm]
    n_val = int(x.shape[0] * 0.20)
    x_val, t_val, x_train, t_train = x[:n_val], t[:n_val], x[n_val:], t[n_val:]
    results = {}
    for _ in range(args.trials):
        weight_decay = 10 ** rs.uniform(-8, -4)
        lr = 10 ** rs.uniform(-6, -2)
        val, tr = train(x_train, t_train, x_val, t_val, lr, weight_decay, rs, epochs=args.epochs)
        print(f"val acc:{val[-1]} | lr:{lr}, weight decay:{weight_decay}", flush=True)
        results[f"lr:{lr}, weight decay:{weight_decay}"] = (val, tr)
    best = sorted(results.items(), key=lambda kv: kv[1][0][-1], reverse=True)[:20]
    for i, (key, (val, _)) in enumerate(best):
        print(f"Best-{i + 1}(val acc:{val[-1]}) | {key}")
    if args.out:
        from matplotlib.figure import Figure
        fig = Figure(figsize=(12, 8))
        for i, (key, (val, tr)) in enumerate(best):
            ax = fig.add_subplot(4, 5, i + 1)
            ax.set_title(f"Best-{i + 1}")
            ax.set_ylim(0.0, 1.0)
            if i % 5:
                ax.set_yticks([])
            ax.set_xticks([])
            ax.plot(np.arange(len(val)), val)
            ax.plot(np.arange(len(tr)), tr, "--")
        fig.savefig(args.out)
    print(f"book search: {args.trials} trials in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
