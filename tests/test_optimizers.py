"""The six chapter-6 optimizers against the book's update rules in tests/reference.py.

Several steps with gradients that change sign and size (by up to 10^4 between steps), so
that the velocity, the squared-gradient sums, both moments and the bias correction (which
differs by a factor of 30 between step 1 and a late step) all take part; random shapes;
tolerances from the measured agreement.  Then the state: a state_dict round trip
mid-training, and a per-key update continued by a step over the flat buffer (the fused
path's view) and back.
"""
import json

import numpy as np
import pytest

from fastnn import SGD, AdaGrad, Adam, Momentum, Nesterov, RMSprop, TwoLayerNet
from fastnn import optimizers as O
from fastnn.trainer import Trainer
from kernels import optimizers as K

from . import reference as R
from .reference import agree

#: fastnn updates in place in the parameters' dtype; the reference replaces arrays in
#: float64.  Measured over 6 steps, 3 seeds: float64 0 for SGD, Momentum, Nesterov and
#: AdaGrad (the kernels do the reference's operations in its order, without fastmath),
#: <= 1.6e-16 for RMSprop and Adam (the reference writes their averages as
#: beta m + (1 - beta) g, the book and the kernel as m + (1 - beta)(g - m)); float32
#: <= 2.2e-7, the float32 rounding of the updates.
TOL = {np.float64: 4e-16, np.float32: 5e-7}
#: float64 SGD, Momentum, Nesterov and AdaGrad: no difference allowed (a kernel compiled with
#: fastmath, whose multiply-adds round once, fails this)

CASES = {
    "sgd": (lambda: SGD(0.1), lambda: R.SGD(0.1)),
    "sgd-lr": (lambda: SGD(0.37), lambda: R.SGD(0.37)),
    "momentum": (lambda: Momentum(0.1), lambda: R.Momentum(0.1)),
    "momentum-0.5": (lambda: Momentum(0.05, momentum=0.5), lambda: R.Momentum(0.05, momentum=0.5)),
    "nesterov": (lambda: Nesterov(0.1), lambda: R.Nesterov(0.1)),
    "nesterov-0.6": (lambda: Nesterov(0.03, momentum=0.6), lambda: R.Nesterov(0.03, momentum=0.6)),
    "adagrad": (lambda: AdaGrad(0.1), lambda: R.AdaGrad(0.1)),
    "adagrad-eps": (lambda: AdaGrad(0.02, eps=1e-3), lambda: R.AdaGrad(0.02, eps=1e-3)),
    "rmsprop": (lambda: RMSprop(0.01), lambda: R.RMSprop(0.01)),
    "rmsprop-0.7": (lambda: RMSprop(0.05, decay_rate=0.7, eps=1e-4),
                    lambda: R.RMSprop(0.05, decay_rate=0.7, eps=1e-4)),
    "adam": (lambda: Adam(), lambda: R.Adam()),
    "adam-settings": (lambda: Adam(0.01, beta1=0.8, beta2=0.99, eps=1e-6),
                      lambda: R.Adam(0.01, beta1=0.8, beta2=0.99, eps=1e-6)),
}


def params_and_grads(dtype, steps, seed=0, shapes=None):
    """Random params {W: (r, c), b: (c,)} of random sizes and `steps` gradient dicts whose
    scale changes from step to step (10^-3 .. 10^1)."""
    rng = np.random.default_rng(seed)
    if shapes is None:
        r, c = rng.integers(1, 40, 2)
        shapes = {"W": (r, c), "b": (c,)}
    params = {k: rng.standard_normal(s).astype(dtype) for k, s in shapes.items()}
    grads = [{k: (rng.standard_normal(v.shape) * 10.0 ** rng.integers(-3, 2)).astype(dtype)
              for k, v in params.items()} for _ in range(steps)]
    return params, grads


