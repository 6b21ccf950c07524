"""Deeper networks and every optimizer on the fused path, side by side with NumPy and PyTorch.

    python -m bench.deep [--threads 2|best] [--rounds 9] [--seconds 0.5] [--only deep,optimizers,kernels]
                         [--load] [--in-process]

Three tables, each timed in rounds (every case once per round, in turn; medians):

- **deep**: 784-100-100-100-100-10 ReLU, He init, Adam lr 1e-3, float32, batch 100, on
  the bundled MNIST sample: a lean NumPy implementation (:func:`make_numpy`), PyTorch eager
  (``torch.optim.Adam``; skipped without torch) and ``fastnn.fused.Fused`` in blocks of 80
  steps (an epoch of the sample, as the trainer runs them).
- **optimizers**: 784-50-10 ReLU float32 batch 100, every optimizer on the fused path,
  against plain SGD on it (``FusedSGD``).
- **kernels**: 784-50-10 ReLU SGD float32 batch 100: the two-layer kernels of
  ``kernels.fused`` against the kernels of ``kernels.train`` that run any network.

Each case runs in a Python process of its own (:class:`Worker`, started by subprocess), built
and warmed up once; then every round asks each worker in turn to time one window of
``--seconds`` while the others wait on a pipe, after a short lead of untimed calls
(``--lead``) in which the threads of the case timed last stop.  In a worker the
case's own thread pool has ``--threads`` threads and the other libraries' pools 1
(bench.cases.threads).  In one process (``--in-process``, the former way) the pools a case
started stay alive next to the next case, and their spinning threads can take its cores.

``--threads best`` times every case at 1 and at 2 threads (two workers each) and reports each
at its faster count.  ``--load`` keeps one core busy with a spinning process for the whole run
(bench.user_loop.start_load).  Each table gives the median of the rounds and their spread
(min-max).
"""
import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from . import cases
from .user_loop import start_load, stop_load

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
@dataclass(frozen=True)
class Case:
    """One row of a table: the step ``make(**kwargs)`` returns (``make`` a function of this
    module, named, so that a worker process builds the same step), computing with the thread
    pool ``pool`` ("numpy", "torch" or "fused", as in bench.cases.threads)."""
    label: str
    pool: str
    make: str
    kwargs: dict = field(default_factory=dict)

    def build(self):
        return getattr(sys.modules[__name__], self.make)(**self.kwargs)


def tables():
    """{table: [Case]}."""
    deep = [Case("NumPy (lean)", "numpy", "make_numpy")]
    if cases.has_torch():
        deep.append(Case("PyTorch eager", "torch", "make_torch"))
    deep.append(Case("fastnn Fused", "fused", "make_fused"))
    opts = [Case(f"Fused {n}" if n != "sgd" else "FusedSGD", "fused", "make_fused",
                 dict(sizes=SMALL, name=n, settings=OPTIMIZERS[n], sgd_class=n == "sgd"))
            for n in OPTIMIZERS]
    kern = [Case("kernels.fused (two-layer)", "fused", "make_kernel", dict(which="two-layer")),
            Case("kernels.train (any network)", "fused", "make_kernel", dict(which="any"))]
    return {"deep": deep, "optimizers": opts, "kernels": kern}


def window(step, seconds, lead=0.0):
    """Samples/s of ``step`` called over and over, whole calls, until ``seconds`` have passed,
    after ``lead`` seconds of calls that are not timed."""
    t_end = time.perf_counter() + lead
    while time.perf_counter() < t_end:
        step()
    n, t0 = 0, time.perf_counter()
    while True:
        step()
        n += 1
        dt = time.perf_counter() - t0
        if dt >= seconds:
            return BATCH * step.steps * n / dt


def _rounds(timers, rounds, seconds, lead):
    """{key: [samples/s, one per round]}: each round calls every ``timers[key](seconds, lead)``
    in turn."""
    res = {key: [] for key in timers}
    for _ in range(rounds):
        for key, timer in timers.items():
            res[key].append(timer(seconds, lead))
    return res


