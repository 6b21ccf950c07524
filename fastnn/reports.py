"""What a trained network gets right and wrong: per-class accuracy, confusion matrix,
most confident mistakes.

    pred, probs = predictions(net, x)                 # (N,), (N, C)
    cm = confusion_matrix(t, pred, 10)                # cm[true, predicted]
    print(confusion_text(cm, names))
"""
import numpy as np

__all__ = ["confident_mistakes", "confusion_matrix", "confusion_text", "per_class_accuracy",
           "predictions"]


def predictions(net, x, batch_size=10000):
    """(predicted classes (N,), probabilities (N, C)) of net on checked rows x (N, D)."""
    probs = np.concatenate([net.predict(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])
    return np.argmax(probs, axis=1), probs


def confusion_matrix(t, pred, C):
    """(C, C) int64 counts: row = true class, column = predicted class."""
    cm = np.zeros((C, C), dtype=np.int64)
    np.add.at(cm, (np.asarray(t), np.asarray(pred)), 1)
    return cm


def per_class_accuracy(cm):
    """(C,) fraction of each true class predicted right (NaN for a class with no samples)."""
    n = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, np.diag(cm) / np.maximum(n, 1), np.nan)


def confident_mistakes(t, pred, probs, k=25):
    """Row numbers of the k wrong predictions with the highest probability, most confident first."""
    wrong = np.flatnonzero(pred != t)
    conf = probs[wrong, pred[wrong]]
    return wrong[np.argsort(-conf, kind="stable")[:k]]


def confusion_text(cm, names):
    """Per-class accuracy and the confusion matrix as aligned text."""
    C = cm.shape[0]
    acc = per_class_accuracy(cm)
    label = [f"{c} {names[c]}" if names[c] != str(c) else str(c) for c in range(C)]
    w = max(len(s) for s in label)
    cw = max(4, len(str(int(cm.max()))) + 1)
    lines = ["per-class accuracy (true class: right / samples):"]
    for c in range(C):
        a = "  -  " if np.isnan(acc[c]) else f"{acc[c]:.3f}"
        lines.append(f"  {label[c]:<{w}}  {a}  ({cm[c, c]} / {cm[c].sum()})")
    lines.append("confusion matrix (rows: true class, columns: predicted class):")
    lines.append(f"  {'':<{w}}" + "".join(f"{c:>{cw}}" for c in range(C)))
    for c in range(C):
        lines.append(f"  {label[c]:<{w}}" + "".join(f"{v:>{cw}}" for v in cm[c]))
    return "\n".join(lines)