def as64(d):
    return {k: np.array(v, dtype=np.float64) for k, v in d.items()}    # copies


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("case", list(CASES))
def test_update_rules(dtype, case, seed):
    make, make_ref = CASES[case]
    params, grads = params_and_grads(dtype, 6, seed)
    ref = as64(params)
    opt, ref_opt = make(), make_ref()
    for step, g in enumerate(grads, 1):
        before, ref_before = as64(params), as64(ref)
        opt.update(params, g)
        ref_opt.update(ref, as64(g))
        assert opt.t == step
        for k in params:
            assert params[k].dtype == dtype
            what = f"{case} step {step} {k}"
            # the step taken, compared with the reference's step: a wrong sign, factor, rate or
            # bias correction changes it by far more than rounding.  float64 only (in float32
            # the difference of two nearby parameters loses the step's digits).  Each step is
            # measured from its own parameters; the two results may differ by an ulp of the
            # parameters (a fused multiply-add in the kernel rounds once where NumPy rounds
            # twice), so the bound is 1e-13 of the step plus 2 ulps of max |W|.  Measured: at
            # most 1 ulp of max |W| (SGD), 2e-15 of the step.
            if dtype == np.float64:
                step_ref = ref[k] - ref_before[k]
                err = np.abs((params[k] - before[k]) - step_ref).max()
                bound = 1e-13 * np.abs(step_ref).max() + 4.4e-16 * np.abs(ref[k]).max()
                assert err <= bound, f"step {what}: {err:.2e} > {bound:.2e}"
            exact = dtype == np.float64 and case.split("-")[0] in ("sgd", "momentum", "nesterov", "adagrad")
            agree(params[k], ref[k], 0.0 if exact else TOL[dtype], f"params {what}")


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
    n = Nesterov(0.1, momentum=0.5)
    n.update(p, g)                 # v = -0.1 g; W += 0.25 v - 1.5 * 0.1 g = -0.175 g
    agree(p["w"], [1 - 0.35, 1 + 0.7], 1e-15, "Nesterov step 1")
    n.update(p, g)                 # v = 0.5 v - 0.1 g = -0.15 g; W += (-0.0375 - 0.15) g
    agree(p["w"], [1 - 0.35 - 0.375, 1 + 0.7 + 0.75], 1e-15, "Nesterov step 2")
    p = {"w": np.array([1.0, 1.0])}
    a = AdaGrad(0.1, eps=1e-7)
    a.update(p, g)                 # h = g^2: W -= 0.1 g / (|g| + eps) = 0.1 sign(g) (to 1e-7)
    a.update(p, g)                 # h = 2 g^2: W -= 0.1 sign(g) / sqrt(2)
    agree(p["w"], [1 - 0.1 - 0.1 / np.sqrt(2), 1 + 0.1 + 0.1 / np.sqrt(2)], 1e-7, "AdaGrad")
    p = {"w": np.array([1.0, 1.0])}
    r = RMSprop(0.1, decay_rate=0.75, eps=1e-7)
    r.update(p, g)                 # h = 0.25 g^2: W -= 0.1 g / (0.5 |g|) = 0.2 sign(g)
    r.update(p, g)                 # h = (0.75 * 0.25 + 0.25) g^2 = 0.4375 g^2
    agree(p["w"], [1 - 0.2 - 0.1 / np.sqrt(0.4375), 1 + 0.2 + 0.1 / np.sqrt(0.4375)], 1e-6,
          "RMSprop")
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


def test_adam_bias_correction_counts_steps_from_one():
    """With beta1 = 0.5 and beta2 = 0.75 the step at t is lr * sqrt(1 - 0.75^t) / (1 - 0.5^t)
    * m / sqrt(v): a count off by one changes it by a factor far from 1."""
    g = {"w": np.array([1.0])}
    p = {"w": np.array([0.0])}
    a = Adam(0.1, beta1=0.5, beta2=0.75, eps=1e-12)
    a.update(p, g)       # m = 0.5, v = 0.25: step 0.1 * 0.5 / 0.5 * 0.5 / 0.5 = 0.1
    agree(p["w"], [-0.1], 1e-11, "Adam step 1")
    a.update(p, {"w": np.array([-1.0])})
    # m = 0.25 - 0.5 = -0.25, v = 0.1875 + 0.25 = 0.4375;
    # lr_2 = 0.1 sqrt(0.4375) / 0.75; step = lr_2 * m / sqrt(v) = -0.1 * 0.25 / 0.75
    agree(p["w"], [-0.1 + 0.1 / 3], 1e-11, "Adam step 2")
    assert a.t == a.iter == 2


def test_zero_rates():
    """momentum 0 is SGD (both kinds); decay_rate 0 keeps only the last squared gradient."""
    params, grads = params_and_grads(np.float64, 3, seed=1)
    a, b, c = ({k: v.copy() for k, v in params.items()} for _ in range(3))
    ma, mb = Momentum(0.1, momentum=0.0), Nesterov(0.1, momentum=0.0)
    for g in grads:
        ma.update(a, g)
        mb.update(b, g)
        SGD(0.1).update(c, g)
    for k in a:
        agree(a[k], c[k], 1e-15, k)
        agree(b[k], c[k], 1e-15, k)
    p = {"w": np.array([0.0, 0.0])}
    r = RMSprop(0.1, decay_rate=0.0, eps=1e-12)
    for g in ([1.0, -3.0], [5.0, 2.0]):
        r.update(p, {"w": np.array(g)})
    agree(p["w"], [-0.2, 0.0], 1e-11, "RMSprop decay_rate 0: lr sign(g) per step")