def run_in_process(cases_, counts, rounds, seconds, lead=0.0):
    """{(label, threads): [samples/s per round]} for every (label, pool, factory) at every thread
    count in ``counts``, all built and timed in this process: while one runs, its own pool has
    ``threads`` threads and the other libraries' pools 1 (bench.cases.threads); their workers
    started by earlier cases stay alive."""
    made, timers = {}, {}
    for label, pool, factory in cases_:
        for n in counts:
            with cases.threads(n, pool):
                step = made[(label, n)] = factory()
                for _ in range(2):
                    step()

            def timer(seconds, lead, step=step, n=n, pool=pool):
                with cases.threads(n, pool):
                    return window(step, seconds, lead)
            timers[(label, n)] = timer
    return _rounds(timers, rounds, seconds, lead)


def measure(cases_, threads, rounds, seconds):
    """Median samples/s per (label, pool, factory), all in this process (see run_in_process)."""
    runs = run_in_process(cases_, (threads,), rounds, seconds)
    return {label: float(np.median(v)) for (label, _), v in runs.items()}


#: What a worker process runs (bench.deep.serve), in the source tree.
WORKER = "import sys; from bench.deep import serve; sys.exit(serve(sys.argv[1]))"


def serve(spec):
    """A worker process's loop.  spec: JSON of a Case's fields and "threads".  Builds the step and
    warms it up (two calls), answers {"steps"} on stdout, then for every line {"seconds": s,
    "lead": l} read from stdin times one window and answers {"samples_per_s"}; stops at the end of stdin.  While
    waiting it blocks in the read.  Pools as bench.cases.threads(threads, pool) sets them, around
    the build and around each window, as in one process.  A PyTorch case imports torch first:
    with numba's OpenMP pool started before torch was imported (numba.set_num_threads in
    cases.threads starts it), PyTorch eager at two threads ran the deep table at 4,423-6,978
    samples/s with no other load on the machine, against 40,610-74,348 with torch imported
    first (numba's pool started after it or not at all)."""
    spec = json.loads(spec)
    n = spec.pop("threads")
    case = Case(**spec)
    answers = os.fdopen(os.dup(1), "w")
    sys.stdout.flush()
    os.dup2(2, 1)                   # anything else printed goes to stderr, not into the answers

    def answer(**msg):
        answers.write(json.dumps(msg) + "\n")
        answers.flush()

    if case.pool == "torch":
        import torch  # noqa: F401  before numba's pool starts (see above)
    with cases.threads(n, case.pool):
        step = case.build()
        for _ in range(2):
            step()
    answer(steps=step.steps)
    while line := sys.stdin.readline():
        msg = json.loads(line)
        with cases.threads(n, case.pool):
            answer(samples_per_s=window(step, msg["seconds"], msg["lead"]))
    return 0


