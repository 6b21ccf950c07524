"""Weights and training checkpoints as .npz files that load without pickle.

A weights file holds the parameter arrays W1, b1, ... Wn, bn and ``meta``: a
JSON text in a 0-d unicode array, with the format name and the network's
architecture (fastnn.architecture: sizes, activation, weight init, weight
decay, dtype), from which ``load_net`` rebuilds the network alone. A
checkpoint holds the same plus the trainer's state (counters, the random
generator's state, the optimizer's name, hyper-parameters and state arrays,
the current epoch's order, the history) so that a run can continue exactly.
Files of the two-layer network written before architectures were recorded
(sizes, activation and dtype only) load as TwoLayerNet.
Everything reads back with ``np.load(path, allow_pickle=False)``; files are
written atomically (temporary file, fsync, rename), so an interrupted save
leaves the previous file intact.

    save_params(net, "weights.npz")
    net = load_net("weights.npz")
"""
from __future__ import annotations

import json
import os
import zipfile

import numpy as np

from ._atomic import atomic_write
from .architecture import (check_arrays, load_network_state, network_from_record,
                           network_record, network_state)

__all__ = ["CheckpointError", "load_checkpoint", "load_net", "load_params", "load_weights",
           "save_checkpoint", "save_params"]

WEIGHTS_FORMAT = "fastnn-weights"
CHECKPOINT_FORMAT = "fastnn-checkpoint"
#: The entry of a network's state buffer (fastnn.architecture.network_state), if it has one.
NET_STATE = "net.state"
VERSION = 1


class CheckpointError(ValueError):
    """A weights or checkpoint file is missing, truncated, corrupt or of another kind."""


def _write(path, arrays, meta):
    text = json.dumps(meta, separators=(",", ":"))  # NaN of a diverged run reads back too
    with atomic_write(path) as f:
        np.savez(f, meta=np.array(text), **arrays)


def save_params(net, path, **extra):
    """Write net's parameters and shape to ``path`` (.npz); ``extra`` goes into the metadata."""
    net.check_params()
    meta = {"format": WEIGHTS_FORMAT, "version": VERSION, "net": network_record(net),
            "extra": extra}
    arrays = dict(net.params)
    if network_state(net) is not None:      # running statistics, needed for inference
        arrays[NET_STATE] = network_state(net)
    _write(path, arrays, meta)


def save_checkpoint(state, path, **extra):
    """Write a ``Trainer.state_dict()`` to ``path`` (.npz); ``extra`` goes into the metadata."""
    arrays = dict(state["params"])
    opt = state["optimizer"]
    arrays.update({f"optimizer.{k}": v for k, v in opt["arrays"].items()})
    if state["order"] is not None:
        arrays["order"] = np.asarray(state["order"], dtype=np.int64)
    if state.get("net_state") is not None:
        arrays[NET_STATE] = state["net_state"]
    best = state.get("best")
    if best is not None:        # early stopping: the best epoch's weights so far
        best = dict(best)
        for k, v in (best.pop("params") or {}).items():
            arrays[f"best.{k}"] = v
        if best.get("net_state") is not None:     # and its running statistics
            arrays[f"best.{NET_STATE}"] = best["net_state"]
        best.pop("net_state", None)
    meta = {
        "format": CHECKPOINT_FORMAT, "version": VERSION, "net": state["net"],
        "optimizer": {"name": opt["name"], "scalars": opt["scalars"]},
        "counters": state["counters"], "rng": state["rng"], "config": state["config"],
        "history": state["history"], "extra": extra,
    }
    if state.get("net_rng") is not None:     # the network's own generator (dropout masks)
        meta["net_rng"] = state["net_rng"]
    if best is not None:
        meta["best"] = best
    _write(path, arrays, meta)