def test_non_contiguous_and_zero_dimensional_params_are_updated_in_place():
    rng = np.random.default_rng(5)
    w = np.asfortranarray(rng.standard_normal((3, 4)))
    s = np.array(2.0)
    params = {"W": w, "s": s, "Wt": rng.standard_normal((4, 3)).T}
    ref = as64(params)
    opt, ref_opt = Adam(0.1), R.Adam(0.1)
    for _ in range(3):
        g = {k: rng.standard_normal(v.shape) for k, v in params.items()}
        g["W"] = np.asfortranarray(g["W"])
        g["s"] = float(g["s"])               # a scalar gradient of a 0-d parameter
        opt.update(params, g)
        ref_opt.update(ref, as64(g))
    assert params["W"] is w and params["s"] is s
    for k in params:
        agree(params[k], ref[k], 1e-15, k)


def test_gradients_of_another_dtype_are_converted():
    """float64 gradients for float32 parameters (and lists): converted, as NumPy's in-place
    operators did."""
    p = {"W": np.ones((2, 2), np.float32)}
    m = Momentum(0.5, momentum=0.5)
    m.update(p, {"W": np.full((2, 2), 0.5)})
    m.update(p, {"W": [[0.5, 0.5], [0.5, 0.5]]})
    assert p["W"].dtype == np.float32 and m.v["W"].dtype == np.float32
    agree(p["W"], np.full((2, 2), 1 - 0.25 - 0.375), 0, "Momentum float32")


# -- the flat buffer ---------------------------------------------------------------------
def views_of(buf, shapes):
    """Named views of the flat buffer, laid out one after the other (a network's params)."""
    views, off = {}, 0
    for k, shape in shapes.items():
        n = int(np.prod(shape))
        views[k] = buf[off:off + n].reshape(shape)
        off += n
    return views


def flat_params(dtype, seed=3, sizes=((7, 5), (5,), (5, 3), (3,))):
    """A flat buffer theta and the dict of its named views (the layout of a network)."""
    rng = np.random.default_rng(seed)
    shapes = {f"p{i}": s for i, s in enumerate(sizes)}
    theta = rng.standard_normal(sum(int(np.prod(s)) for s in sizes)).astype(dtype)
    return theta, views_of(theta, shapes)


def shapes_of(params):
    return {k: p.shape for k, p in params.items()}


def grad_stream(theta, params, steps, seed=4):
    """`steps` gradients, each as (flat (P,), dict of views of it)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(steps):
        flat = (rng.standard_normal(theta.size) * 10.0 ** rng.integers(-2, 1)).astype(theta.dtype)
        out.append((flat, views_of(flat, shapes_of(params))))
    return out


def flat_step(opt, theta, grad):
    """One step of the fused path's kind: the kernel over the whole buffer."""
    s1, s2 = opt.flat_state(theta.size, theta.dtype)
    opt.t += 1
    K.apply(opt.kind, opt.hyper(), opt.t, theta, grad, s1, s2)


def random_sizes(seed):
    """Widths of a random network layout: parameter arrays of sizes that start and end at
    any offset modulo a vector width, so that elements fall in a vectorised loop in one
    update and in its scalar remainder in the other."""
    rng = np.random.default_rng(seed)
    widths = rng.integers(1, 23, rng.integers(2, 5))
    sizes = []
    for a, b in zip(widths[:-1], widths[1:]):
        sizes += [(int(a), int(b)), (int(b),)]
    return tuple(sizes)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("name", O.NAMES)
def test_per_key_and_flat_updates_continue_each_other(dtype, name, seed):
    """Per-key updates on views of theta, then steps over the flat buffer, then per-key again,
    equal bit for bit the same number of per-key updates on separate arrays (the book's
    way), and the other order too."""
    theta, params = flat_params(dtype, seed, random_sizes(seed)) if seed else flat_params(dtype)
    grads = grad_stream(theta, params, 9)
    mixed = theta.copy()
    mixed_p = views_of(mixed, shapes_of(params))
    sep = {k: p.copy() for k, p in params.items()}
    a, b = O.make(name), O.make(name)
    for i, (flat, views) in enumerate(grads):
        if i < 3 or i >= 6:
            a.update(mixed_p, views)
        else:
            flat_step(a, mixed, flat)
        b.update(sep, {k: v.copy() for k, v in views.items()})
        assert a.t == b.t == i + 1
    for k in params:
        assert np.array_equal(mixed_p[k], sep[k]), k
    # flat first, then per key
    theta2 = theta.copy()
    p2 = views_of(theta2, shapes_of(params))
    c = O.make(name)
    for i, (flat, views) in enumerate(grads):
        if i < 4:
            flat_step(c, theta2, flat)
        else:
            c.update(p2, views)
    assert np.array_equal(theta2, mixed)
    # the per-key state is a view of the flat state
    s1, s2 = c.flat_state(theta.size, dtype)
    for i, state in enumerate(c.state_names):
        for k, v in getattr(c, state).items():
            assert np.shares_memory(v, (s1, s2)[i]), (state, k)


