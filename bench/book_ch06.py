"""The book's chapter-6 scripts re-implemented in plain NumPy, as the baseline that
``fastnn experiment`` is timed against (bench/experiments.py).

Same algorithm as the published scripts (ch06/optimizer_compare_mnist.py,
weight_init_compare.py, batch_norm_test.py, overfit_weight_decay.py,
overfit_dropout.py, weight_init_activation_histogram.py): the book's layers
(Affine, Relu, SoftmaxWithLoss, Dropout, BatchNormalization) and
MultiLayerNetExtend (MultiLayerNet when its options are off), float64 weights
on float32 images, batches drawn with replacement, the loss recomputed after
each update where the script records it, accuracy through the layers with
train_flg=False, the book's figures saved instead of shown.  Randomness from
one seeded Generator instead of the global one.

    python -m bench.book_ch06 NAME [--dataset mnist-sample] [--seed 0] [--out DIR]
"""
import argparse
import os
import sys
import time

import numpy as np


# -- the book's layers -------------------------------------------------------------------------
def softmax(a):
    a = a - a.max(axis=1, keepdims=True)
    e = np.exp(a)
    return e / e.sum(axis=1, keepdims=True)


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


class Sigmoid:
    def forward(self, x):
        self.out = 1 / (1 + np.exp(-x))
        return self.out

    def backward(self, dout):
        return dout * (1.0 - self.out) * self.out


class Dropout:
    def __init__(self, ratio, rng):
        self.ratio, self.rng = ratio, rng

    def forward(self, x, train_flg):
        if train_flg:
            self.mask = self.rng.random(x.shape) > self.ratio
            return x * self.mask
        return x * (1.0 - self.ratio)

    def backward(self, dout):
        return dout * self.mask


class BatchNormalization:
    def __init__(self, gamma, beta, momentum=0.9):
        self.gamma, self.beta, self.momentum = gamma, beta, momentum
        self.running_mean = self.running_var = None

    def forward(self, x, train_flg):
        if self.running_mean is None:
            self.running_mean = np.zeros(x.shape[1])
            self.running_var = np.zeros(x.shape[1])
        if train_flg:
            mu = x.mean(axis=0)
            xc = x - mu
            var = np.mean(xc ** 2, axis=0)
            std = np.sqrt(var + 10e-7)
            self.xc, self.xn, self.std, self.n = xc, xc / std, std, x.shape[0]
            self.running_mean = self.momentum * self.running_mean + (1 - self.momentum) * mu
            self.running_var = self.momentum * self.running_var + (1 - self.momentum) * var
            xn = self.xn
        else:
            xn = (x - self.running_mean) / np.sqrt(self.running_var + 10e-7)
        return self.gamma * xn + self.beta

    def backward(self, dout):
        self.dbeta = dout.sum(axis=0)
        self.dgamma = np.sum(self.xn * dout, axis=0)
        dxn = self.gamma * dout
        dxc = dxn / self.std
        dstd = -np.sum(dxn * self.xc / (self.std * self.std), axis=0)
        dvar = 0.5 * dstd / self.std
        dxc += (2.0 / self.n) * self.xc * dvar
        return dxc - dxc.sum(axis=0) / self.n


class SoftmaxWithLoss:
    def forward(self, x, t):
        self.y, self.t = softmax(x), t
        n = x.shape[0]
        return -np.sum(np.log(self.y[np.arange(n), t] + 1e-7)) / n

    def backward(self):
        n = self.t.shape[0]
        dx = self.y.copy()
        dx[np.arange(n), self.t] -= 1
        return dx / n