class Worker:
    """One Case at one thread count in a Python process of its own, started by subprocess (a new
    program: none of this process's threads or pools carry over) with one JSON message a line
    on its stdin and stdout."""

    def __init__(self, case, threads):
        self.name = f"{case.label} at {threads} thread{'s' * (threads > 1)}"
        spec = json.dumps(dict(label=case.label, pool=case.pool, make=case.make, kwargs=case.kwargs,
                               threads=threads))
        self.proc = subprocess.Popen([sys.executable, "-c", WORKER, spec], cwd=cases.ROOT, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def ask(self, **msg):
        """Send msg (none: only read) and return the answer."""
        if msg:
            self.proc.stdin.write(json.dumps(msg) + "\n")
            self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.name}: its worker process ended with exit code {self.proc.wait()} "
                               "(its error is printed above)")
        return json.loads(line)

    def close(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()


#: Seconds of untimed calls at the start of each window in a worker process, so that the
#: threads of the case timed last have stopped before the timing starts: after a window of
#: lean NumPy at two threads its worker went on using 0.06-0.10 s of CPU in the first 0.1 s
#: (OpenBLAS's second thread spinning), then none; PyTorch's and fastnn's workers 0.00-0.01 s.
#: (A pause of 0.2 s before each window instead slowed fastnn Fused at two threads, timed
#: alone, to 153,527-223,492 samples/s against 193,273-261,191 without it.)
LEAD = 0.15


def run_isolated(cases_, counts, rounds, seconds, lead=LEAD):
    """{(label, threads): [samples/s per round]} for every Case at every thread count in
    ``counts``, each in a Worker of its own, built and warmed up once (all at the same time);
    then each round asks every worker in turn to time one window (after ``lead`` seconds of
    untimed calls) while the others wait on their pipes.  This process only sends and reads
    messages."""
    workers = {}
    try:
        for c in cases_:
            for n in counts:
                workers[(c.label, n)] = Worker(c, n)
        for w in workers.values():
            w.ask()
        timers = {key: (lambda s, lead, w=w: w.ask(seconds=s, lead=lead)["samples_per_s"])
                  for key, w in workers.items()}
        return _rounds(timers, rounds, seconds, lead)
    finally:
        for w in workers.values():
            w.close()


def best(runs):
    """{label: (threads, median, min, max)} of samples/s, each case at the thread count of its
    highest median."""
    out = {}
    for (label, n), v in runs.items():
        med = float(np.median(v))
        if label not in out or med > out[label][1]:
            out[label] = (n, med, float(min(v)), float(max(v)))
    return out


def table(name, rows, show_threads=False):
    """The Markdown table of ``best(runs)``: medians, ratios to the first case and to PyTorch
    eager (if timed), the thread count if asked, the spread over rounds."""
    base = next(iter(rows.values()))[1]
    torch_ = rows["PyTorch eager"][1] if "PyTorch eager" in rows else None
    cols = ["case", "samples/s", "vs first"] + ["vs PyTorch"] * bool(torch_) + ["threads"] * show_threads \
        + ["rounds min-max"]
    lines = [name, "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for label, (n, med, lo, hi) in rows.items():
        row = [label, f"{med:,.0f}", f"{med / base:.2f}x"] + ([f"{med / torch_:.2f}x"] if torch_ else []) \
            + ([str(n)] if show_threads else []) + [f"{lo:,.0f}-{hi:,.0f}"]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


#: The thread counts of ``--threads best``.
BEST = (1, 2)


def _threads(text):
    if text == "best":
        return BEST
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a thread count >= 1 or 'best', got {text!r}")
    return (n,)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=_threads, default=(2,), metavar="N|best",
                   help="threads of each case's own pool (default 2); best: every case at 1 and at 2, "
                        "reported at its faster count")
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--seconds", type=float, default=0.5, help="per case and round")
    p.add_argument("--only", default="deep,optimizers,kernels")
    p.add_argument("--in-process", action="store_true",
                   help="every case in this one process, as before (idle pools of other cases stay)")
    p.add_argument("--load", action="store_true",
                   help="keep one core busy with a spinning process for the whole run")
    p.add_argument("--lead", type=float, default=None,
                   help=f"seconds of untimed calls at the start of each window (default {LEAD} in worker "
                        "processes, 0 with --in-process)")
    args = p.parse_args(argv)
    all_tables = tables()
    only = [n for n in args.only.split(",") if n]
    for n in only:
        if n not in all_tables:
            p.error(f"--only: expected names from {','.join(all_tables)}, got {n!r}")
    if args.rounds < 1 or args.seconds <= 0:
        p.error(f"--rounds and --seconds: expected >= 1 and > 0, got {args.rounds} and {args.seconds}")
    lead = args.lead if args.lead is not None else (0.0 if args.in_process else LEAD)
    counts = args.threads
    show = len(counts) > 1
    print(f"threads {'best of ' + ' and '.join(map(str, counts)) if show else counts[0]}, {args.rounds} rounds "
          f"of {args.seconds} s per case; load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    if args.in_process:
        print("isolation: none; every case in this one process, the pools of the libraries a case does not "
              "use at 1 thread while it runs (bench.cases.threads)")
    else:
        print(f"isolation: every case in a worker process of its own (built and warmed up once; waiting on a "
              f"pipe while another is timed; its own pool at the count shown, the others at 1), "
              f"{lead} s of untimed calls at the start of each window")
    if args.load:
        print("load: one core kept busy by a process running `while True: pass`")
    spinner = start_load() if args.load else None
    try:
        if spinner is not None:
            time.sleep(0.5)
        for name in only:
            cs = all_tables[name]
            if args.in_process:
                runs = run_in_process([(c.label, c.pool, c.build) for c in cs], counts, args.rounds,
                                      args.seconds, lead)
            else:
                runs = run_isolated(cs, counts, args.rounds, args.seconds, lead)
            print("\n" + table(name, best(runs), show), flush=True)
    finally:
        if spinner is not None:
            stop_load(spinner)
    print(f"\nload average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