def test_flat_state_arrays():
    for name in O.NAMES:
        opt = O.make(name)
        s1, s2 = opt.flat_state(10, np.float32)
        # state arrays of each kind, written out (not read from kernels.optimizers.STATES)
        n = {"sgd": 0, "momentum": 1, "nesterov": 1, "adagrad": 1, "rmsprop": 1, "adam": 2}[name]
        assert K.STATES[opt.kind] == n and len(opt.state_names) == n
        assert s1.shape == ((10,) if n >= 1 else (0,)) and s2.shape == ((10,) if n == 2 else (0,))
        assert s1.dtype == s2.dtype == np.float32 and not s1.any()
        again = opt.flat_state(10, "float32")
        assert again[0] is s1 and again[1] is s2, "allocated once"
        if n:
            for P in (9, 11):
                with pytest.raises(ValueError, match=rf"^P, dtype: the optimizer's state is over 10 "
                                                     rf"float32 values, got {P} float32"):
                    opt.flat_state(P, np.float32)
            with pytest.raises(ValueError, match=r"got 10 float64"):
                opt.flat_state(10, np.float64)
        else:           # no state: any size and dtype
            assert opt.flat_state(11, np.float64)[0].dtype == np.float64
            p = {"w": np.zeros(3, np.float32)}
            opt.update(p, {"w": np.ones(3, np.float32)})
            opt.update({"w": np.zeros(4)}, {"w": np.ones(4)})
    assert Momentum().flat_state(0, np.float64)[0].shape == (0,)     # a network without parameters
    with pytest.raises(TypeError, match=r"^dtype: expected float32 or float64, got int32$"):
        SGD().flat_state(3, np.int32)
    with pytest.raises(ValueError, match=r"^P: expected a parameter count >= 0, got -1$"):
        SGD().flat_state(-1, np.float64)


def test_separate_state_moves_into_the_flat_buffer():
    """Per-key state on separate arrays (or loaded from an old checkpoint) is carried over
    when flat_state is given the parameters as views of the buffer; without them it is
    refused rather than dropped."""
    theta, params = flat_params(np.float64)
    grads = grad_stream(theta, params, 4)
    sep = {k: p.copy() for k, p in params.items()}
    ref = {k: p.copy() for k, p in params.items()}
    a = Adam(0.01)
    for _, views in grads[:2]:
        a.update(sep, views)
    with pytest.raises(ValueError, match="pass params="):
        a.flat_state(theta.size, np.float64)
    theta[...] = np.concatenate([sep[k].ravel() for k in params])
    a.flat_state(theta.size, np.float64, params=params)
    b = Adam(0.01)
    for _, views in grads:
        b.update(ref, views)
    for flat, _ in grads[2:]:
        flat_step(a, theta, flat)
    for k in params:
        assert np.array_equal(params[k], ref[k]), k
    with pytest.raises(ValueError, match=r"^params: the optimizer's state is flat, over"):
        a.update({"q": np.zeros((3, 2))}, {"q": np.ones((3, 2))})


def test_book_state_attributes():
    """The book's names for the state: dicts of arrays, None before the first update;
    assigning one (as a checkpoint loader does) sets the state the next update continues."""
    p = {"w": np.array([1.0, 2.0])}
    for opt, names in ((Momentum(), ["v"]), (Nesterov(), ["v"]), (AdaGrad(), ["h"]),
                       (RMSprop(), ["h"]), (Adam(), ["m", "v"])):
        assert all(getattr(opt, n) is None for n in names)
        opt.update({"w": p["w"].copy()}, {"w": np.array([0.5, -0.5])})
        assert all(getattr(opt, n)["w"].shape == (2,) for n in names)
    a, b = Momentum(0.1), Momentum(0.1)
    pa, pb = {"w": np.array([1.0, 2.0])}, {"w": np.array([1.0, 2.0])}
    g = {"w": np.array([0.5, -0.5])}
    a.update(pa, g)
    b.v = {"w": a.v["w"].copy()}
    pb["w"][...] = pa["w"]
    a.update(pa, g)
    b.update(pb, g)
    assert np.array_equal(pa["w"], pb["w"])
    with pytest.raises(TypeError, match=r"^v\['w'\]: expected a float array, got \(2,\) int64$"):
        b.v = {"w": np.array([1, 2])}


def test_state_shape_change_is_refused():
    for old, new in (((2, 3), (3, 2)), ((3, 2), (2, 3)), ((2, 3), (2, 4))):
        m = Momentum()
        m.update({"W": np.zeros(old)}, {"W": np.ones(old)})
        with pytest.raises(ValueError, match=rf"^params\['W'\]: \({new[0]}, {new[1]}\) float64, but the "
                                             rf"optimizer's v\['W'\] is \({old[0]}, {old[1]}\) float64"):
            m.update({"W": np.zeros(new)}, {"W": np.ones(new)})