class MultiLayerNetExtend:
    """The book's network: Affine -> [BatchNorm] -> activation -> [Dropout] per hidden layer."""

    def __init__(self, rng, input_size, hidden_size_list, output_size, activation="relu",
                 weight_init_std="relu", weight_decay_lambda=0, use_dropout=False, dropout_ration=0.5,
                 use_batchnorm=False):
        sizes = [input_size] + list(hidden_size_list) + [output_size]
        self.n = len(sizes) - 1
        self.lam = weight_decay_lambda
        self.params = {}
        for i in range(1, self.n + 1):
            scale = weight_init_std
            if str(weight_init_std).lower() in ("relu", "he"):
                scale = np.sqrt(2.0 / sizes[i - 1])
            elif str(weight_init_std).lower() in ("sigmoid", "xavier"):
                scale = np.sqrt(1.0 / sizes[i - 1])
            self.params[f"W{i}"] = scale * rng.standard_normal((sizes[i - 1], sizes[i]))
            self.params[f"b{i}"] = np.zeros(sizes[i])
        self.layers = []
        for i in range(1, self.n):
            self.layers.append((f"Affine{i}", Affine(self.params[f"W{i}"], self.params[f"b{i}"])))
            if use_batchnorm:
                self.params[f"gamma{i}"] = np.ones(sizes[i])
                self.params[f"beta{i}"] = np.zeros(sizes[i])
                self.layers.append((f"BatchNorm{i}", BatchNormalization(self.params[f"gamma{i}"],
                                                                        self.params[f"beta{i}"])))
            self.layers.append((f"Act{i}", Relu() if activation == "relu" else Sigmoid()))
            if use_dropout:
                self.layers.append((f"Dropout{i}", Dropout(dropout_ration, rng)))
        self.layers.append((f"Affine{self.n}", Affine(self.params[f"W{self.n}"], self.params[f"b{self.n}"])))
        self.last = SoftmaxWithLoss()
        self.use_batchnorm = use_batchnorm

    def predict(self, x, train_flg=False):
        for name, layer in self.layers:
            x = layer.forward(x, train_flg) if name.startswith(("Dropout", "BatchNorm")) else layer.forward(x)
        return x

    def loss(self, x, t, train_flg=False):
        decay = sum(0.5 * self.lam * np.sum(self.params[f"W{i}"] ** 2) for i in range(1, self.n + 1))
        return self.last.forward(self.predict(x, train_flg), t) + decay

    def accuracy(self, x, t):
        return float(np.mean(np.argmax(self.predict(x), axis=1) == t))

    def gradient(self, x, t):
        self.loss(x, t, train_flg=True)
        dout = self.last.backward()
        for _, layer in reversed(self.layers):
            dout = layer.backward(dout)
        g = {}
        layers = dict(self.layers)
        for i in range(1, self.n + 1):
            g[f"W{i}"] = layers[f"Affine{i}"].dW + self.lam * self.params[f"W{i}"]
            g[f"b{i}"] = layers[f"Affine{i}"].db
            if self.use_batchnorm and i < self.n:
                g[f"gamma{i}"] = layers[f"BatchNorm{i}"].dgamma
                g[f"beta{i}"] = layers[f"BatchNorm{i}"].dbeta
        return g


# -- the book's optimizers (common/optimizer.py) -------------------------------------------------
class SGD:
    def __init__(self, lr=0.01):
        self.lr = lr

    def update(self, params, grads):
        for k in params:
            params[k] -= self.lr * grads[k]


class Momentum:
    def __init__(self, lr=0.01, momentum=0.9):
        self.lr, self.momentum, self.v = lr, momentum, None

    def update(self, params, grads):
        if self.v is None:
            self.v = {k: np.zeros_like(v) for k, v in params.items()}
        for k in params:
            self.v[k] = self.momentum * self.v[k] - self.lr * grads[k]
            params[k] += self.v[k]


class AdaGrad:
    def __init__(self, lr=0.01):
        self.lr, self.h = lr, None

    def update(self, params, grads):
        if self.h is None:
            self.h = {k: np.zeros_like(v) for k, v in params.items()}
        for k in params:
            self.h[k] += grads[k] * grads[k]
            params[k] -= self.lr * grads[k] / (np.sqrt(self.h[k]) + 1e-7)


class Adam:
    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999):
        self.lr, self.beta1, self.beta2, self.iter, self.m, self.v = lr, beta1, beta2, 0, None, None

    def update(self, params, grads):
        if self.m is None:
            self.m = {k: np.zeros_like(v) for k, v in params.items()}
            self.v = {k: np.zeros_like(v) for k, v in params.items()}
        self.iter += 1
        lr_t = self.lr * np.sqrt(1.0 - self.beta2 ** self.iter) / (1.0 - self.beta1 ** self.iter)
        for k in params:
            self.m[k] += (1 - self.beta1) * (grads[k] - self.m[k])
            self.v[k] += (1 - self.beta2) * (grads[k] ** 2 - self.v[k])
            params[k] -= lr_t * self.m[k] / (np.sqrt(self.v[k]) + 1e-7)


