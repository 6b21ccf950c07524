"""The chapter-6 optimizers with the book's protocol: ``update(params, grads)`` changes params in place.

SGD, Momentum, Nesterov, AdaGrad, RMSprop and Adam, each computed by one elementwise
kernel of :mod:`kernels.optimizers` (the book's formulas, ``common/optimizer.py``), once per
parameter.  ``make("adam", lr=1e-3)`` builds one by name.

Hyper-parameters are checked when the optimizer is made: lr > 0 and finite,
0 <= momentum, decay_rate, beta1, beta2 < 1 (a rate of 1 would never forget, and Adam's bias
correction divides by 1 - beta**t), eps > 0 and finite.  ``update`` checks that every
parameter has a gradient of its shape.

State and the flat buffer.  The per-key state keeps the book's names (``Momentum.v``,
``AdaGrad.h``, ``Adam.m`` / ``Adam.v``: dicts of arrays, None before the first update).  When
every ``params[key]`` is a contiguous view into one 1-D buffer (a network's ``theta``), that
state is itself a set of views, at the same offsets, into flat state arrays of the buffer's
size: ``flat_state(P, dtype)`` returns those arrays, so a per-key ``update`` and a step of the
fused path over the whole buffer (``kernels.optimizers.apply(kind, hyper(), t, theta, grad,
s1, s2)`` after ``t += 1``) read and write the same numbers and continue each other in any
order.  Parameters that are separate arrays get separate state arrays, as in the book.
``state_dict()`` / ``load_state_dict(d)`` save and restore all of it.
"""
import numbers

import numpy as np

from kernels import optimizers as K

from ._checks import ShapeError, describe, positive_float, unit_interval

__all__ = ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam", "Optimizer", "make",
           "NAMES"]

#: Optimizer names, as ``make`` and the command line take them (kernels.optimizers.NAMES).
NAMES = tuple(K.NAMES)


def _check_pair(params, grads):
    """Raise unless params and grads are dicts and each params[key] has a grads[key] of its shape."""
    for name, d in (("params", params), ("grads", grads)):
        if not hasattr(d, "keys") or not hasattr(d, "__getitem__"):
            raise TypeError(f"{name}: expected a dict of arrays, got {type(d).__name__}")
    for key in params:
        p = params[key]
        if not isinstance(p, np.ndarray) or p.dtype.kind != "f":
            raise TypeError(f"params[{key!r}]: expected a float array updated in place, got {describe(p)}")
        if key not in grads:
            raise ValueError(f"grads: missing {key!r}, which params has")
        g = grads[key]
        if np.shape(g) != p.shape:
            raise ShapeError(f"grads[{key!r}]: expected {describe(p)} like params[{key!r}], "
                             f"got {describe(np.asarray(g)) if not isinstance(g, np.ndarray) else describe(g)}")


def _buffer_layout(params):
    """(buffer, {key: (offset, shape)}) when every params[key] is a C-contiguous view into one
    1-D buffer of its dtype (or is that buffer), else None."""
    buf, layout = None, {}
    for key, p in params.items():
        b = p if p.base is None else p.base
        if buf is None:
            buf = b
            if not (isinstance(b, np.ndarray) and b.ndim == 1 and b.flags.c_contiguous):
                return None
        elif b is not buf:
            return None
        if p.dtype != buf.dtype or not p.flags.c_contiguous:
            return None
        off, rem = divmod(p.ctypes.data - buf.ctypes.data, p.itemsize)
        if rem or off < 0 or off + p.size > buf.size:
            return None
        layout[key] = (off, p.shape)
    return (buf, layout) if buf is not None else None