def test_assigned_state_takes_the_parameters_dtype():
    """State assigned in float64 for float32 parameters is converted at the next update."""
    p = {"W": np.ones((2, 3), np.float32)}
    m = Momentum(0.1, momentum=0.5)
    m.v = {"W": np.full((2, 3), 0.1)}
    m.update(p, {"W": np.ones((2, 3), np.float32)})
    assert m.v["W"].dtype == np.float32 and m.v["W"].flags.c_contiguous
    v = np.float32(0.5) * np.float32(0.1) - np.float32(0.1)
    assert np.array_equal(m.v["W"], np.full((2, 3), v, np.float32))
    assert np.array_equal(p["W"], np.full((2, 3), np.float32(1) + v, np.float32))


# -- state_dict --------------------------------------------------------------------------
def json_round_trip(state):
    """What a checkpoint keeps: the scalars through JSON, the arrays as arrays."""
    return {"name": state["name"], "scalars": json.loads(json.dumps(state["scalars"])),
            "arrays": {k: np.array(v) for k, v in state["arrays"].items()}}


@pytest.mark.parametrize("layout", ["separate", "flat"])
@pytest.mark.parametrize("name", O.NAMES)
def test_state_dict_round_trip_mid_training(dtype, name, layout):
    theta, params = flat_params(dtype)
    if layout == "separate":
        params = {k: p.copy() for k, p in params.items()}
    grads = grad_stream(theta, params, 6)
    hyper = {"lr": 0.03} if name != "adam" else {"lr": 0.01, "beta1": 0.7}
    a = O.make(name, **hyper)
    for _, views in grads[:3]:
        a.update(params, views)
    state = json_round_trip(a.state_dict())
    saved = {k: p.copy() for k, p in params.items()}
    for _, views in grads[3:]:
        a.update(params, views)
    b = O.make(name)                          # default settings, overwritten by the state
    b.load_state_dict(state)
    assert b.hyper_parameters() == a.hyper_parameters() and b.t == 3
    if layout == "flat":            # views of a fresh buffer laid out as params
        b_params = views_of(np.concatenate([saved[k].ravel() for k in saved]), shapes_of(saved))
    else:
        b_params = saved
    for _, views in grads[3:]:
        b.update(b_params, views)
    assert b.t == a.t == 6
    for k in params:
        assert np.array_equal(b_params[k], params[k]), k
    again = b.state_dict()
    assert sorted(again["arrays"]) == sorted(a.state_dict()["arrays"])
    for k, v in a.state_dict()["arrays"].items():
        assert np.array_equal(again["arrays"][k], v) and again["arrays"][k].dtype == dtype, k


def test_state_dict_format():
    a = Adam(0.01)
    assert a.state_dict() == {"name": "Adam", "arrays": {},
                              "scalars": {"lr": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "t": 0}}
    theta, params = flat_params(np.float32)
    a.update(params, {k: np.ones_like(p) for k, p in params.items()})
    s = a.state_dict()
    assert sorted(s["arrays"]) == ["m", "v"] and s["arrays"]["m"].shape == theta.shape
    assert s["scalars"]["t"] == 1
    m = Momentum()
    m.update({"W": np.zeros((2, 2))}, {"W": np.ones((2, 2))})
    assert sorted(m.state_dict()["arrays"]) == ["v.W"]
    assert SGD(0.5).state_dict() == {"name": "SGD", "scalars": {"lr": 0.5, "t": 0}, "arrays": {}}


def test_load_state_dict_reads_the_trainers_old_format():
    """Checkpoints written before state_dict: Adam's step count under "iter", per-key arrays."""
    a = Adam()
    a.load_state_dict({"name": "Adam", "scalars": {"lr": 0.002, "beta1": 0.8, "beta2": 0.99,
                                                   "eps": 1e-7, "iter": 4},
                       "arrays": {"m.W": np.ones(3), "v.W": np.full(3, 4.0)}})
    assert (a.lr, a.beta1, a.beta2, a.eps, a.t, a.iter) == (0.002, 0.8, 0.99, 1e-7, 4, 4)
    p = {"W": np.zeros(3)}
    a.update(p, {"W": np.ones(3)})
    lr_t = 0.002 * np.sqrt(1 - 0.99 ** 5) / (1 - 0.8 ** 5)
    m, v = 1.0, 4.0 + 0.01 * (1 - 4.0)
    agree(p["W"], np.full(3, -lr_t * m / (np.sqrt(v) + 1e-7)), 1e-15, "continued")


