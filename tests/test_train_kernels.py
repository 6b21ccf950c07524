"""kernels.train and fastnn.fused where the other tests do not reach: evaluation split into
blocks of a few samples (the tiled product's remainders) against the book's forward pass, and
a net without a weight-decay attribute, kernels.fused's prange twin on data small enough
for the mutation runs."""
import numpy as np
import pytest

import kernels.graph as KG
import kernels.train as KT
from kernels.sparse import to_csr

from . import reference as R
from . import train_reference as TR


def forward_reference(theta, sizes, activation, x):
    """Scores (the input of softmax) of the book's MultiLayerNet, in float64."""
    h = x.astype(np.float64)
    layers = TR.unflatten(theta.astype(np.float64), sizes)
    for i, (W, b) in enumerate(layers):
        h = R.affine_forward(h, W, b)
        if i < len(layers) - 1:
            h = R.relu(h) if activation == "relu" else R.sigmoid(h)
    return h


@pytest.mark.parametrize("kernel", [KT.evaluate, KT.evaluate_serial])
@pytest.mark.parametrize("EB", [1, 3, 5, 8])
@pytest.mark.parametrize("sizes", [(11, 13, 7, 5), (11, 3, 6, 5)])
def test_evaluate_in_small_blocks_matches_reference(kernel, EB, sizes):
    """EB samples a block (fastnn.fused uses 64, so its chunks of a small data set are one
    block each): blocks of 1-8 rows cover the product's 4-row tiles and their remainders;
    the widths after the first Affine (13, 7; 3) are not multiples of 4, so the 4-input
    tiles have remainders too, and a width of 3 has no whole tile."""
    rng = np.random.default_rng(7)
    n = 45
    x = rng.random((n, sizes[0]))
    x[x < 0.4] = 0.0
    t = rng.integers(0, sizes[-1], n)
    ops, fops, P, width = KG.mlp(sizes, "sigmoid")
    theta = 0.8 * rng.standard_normal(P)
    scores = forward_reference(theta, sizes, "sigmoid", x)
    csr = to_csr(x)
    T = 4
    scratch = np.empty((T, EB * KT.ops_width(ops)))
    hits, logs = np.empty(T, np.int64), np.empty(T)
    kernel(ops, fops, np.empty(0), np.arange(n, dtype=np.int64), csr.indptr, csr.indices, csr.values, t.astype(np.intp), theta,
           True, scratch, hits, logs)
    assert hits.sum() == np.sum(np.argmax(scores, axis=1) == t)
    want = np.log(R.softmax(scores)[np.arange(n), t] + 1e-7)
    for c in range(T):       # chunk c holds rows c * n // T to (c + 1) * n // T - 1
        lo, hi = c * n // T, (c + 1) * n // T
        # float64 sums of <= 12 logs: measured agreement <= 2e-15 relative
        assert logs[c] == pytest.approx(want[lo:hi].sum(), rel=1e-13)
    assert 0 < hits.sum() < n           # neither all right nor all wrong: the count can fail


def test_fused_step_of_a_net_without_weight_decay_attribute():
    """fastnn.fused takes any net described by kernels.graph; one without a
    ``weight_decay_lambda`` attribute steps as with lambda 0, to the bit."""
    from fastnn.fused import Fused

    from .test_fused_any import FlatNet, Opt, batches
    rng = np.random.default_rng(2)
    x, t = batches(rng, 1, 12, 10, 4)
    plain = FlatNet((10, 6, 4), seed=1)
    bare = FlatNet((10, 6, 4), seed=1)
    del bare.weight_decay_lambda
    assert Fused(bare, Opt("momentum")).step(x, t) == Fused(plain, Opt("momentum")).step(x, t)
    np.testing.assert_array_equal(bare.theta, plain.theta)