class Optimizer:
    """Base of the six optimizers: the book's ``update(params, grads)`` plus what the fused
    path needs (``kind``, ``hyper()``, ``t``, ``flat_state``) and ``state_dict``.

    Subclasses set ``kind`` (a kernels.optimizers code), ``state_names`` (the book's names of
    the per-key state dicts, one per flat state array) and ``settings`` (the names of the
    hyper-parameters in the order (lr, a, b, eps) of ``hyper()``, None where unused).
    """
    kind = None
    state_names = ()
    settings = ("lr", None, None, None)

    def __init__(self, lr):
        self.lr = positive_float("lr", lr)
        #: steps taken (Adam's t in the bias correction)
        self.t = 0
        self._flat = None     # (s1, s2) flat state arrays (P,), or None
        self._layout = None   # {key: (offset, shape)} when the per-key state views _flat
        self._keys = None     # [dict key -> array] per state name, or None before any state
        self._plan = None     # cached (params items, work list) of the last update

    # -- the fused path's view ----------------------------------------------------------
    @property
    def name(self):
        """The optimizer's name in NAMES (``"adam"``)."""
        return type(self).__name__.lower()

    def hyper(self):
        """(lr, a, b, eps) float64 (4,), as kernels.optimizers.apply takes them."""
        return np.array([0.0 if s is None else float(getattr(self, s)) for s in self.settings])

    def flat_state(self, P, dtype, params=None):
        """(s1, s2): the state arrays (P,) of ``dtype`` over a flat parameter buffer of P values,
        allocated (zeros) at the first call and the same arrays after; empty arrays where the
        optimizer keeps no state.  ``params`` (optional, dict of views into that buffer) first
        moves per-key state held so far (e.g. loaded from an old checkpoint) into them."""
        dtype = np.dtype(dtype)
        if not isinstance(P, numbers.Integral) or P < 0:
            raise ValueError(f"P: expected a parameter count >= 0, got {P!r}")
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype: expected float32 or float64, got {dtype}")
        if params is not None:
            _check_pair(params, params)
            self._work(params)
        if self._layout is None and self._keys is not None and any(self._keys):
            raise ValueError(
                f"{type(self).__name__}: its state is held per parameter for arrays that are not "
                f"views of one buffer; pass params= (views of the flat buffer) to flat_state to "
                f"carry it over")
        if self._flat is None:
            self._allocate(P, dtype)
        if not self.state_names and self._flat[0].dtype != dtype:
            self._allocate(0, dtype)            # no state: nothing to keep
        s1, s2 = self._flat
        if s1.size != P and self.state_names or s1.dtype != dtype:
            raise ValueError(f"P, dtype: the optimizer's state is over {s1.size} {s1.dtype} values, "
                             f"got {P} {dtype}; use a new optimizer for another network")
        return s1, s2

    # -- the book's protocol --------------------------------------------------------------
    def update(self, params, grads):
        """One step: params[key] updated in place from grads[key] (same shapes), for every key."""
        _check_pair(params, grads)
        work = self._work(params)
        self.t += 1
        hp = self.hyper()
        for key, pf, s1, s2, p in work:
            flat = pf if pf is not None else np.ascontiguousarray(p).reshape(-1)
            gf = np.ascontiguousarray(grads[key], dtype=flat.dtype).reshape(-1)
            K.apply(self.kind, hp, self.t, flat, gf, s1, s2)
            if pf is None:                     # p is not contiguous: the update went to a copy
                p[...] = flat.reshape(p.shape)

    # -- state ----------------------------------------------------------------------------
    def _allocate(self, P, dtype):
        n = K.STATES[self.kind]
        self._flat = tuple(np.zeros(P if i < n else 0, dtype) for i in range(2))
        self._plan = None

    def _work(self, params):
        """[(key, p as a flat view or None where p is not contiguous, s1, s2, p)] for each key, creating or
        binding state as needed; cached while params holds the same array objects."""
        items = tuple(params.items())
        plan = self._plan
        if plan is not None and len(plan[0]) == len(items) and all(
                k == k0 and p is p0 for (k, p), (k0, p0) in zip(items, plan[0])):
            return plan[1]
        found = _buffer_layout(params)
        if found is not None:
            work = self._bind(*found)
        else:
            work = self._separate(params)
        self._plan = (items, work)
        return work

    def _bind(self, buf, layout):
        """Per-key state as views into the flat state over ``buf`` (allocated if needed)."""
        if self._flat is None or not self.state_names and self._flat[0].dtype != buf.dtype:
            self._allocate(buf.size, buf.dtype)
        s1, s2 = self._flat
        if (s1.size != buf.size and self.state_names) or s1.dtype != buf.dtype:
            raise ValueError(f"params: views of a buffer of {buf.size} {buf.dtype} values, but the "
                             f"optimizer's state is over {s1.size} {s1.dtype} values; use a new "
                             f"optimizer for another network")
        held = self._keys if self._layout is None else None    # separate state to carry over
        keys = [dict() for _ in self.state_names]
        work = []
        for key, (off, shape) in layout.items():
            size = int(np.prod(shape, dtype=np.int64))
            views = [s[off:off + size] for s in self._flat[:len(self.state_names)]]
            for i, v in enumerate(views):
                keys[i][key] = v.reshape(shape)
                if held is not None and held[i] and key in held[i]:
                    old = held[i][key]
                    if old.shape != shape:
                        raise ValueError(f"{self.state_names[i]}[{key!r}]: the optimizer's state is "
                                         f"{describe(old)}, params[{key!r}] is {shape}")
                    v[...] = old.reshape(-1)
            while len(views) < 2:
                views.append(self._flat[1])    # an empty array of the dtype
            work.append((key, buf[off:off + size], views[0], views[1], None))
        self._keys, self._layout = keys, dict(layout)
        return work

    def _separate(self, params):
        """Per-key state arrays of each parameter's shape and dtype (the book's dicts)."""
        if self.state_names and (self._layout is not None or self._flat is not None):
            # flat state: usable when each array has the shape and dtype of a bound key (an
            # entry of net.params replaced by the user, not yet copied into theta)
            dt = self._flat[0].dtype
            if self._layout is None or any(key not in self._layout or self._layout[key][1] != p.shape
                                           or p.dtype != dt for key, p in params.items()):
                raise ValueError(f"params: the optimizer's state is flat, over {self._flat[0].size} "
                                 f"{dt} values (one buffer whose views the parameters were); got "
                                 f"parameters that are not views of one buffer")
            empty = self._flat[1][:0]
            work = []
            for key, p in params.items():
                states = [d[key].reshape(-1) for d in self._keys] + [empty, empty]
                work.append((key, p.reshape(-1) if p.flags.c_contiguous else None, states[0],
                             states[1], p))
            return work
        if self._keys is None:
            self._keys = [dict() for _ in self.state_names]
        work = []
        for key, p in params.items():
            states = []
            for i, name in enumerate(self.state_names):
                s = self._keys[i].get(key)
                if s is None:
                    s = self._keys[i][key] = np.zeros(p.shape, p.dtype)
                elif s.shape != p.shape or s.dtype != p.dtype or not s.flags.c_contiguous:
                    if s.shape != p.shape:
                        raise ValueError(f"params[{key!r}]: {describe(p)}, but the optimizer's "
                                         f"{name}[{key!r}] is {describe(s)} (from earlier updates); "
                                         f"use a new optimizer for new parameters")
                    s = self._keys[i][key] = np.ascontiguousarray(s, p.dtype)
                states.append(s.reshape(-1))
            empty = np.zeros(0, p.dtype)
            while len(states) < 2:
                states.append(empty)
            work.append((key, p.reshape(-1) if p.flags.c_contiguous else None, states[0], states[1], p))
        return work

    def _get_state(self, i):
        return None if self._keys is None else self._keys[i]

    def _set_state(self, i, d):
        """Book-style assignment (``opt.v = {...}``): values copied into the bound state, or
        held per key until the next update; None forgets all state."""
        name = self.state_names[i]
        if d is None:
            self._flat = self._layout = self._keys = self._plan = None
            return
        if not hasattr(d, "items"):
            raise TypeError(f"{name}: expected a dict of arrays, got {type(d).__name__}")
        arrays = {}
        for key, v in d.items():
            a = np.array(v)
            if a.dtype.kind != "f":
                raise TypeError(f"{name}[{key!r}]: expected a float array, got {describe(a)}")
            arrays[key] = a
        if self._layout is not None:
            for key, a in arrays.items():
                if key not in self._layout or self._layout[key][1] != a.shape:
                    raise ValueError(f"{name}[{key!r}]: expected one of the shapes of the parameters "
                                     f"the optimizer updates, got {describe(a)}")
                self._keys[i][key][...] = a
            return
        if self._keys is None:
            self._keys = [dict() for _ in self.state_names]
        self._keys[i] = arrays
        self._plan = None

    def hyper_parameters(self):
        """{name: value} of the settings (lr, momentum, ...)."""
        return {s: getattr(self, s) for s in self.settings if s is not None}

    def state_dict(self):
        """{"name", "scalars", "arrays"}: the class name, the settings and t (JSON numbers), and
        copies of the state arrays: ``"v"`` (P,) for flat state, ``"v.W1"`` for per-key state."""
        scalars = dict(self.hyper_parameters(), t=self.t)
        arrays = {}
        if self._flat is not None:
            for name, s in zip(self.state_names, self._flat):
                arrays[name] = s.copy()
        elif self._keys is not None:
            for name, d in zip(self.state_names, self._keys):
                arrays.update({f"{name}.{k}": v.copy() for k, v in d.items()})
        return {"name": type(self).__name__, "scalars": scalars, "arrays": arrays}

    def load_state_dict(self, d):
        """Restore what ``state_dict`` gave (from an optimizer of the same class), checked first.
        Flat state of the size and dtype already allocated is copied into the same arrays (the
        ones flat_state returned, and their per-key views); otherwise the state binds to the
        parameters at the next update or flat_state."""
        name = type(self).__name__
        if not hasattr(d, "get") or "name" not in d:
            raise TypeError(f"state: expected a dict from {name}.state_dict(), got {type(d).__name__}")
        if d["name"] != name:
            raise ValueError(f"state: saved from {d['name']}, this optimizer is {name}")
        scalars = dict(d.get("scalars") or {})
        if "iter" in scalars:                       # checkpoints before t was common to all
            scalars.setdefault("t", scalars.pop("iter"))
        allowed = set(self.hyper_parameters()) | {"t"}
        for key in scalars:
            if key not in allowed:
                raise ValueError(f"state: {key!r} is not a setting of {name} "
                                 f"(expected {', '.join(sorted(allowed))})")
        probe = type(self)(**dict(self.hyper_parameters(),             # the constructor's checks
                                  **{k: v for k, v in scalars.items() if k != "t"}))
        t = scalars.get("t", 0)
        if not isinstance(t, numbers.Integral) or isinstance(t, bool) or t < 0:
            raise ValueError(f"state: t: expected a step count >= 0, got {t!r}")
        flat, keys = {}, [dict() for _ in self.state_names]
        for key, v in (d.get("arrays") or {}).items():
            state, _, pkey = key.partition(".")
            if state not in self.state_names:
                raise ValueError(f"state: array {key!r} is not state of {name} "
                                 f"(expected {', '.join(self.state_names) or 'none'})")
            a = np.array(v)
            if a.dtype not in (np.float32, np.float64):
                raise TypeError(f"state: {key}: expected a float32 or float64 array, got {describe(a)}")
            if pkey:
                keys[self.state_names.index(state)][pkey] = a
            else:
                if a.ndim != 1:
                    raise ShapeError(f"state: {key}: expected a flat (P,) array, got {describe(a)}")
                flat[state] = a
        if flat:
            if any(keys) or len(flat) != len(self.state_names):
                raise ValueError(f"state: expected flat arrays {', '.join(self.state_names)} "
                                 f"(and nothing per key), got {', '.join(sorted(d['arrays']))}")
            shapes = {(a.shape, a.dtype) for a in flat.values()}
            if len(shapes) != 1:
                raise ShapeError("state: flat arrays of different shapes or dtypes: "
                                 + ", ".join(f"{k} {describe(a)}" for k, a in flat.items()))
        elif any(keys):
            ref = keys[0]
            for i, other in enumerate(keys[1:], 1):
                bad = [k for k in set(ref) | set(other)
                       if k not in ref or k not in other or ref[k].shape != other[k].shape]
                if bad:
                    raise ShapeError(f"state: {self.state_names[i]}.{bad[0]} does not match "
                                     f"{self.state_names[0]}.{bad[0]}")
        for s in self.hyper_parameters():
            setattr(self, s, getattr(probe, s))
        self.t = int(t)
        if flat:
            a = flat[self.state_names[0]]
            if self._flat is None or self._flat[0].shape != a.shape or self._flat[0].dtype != a.dtype:
                self._allocate(a.size, a.dtype)
                self._layout = self._keys = None
            # else: the same arrays (and the per-key views of them), which the fused path may hold
            for i, name in enumerate(self.state_names):
                self._flat[i][...] = flat[name]
        else:
            self._flat = self._layout = self._plan = None
            self._keys = keys if any(keys) else None