@pytest.mark.parametrize("state, exc, msg", [
    ({"name": "Momentum", "scalars": {}, "arrays": {}}, ValueError,
     r"^state: saved from Momentum, this optimizer is Adam$"),
    ([1, 2], TypeError, r"^state: expected a dict from Adam.state_dict\(\), got list$"),
    ({"name": "Adam", "scalars": {"momentum": 0.9}}, ValueError,
     r"^state: 'momentum' is not a setting of Adam \(expected beta1, beta2, eps, lr, t\)$"),
    ({"name": "Adam", "scalars": {"beta1": 1.0}}, ValueError,
     r"^beta1: expected a number in \[0, 1\), got 1.0$"),
    ({"name": "Adam", "scalars": {"t": -1}}, ValueError, r"^state: t: expected a step count >= 0, got -1$"),
    ({"name": "Adam", "scalars": {"t": 1.5}}, ValueError, r"^state: t: expected a step count >= 0, got 1.5$"),
    ({"name": "Adam", "arrays": {"h": np.zeros(3)}}, ValueError,
     r"^state: array 'h' is not state of Adam \(expected m, v\)$"),
    ({"name": "Adam", "arrays": {"m": np.zeros(3, int), "v": np.zeros(3)}}, TypeError,
     r"^state: m: expected a float32 or float64 array, got \(3,\) int64$"),
    ({"name": "Adam", "arrays": {"m": np.zeros(3)}}, ValueError,
     r"^state: expected flat arrays m, v \(and nothing per key\), got m$"),
    ({"name": "Adam", "arrays": {"m": np.zeros(3), "v": np.zeros(4)}}, ValueError,
     r"^state: flat arrays of different shapes or dtypes"),
    ({"name": "Adam", "arrays": {"m": np.zeros(3), "v": np.zeros(3, np.float32)}}, ValueError,
     r"^state: flat arrays of different shapes or dtypes"),
    ({"name": "Adam", "arrays": {"m": np.zeros((3, 1)), "v": np.zeros((3, 1))}}, ValueError,
     r"^state: m: expected a flat \(P,\) array, got \(3, 1\) float64$"),
    ({"name": "Adam", "arrays": {"m.W": np.zeros(3), "v.W": np.zeros(2)}}, ValueError,
     r"^state: v.W does not match m.W$"),
    ({"name": "Adam", "arrays": {"m.W": np.zeros(3), "v.b": np.zeros(3)}}, ValueError,
     r"^state: v.[Wb] does not match m.[Wb]$"),
])
def test_load_state_dict_checks(state, exc, msg):
    a = Adam(0.5)
    a.update({"W": np.zeros(3)}, {"W": np.ones(3)})
    before = a.state_dict()
    with pytest.raises(exc, match=msg):
        a.load_state_dict(state)
    after = a.state_dict()                     # nothing changed
    assert after["scalars"] == before["scalars"]
    assert all(np.array_equal(after["arrays"][k], v) for k, v in before["arrays"].items())


def test_loaded_flat_state_must_fit_the_parameters():
    a = Momentum()
    a.load_state_dict({"name": "Momentum", "arrays": {"v": np.zeros(7)}})
    theta, params = flat_params(np.float64)
    with pytest.raises(ValueError, match=r"^params: views of a buffer of 58 float64 values, but the "
                                         r"optimizer's state is over 7 float64 values"):
        a.update(params, {k: np.ones_like(p) for k, p in params.items()})


# -- hyper-parameters --------------------------------------------------------------------
TINY = 5e-324
BELOW_ONE = np.nextafter(1.0, 0.0)


@pytest.mark.parametrize("name", O.NAMES)
def test_hyper_parameter_bounds(name):
    """Each boundary on both sides: accepted values make an optimizer that updates finitely,
    refused ones raise one message naming the argument."""
    cls = type(O.make(name))
    settings = [s for s in cls.settings if s is not None]
    bounds = {"lr": ([TINY, 1e300, 0.5], [0, -TINY, np.inf, np.nan]),
              "eps": ([TINY, 1e300], [0, -1e-7, np.inf, np.nan]),
              "momentum": ([0, 0.0, BELOW_ONE], [1, 1.0, -TINY, np.nan, np.inf]),
              "decay_rate": ([0, BELOW_ONE], [1, -TINY, np.nan]),
              "beta1": ([0, BELOW_ONE], [1, -TINY, np.nan]),
              "beta2": ([0, BELOW_ONE], [1, -TINY, np.nan])}
    for s in settings:
        good, bad = bounds[s]
        for v in good:
            opt = cls(**{s: v})
            assert getattr(opt, s) == v
        for v in bad:
            with pytest.raises(ValueError, match=rf"^{s}: expected ") as e:
                cls(**{s: v})
            assert "\n" not in str(e.value)