def smooth_curve(x):
    """The book's common/util.smooth_curve: a Kaiser window of 11 over the mirrored curve."""
    w_len = 11
    s = np.r_[x[w_len - 1:0:-1], x, x[-1:-w_len:-1]]
    w = np.kaiser(w_len, 2)
    y = np.convolve(w / w.sum(), s, mode="valid")
    return y[5:len(y) - 5]


# -- the scripts -----------------------------------------------------------------------------
def _compare_loss(data, rng, nets, optimizers, ylim, path):
    (x_train, t_train), _ = data
    losses = {k: [] for k in nets}
    for i in range(2000):
        mask = rng.choice(x_train.shape[0], 128)
        xb, tb = x_train[mask], t_train[mask]
        for k in nets:
            optimizers[k].update(nets[k].params, nets[k].gradient(xb, tb))
            losses[k].append(nets[k].loss(xb, tb))
        if i % 100 == 0:
            print(f"=== iteration {i} ===")
            for k in nets:
                print(f"{k}: {nets[k].loss(xb, tb)}")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    for k in nets:
        plt.plot(np.arange(2000), smooth_curve(np.array(losses[k])), markevery=100, label=k)
    plt.xlabel("iterations")
    plt.ylabel("loss")
    plt.ylim(0, ylim)
    plt.legend()
    plt.savefig(path)
    return {k: float(np.mean(v[-100:])) for k, v in losses.items()}


def optimizers(data, rng, path):
    opts = {"SGD": SGD(), "Momentum": Momentum(), "AdaGrad": AdaGrad(), "Adam": Adam()}
    nets = {k: MultiLayerNetExtend(rng, 784, [100] * 4, 10) for k in opts}
    return _compare_loss(data, rng, nets, opts, 1, path)


def init(data, rng, path):
    types = {"std=0.01": 0.01, "Xavier": "sigmoid", "He": "relu"}
    nets = {k: MultiLayerNetExtend(rng, 784, [100] * 4, 10, weight_init_std=w) for k, w in types.items()}
    sgd = SGD(0.01)
    return _compare_loss(data, rng, nets, {k: sgd for k in nets}, 2.5, path)


def batchnorm(data, rng, path):
    (x_train, t_train), _ = data
    x_train, t_train = x_train[:1000], t_train[:1000]
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    final = {}
    for j, w in enumerate(np.logspace(0, -4, num=16)):
        bn = MultiLayerNetExtend(rng, 784, [100] * 5, 10, weight_init_std=w, use_batchnorm=True)
        nm = MultiLayerNetExtend(rng, 784, [100] * 5, 10, weight_init_std=w)
        sgd = SGD(0.01)
        acc, bn_acc = [], []
        epoch = 0
        for i in range(1000000000):
            mask = rng.choice(1000, 100)
            xb, tb = x_train[mask], t_train[mask]
            for net in (bn, nm):
                sgd.update(net.params, net.gradient(xb, tb))
            if i % 10 == 0:
                acc.append(nm.accuracy(x_train, t_train))
                bn_acc.append(bn.accuracy(x_train, t_train))
                print(f"epoch:{epoch} | {acc[-1]} - {bn_acc[-1]}")
                epoch += 1
                if epoch >= 20:
                    break
        plt.subplot(4, 4, j + 1)
        plt.title(f"W:{w}")
        plt.plot(np.arange(20), bn_acc)
        plt.plot(np.arange(20), acc, linestyle="--")
        plt.ylim(0, 1.0)
        final[f"{w:.4g}"] = (bn_acc[-1], acc[-1])
    plt.savefig(path)
    return final


def _overfit(data, rng, path, epochs, trainer, **options):
    """trainer: the book's Trainer runs the loop (overfit_dropout.py), which computes the
    loss after each update; overfit_weight_decay.py has its own loop, which does not."""
    (x_train, t_train), (x_test, t_test) = data
    x_train, t_train = x_train[:300], t_train[:300]
    net = MultiLayerNetExtend(rng, 784, [100] * 6, 10, **options)
    sgd = SGD(0.01)
    train_acc, test_acc = [], []
    epoch = 0
    for i in range(1000000000):
        mask = rng.choice(300, 100)
        xb, tb = x_train[mask], t_train[mask]
        sgd.update(net.params, net.gradient(xb, tb))
        if trainer:               # the book's Trainer computes (and prints) the loss after the update
            print(f"train loss:{net.loss(xb, tb)}")
        if i % 3 == 0:
            train_acc.append(net.accuracy(x_train, t_train))
            test_acc.append(net.accuracy(x_test, t_test))
            print(f"epoch:{epoch}, train acc:{train_acc[-1]}, test acc:{test_acc[-1]}")
            epoch += 1
            if epoch >= epochs:
                break
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    x = np.arange(epochs)
    plt.plot(x, train_acc, marker="o", label="train", markevery=10)
    plt.plot(x, test_acc, marker="s", label="test", markevery=10)
    plt.ylim(0, 1.0)
    plt.legend(loc="lower right")
    plt.savefig(path)
    return {"train": float(np.mean(train_acc[-10:])), "test": float(np.mean(test_acc[-10:]))}


