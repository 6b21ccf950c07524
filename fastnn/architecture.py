"""What files record of a network, and the empty network rebuilt from that record.

    record = network_record(net)          # JSON-able: net.architecture(), or the two-layer dict
    net = network_from_record(record)     # same sizes, activation, init, decay and dtype

A TwoLayerNet of a version without descriptions is recorded as
``{"sizes": [D, H, C], "activation": ..., "dtype": ...}``; files written so keep loading
as TwoLayerNet. Any other network records ``net.architecture()`` and is rebuilt by
``from_architecture``.
"""
import json

import numpy as np

from ._checks import describe

__all__ = ["check_arrays", "network_from_record", "network_record", "same_architecture"]

#: The keys of the two-layer record written before networks had descriptions.
TWO_LAYER_KEYS = {"sizes", "activation", "dtype"}


def network_record(net):
    """A JSON-able record of ``net``'s architecture (see the module docstring)."""
    if hasattr(net, "architecture"):
        return net.architecture()
    D, H, C = net.sizes
    return {"sizes": [D, H, C], "activation": net.activation, "dtype": net.dtype.name}


def is_two_layer_record(record):
    return isinstance(record, dict) and set(record) == TWO_LAYER_KEYS and \
        len(record["sizes"]) == 3


def same_architecture(record, net):
    """Whether ``record`` (read from a file) describes ``net``'s architecture."""
    mine = network_record(net)
    if is_two_layer_record(record):      # written before architectures were recorded
        return type(net).__name__ == "TwoLayerNet" and \
            not getattr(net, "weight_decay_lambda", 0.0) and \
            all(_json(record[k]) == _json(mine[k]) for k in TWO_LAYER_KEYS)
    return _json(record) == _json(mine)


def _json(d):
    """d as it reads back from a file's JSON metadata (tuples as lists)."""
    return json.loads(json.dumps(d))


def network_from_record(record):
    """An empty network (weights drawn with seed 0) of the architecture ``record`` describes;
    ValueError if it describes none this version of fastnn can build."""
    if not isinstance(record, dict):
        raise ValueError(f"expected a network record (a dict), got {type(record).__name__}")
    if is_two_layer_record(record):
        from .network import TwoLayerNet
        D, H, C = (int(s) for s in record["sizes"])
        return TwoLayerNet(D, H, C, activation=record["activation"],
                           dtype=np.dtype(record["dtype"]), seed=0)
    build = _from_architecture()
    if build is None:
        raise ValueError(f"the network {record} needs a version of fastnn that builds networks "
                         "from their architecture")
    return build(record)


def _from_architecture():
    import fastnn
    fn = getattr(fastnn, "from_architecture", None)
    if fn is None:
        try:
            from . import model
            fn = getattr(model, "from_architecture", None)
        except ImportError:
            fn = None
    return fn


def check_arrays(net, arrays, where):
    """Raise ValueError unless ``arrays`` (name -> array) holds exactly the parameters of
    ``net``, each of its shape and dtype and finite; the message names the first array that
    does not match. ``where``: what the arrays are (a file name) for the message."""
    names = list(net.params)
    sizes = "-".join(map(str, net.sizes))
    for k in names:
        if k not in arrays:
            raise ValueError(f"{where}: missing array {k} of the {sizes} network")
    extra = [k for k in arrays if k not in net.params]
    if extra:
        raise ValueError(f"{where}: array {extra[0]} is not a parameter of the {sizes} network "
                         f"({', '.join(names)})")
    for k in names:
        a, p = arrays[k], net.params[k]
        if a.shape != p.shape or a.dtype != p.dtype:
            raise ValueError(f"{where}: {k} is {describe(a)}, expected {p.shape} {p.dtype} "
                             f"for the {sizes} network")
        if not np.isfinite(a).all():
            raise ValueError(f"{where}: {k} holds NaN or inf")