def test_hyper_and_kind():
    assert list(SGD(0.5).hyper()) == [0.5, 0, 0, 0]
    assert list(Momentum(0.5, 0.25).hyper()) == [0.5, 0.25, 0, 0]
    assert list(Nesterov(0.5, 0.25).hyper()) == [0.5, 0.25, 0, 0]
    assert list(AdaGrad(0.5, 1e-3).hyper()) == [0.5, 0, 0, 1e-3]
    assert list(RMSprop(0.5, 0.25, 1e-3).hyper()) == [0.5, 0.25, 0, 1e-3]
    assert list(Adam(0.5, 0.25, 0.75, 1e-3).hyper()) == [0.5, 0.25, 0.75, 1e-3]
    h = Adam().hyper()
    assert h.dtype == np.float64 and h.shape == (K.NHP,)
    for name, code in K.NAMES.items():
        opt = O.make(name)
        assert opt.kind == code and opt.name == name and opt.t == 0


def test_defaults_are_the_books():
    """The book's defaults (common/optimizer.py), except Adam's eps, 1e-8 as before."""
    assert SGD().hyper_parameters() == {"lr": 0.01}
    assert Momentum().hyper_parameters() == {"lr": 0.01, "momentum": 0.9}
    assert Nesterov().hyper_parameters() == {"lr": 0.01, "momentum": 0.9}
    assert AdaGrad().hyper_parameters() == {"lr": 0.01, "eps": 1e-7}
    assert RMSprop().hyper_parameters() == {"lr": 0.01, "decay_rate": 0.99, "eps": 1e-7}
    assert Adam().hyper_parameters() == {"lr": 0.001, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}


def test_make():
    m = O.make("Momentum", lr=0.1, momentum=0.5)
    assert type(m) is Momentum and (m.lr, m.momentum) == (0.1, 0.5)
    a = O.make("adam", lr=None, beta1=0.8, beta2=None, momentum=None)   # None: the default
    assert (a.lr, a.beta1, a.beta2) == (0.001, 0.8, 0.999)
    assert type(O.make("rmsprop", decay_rate=0.5)) is RMSprop
    with pytest.raises(ValueError, match=r"^optimizer: expected one of sgd, momentum, nesterov, "
                                         r"adagrad, rmsprop, adam, got 'adamw'$"):
        O.make("adamw")
    with pytest.raises(ValueError, match=r"^optimizer: expected one of .*, got 3$"):
        O.make(3)
    with pytest.raises(ValueError, match=r"^momentum: not a setting of adam \(its settings: lr, "
                                         r"beta1, beta2, eps\)$"):
        O.make("adam", momentum=0.9)
    with pytest.raises(ValueError, match=r"^beta2: expected a number in \[0, 1\), got 1$"):
        O.make("adam", beta2=1)


@pytest.mark.parametrize("make, make_ref", [
    CASES["momentum"], CASES["nesterov"], CASES["adagrad"], CASES["rmsprop"],
    (lambda: Adam(0.01), lambda: R.Adam(0.01)), CASES["sgd"],
], ids=["momentum", "nesterov", "adagrad", "rmsprop", "adam", "sgd-layers"])
def test_trainer_with_optimizer_follows_reference_loop(make, make_ref):
    """Trainer on the layer path (any optimizer other than plain SGD; SGD forced with
    fused=False) against the reference loop over the same shuffled batches: the
    trainer's rng draws one permutation per epoch; batches are consecutive slices,
    the last one short.  Measured: params <= 4e-16, losses <= 2e-16 apart."""
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


@pytest.mark.parametrize("name", O.NAMES)
def test_network_per_key_then_flat(name):
    """On a MultiLayerNet: update(net.params, net.gradient(x, t)) for some steps, then the
    kernel over net.theta with net.gradient_flat, equals per-key updates throughout."""
    from fastnn.model import MultiLayerNet
    rng = np.random.default_rng(8)
    x, t = rng.random((12, 6)), rng.integers(0, 3, 12)
    nets = [MultiLayerNet(6, [5, 4], 3, seed=2) for _ in range(2)]
    opts = [O.make(name), O.make(name)]
    for step in range(6):
        rows = slice(2 * step, 2 * step + 2)
        opts[0].update(nets[0].params, nets[0].gradient(x[rows], t[rows]))
        if step < 3:
            opts[1].update(nets[1].params, nets[1].gradient(x[rows], t[rows]))
        else:
            flat_step(opts[1], nets[1].theta, nets[1].gradient_flat(x[rows], t[rows]))
    assert np.array_equal(nets[0].theta, nets[1].theta)
    assert not np.array_equal(nets[0].theta, MultiLayerNet(6, [5, 4], 3, seed=2).theta)


