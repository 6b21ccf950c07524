"""``fastnn evaluate``: test accuracy and loss of saved weights."""
import sys
from pathlib import Path


def register(sub):
    p = sub.add_parser("evaluate", help="report the test accuracy of saved weights",
                       description="Load weights written by `fastnn train` (weights.npz, a "
                                   "checkpoint.npz, or the run directory) and evaluate them on a "
                                   "test set: by default the data set they were trained on.")
    p.add_argument("weights", metavar="WEIGHTS", help="weights.npz, checkpoint.npz or a run directory")
    p.add_argument("--dataset", choices=("mnist", "mnist-sample", "fashion-mnist"),
                   help="test set (default: the one the weights were trained on, else mnist)")
    p.add_argument("--data-dir", metavar="DIR", help="directory holding the four IDX files")
    p.add_argument("--no-download", action="store_true", help="never use the network")
    p.add_argument("--split", choices=("test", "train"), default="test", help="which split (test)")
    p.add_argument("--batch-size", type=int, default=10000, metavar="B",
                   help="samples per forward pass (10000)")
    p.set_defaults(func=run)


def run(args):
    from ..checkpoint import load_net, load_params
    from ..datasets import load
    from ..trainer import evaluate, _data

    path = Path(args.weights)
    if path.is_dir():
        found = [path / n for n in ("weights.npz", "checkpoint.npz") if (path / n).exists()]
        if not found:
            raise ValueError(f"{path}: no weights.npz or checkpoint.npz in that directory")
        path = found[0]
    if args.batch_size <= 0:
        raise ValueError(f"--batch-size: expected a positive integer, got {args.batch_size}")
    net = load_net(path)
    _, meta = load_params(path)
    extra = meta.get("extra", {})
    saved = extra.get("dataset") or (extra.get("args") or {}).get("dataset")
    name = args.dataset or saved or "mnist"
    data = load(name, data_dir=args.data_dir, download=False if args.no_download else None,
                dtype=net.dtype)
    print(f"data: {data.describe()}")
    x, t = data.test if args.split == "test" else data.train
    D, H, C = net.sizes
    if x.shape[1] != D or len(data.classes) != C:
        raise ValueError(f"{path}: a {D}-{H}-{C} network does not fit {data.name} "
                         f"({x.shape[1]} inputs, {len(data.classes)} classes)")
    x, t = _data(net, "x", x, "t", t)
    acc, loss = evaluate(net, x, t, args.batch_size)
    if saved and data.name != saved:
        print(f"note: the weights were trained on {saved}", file=sys.stderr)
    print(f"{args.split} accuracy {acc:.4f}  loss {loss:.4f}  ({len(x)} images, "
          f"{D}-{H}-{C} {net.activation} {net.dtype.name}, {path})")
    return 0