def _state_attribute(i, doc):
    return property(lambda self: self._get_state(i), lambda self, d: self._set_state(i, d), doc=doc)


class SGD(Optimizer):
    """W <- W - lr * dW."""
    kind = K.SGD

    def __init__(self, lr=0.01):
        super().__init__(lr)


class Momentum(Optimizer):
    """v <- momentum * v - lr * dW;  W <- W + v."""
    kind = K.MOMENTUM
    state_names = ("v",)
    settings = ("lr", "momentum", None, None)
    v = _state_attribute(0, "velocity per key (dict of arrays), None before the first update")

    def __init__(self, lr=0.01, momentum=0.9):
        super().__init__(lr)
        self.momentum = unit_interval("momentum", momentum)


class Nesterov(Optimizer):
    """Nesterov's accelerated gradient as the book writes it:
    v <- momentum * v - lr * dW;  W <- W + momentum^2 * v - (1 + momentum) * lr * dW."""
    kind = K.NESTEROV
    state_names = ("v",)
    settings = ("lr", "momentum", None, None)
    v = _state_attribute(0, "velocity per key (dict of arrays), None before the first update")

    def __init__(self, lr=0.01, momentum=0.9):
        super().__init__(lr)
        self.momentum = unit_interval("momentum", momentum)


class AdaGrad(Optimizer):
    """h <- h + dW * dW;  W <- W - lr * dW / (sqrt(h) + eps)."""
    kind = K.ADAGRAD
    state_names = ("h",)
    settings = ("lr", None, None, "eps")
    h = _state_attribute(0, "sum of squared gradients per key, None before the first update")

    def __init__(self, lr=0.01, eps=1e-7):
        super().__init__(lr)
        self.eps = positive_float("eps", eps)


