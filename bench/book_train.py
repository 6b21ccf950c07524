"""The book's training script against ``fastnn train``, whole processes side by side.

The book's run (ch05 train_neuralnet.py): 784-50-10 sigmoid, batch 100 drawn
with ``np.random.choice``, lr 0.1, 10,000 iterations, the loss recomputed
after each update, and accuracy on the whole training and test sets once per
epoch; float32 images and float64 weights, as published, with the network of
``bench/book_reference.py``.  Both programs run as fresh processes, taking
turns, and each wall time covers the whole process (imports, data, training,
output).  fastnn's own summary line also gives its training loop alone.

    python -m bench.book_train [--dataset mnist-sample] [--repeats 3] [--threads 2]
"""
import argparse
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

BOOK = "book"


def book_run(dataset, data_dir, iterations, seed=0, images=np.float32):
    """The book's loop; returns (test accuracy, seconds of the loop)."""
    from fastnn.datasets import load

    from .book_reference import TwoLayerNet

    data = load(dataset, data_dir=data_dir, dtype=images, verbose=False)
    (x_train, t_train), (x_test, t_test) = data.train, data.test
    net = TwoLayerNet(784, 50, 10, dtype=np.float64, seed=seed)
    rng = np.random.default_rng(seed)
    train_size, batch_size, lr = x_train.shape[0], 100, 0.1
    iter_per_epoch = max(train_size // batch_size, 1)

    def accuracy(x, t):
        return float(np.mean(np.argmax(net.predict(x), axis=1) == t))

    t0 = time.perf_counter()
    test_acc = None
    for i in range(iterations):
        mask = rng.choice(train_size, batch_size)
        x_batch, t_batch = x_train[mask], t_train[mask]
        _, grads = net.gradient(x_batch, t_batch)
        for key in ("W1", "b1", "W2", "b2"):
            net.params[key] -= lr * grads[key]
        net.loss(x_batch, t_batch)
        if i % iter_per_epoch == 0:
            accuracy(x_train, t_train)
            test_acc = accuracy(x_test, t_test)
    return accuracy(x_test, t_test) if test_acc is None else test_acc, time.perf_counter() - t0


def _timed(cmd):
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return time.perf_counter() - t0, out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="mnist-sample")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--iterations", type=int, default=10000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2, help="fastnn train --threads")
    p.add_argument("--dtype", default="float32", help="fastnn train --dtype")
    p.add_argument(f"--{BOOK}", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.book:                      # the child process that runs the book's script
        acc, loop = book_run(args.dataset, args.data_dir, args.iterations)
        print(f"book: test accuracy {acc:.4f}; loop {loop:.2f} s")
        return 0
    extra = ["--data-dir", args.data_dir] if args.data_dir else []
    book_cmd = [sys.executable, "-m", "bench.book_train", f"--{BOOK}", "--dataset", args.dataset,
                "--iterations", str(args.iterations)] + extra
    rows = {"book": [], "fastnn": [], "fit": []}
    for r in range(args.repeats):
        wall, out = _timed(book_cmd)
        rows["book"].append(wall)
        print(f"run {r + 1}: book script {wall:.1f} s ({out.strip()})", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            wall, out = _timed([sys.executable, "-m", "fastnn", "train", "--dataset", args.dataset,
                                "--iterations", str(args.iterations), "--dtype", args.dtype,
                                "--threads", str(args.threads), "--seed", "0", "--quiet",
                                "--out", f"{tmp}/run"] + extra)
        fit = float(re.search(r"iterations; ([0-9.]+) s", out).group(1))
        rows["fastnn"].append(wall)
        rows["fit"].append(fit)
        print(f"run {r + 1}: fastnn train {wall:.1f} s (training loop {fit:.1f} s; {out.strip()})", flush=True)
    book, whole, fit = (float(np.median(rows[k])) for k in ("book", "fastnn", "fit"))
    print(f"\nmedians of {args.repeats}: book script {book:.1f} s; fastnn train {whole:.1f} s "
          f"({book / whole:.1f}x faster), its training loop {fit:.1f} s ({book / fit:.1f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