def _read(path, formats):
    """(meta, arrays) of a file written by this module, or CheckpointError naming the file."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise CheckpointError(f"{path}: no such file")
    entry = None
    try:
        z = np.load(path, allow_pickle=False)
        if not isinstance(z, np.lib.npyio.NpzFile):
            raise CheckpointError(f"{path}: not a .npz archive (a single .npy array)")
        with z:
            arrays = {}
            for entry in z.files:
                arrays[entry] = z[entry]
    except CheckpointError:
        raise
    except IsADirectoryError:
        raise CheckpointError(f"{path}: is a directory, expected a .npz file") from None
    except ValueError as e:
        raise CheckpointError(_refused(path, entry, e)) from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as e:
        raise CheckpointError(f"{path}: not a readable .npz file, truncated or corrupt ({e})") from None
    for k, v in arrays.items():
        if not isinstance(v, np.ndarray):  # NpzFile hands back raw bytes for a non-.npy member
            raise CheckpointError(f"{path}: entry {k!r} is not a numpy array; corrupt file")
    try:
        meta = json.loads(str(arrays.pop("meta")[()]))
    except KeyError:
        raise CheckpointError(f"{path}: no 'meta' entry; not written by fastnn") from None
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"{path}: unreadable metadata ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") not in formats:
        got = meta.get("format") if isinstance(meta, dict) else None
        raise CheckpointError(f"{path}: expected a {' or '.join(formats)} file, got format {got!r}")
    if meta.get("version") != VERSION:
        raise CheckpointError(f"{path}: format version {meta.get('version')!r}, this fastnn reads {VERSION}")
    return meta, arrays


def _refused(path, entry, error):
    """Why np.load(allow_pickle=False) refused path: pickled objects, or bytes of no known kind."""
    with open(path, "rb") as f:
        head = f.read(6)
    if entry is not None:
        what = f"a .npz archive whose entry {entry!r} holds pickled Python objects"
    elif head == b"\x93NUMPY":
        what = "a .npy array of pickled Python objects, not a fastnn .npz file"
    elif head[:1] == b"\x80":                      # the PROTO opcode that starts a pickle
        what = "a Python pickle, not a fastnn .npz file"
    else:
        return (f"{path}: not a readable .npz file, truncated or corrupt "
                f"(not a zip archive, a .npy array or a pickle)")
    return f"{path}: {what}; fastnn refuses to load pickles (unpickling can run code)"


def _network(path, meta, arrays):
    """(the network rebuilt from meta's record, its parameters from arrays), both checked."""
    try:
        net = network_from_record(meta["net"])
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: bad network description in the metadata ({e})") from None
    params = {k: v for k, v in arrays.items() if "." not in k and k != "order"}
    try:
        check_arrays(net, params, path)
    except ValueError as e:
        raise CheckpointError(str(e)) from None
    return net, {k: np.ascontiguousarray(params[k]) for k in net.params}


def load_params(path):
    """(params dict, meta) from a weights file or a checkpoint."""
    meta, arrays = _read(path, (WEIGHTS_FORMAT, CHECKPOINT_FORMAT))
    return _network(path, meta, arrays)[1], meta


def load_net(path):
    """The network saved in ``path`` (weights file or checkpoint), rebuilt from the
    architecture the file records, with its parameters."""
    meta, arrays = _read(path, (WEIGHTS_FORMAT, CHECKPOINT_FORMAT))
    net, params = _network(path, meta, arrays)
    for k, v in params.items():
        net.params[k][...] = v
    try:
        load_network_state(net, arrays.get(NET_STATE), path)
    except ValueError as e:
        raise CheckpointError(str(e)) from None
    return net


def load_weights(net, path):
    """Copy the parameters saved in ``path`` into ``net``, which must have the same
    parameters; CheckpointError naming the first array that does not match."""
    meta, arrays = _read(path, (WEIGHTS_FORMAT, CHECKPOINT_FORMAT))
    params = {k: v for k, v in arrays.items() if "." not in k and k != "order"}
    net.check_params()
    try:
        check_arrays(net, params, path)
    except ValueError as e:
        raise CheckpointError(str(e)) from None
    for k, v in net.params.items():
        v[...] = params[k]
    return net


def load_checkpoint(path):
    """(state for ``Trainer.load_state_dict``, extra metadata) from a checkpoint file."""
    meta, arrays = _read(path, (CHECKPOINT_FORMAT,))
    net, params = _network(path, meta, arrays)
    try:
        opt = meta["optimizer"]
        state = {
            "net": meta["net"], "params": params,
            "optimizer": {"name": opt["name"], "scalars": opt["scalars"],
                          "arrays": {k[len("optimizer."):]: v for k, v in arrays.items()
                                     if k.startswith("optimizer.")}},
            "counters": meta["counters"], "rng": meta["rng"], "config": meta["config"],
            "order": arrays.get("order"), "history": meta["history"],
            "net_state": arrays.get(NET_STATE), "net_rng": meta.get("net_rng"),
        }
        best = meta.get("best")
        if best is not None:
            best = dict(best, params={k: arrays[f"best.{k}"] for k in net.params}
                        if any(k.startswith("best.") for k in arrays) else None,
                        net_state=arrays.get(f"best.{NET_STATE}"))
        state["best"] = best
    except (KeyError, TypeError) as e:
        raise CheckpointError(f"{path}: incomplete checkpoint metadata (missing {e})") from None
    return state, meta.get("extra", {})