class RMSprop(Optimizer):
    """h <- decay_rate * h + (1 - decay_rate) * dW * dW;  W <- W - lr * dW / (sqrt(h) + eps)."""
    kind = K.RMSPROP
    state_names = ("h",)
    settings = ("lr", "decay_rate", None, "eps")
    h = _state_attribute(0, "moving average of squared gradients per key, None before the first update")

    def __init__(self, lr=0.01, decay_rate=0.99, eps=1e-7):
        super().__init__(lr)
        self.decay_rate = unit_interval("decay_rate", decay_rate)
        self.eps = positive_float("eps", eps)


class Adam(Optimizer):
    """Adam (Kingma & Ba) with bias correction folded into the step size, as the book:
    m <- m + (1 - beta1) (dW - m);  v <- v + (1 - beta2) (dW^2 - v);
    W <- W - lr sqrt(1 - beta2^t) / (1 - beta1^t) * m / (sqrt(v) + eps).
    eps defaults to 1e-8 (the book writes 1e-7)."""
    kind = K.ADAM
    state_names = ("m", "v")
    settings = ("lr", "beta1", "beta2", "eps")
    m = _state_attribute(0, "first moment per key, None before the first update")
    v = _state_attribute(1, "second moment per key, None before the first update")

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8):
        super().__init__(lr)
        self.beta1 = unit_interval("beta1", beta1)
        self.beta2 = unit_interval("beta2", beta2)
        self.eps = positive_float("eps", eps)

    @property
    def iter(self):
        """The book's name for t."""
        return self.t

    @iter.setter
    def iter(self, value):
        self.t = value


_CLASSES = {K.SGD: SGD, K.MOMENTUM: Momentum, K.NESTEROV: Nesterov, K.ADAGRAD: AdaGrad,
            K.RMSPROP: RMSprop, K.ADAM: Adam}


def make(name, **hyper):
    """The optimizer called ``name`` (one of NAMES, any case) with the given settings;
    settings given as None take the optimizer's default.  ``make("momentum", lr=0.1)``."""
    key = name.lower() if isinstance(name, str) else name
    if key not in K.NAMES:
        raise ValueError(f"optimizer: expected one of {', '.join(NAMES)}, got {name!r}")
    cls = _CLASSES[K.NAMES[key]]
    known = [s for s in cls.settings if s is not None]
    for k, v in hyper.items():
        if k not in known and v is not None:
            raise ValueError(f"{k}: not a setting of {key} (its settings: {', '.join(known)})")
    return cls(**{k: v for k, v in hyper.items() if v is not None})
