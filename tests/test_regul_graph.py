"""Dropout and batch normalization as operations of kernels.graph's description."""
import numpy as np
import pytest

import kernels.graph as G

from . import reference as ref
from .reference import agree


def test_mlp_extend_rows_in_the_books_order():
    ops, fops, P, A = G.mlp_extend([6, 5, 4, 3], "relu", use_dropout=True, dropout_ratio=0.2,
                                   use_batchnorm=True, momentum=0.8)
    kinds = [int(k) for k in ops[:, G.KIND]]
    B, R, D, Af = G.BATCHNORM, G.RELU, G.DROPOUT, G.AFFINE
    assert kinds == [Af, B, R, D, Af, B, R, D, Af, G.SOFTMAX_LOSS]
    assert list(fops[ops[:, G.KIND] == D, G.RATIO]) == [0.2, 0.2]
    assert list(fops[ops[:, G.KIND] == B, G.MOMENTUM]) == [0.8, 0.8]
    names = [n for n, _, _ in G.param_layout(ops)]
    assert names == ["W1", "b1", "gamma1", "beta1", "W2", "b2", "gamma2", "beta2", "W3", "b3"]
    assert P == 6 * 5 + 5 + 2 * 5 + 5 * 4 + 4 + 2 * 4 + 4 * 3 + 3
    assert G.state_size(ops) == 3 * 5 + 3 * 4
    # parameters and outputs tile their buffers without gaps or overlaps
    layout = G.param_layout(ops)
    ends = [o + int(np.prod(s)) for _, o, s in layout]
    assert [o for _, o, _ in layout][1:] == ends[:-1] and ends[-1] == P
    widths = [2 * int(r[G.OUT]) if r[G.KIND] == B else int(r[G.OUT]) for r in ops]
    assert list(ops[:, G.AOFF]) == list(np.cumsum([0] + widths[:-1])) and A == sum(widths)
    soff = ops[ops[:, G.KIND] == B, G.SOFF]
    assert list(soff) == [0, 15] and (ops[ops[:, G.KIND] != B, G.SOFF] == -1).all()


def test_table_columns_as_documented():
    """Every column of ops and fops as kernels.graph's docstring states it: parameters only for
    Affine (IN*OUT + OUT) and batch normalization (2*OUT), POFF -1 and PLEN 0 for the others,
    AUX 0, and fops zero except a dropout's ratio and a batch normalization's momentum."""
    ops, fops, P, _ = G.mlp_extend([6, 5, 4, 3], "sigmoid", use_dropout=True, dropout_ratio=0.25,
                                   use_batchnorm=True, momentum=0.7)
    p = 0
    for row, f in zip(ops, fops):
        kind, n_in, n_out = (int(v) for v in row[:3])
        plen = {G.AFFINE: n_in * n_out + n_out, G.BATCHNORM: 2 * n_out}.get(kind, 0)
        assert (row[G.POFF], row[G.PLEN]) == ((p, plen) if plen else (-1, 0)), G.KIND_NAMES[kind]
        p += plen
        assert row[G.AUX] == 0
        const = {G.DROPOUT: 0.25, G.BATCHNORM: 0.7}.get(kind, 0.0)
        assert f.tolist() == [const] + [0.0] * (G.NFCOLS - 1), G.KIND_NAMES[kind]
    assert p == P


def test_plain_rows_give_the_same_tables_as_before():
    ops, fops, P, A = G.mlp([7, 5, 3], "sigmoid")
    again = G.build([(int(r[0]), int(r[1]), int(r[2])) for r in ops])
    np.testing.assert_array_equal(again[0], ops)
    assert (again[2], again[3]) == (P, A) and G.state_size(ops) == 0
    assert G.mlp_extend([7, 5, 3], "sigmoid")[0].tolist() == ops.tolist()


@pytest.mark.parametrize("use_dropout,use_batchnorm", [(False, False), (True, False), (False, True),
                                                       (True, True)])
@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_forward_state_is_the_books_inference(rng, dtype, use_dropout, use_batchnorm, activation):
    sizes = [9, 6, 5, 4]
    ops, fops, P, A = G.mlp_extend(sizes, activation, use_dropout, 0.3, use_batchnorm)
    theta = rng.standard_normal(P).astype(dtype)
    state = rng.uniform(0.2, 2.0, G.state_size(ops)).astype(dtype)
    x = rng.standard_normal((11, 9)).astype(dtype)
    y = G.forward_state(ops, fops, theta, state, x, np.empty(11 * A, dtype))
    p = {n: theta[o:o + int(np.prod(s))].reshape(s).astype(np.float64) for n, o, s in G.param_layout(ops)}
    st64 = state.astype(np.float64)
    h = x.astype(np.float64)
    for i in range(1, len(sizes)):
        h = ref.affine_forward(h, p[f"W{i}"], p[f"b{i}"])
        if i == len(sizes) - 1:
            break
        if use_batchnorm:
            s = int(ops[(ops[:, G.KIND] == G.BATCHNORM)][i - 1, G.SOFF])
            n = sizes[i]
            h = ref.batchnorm_forward(h, p[f"gamma{i}"], p[f"beta{i}"], st64[s:s + n], st64[s + n:s + 2 * n],
                                      train_flg=False)[0]
        h = ref.relu(h) if activation == "relu" else ref.sigmoid(h)
        if use_dropout:
            h = ref.dropout_forward(h, None, False, 0.3)
    # measured <= 3e-7 (float32), <= 3e-16 (float64)
    agree(y, ref.softmax(h), 3e-6 if dtype == np.float32 else 3e-15, "probabilities")
    if not (use_dropout or use_batchnorm):
        z = G.forward(ops, theta, x, np.empty(11 * A, dtype))
        np.testing.assert_array_equal(y, z)


@pytest.mark.parametrize("option", ["use_dropout", "use_batchnorm"])
def test_plain_forward_refuses_dropout_and_batchnorm(option):
    """kernels.graph.forward has no state or ratios: it refuses those rows instead of
    running them with zeros."""
    ops, fops, P, A = G.mlp_extend([6, 5, 3], **{option: True})
    theta = np.zeros(P)
    with pytest.raises(ValueError, match="need forward_state"):
        G.forward(ops, theta, np.zeros((2, 6)), np.empty(2 * A))