def test_loading_keeps_the_flat_arrays_the_fused_path_holds():
    """flat_state's arrays stay the optimizer's state after load_state_dict of the same size,
    and per-key state assigned while the flat state exists is not silently ignored."""
    theta, params = flat_params(np.float64)
    grads = grad_stream(theta, params, 4)
    a = Adam(0.01)
    a.update(params, grads[0][1])
    saved = a.state_dict()
    s1, s2 = a.flat_state(theta.size, np.float64)
    m_view = a.m["p0"]
    flat_step(a, theta, grads[1][0])
    a.load_state_dict(saved)
    assert a.flat_state(theta.size, np.float64)[0] is s1 and a.m["p0"] is m_view
    assert np.array_equal(s1, saved["arrays"]["m"]) and np.array_equal(s2, saved["arrays"]["v"])
    b = Momentum(0.1)
    b.flat_state(theta.size, np.float64)
    b.v = {k: np.ones_like(p) for k, p in params.items()}       # an old checkpoint's arrays
    with pytest.raises(ValueError, match="pass params="):
        b.flat_state(theta.size, np.float64)
    s1, _ = b.flat_state(theta.size, np.float64, params=params)
    assert np.array_equal(s1, np.ones(theta.size))


def test_replaced_entry_of_bound_params_keeps_the_flat_state():
    """An entry of params replaced by a separate array of the same shape (as a user may do
    with net.params before the network copies it back into theta) is updated with the flat
    state of its key: the state stays one, and continues."""
    theta, params = flat_params(np.float64)
    grads = grad_stream(theta, params, 3)
    ref_theta = theta.copy()
    ref = views_of(ref_theta, shapes_of(params))
    a, b = Momentum(0.1), Momentum(0.1)
    a.update(params, grads[0][1])
    b.update(ref, grads[0][1])
    replaced = dict(params, p2=params["p2"].copy())
    a.update(replaced, grads[1][1])
    b.update(ref, grads[1][1])
    params["p2"][...] = replaced["p2"]                  # what the network's check does
    a.update(params, grads[2][1])
    b.update(ref, grads[2][1])
    assert np.array_equal(theta, ref_theta)
    with pytest.raises(ValueError, match=r"^params: the optimizer's state is flat, over 58 float64"):
        a.update(dict(params, p2=np.zeros((3, 5))), dict(grads[0][1], p2=np.zeros((3, 5))))
    theta32, params32 = flat_params(np.float32)
    c = Momentum(0.1)
    c.update(params32, {k: np.ones_like(p) for k, p in params32.items()})
    with pytest.raises(ValueError, match=r"^params: the optimizer's state is flat, over 58 float32"):
        c.update(dict(params32, p2=np.zeros((5, 3))), {k: np.ones(p.shape) for k, p in params32.items()})


def test_same_array_under_another_key():
    """The cached plan of an update is not reused when a key is renamed."""
    w = np.zeros((2, 2))
    m = Momentum(0.5, momentum=0.5)
    m.update({"a": w}, {"a": np.ones((2, 2))})
    m.update({"b": w}, {"b": np.ones((2, 2))})           # b: new state, a step of -lr g
    agree(w, np.full((2, 2), -1.0), 0, "two first steps")
    assert sorted(m.v) == ["a", "b"]


def test_replaced_entry_with_adam_uses_both_moments():
    theta, params = flat_params(np.float64)
    grads = grad_stream(theta, params, 3)
    ref_theta = theta.copy()
    ref = views_of(ref_theta, shapes_of(params))
    a, b = Adam(0.1), Adam(0.1)
    a.update(params, grads[0][1])           # bound: the state views the flat buffer
    b.update(ref, grads[0][1])
    for g in (grads[1][1], grads[2][1]):
        replaced = dict(params, p0=params["p0"].copy())
        a.update(replaced, g)
        params["p0"][...] = replaced["p0"]
        b.update(ref, g)
    assert np.array_equal(theta, ref_theta)


def test_flat_state_of_another_dtype_is_refused():
    theta, params = flat_params(np.float64)
    m = Momentum()
    m.flat_state(theta.size, np.float32)
    with pytest.raises(ValueError, match=r"^params: views of a buffer of 58 float64 values, but the "
                                         r"optimizer's state is over 58 float32 values"):
        m.update(params, {k: np.ones_like(p) for k, p in params.items()})


def test_assigning_state_of_bound_params():
    """opt.v = {...} while the state views the flat buffer: copied into it, shapes checked."""
    theta, params = flat_params(np.float64)
    m = Momentum(0.1)
    m.update(params, {k: np.zeros_like(p) for k, p in params.items()})
    s1, _ = m.flat_state(theta.size, np.float64)
    m.v = {"p1": np.full(5, 2.0)}
    assert np.array_equal(s1[35:40], np.full(5, 2.0)) and not s1[:35].any() and not s1[40:].any()
    for bad in ({"p1": np.zeros(4)}, {"p1": np.zeros(6)}, {"p1": np.zeros((5, 1))}, {"q": np.zeros(5)}):
        with pytest.raises(ValueError, match=r"^v\['(p1|q)'\]: expected one of the shapes of the parameters"):
            m.v = bad
