"""``fastnn evaluate``: test accuracy and loss of saved weights, per-class accuracy, the
confusion matrix (text and confusion-SPLIT.png) and the most confident mistakes
(mistakes-SPLIT.png)."""
import sys
from pathlib import Path

from . import option_error, positive

DATASETS = ("mnist", "mnist-sample", "fashion-mnist")


def register(sub):
    p = sub.add_parser("evaluate", help="report accuracy, per-class accuracy and confusion "
                                        "matrix of saved weights",
                       description="Load weights written by `fastnn train` (weights.npz, a "
                                   "checkpoint.npz, or the run directory) and evaluate them on a "
                                   "test set: by default the data the run recorded (data set and "
                                   "directory), which the first line names. Prints the accuracy "
                                   "and loss, the accuracy of each class and the confusion matrix, "
                                   "and writes confusion-SPLIT.png and mistakes-SPLIT.png (the "
                                   "most confident mistakes) beside the weights.")
    p.add_argument("weights", metavar="WEIGHTS", help="weights.npz, checkpoint.npz or a run directory")
    p.add_argument("--dataset", choices=("mnist", "mnist-sample", "fashion-mnist"),
                   help="test set (default: the one the weights were trained on, else mnist)")
    p.add_argument("--data-dir", metavar="DIR",
                   help="directory holding the four IDX files (default: the run's)")
    p.add_argument("--no-download", action="store_true", help="never use the network")
    p.add_argument("--split", choices=("test", "train", "val"), default="test",
                   help="which split (test); val: the validation set a run with --validation held "
                        "out, drawn again from its recorded fraction and seed")
    p.add_argument("--batch-size", type=positive(int), default=10000, metavar="B",
                   help="samples per forward pass (10000)")
    p.add_argument("--plots", metavar="DIR",
                   help="where to write confusion-SPLIT.png and mistakes-SPLIT.png (default: the "
                        "folder of the weights)")
    p.add_argument("--no-plots", action="store_true", help="write no image files")
    p.add_argument("--mistakes", type=positive(int), default=25, metavar="K",
                   help="how many of the most confident mistakes to draw (25)")
    p.set_defaults(func=run)


def recorded_data(extra):
    """(dataset name, data directory) a run recorded in its weights' metadata (None if not)."""
    args = extra.get("args") if isinstance(extra.get("args"), dict) else {}
    name = args.get("dataset") or extra.get("dataset")
    name = name if name in DATASETS else None
    data_dir = args.get("data_dir")
    return name, data_dir if isinstance(data_dir, str) else None


def _validation_rows(extra, data, saved, x, t):
    """The rows of the training set that the run held out for validation."""
    import numpy as np

    from ..splits import stratified_split
    from .train import trainer_seed
    args = extra.get("args") if isinstance(extra.get("args"), dict) else {}
    fraction, seed = args.get("validation"), args.get("seed")
    if not fraction or seed is None:
        raise ValueError("--split val: the run held out no validation set (it was trained "
                         "without --validation)")
    if data.name != saved:
        raise ValueError(f"--split val: the validation set is part of {saved}'s training set, "
                         f"not of {data.name}")
    _, val = stratified_split(np.asarray(t), float(fraction), np.random.default_rng(trainer_seed(seed)))
    return x[val], t[val]


def run(args):
    try:
        return _run(args)
    except (ValueError, TypeError) as e:
        err = option_error(e, {"data_dir": "--data-dir", "batch_size": "--batch-size"})
        if err is e:
            raise
        raise err from None


def _run(args):
    from ..checkpoint import load_net, load_params
    from ..datasets import load
    from ..evaluation import check_data as _data, evaluate

    path = Path(args.weights)
    if path.is_dir():
        found = [path / n for n in ("weights.npz", "checkpoint.npz") if (path / n).exists()]
        if not found:
            raise ValueError(f"{path}: no weights.npz or checkpoint.npz in that directory")
        path = found[0]
    net = load_net(path)
    _, meta = load_params(path)
    saved, saved_dir = recorded_data(meta.get("extra", {}))
    if args.dataset is None and args.data_dir is not None and saved == "mnist-sample":
        saved_name = "mnist"              # a directory given: the IDX files in it
    else:
        saved_name = saved
    name = args.dataset or saved_name or "mnist"
    data_dir = args.data_dir
    if data_dir is None and name == saved:
        data_dir = saved_dir                # the run's own directory, unless told otherwise
    if args.dataset is None and args.data_dir is None:
        why = "the data the run recorded" if saved else "no data recorded: the default"
    else:
        why = "as given"
    try:
        data = load(name, data_dir=data_dir, download=False if args.no_download else None,
                    dtype=net.dtype)
    except (OSError, ValueError) as e:
        if data_dir is not None and data_dir == saved_dir and args.data_dir is None:
            raise type(e)(f"{e} (the directory the run recorded; give --data-dir to use "
                          "another)") from None
        raise
    print(f"data: {data.describe()} ({why})")
    x, t = data.test if args.split == "test" else data.train
    if args.split == "val":
        x, t = _validation_rows(meta.get("extra", {}), data, saved, x, t)
    D, C = net.sizes[0], net.sizes[-1]
    sizes = "-".join(map(str, net.sizes))
    if x.shape[1] != D or len(data.classes) != C:
        raise ValueError(f"{path}: a {sizes} network does not fit {data.name} "
                         f"({x.shape[1]} inputs, {len(data.classes)} classes)")
    x, t = _data(net, "x", x, "t", t)
    acc, loss = evaluate(net, x, t, args.batch_size)
    if saved and data.name != saved:
        print(f"note: the weights were trained on {saved}", file=sys.stderr)
    print(f"{args.split} accuracy {acc:.4f}  loss {loss:.4f}  ({len(x)} images, "
          f"{sizes} {net.activation} {net.dtype.name}, {path})")
    _report(args, net, x, t, data, path)
    return 0


def _report(args, net, x, t, data, path):
    """Per-class accuracy and confusion matrix printed; the two figures written."""
    from ..reports import confident_mistakes, confusion_matrix, confusion_text, predictions
    C = net.sizes[-1]
    names = tuple(data.classes)
    pred, probs = predictions(net, x, args.batch_size)
    cm = confusion_matrix(t, pred, C)
    print(confusion_text(cm, names))
    if args.no_plots:
        return
    from ..plots import plot_confusion, plot_mistakes
    out = Path(args.plots) if args.plots is not None else path.parent
    what = f"{data.name} {args.split}, {path}"
    rows = confident_mistakes(t, pred, probs, args.mistakes)
    try:
        if args.plots is not None:
            out.mkdir(parents=True, exist_ok=True)
        files = [plot_confusion(cm, names, out / f"confusion-{args.split}.png",
                                title=f"confusion matrix: {what}"),
                 plot_mistakes(x[rows], t[rows], pred[rows], probs[rows, pred[rows]], names,
                               out / f"mistakes-{args.split}.png",
                               title=f"most confident mistakes (true -> predicted): {what}")]
    except OSError as e:      # the figures are extras: the figures above stand
        print(f"warning: the figures were not written ({e}); --plots DIR writes them elsewhere",
              file=sys.stderr)
        return
    print("wrote " + ", ".join(files))