@pytest.mark.parametrize("parallel", [False, True])
def test_two_layer_kernel_step_on_small_data(parallel):
    """kernels.fused's SGD step, serial and prange twin, on 40 samples (5 chunks, so the
    parallel twin splits the first layer's rows among them) against the book's step."""
    import kernels.fused as KF
    rng = np.random.default_rng(11)
    N, D, H, C, lr = 40, 30, 7, 5, 0.1
    x = rng.random((N, D))
    x[x < 0.5] = 0.0
    t = rng.integers(0, C, N)
    names = ("W1", "b1", "W2", "b2")
    before = {"W1": 0.3 * rng.standard_normal((D, H)), "b1": 0.1 * rng.standard_normal(H),
              "W2": 0.3 * rng.standard_normal((H, C)), "b2": 0.1 * rng.standard_normal(C)}
    grads = R.two_layer_gradient(before, x, t, "sigmoid")
    p = [before[k].copy() for k in names]
    loss = KF.train_step(x, t.astype(np.intp), *p, lr, KF.make_buffers(N, D, H, C, np.float64), parallel=parallel)
    # float64 fused step against the reference: measured <= 7.3e-16 (README), tolerance 5e-15
    R.agree(loss, R.two_layer_loss(before, x, t, "sigmoid"), 5e-15, "loss")
    for a, k in zip(p, names):
        R.agree(a, before[k] - lr * grads[k], 5e-15, k)


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("relu", [False, True])
def test_two_layer_kernel_evaluate_matches_reference(parallel, relu):
    """kernels.fused.evaluate and its serial twin (fastnn evaluates with kernels.train, so
    only this test calls them): per-chunk hits and log-probability sums on 45 samples."""
    import kernels.fused as KF
    rng = np.random.default_rng(13)
    N, D, H, C, T = 45, 20, 9, 4, 4
    x = rng.random((N, D))
    x[x < 0.5] = 0.0
    t = rng.integers(0, C, N)
    p = {"W1": rng.standard_normal((D, H)), "b1": 0.1 * rng.standard_normal(H),
         "W2": rng.standard_normal((H, C)), "b2": 0.1 * rng.standard_normal(C)}
    activation = "relu" if relu else "sigmoid"
    scores = R.affine_forward(R.relu(R.affine_forward(x, p["W1"], p["b1"])) if relu else
                              R.sigmoid(R.affine_forward(x, p["W1"], p["b1"])), p["W2"], p["b2"])
    want = np.log(R.two_layer_predict(p, x, activation)[np.arange(N), t] + 1e-7)
    csr = to_csr(x)
    hits, logs = np.empty(T, np.int64), np.empty(T)
    (KF.evaluate if parallel else KF.evaluate_serial)(
        csr.indptr, csr.indices, csr.values, t.astype(np.intp), p["W1"], p["b1"], p["W2"], p["b2"], relu, True,
        KF.per_thread(T, H, np.float64), KF.per_thread(T, C, np.float64), np.empty((C, H)), hits, logs,
        KF.hidden_hint(H))
    right = np.argmax(scores, axis=1) == t
    for c in range(T):
        lo, hi = c * N // T, (c + 1) * N // T
        assert hits[c] == right[lo:hi].sum()
        # float64 sums of <= 12 logs: measured agreement <= 2e-15 relative
        assert logs[c] == pytest.approx(want[lo:hi].sum(), rel=1e-13)
    assert 0 < right.sum() < N


@pytest.mark.parametrize("change", ["longer", "read-only", "float32"])
def test_fused_step_refuses_a_replaced_theta(change):
    """A net whose flat parameter buffer was replaced by one of another size, dtype or a
    read-only one is refused with one TypeError naming net.theta (a description-based net
    may be any object; fastnn's own keep theta fixed)."""
    from fastnn.fused import Fused

    from .test_fused_any import FlatNet, Opt, batches
    net = FlatNet((10, 6, 4), seed=1)
    P = net.theta.size
    if change == "longer":
        net.theta = np.zeros(P + 3)
    elif change == "float32":
        net.theta = net.theta.astype(np.float32)
    else:
        net.theta.flags.writeable = False
    x, t = batches(np.random.default_rng(2), 1, 12, 10, 4)
    with pytest.raises(TypeError, match=rf"^net.theta: expected \({P},\) float64 C-contiguous and writeable, got "):
        Fused(net, Opt("momentum")).step(x, t)      # the generic kernels (plain SGD of two layers takes W1, b1, ...)


