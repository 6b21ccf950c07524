"""SGD, Momentum and Adam against the book's update rules in tests/reference.py.

Several steps with gradients that change sign and size, so that the velocity,
both moments and the bias correction (which differs by a factor of 30 between
step 1 and a late step) all take part; tolerances from the measured agreement.
"""
import numpy as np
import pytest

from fastnn import SGD, Adam, Momentum, TwoLayerNet
from fastnn.trainer import Trainer

from . import reference as R
from .reference import agree

#: fastnn updates in place in the parameters' dtype; the reference replaces arrays.
#: Measured over 6 steps: float64 0 (the same operations); float32 <= 1.4e-7 (SGD),
#: 2.1e-7 (Momentum), 1e-7 (Adam), the float32 rounding of the updates.
TOL = {np.float64: 4e-15, np.float32: 2e-6}


def params_and_grads(dtype, steps, seed=0):
    rng = np.random.default_rng(seed)
    params = {"W": rng.standard_normal((4, 3)).astype(dtype), "b": rng.standard_normal(3).astype(dtype)}
    grads = [{k: (rng.standard_normal(v.shape) * 10.0 ** rng.integers(-3, 2)).astype(dtype)
              for k, v in params.items()} for _ in range(steps)]
    return params, grads


@pytest.mark.parametrize("make, make_ref", [
    (lambda: SGD(0.1), lambda: R.SGD(0.1)),
    (lambda: SGD(0.37), lambda: R.SGD(0.37)),
    (lambda: Momentum(0.1), lambda: R.Momentum(0.1)),
    (lambda: Momentum(0.05, momentum=0.5), lambda: R.Momentum(0.05, momentum=0.5)),
    (lambda: Adam(), lambda: R.Adam()),
    (lambda: Adam(0.01, beta1=0.8, beta2=0.99, eps=1e-6),
     lambda: R.Adam(0.01, beta1=0.8, beta2=0.99, eps=1e-6)),
], ids=["sgd", "sgd-lr", "momentum", "momentum-0.5", "adam", "adam-settings"])
def test_update_rules(dtype, make, make_ref):
    params, grads = params_and_grads(dtype, 6)
    ref = {k: v.astype(np.float64) for k, v in params.items()}
    opt, ref_opt = make(), make_ref()
    for step, g in enumerate(grads, 1):
        before = {k: v.copy() for k, v in params.items()}
        opt.update(params, g)
        ref_opt.update(ref, {k: v.astype(np.float64) for k, v in g.items()})
        for k in params:
            assert params[k].dtype == dtype
            # the step taken, compared with the reference's step: a wrong sign, factor or
            # bias correction changes it by far more than rounding
            # bias correction changes it by far more than rounding (float64 only: in float32
            # the difference of two nearby parameters loses the step's digits).  Measured
            # <= 3.4e-15 relative to the largest step (Adam), 0 for SGD and Momentum.
            if dtype == np.float64:
                agree(params[k] - before[k], ref[k] - before[k], 1e-13,
                      f"{type(opt).__name__} step {step} {k}")
            agree(params[k], ref[k], TOL[dtype], f"{type(opt).__name__} params {step} {k}")


def test_first_steps_by_hand():
    """Values worked out from the formulas, independent of any implementation."""
    g = {"w": np.array([2.0, -4.0])}
    p = {"w": np.array([1.0, 1.0])}
    SGD(0.1).update(p, g)
    agree(p["w"], [0.8, 1.4], 1e-15, "SGD")
    p = {"w": np.array([1.0, 1.0])}
    m = Momentum(0.1, momentum=0.9)
    m.update(p, g)                 # v = -0.1 g = [-0.2, 0.4]
    m.update(p, g)                 # v = 0.9 v - 0.1 g = [-0.38, 0.76]
    agree(p["w"], [1 - 0.2 - 0.38, 1 + 0.4 + 0.76], 1e-15, "Momentum")
    p = {"w": np.array([1.0, 1.0])}
    a = Adam(0.001)
    # after t equal gradients m = (1 - b1^t) g and v = (1 - b2^t) g^2, so each step is
    # lr s g / (s |g| + eps) with s = sqrt(1 - b2^t): lr sign(g) up to eps
    w = np.array([1.0, 1.0])
    for step in (1, 2, 3):
        a.update(p, g)
        s = np.sqrt(1 - 0.999 ** step)
        w = w - 0.001 * s * g["w"] / (s * np.abs(g["w"]) + 1e-8)
        agree(p["w"], w, 1e-15, f"Adam step {step}")
    assert abs(p["w"][0] - (1 - 0.003)) < 1e-6


def test_momentum_zero_is_sgd():
    params, grads = params_and_grads(np.float64, 3, seed=1)
    a = {k: v.copy() for k, v in params.items()}
    b = {k: v.copy() for k, v in params.items()}
    for g in grads:
        Momentum(0.1, momentum=0.0).update(a, g)
        SGD(0.1).update(b, g)
    for k in a:
        agree(a[k], b[k], 1e-15, k)


@pytest.mark.parametrize("make, make_ref", [
    (lambda: Momentum(0.1), lambda: R.Momentum(0.1)),
    (lambda: Adam(0.01), lambda: R.Adam(0.01)),
    (lambda: SGD(0.5), lambda: R.SGD(0.5)),
], ids=["momentum", "adam", "sgd-layers"])
def test_trainer_with_optimizer_follows_reference_loop(make, make_ref):
    """Trainer on the layer path (any optimizer other than plain SGD; SGD forced with
    fused=False) against the reference loop over the same shuffled batches: the
    trainer's rng draws one permutation per epoch; batches are consecutive slices,
    the last one short.  Measured: params 4e-16, losses 2e-16 apart."""
    rng = np.random.default_rng(3)
    p = R.two_layer_params(rng, 7, 5, 3)
    x = R.dense_inputs(rng, 23, 7)
    t = rng.integers(0, 3, 23)
    net = TwoLayerNet(7, 5, 3)
    for k in p:
        net.params[k][...] = p[k]
    tr = Trainer(net, x, t, optimizer=make(), batch_size=5, epochs=2, seed=11, fused=False)
    assert tr.step_kind == "layers"
    hist = tr.fit()
    order_rng = np.random.default_rng(11)
    ref_opt = make_ref()
    ref = {k: v.copy() for k, v in p.items()}
    losses = []
    for _ in range(2):
        order = order_rng.permutation(23)
        for i in range(0, 23, 5):
            rows = order[i:i + 5]
            losses.append(R.two_layer_loss(ref, x[rows], t[rows]))
            ref_opt.update(ref, R.two_layer_gradient(ref, x[rows], t[rows]))
    agree(hist["loss"], losses, 1e-14, "losses")
    for k in ref:
        agree(net.params[k], ref[k], 1e-14, k)
    assert hist["train_acc"][-1] == R.two_layer_accuracy(ref, x, t)
