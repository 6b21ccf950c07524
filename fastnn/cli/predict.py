"""``fastnn predict``: the class of each image file, by a trained network."""
import json
import sys

from . import option_error, positive


def register(sub):
    p = sub.add_parser(
        "predict", help="classify image files (PNG, JPEG, .npy) with a trained network",
        description="Load weights written by `fastnn train` (a run directory, weights.npz or "
                    "checkpoint.npz) and print the class and its probability for each image. "
                    "Pictures of any size, dark on light or light on dark, are brought to "
                    "MNIST's format first: grayscale, fitted into a 20x20 box keeping their "
                    "aspect, centred by centre of mass in 28x28.")
    p.add_argument("run", metavar="RUN", help="run directory, weights.npz or checkpoint.npz")
    p.add_argument("images", metavar="IMAGE", nargs="+",
                   help="PNG, JPEG or .npy files, or folders of them")
    p.add_argument("--top", type=positive(int), default=1, metavar="K",
                   help="print the K most probable classes of each image (1)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON document (a list, one object per image) instead of text")
    p.set_defaults(func=run)


def weights_path(run):
    """The weights file of RUN: the file itself, or weights.npz (else checkpoint.npz) in it."""
    from pathlib import Path
    path = Path(run)
    if path.is_dir():
        found = [path / n for n in ("weights.npz", "checkpoint.npz") if (path / n).exists()]
        if not found:
            raise ValueError(f"{path}: no weights.npz or checkpoint.npz in that directory")
        path = found[0]
    return path


def class_names(meta, C):
    """Names of the C classes of the data the weights were trained on (digits otherwise)."""
    from ..datasets import CLASS_NAMES
    from .evaluate import recorded_data
    name, _ = recorded_data(meta.get("extra", {}))
    names = CLASS_NAMES.get(name or "mnist")
    return tuple(names) if names is not None and len(names) == C else tuple(map(str, range(C)))


def run(args):
    try:
        return _run(args)
    except (ValueError, TypeError) as e:
        err = option_error(e, {"images": "IMAGE"})
        if err is e:
            raise
        raise err from None


def _run(args):
    from ..checkpoint import load_net, load_params
    from ..images import read_images
    from ..inference import predict, top_k

    path = weights_path(args.run)
    net = load_net(path)
    _, meta = load_params(path)
    D, C = net.sizes[0], net.sizes[-1]
    if D != 784:
        raise ValueError(f"{path}: a network with {D} inputs; predict reads 28x28 images (784)")
    names = class_names(meta, C)
    files, x = read_images(args.images)
    for f, row in zip(files, x):
        if not row.any():
            print(f"warning: {f}: a blank image (one level everywhere): its class means nothing",
                  file=sys.stderr)
    classes, probs = predict(net, x)
    k = min(args.top, C)
    if args.json:
        out = [{"file": f, "class": int(c), "name": names[c], "probability": float(p[c]),
                "top": [{"class": j, "name": names[j], "probability": q} for j, q in top_k(p, k)]}
               for f, c, p in zip(files, classes, probs)]
        json.dump(out, sys.stdout, indent=1)
        print()
        return 0
    width = max(len(f) for f in files)
    for f, p in zip(files, probs):
        ranked = "  ".join(f"{names[j]} {q:.3f}" for j, q in top_k(p, k))
        print(f"{f:<{width}}  {ranked}")
    return 0
