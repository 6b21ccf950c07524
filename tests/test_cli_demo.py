"""``fastnn demo`` prints the book's values and writes the chapter-4 figures."""
from fastnn.cli import main


def test_demo_prints_the_book_values(tmp_path, capsys):
    assert main(["demo", "--plots", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "XOR  00->0  10->1  01->1  11->0" in out
    assert "softmax([0.3, 2.9, 4.0]) = [0.01821127 0.24519181 0.73659691]" in out
    assert "MSE 0.0975  CE 0.510825457099338" in out
    assert "3-layer forward of [1.0, 0.5] = [0.31682708 0.69627909]" in out
    assert "numerical_diff of x0^2 + 4^2 at 3.0 = 6.00000000000378" in out
    assert "at (3.0, 4.0) = [6. 8.]" in out
    for name in ("gradient_field.png", "descent_path.png"):
        data = (tmp_path / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_demo_rejects_unknown_options(capsys):
    import pytest

    with pytest.raises(SystemExit) as exc:
        main(["demo", "--bogus"])
    assert exc.value.code == 2
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err
