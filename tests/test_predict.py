"""`fastnn predict` and fastnn.predict: MNIST's preprocessing of one's own pictures."""
import json

import numpy as np
import pytest
from PIL import Image

import fastnn
from fastnn.checkpoint import load_net
from fastnn.cli import main
from fastnn.datasets import load
from fastnn.images import load_image, to_mnist


@pytest.fixture(scope="module")
def sample():
    return load("mnist-sample", verbose=False)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A small trained run on the sample (float64: the PNG round trip is then exact)."""
    out = tmp_path_factory.mktemp("predict") / "run"
    assert main(["train", "--dataset", "mnist-sample", "--no-download", "--hidden", "16",
                 "--seed", "1", "--iterations", "300", "--dtype", "float64", "--quiet",
                 "--activation", "relu", "--lr", "0.3",
                 "--out", str(out)]) == 0
    return out


def write_png(path, row):
    Image.fromarray(np.round(row.reshape(28, 28) * 255).astype(np.uint8)).save(path)


def test_mnist_pngs_get_the_classes_of_evaluate(run, sample, tmp_path, capsys):
    x, t = sample.test
    n = 60
    for i in range(n):
        write_png(tmp_path / f"{i:03d}.png", x[i])
    net = load_net(run / "weights.npz")
    expected = np.argmax(net.scores(x[:n].astype(net.dtype)), axis=1)   # evaluate's forward pass
    capsys.readouterr()
    assert main(["predict", str(run), str(tmp_path), "--json", "--top", "3"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert [r["file"].rsplit("/", 1)[1] for r in got] == [f"{i:03d}.png" for i in range(n)]
    assert [r["class"] for r in got] == expected.tolist()
    assert all(len(r["top"]) == 3 and r["top"][0]["class"] == r["class"] for r in got)
    # the network is not perfect: some of these predictions are wrong, and still agree
    assert 0.5 < np.mean(expected == t[:n]) < 1.0
    # the Python API, on the files and on the arrays
    classes, probs = fastnn.predict(net, [str(tmp_path / "000.png"), str(tmp_path / "001.png")])
    assert classes.tolist() == expected[:2].tolist() and probs.shape == (2, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-12)
    assert fastnn.predict(net, x[:n])[0].tolist() == expected.tolist()


def test_text_output(run, sample, tmp_path, capsys):
    write_png(tmp_path / "a.png", sample.test[0][0])
    capsys.readouterr()
    assert main(["predict", str(run), str(tmp_path / "a.png"), "--top", "2"]) == 0
    line = capsys.readouterr().out.strip()
    name, c1, p1, c2, p2 = line.split()
    assert name.endswith("a.png") and c1 != c2 and 1 >= float(p1) >= float(p2) >= 0


def scaled(row, size, pad, invert):
    """An MNIST digit drawn larger, off-centre, on a bigger canvas, maybe dark on light."""
    im = Image.fromarray(np.round(row.reshape(28, 28) * 255).astype(np.uint8)).resize((size, size))
    canvas = np.zeros((size + 2 * pad, size + 3 * pad), np.uint8)
    canvas[pad:pad + size, 2 * pad:2 * pad + size] = np.asarray(im)
    return 255 - canvas if invert else canvas


@pytest.mark.parametrize("invert", [False, True], ids=["light-on-dark", "dark-on-light"])
def test_any_size_and_polarity_comes_back_to_mnist(sample, invert):
    x = sample.test[0][:20].astype(np.float64)
    back = np.stack([to_mnist(scaled(r, 84, 17, invert)) for r in x])
    # measured: mean absolute difference per image 0.011 to 0.080, median 0.023 (resampling
    # 28 -> 84 -> 20 and MNIST's own anti-aliasing); nearest-original check below
    diff = np.abs(back - x).mean(axis=1)
    assert diff.max() < 0.1 and np.median(diff) < 0.04, diff
    nearest = [int(np.argmin(np.abs(x - b).mean(axis=1))) for b in back]
    assert nearest == list(range(20))        # each comes back closest to its own original


def test_rgb_png_and_npy(sample, tmp_path):
    row = sample.test[0][0].astype(np.float64)
    gray = scaled(row, 56, 10, True)
    Image.fromarray(np.stack([gray] * 3, axis=-1)).save(tmp_path / "rgb.png")
    np.save(tmp_path / "a.npy", gray)
    a, b = to_mnist(load_image(tmp_path / "rgb.png")), to_mnist(load_image(tmp_path / "a.npy"))
    np.testing.assert_allclose(a, b, atol=1e-6)   # RGB weights of a gray picture sum to 1
    assert to_mnist(row.reshape(28, 28)).tolist() == row.tolist()   # MNIST's own: as it is


def test_bad_inputs(run, tmp_path, capsys):
    (tmp_path / "bad.png").write_bytes(b"not an image")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    for argv, message in [
        ([str(tmp_path / "bad.png")], "bad.png: cannot be decoded as an image (PNG, JPEG or .npy)"),
        ([str(tmp_path / "empty")], "empty: no images (.png, .jpg, .jpeg, .npy) in that folder"),
        ([str(tmp_path / "missing.png")], "missing.png: no such file or folder"),
    ]:
        capsys.readouterr()
        assert main(["predict", str(run), *argv]) == 2
        out, err = capsys.readouterr()
        assert out == "" and err.startswith("fastnn predict: error: ") and message in err
        assert len(err.splitlines()) == 1


def test_blank_image_is_flagged(run, tmp_path, capsys):
    Image.new("L", (40, 30), 255).save(tmp_path / "white.png")
    capsys.readouterr()
    assert main(["predict", str(run), str(tmp_path / "white.png")]) == 0
    out, err = capsys.readouterr()
    assert "white.png: a blank image" in err and out.count("\n") == 1


def test_class_names_follow_the_recorded_data_set():
    from fastnn.cli.predict import class_names
    fashion = class_names({"extra": {"args": {"dataset": "fashion-mnist"}}}, 10)
    assert fashion[0] == "T-shirt/top" and fashion[9] == "Ankle boot"
    assert class_names({"extra": {"args": {"dataset": "mnist-sample"}}}, 10) == tuple("0123456789")
    assert class_names({}, 10) == tuple("0123456789")          # nothing recorded: digits