@pytest.mark.parametrize("sizes", [(784, 50, 10), (784, 100, 100, 100, 100, 10), (9, 30, 40, 3), (5, 2)])
@pytest.mark.parametrize("groups", [1, 2, 3, 4, 16])
def test_work_items_cover_every_row_once_in_groups(sizes, groups):
    """Every row of every Affine's [W; b] in exactly one item, with its weight-decay slot; groups
    numbered from 0, in order, none empty (the parallel kernel runs group g on thread g)."""
    ops = KG.mlp(sizes, "relu")[0]
    items = KT.work_items(ops, groups)
    assert items.shape[1] == 5
    g = items[:, 4]
    assert np.all(np.diff(g) >= 0) and g[0] == 0 and set(g) == set(range(g[-1] + 1)) and g[-1] < groups
    w = 0
    for k in [k for k in range(ops.shape[0]) if ops[k, KG.KIND] == KG.AFFINE]:
        mine = items[items[:, 0] == k]
        covered = np.zeros(ops[k, KG.IN] + 1, int)
        for _, r0, r1, w0, _ in mine:
            covered[r0:r1] += 1
            assert w0 == w + r0
        assert np.all(covered == 1), (k, covered)
        w += ops[k, KG.IN]


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_any_partition_into_groups_gives_the_same_bits(name):
    """The parallel kernel with 1, 2, 3 and 5 groups of items (more groups than threads too) and
    the serial one: the same theta and losses, to the bit."""
    import kernels.optimizers as KO
    sizes = (40, 12, 9, 6)
    rng = np.random.default_rng(4)
    x = rng.random((300, sizes[0]))
    x[x < 0.6] = 0.0
    t = rng.integers(0, sizes[-1], 300).astype(np.intp)
    ops, _, P, width = KG.mlp(sizes, "relu")
    theta0 = 0.3 * rng.standard_normal(P)
    kind = KO.NAMES[name]
    hp = np.array([0.01, 0.9, 0.999, 1e-8])
    out = []
    for parallel, groups in [(False, 1), (True, 1), (True, 2), (True, 3), (True, 5)]:
        theta = theta0.copy()
        s1, s2 = np.zeros(P), np.zeros(P)
        losses = np.empty(3)
        KT.train_steps(ops, to_csr(x), t, np.arange(300, dtype=np.int64), 0, 3, 100, theta, kind, hp, 0, s1, s2,
                       0.0, KT.make_buffers(ops, width, P, 100, np.float64), KT.work_items(ops, groups), losses,
                       parallel=parallel)
        out.append((theta, losses.copy()))
    for theta, losses in out[1:]:
        np.testing.assert_array_equal(theta, out[0][0])
        np.testing.assert_array_equal(losses, out[0][1])


@pytest.mark.parametrize("parallel", [False, True])
def test_plain_sgd_in_place_and_through_the_padded_gradient(parallel):
    """Plain SGD without weight decay updates the first Affine's W in place below
    IN_PLACE_ROWS non-zeros per row of W and through the padded gradient from there on:
    both ways one step of the book's SGD (float64, to 1e-12), for batches on either side of
    the boundary, in the general and the two-layer kernels."""
    import kernels.fused as KF
    import kernels.optimizers as KO
    from kernels.sparse_product import IN_PLACE_ROWS, few_nonzeros
    sizes = (40, 12, 6)
    rng = np.random.default_rng(9)
    x = rng.random((64, sizes[0]))
    x[x < 0.7] = 0.0
    t = rng.integers(0, sizes[-1], 64).astype(np.intp)
    csr = to_csr(x)
    ops, _, P, width = KG.mlp(sizes, "relu")
    order = np.arange(64, dtype=np.int64)
    lr = 0.1
    seen = set()
    for N in (1, 3, 8, 20, 64):
        direct = KT.in_place(KO.SGD, 0.0, order[:N], N, csr.indptr, sizes[0])
        assert direct == (csr.indptr[N] < IN_PLACE_ROWS * sizes[0])
        assert direct == few_nonzeros(csr.indptr[N], sizes[0])
        seen.add(bool(direct))
        theta0 = 0.3 * rng.standard_normal(P)
        _, g = TR.loss_and_gradient(theta0, sizes, "relu", x[:N], t[:N])
        want = theta0 - lr * g
        theta = theta0.copy()
        KT.train_steps(ops, csr, t, order, 0, 1, N, theta, KO.SGD, np.array([lr, 0.0, 0.0, 0.0]), 0,
                       np.zeros(0), np.zeros(0), 0.0, KT.make_buffers(ops, width, P, N, np.float64), None,
                       np.empty(1), parallel=parallel)
        np.testing.assert_allclose(theta, want, rtol=1e-12, atol=1e-14)
        (W1, b1), (W2, b2) = (tuple(a.copy() for a in wb) for wb in TR.unflatten(theta0, sizes))
        KF.train_steps(csr, t, order, 0, 1, N, W1, b1, W2, b2, lr, KF.make_buffers(N, *sizes, np.float64),
                       np.empty(1), activation="relu", parallel=parallel)
        np.testing.assert_allclose(np.concatenate([W1.ravel(), b1, W2.ravel(), b2]), want, rtol=1e-12,
                                   atol=1e-14)
    assert seen == {True, False}