def weight_decay(data, rng, path):
    """The published script runs one lambda per run; both runs (0 and 0.1) here, as the
    experiment does."""
    a = _overfit(data, rng, path, 201, False, weight_decay_lambda=0.0)
    b = _overfit(data, rng, path, 201, False, weight_decay_lambda=0.1)
    return {"lambda=0": a, "lambda=0.1": b}


def dropout(data, rng, path):
    """Both runs (no dropout, ratio 0.2), as the experiment does; the book's Trainer with
    epochs=301 runs 903 iterations."""
    a = _overfit(data, rng, path, 301, True)
    b = _overfit(data, rng, path, 301, True, use_dropout=True, dropout_ration=0.2)
    return {"none": a, "dropout 0.2": b}


#: The six settings of weight_init_activation_histogram.py (figures 6-10 to 6-14): the published
#: script draws one of them per run, the others' weight lines commented out.
ACTIVATION_CONFIGS = [("sigmoid", 1.0), ("sigmoid", 0.01), ("sigmoid", np.sqrt(1 / 100)),
                      ("relu", 0.01), ("relu", np.sqrt(1 / 100)), ("relu", np.sqrt(2 / 100))]


def _activation_layers(rng, act, std):
    x = rng.standard_normal((1000, 100))
    acts = {}
    for i in range(5):
        if i != 0:
            x = acts[i - 1]
        w = rng.standard_normal((100, 100)) * std
        a = np.dot(x, w)
        acts[i] = 1 / (1 + np.exp(-a)) if act == "sigmoid" else np.maximum(0, a)
    return acts


def activations(data, rng, path, config=None):
    """config None: all six settings in one process and one figure (6 x 5 histograms), as
    ``fastnn experiment activations`` draws them; config k: the published script with setting
    k, one row of five histograms titled as the book's."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    out = {}
    configs = ACTIVATION_CONFIGS if config is None else [ACTIVATION_CONFIGS[config]]
    for r, (act, std) in enumerate(configs):
        acts = _activation_layers(rng, act, std)
        for i, a in acts.items():
            if config is None:
                plt.subplot(6, 5, 5 * r + i + 1)
                plt.ylim(0, 7000)
            else:
                plt.subplot(1, len(acts), i + 1)
                plt.title(str(i + 1) + "-layer")
                if i != 0:
                    plt.yticks([], [])
            plt.hist(a.flatten(), 30, range=(0, 1))
        out[f"{act} {std:.3g}"] = [float(acts[i].std()) for i in range(5)]
    plt.savefig(path)
    return out


SCRIPTS = {"optimizers": optimizers, "init": init, "batchnorm": batchnorm, "weight-decay": weight_decay,
           "dropout": dropout, "activations": activations}


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench.book_ch06", description=__doc__.split("\n\n")[0])
    p.add_argument("name", choices=SCRIPTS)
    p.add_argument("--dataset", default="mnist-sample")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=".")
    p.add_argument("--config", type=int, choices=range(len(ACTIVATION_CONFIGS)),
                   help="activations: only setting K, as the published script runs (default: all six)")
    args = p.parse_args(argv)
    if args.config is not None and args.name != "activations":
        p.error(f"--config: only for activations, not {args.name}")
    t0 = time.perf_counter()
    data = None
    if args.name != "activations":
        from fastnn.datasets import load
        d = load(args.dataset, normalize=True, dtype=np.float32, verbose=False)
        data = (d.train, d.test)
    extra = {} if args.config is None else {"config": args.config}
    result = SCRIPTS[args.name](data, np.random.default_rng(args.seed),
                                os.path.join(args.out, f"book-{args.name}.png"), **extra)
    print("result:", result)
    print(f"book {args.name}: {time.perf_counter() - t0:.1f} s in the script")
    return 0


if __name__ == "__main__":
    sys.exit(main())
