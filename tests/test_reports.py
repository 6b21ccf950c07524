"""`fastnn evaluate`'s reports: per-class accuracy, confusion matrix, confident mistakes."""
import numpy as np
import pytest

from fastnn.cli import main
from fastnn.datasets import CLASS_NAMES
from fastnn.reports import (confident_mistakes, confusion_matrix, confusion_text,
                            per_class_accuracy)


def test_confusion_matrix_counts():
    t = np.array([0, 0, 1, 2, 2, 2])
    p = np.array([0, 1, 1, 2, 0, 2])
    cm = confusion_matrix(t, p, 4)
    assert cm.tolist() == [[1, 1, 0, 0], [0, 1, 0, 0], [1, 0, 2, 0], [0, 0, 0, 0]]
    acc = per_class_accuracy(cm)
    assert acc[:3].tolist() == [0.5, 1.0, 2 / 3] and np.isnan(acc[3])


def test_confident_mistakes_order():
    t = np.array([0, 1, 1, 0])
    probs = np.array([[0.2, 0.8], [0.9, 0.1], [0.3, 0.7], [0.6, 0.4]])
    pred = probs.argmax(1)
    assert confident_mistakes(t, pred, probs).tolist() == [1, 0]     # 0.9 before 0.8
    assert confident_mistakes(t, pred, probs, k=1).tolist() == [1]


def test_text_names_fashion_classes():
    cm = np.eye(10, dtype=np.int64) * 3
    cm[0, 6] = 1
    text = confusion_text(cm, CLASS_NAMES["fashion-mnist"])
    assert "  0 T-shirt/top  0.750  (3 / 4)" in text and "9 Ankle boot" in text
    assert "rows: true class, columns: predicted class" in text


def test_evaluate_prints_reports_and_writes_figures(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--dataset", "mnist-sample", "--no-download", "--hidden", "8",
                 "--seed", "3", "--iterations", "100", "--quiet", "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(run), "--no-download", "--plots", str(tmp_path / "figs"),
                 "--mistakes", "7"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    acc = float(lines[1].split()[2])
    rows = [ln.split() for ln in lines if ln.startswith("  ") and "(" in ln]
    assert len(rows) == 10
    right = sum(int(r[2].lstrip("(")) for r in rows)
    total = sum(int(r[4].rstrip(")")) for r in rows)
    assert total == 2000 and right / 2000 == pytest.approx(acc, abs=5e-5)   # printed to 4 places
    matrix = [list(map(int, ln.split()[1:])) for ln in lines[-11:-1]]
    assert np.array(matrix).sum() == 2000 and np.trace(matrix) == right
    for name in ("confusion-test.png", "mistakes-test.png"):
        assert (tmp_path / "figs" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (run / "confusion-test.png").exists()
