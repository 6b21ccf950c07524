"""Tests for fastnn.datasets: IDX files, verified downloads, load_mnist and its fallbacks.

Downloads are tested against a local HTTP server on 127.0.0.1 serving small
generated IDX files; nothing here uses the internet.
"""
from __future__ import annotations

import gzip
import hashlib
import http.server
import re
import socket
import threading
import urllib.request
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fastnn.datasets.mnist as mnist_module
from fastnn.datasets import (
    DataError,
    DownloadError,
    Resource,
    default_cache_dir,
    fetch,
    load,
    load_mnist,
    read_idx,
    read_images,
    read_labels,
    verify,
    write_idx,
)
from fastnn._atomic import atomic_write

SAMPLE_DIR = Path(str(resources.files("fastnn.datasets") / "sample"))
STEMS = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


# ---------------------------------------------------------------- helpers


def make_split(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Random images (n, 28, 28) uint8 and labels (n,) uint8 covering 0-9."""
    x = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    t = (np.arange(n) % 10).astype(np.uint8)
    rng.shuffle(t)
    return x, t


def make_mnist_dir(directory: Path, *, gz: bool = True, n_train: int = 40, n_test: int = 20, seed=0):
    """Write an MNIST-like directory of the four IDX files; return the arrays."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        x, t = make_split(rng, n)
        arrays[f"{prefix}-images-idx3-ubyte"] = x
        arrays[f"{prefix}-labels-idx1-ubyte"] = t
    for stem, array in arrays.items():
        write_idx(directory / (stem + (".gz" if gz else "")), array)
    return arrays


def resource_for(name: str, data: bytes) -> Resource:
    return Resource(name, len(data), hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest())


def leftovers(directory: Path) -> list[str]:
    """Temporary files left behind by an interrupted write."""
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".part"))


class Server:
    """An HTTP server on 127.0.0.1 serving `routes`: path -> bytes, or a behaviour.

    Behaviours: ("truncate", body, n) announces len(body) bytes and sends n;
    ("stall", body, seconds) waits before answering. Unknown paths get 404.
    """

    def __init__(self) -> None:
        self.routes: dict[str, object] = {}
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                server.requests.append(self.path)
                route = server.routes.get(self.path)
                if route is None:
                    self.send_error(404, "Not Found")
                    return
                body, sent = route, None
                if isinstance(route, tuple):
                    kind, body, arg = route
                    if kind == "truncate":
                        sent = body[:arg]
                    elif kind == "stall":
                        server.release.wait(arg)   # until the test ends (or arg seconds)
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body if sent is None else sent)
                except OSError:
                    pass  # the client gave up (stall test)
                self.close_connection = True

            def log_message(self, *args) -> None:
                pass

        self.release = threading.Event()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def mirror(self, prefix: str) -> str:
        return f"{self.base}/{prefix}/"

    def serve(self, prefix: str, files: dict[str, bytes]) -> None:
        for name, data in files.items():
            self.routes[f"/{prefix}/{name}"] = data

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


@pytest.fixture
def dead_mirror():
    """A URL on 127.0.0.1 where nothing listens: connection refused.  The port, from the
    OS, stays bound (not listening) for the whole test, so no other server can take it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        yield f"http://127.0.0.1:{port}/mnist/"


@pytest.fixture
def gz_files(tmp_path):
    """Generated MNIST-like .gz files as bytes, their arrays and Resources."""
    arrays = make_mnist_dir(tmp_path / "generated", gz=True)
    data = {f"{s}.gz": (tmp_path / "generated" / f"{s}.gz").read_bytes() for s in STEMS}
    res = tuple(resource_for(name, blob) for name, blob in data.items())
    return data, arrays, res


# ------------------------------------------------------- bundled sample


def sample_readme() -> str:
    return (SAMPLE_DIR / "README.md").read_text()


def test_sample_files_match_readme_sha256():
    listed = dict(re.findall(r"^- (\S+\.gz)\s+([0-9a-f]{64})$", sample_readme(), re.M))
    assert sorted(listed) == sorted(f"{s}.gz" for s in STEMS)
    for name, digest in listed.items():
        assert hashlib.sha256((SAMPLE_DIR / name).read_bytes()).hexdigest() == digest, name


def test_sample_default_shapes_dtypes_range():
    (x_train, t_train), (x_test, t_test) = load_mnist(dataset="mnist-sample")
    assert x_train.shape == (8000, 784) and x_test.shape == (2000, 784)
    assert x_train.dtype == np.float32 and x_test.dtype == np.float32
    assert t_train.shape == (8000,) and t_test.shape == (2000,)
    assert t_train.dtype == np.int64 and t_test.dtype == np.int64
    assert x_train.min() == 0.0 and x_train.max() == 1.0
    assert 0.1 < x_train.mean() < 0.2  # MNIST's mean grey level is about 0.13


def test_sample_class_counts_match_readme():
    text = sample_readme()
    train = [int(v) for v in re.search(r"train \[([\d ]+)\]", text).group(1).split()]
    test = [int(v) for v in re.search(r"test \[([\d ]+)\]", text).group(1).split()]
    assert train == [815, 910, 792, 811, 780, 691, 817, 862, 757, 765]
    assert test == [186, 217, 199, 221, 200, 172, 197, 208, 187, 213]
    (_, t_train), (_, t_test) = load_mnist(dataset="mnist-sample")
    assert np.bincount(t_train, minlength=10).tolist() == train
    assert np.bincount(t_test, minlength=10).tolist() == test


def test_sample_raw_unflattened_and_normalized_agree():
    (raw, _), (raw_test, _) = load_mnist(normalize=False, flatten=False, dataset="mnist-sample")
    assert raw.shape == (8000, 1, 28, 28) and raw_test.shape == (2000, 1, 28, 28)
    assert raw.dtype == np.uint8 and raw.max() == 255
    (x64, _), _ = load_mnist(dataset="mnist-sample", dtype=np.float64)
    assert x64.dtype == np.float64
    np.testing.assert_array_equal(x64, raw.reshape(8000, 784) / 255.0)


def test_sample_one_hot():
    (_, t), (_, t_test) = load_mnist(one_hot_label=True, dataset="mnist-sample")
    (_, labels), _ = load_mnist(dataset="mnist-sample")
    assert t.shape == (8000, 10) and t_test.shape == (2000, 10) and t.dtype == np.float32
    assert set(np.unique(t)) == {0.0, 1.0}
    np.testing.assert_array_equal(t.sum(axis=1), 1.0)
    np.testing.assert_array_equal(t.argmax(axis=1), labels)


def test_load_reports_what_was_loaded():
    data = load("mnist-sample")
    assert data.name == "mnist-sample"
    assert "bundled MNIST sample" in data.source
    assert data.classes == tuple("0123456789")
    assert data.describe().startswith("mnist-sample: 8000 train / 2000 test images from ")


@pytest.mark.parametrize(
    "kwargs, argument",
    [({"dtype": np.int32}, "dtype"), ({"name": "cifar"}, "name"), ({"download": "yes"}, "download")],
)
def test_load_rejects_bad_arguments(kwargs, argument):
    kwargs.setdefault("name", "mnist-sample")
    with pytest.raises(ValueError, match=f"^{argument}: "):
        load(**kwargs)


# ------------------------------------------------------------ IDX files


@pytest.mark.parametrize("suffix", [".gz", ""])
def test_idx_round_trip(tmp_path, suffix):
    rng = np.random.default_rng(1)
    x, t = make_split(rng, 7)
    write_idx(tmp_path / f"img{suffix}", x)
    write_idx(tmp_path / f"lab{suffix}", t)
    head = (tmp_path / f"img{suffix}").read_bytes()[:4]
    assert head == (b"\x1f\x8b\x08\x00" if suffix else b"\x00\x00\x08\x03")
    np.testing.assert_array_equal(read_images(tmp_path / f"img{suffix}"), x)
    np.testing.assert_array_equal(read_labels(tmp_path / f"lab{suffix}"), t)
    assert leftovers(tmp_path) == []


def test_gzip_detected_by_content_not_name(tmp_path):
    x, _ = make_split(np.random.default_rng(2), 3)
    write_idx(tmp_path / "a.gz", x)
    (tmp_path / "a.gz").rename(tmp_path / "images.idx")
    np.testing.assert_array_equal(read_images(tmp_path / "images.idx"), x)


@settings(max_examples=40, deadline=None)
@given(
    hnp.arrays(
        dtype=st.sampled_from([np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]),
        shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5),
    ),
    st.booleans(),
)
def test_idx_round_trip_any_array(tmp_path_factory, array, gz):
    path = tmp_path_factory.mktemp("idx") / ("a.gz" if gz else "a")
    write_idx(path, array)
    back = read_idx(path)
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)


def test_write_idx_rejects_unsupported(tmp_path):
    with pytest.raises(ValueError, match="array: IDX cannot store dtype int64"):
        write_idx(tmp_path / "a", np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match="array: IDX needs 1 to 255 dimensions"):
        write_idx(tmp_path / "a", np.uint8(3))


def test_wrong_magic_number(tmp_path):
    write_idx(tmp_path / "labels.gz", np.zeros(5, np.uint8))
    with pytest.raises(DataError) as err:
        read_images(tmp_path / "labels.gz")
    assert str(err.value) == (
        f"{tmp_path / 'labels.gz'}: wrong magic number 0x00000801 (uint8 with 1 dimension), "
        "expected 0x00000803 (uint8 with 3 dimensions)"
    )
    (tmp_path / "junk").write_bytes(b"PK\x03\x04" + bytes(100))
    with pytest.raises(DataError, match="junk: wrong magic number 0x504B0304 \\(not an IDX file\\)"):
        read_labels(tmp_path / "junk")
    with pytest.raises(DataError, match="junk: not an IDX file"):
        read_idx(tmp_path / "junk")


def test_bad_dimension_count(tmp_path):
    write_idx(tmp_path / "flat", np.zeros((4, 784), np.uint8))  # 0x00000802
    with pytest.raises(DataError, match="wrong magic number 0x00000802 \\(uint8 with 2 dimensions\\)"):
        read_images(tmp_path / "flat")
    write_idx(tmp_path / "deep", np.zeros((4, 1), np.uint8))
    with pytest.raises(DataError, match="0x00000802 .* expected 0x00000801"):
        read_labels(tmp_path / "deep")


def test_truncated_payload(tmp_path):
    write_idx(tmp_path / "full", np.zeros((5, 28, 28), np.uint8))
    raw = (tmp_path / "full").read_bytes()
    (tmp_path / "cut.gz").write_bytes(gzip.compress(raw[:1234]))
    with pytest.raises(DataError) as err:
        read_images(tmp_path / "cut.gz")
    assert str(err.value) == (
        f"{tmp_path / 'cut.gz'}: truncated: header says 5x28x28 = 3920 bytes of pixels, "
        "file has 1218"
    )


def test_truncated_header_and_gzip_stream(tmp_path):
    (tmp_path / "tiny").write_bytes(b"\x00\x00")
    with pytest.raises(DataError, match="tiny: truncated: 2 bytes, too short"):
        read_labels(tmp_path / "tiny")
    (tmp_path / "head").write_bytes(b"\x00\x00\x08\x03\x00\x00\x00\x05\x00\x00")
    with pytest.raises(DataError, match="head: truncated: header of 3 dimensions needs 16 bytes"):
        read_images(tmp_path / "head")
    write_idx(tmp_path / "x.gz", np.ones((50, 28, 28), np.uint8))
    blob = (tmp_path / "x.gz").read_bytes()
    (tmp_path / "x.gz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataError, match="x.gz: corrupt or truncated gzip data"):
        read_images(tmp_path / "x.gz")


def test_oversized_payload(tmp_path):
    write_idx(tmp_path / "labels", np.arange(10, dtype=np.uint8))
    with open(tmp_path / "labels", "ab") as f:
        f.write(b"\x01\x02")
    with pytest.raises(DataError, match="labels: oversized: header says 10 = 10 bytes of labels, file has 12"):
        read_labels(tmp_path / "labels")


def test_labels_out_of_range(tmp_path):
    write_idx(tmp_path / "labels.gz", np.array([0, 9, 3, 12, 10, 1], np.uint8))
    with pytest.raises(DataError, match="label 12 at index 3 is out of range 0-9 \\(2 labels out of range\\)"):
        read_labels(tmp_path / "labels.gz")
    np.testing.assert_array_equal(read_labels(tmp_path / "labels.gz", n_classes=None)[3], 12)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(DataError, match="nothing.gz: no such file"):
        read_images(tmp_path / "nothing.gz")
    with pytest.raises(DataError, match=f"data_dir {tmp_path / 'absent'}: no such directory"):
        load_mnist(data_dir=tmp_path / "absent")
    make_mnist_dir(tmp_path / "d")
    (tmp_path / "d" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="missing t10k-labels-idx1-ubyte\\[.gz\\]; it must hold"):
        load_mnist(data_dir=tmp_path / "d")


def test_count_mismatch_between_images_and_labels(tmp_path):
    make_mnist_dir(tmp_path, n_train=40)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(39, np.uint8))
    with pytest.raises(DataError, match="train split: 40 images in .* but 39 labels in "):
        load_mnist(data_dir=tmp_path)


def test_images_must_be_28x28(tmp_path):
    make_mnist_dir(tmp_path, n_test=20)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((20, 32, 32), np.uint8))
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz: images are 32x32, expected 28x28"):
        load_mnist(data_dir=tmp_path)


@pytest.mark.parametrize("gz", [True, False])
def test_load_from_data_dir(tmp_path, gz):
    arrays = make_mnist_dir(tmp_path, gz=gz, n_train=40, n_test=20)
    data = load("mnist", data_dir=tmp_path, normalize=False, flatten=False, one_hot_label=True)
    assert (data.name, data.source) == ("mnist", str(tmp_path))
    x, t = data.train
    assert x.shape == (40, 1, 28, 28)
    np.testing.assert_array_equal(x[:, 0], arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(t.argmax(1), arrays["train-labels-idx1-ubyte"])
    np.testing.assert_array_equal(data.test[0][:, 0], arrays["t10k-images-idx3-ubyte"])


# ------------------------------------------------------------ downloads


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "file"
    target.write_bytes(b"good old content")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as f:
            f.write(b"half of the new")
            raise RuntimeError("interrupted")
    assert target.read_bytes() == b"good old content"
    assert leftovers(tmp_path) == []


def test_fetch_success_and_cache_reuse(server, gz_files, tmp_path):
    data, _, res = gz_files
    server.serve("a", data)
    dest = tmp_path / "cache"
    paths = fetch(res, [server.mirror("a")], dest)
    assert sorted(paths) == sorted(data)
    for name, blob in data.items():
        assert paths[name] == dest / name and paths[name].read_bytes() == blob
        assert verify(paths[name], resource_for(name, blob)) is None
    assert len(server.requests) == 4
    fetch(res, [server.mirror("a")], dest)
    assert len(server.requests) == 4  # verified cache, nothing downloaded again
    assert leftovers(dest) == []


def test_fetch_skips_dead_mirror(server, dead_mirror, gz_files, tmp_path):
    data, _, res = gz_files
    server.serve("b", data)
    paths = fetch(res, [dead_mirror, server.mirror("b")], tmp_path)
    assert all(paths[n].read_bytes() == data[n] for n in data)
    assert server.requests == [f"/b/{r.name}" for r in res]


def test_fetch_skips_mirror_answering_404(server, gz_files, tmp_path):
    data, _, res = gz_files
    server.serve("b", data)
    paths = fetch(res, [server.mirror("missing"), server.mirror("b")], tmp_path)
    assert all(paths[n].read_bytes() == data[n] for n in data)
    assert server.requests[:2] == [f"/missing/{res[0].name}", f"/b/{res[0].name}"]


def test_fetch_checksum_mismatch_then_next_mirror(server, gz_files, tmp_path):
    data, _, res = gz_files
    tampered = {n: b[:-1] + bytes([b[-1] ^ 1]) for n, b in data.items()}  # same size
    server.serve("bad", tampered)
    server.serve("good", data)
    paths = fetch(res, [server.mirror("bad"), server.mirror("good")], tmp_path)
    assert all(paths[n].read_bytes() == data[n] for n in data)
    assert server.requests.count(f"/bad/{res[0].name}") == 1


def test_fetch_all_mirrors_fail_reports_each(server, dead_mirror, gz_files, tmp_path):
    data, _, res = gz_files
    server.serve("bad", {n: b"x" + b for n, b in data.items()})
    with pytest.raises(DownloadError) as err:
        fetch(res, [dead_mirror, server.mirror("bad")], tmp_path)
    message = str(err.value)
    assert message.startswith(f"{res[0].name}: every mirror failed: {dead_mirror}{res[0].name}: cannot connect")
    assert f"bad/{res[0].name}: checksum mismatch: size is {res[0].size + 1} bytes" in message
    assert not (tmp_path / res[0].name).exists() and leftovers(tmp_path) == []


def test_fetch_truncated_body_leaves_nothing(server, gz_files, tmp_path):
    data, _, res = gz_files
    name = res[0].name
    server.routes[f"/t/{name}"] = ("truncate", data[name], 100)
    dest = tmp_path / "dest"
    with pytest.raises(DownloadError, match=f"truncated body: 100 of {len(data[name])} bytes"):
        fetch(res[:1], [server.mirror("t")], dest)
    assert list(dest.iterdir()) == []


def test_fetch_truncated_body_without_checksums_still_rejected(server, gz_files, tmp_path):
    data, _, res = gz_files
    name = res[0].name
    server.routes[f"/t/{name}"] = ("truncate", data[name], 100)
    server.serve("ok", data)
    paths = fetch([Resource(name)], [server.mirror("t"), server.mirror("ok")], tmp_path)
    assert paths[name].read_bytes() == data[name]


def test_fetch_timeout_then_next_mirror(server, gz_files, tmp_path):
    data, _, res = gz_files
    name = res[1].name
    # the slow mirror answers only when the test ends (at most 60 s): the file can come
    # from the second mirror only if the client gave the first one up after its timeout
    server.routes[f"/slow/{name}"] = ("stall", data[name], 60)
    server.serve("ok", data)
    paths = fetch(res[1:2], [server.mirror("slow"), server.mirror("ok")], tmp_path, timeout=0.3)
    assert paths[name].read_bytes() == data[name]
    assert server.requests == [f"/slow/{name}", f"/ok/{name}"]


def test_failed_refetch_never_clobbers_existing_file(server, gz_files, tmp_path):
    data, _, res = gz_files
    name = res[0].name
    old = data[name][:500]  # a corrupt cached copy
    (tmp_path / name).write_bytes(old)
    server.routes[f"/t/{name}"] = ("truncate", data[name], 700)
    with pytest.raises(DownloadError):
        fetch(res[:1], [server.mirror("t")], tmp_path)
    assert (tmp_path / name).read_bytes() == old
    assert leftovers(tmp_path) == []


def test_good_cached_file_is_not_downloaded_again(server, gz_files, tmp_path):
    data, _, res = gz_files
    for name, blob in data.items():
        (tmp_path / name).write_bytes(blob)
    server.serve("other", {n: b"different" for n in data})
    fetch(res, [server.mirror("other")], tmp_path)
    assert server.requests == []
    assert all((tmp_path / n).read_bytes() == data[n] for n in data)


@pytest.fixture
def local_mnist(monkeypatch, server, gz_files):
    """Point load()'s MNIST mirrors and checksums at the local server."""
    data, arrays, res = gz_files
    server.serve("mnist", data)
    monkeypatch.setattr(mnist_module, "MNIST_FILES", res)
    monkeypatch.setattr(mnist_module, "MNIST_MIRRORS", (server.mirror("mnist"),))
    return arrays


def test_load_downloads_then_refetches_corrupt_cache(local_mnist, server, tmp_path, capfd):
    cache = tmp_path / "cache"
    data = load("mnist", cache_dir=cache, normalize=False)
    assert (data.name, data.source) == ("mnist", str(cache))
    np.testing.assert_array_equal(
        data.train[0], local_mnist["train-images-idx3-ubyte"].reshape(40, 784)
    )
    assert len(server.requests) == 4
    # Corrupt one cached file: detected by its checksum and downloaded again.
    path = cache / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:300])
    data = load("mnist", cache_dir=cache, normalize=False, download=True)
    assert server.requests[4:] == ["/mnist/t10k-images-idx3-ubyte.gz"]
    np.testing.assert_array_equal(
        data.test[0], local_mnist["t10k-images-idx3-ubyte"].reshape(20, 784)
    )
    assert capfd.readouterr().err == ""


def test_cache_dir_from_environment(local_mnist, monkeypatch, tmp_path):
    monkeypatch.setenv("FASTNN_DATA_DIR", str(tmp_path / "data"))
    assert default_cache_dir() == tmp_path / "data" / "mnist"
    assert load("mnist").source == str(tmp_path / "data" / "mnist")
    assert (tmp_path / "data" / "mnist" / "train-images-idx3-ubyte.gz").is_file()


def test_default_cache_dir_is_outside_the_package(monkeypatch, tmp_path):
    monkeypatch.delenv("FASTNN_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "fastnn" / "mnist"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "fastnn" / "mnist"


def test_offline_falls_back_to_sample_with_one_line(monkeypatch, dead_mirror, tmp_path, capfd):
    monkeypatch.setattr(mnist_module, "MNIST_MIRRORS", (dead_mirror,))
    (x, t), (x_test, _) = load_mnist(cache_dir=tmp_path / "cache")
    assert x.shape == (8000, 784) and x_test.shape == (2000, 784)
    out, err = capfd.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and err.endswith("\n")
    assert lines[0].startswith("fastnn: full MNIST unavailable")
    assert "bundled 10,000-digit MNIST sample" in lines[0]
    data = load("mnist", cache_dir=tmp_path / "cache", verbose=False)
    assert data.name == "mnist-sample"
    assert capfd.readouterr().err == ""


def test_download_true_failing_raises(monkeypatch, dead_mirror, tmp_path, capfd):
    monkeypatch.setattr(mnist_module, "MNIST_MIRRORS", (dead_mirror,))
    with pytest.raises(DownloadError, match="could not download MNIST into .*cannot connect.*"
                       "pass data_dir=.*dataset='mnist-sample'"):
        load_mnist(cache_dir=tmp_path, download=True)
    assert capfd.readouterr().err == ""


def test_download_false_never_uses_network(local_mnist, monkeypatch, tmp_path, capfd):
    def no_network(*args, **kwargs):
        raise AssertionError("download=False must not open a connection")

    cache = tmp_path / "cache"
    data = load("mnist", cache_dir=cache, download=False)  # empty cache: sample
    assert data.name == "mnist-sample"
    assert "download=False" in capfd.readouterr().err
    load("mnist", cache_dir=cache)  # fill the cache from the local server
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    data = load("mnist", cache_dir=cache, download=False)
    assert (data.name, len(data.train[0])) == ("mnist", 40)


# ------------------------------------------------------------ Fashion-MNIST


def test_fashion_mnist_from_directory(tmp_path):
    arrays = make_mnist_dir(tmp_path, gz=False, n_train=30, n_test=10, seed=5)
    data = load("fashion-mnist", data_dir=tmp_path, one_hot_label=True)
    assert (data.name, data.source) == ("fashion-mnist", str(tmp_path))
    assert data.classes[0] == "T-shirt/top" and data.classes[9] == "Ankle boot"
    assert data.train[0].shape == (30, 784) and data.test[1].shape == (10, 10)
    np.testing.assert_array_equal(data.test[1].argmax(1), arrays["t10k-labels-idx1-ubyte"])


def test_fashion_mnist_missing_says_how_to_get_it(monkeypatch, tmp_path):
    monkeypatch.setattr(mnist_module, "FASHION_MNIST_DIR", tmp_path / "none")
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        load_mnist(dataset="fashion-mnist")
    with pytest.raises(ValueError, match="download: fashion-mnist is read from local files only"):
        load_mnist(dataset="fashion-mnist", download=True)


@pytest.mark.skipif(
    not mnist_module.FASHION_MNIST_DIR.is_dir(), reason="dataset-fashion-mnist not installed"
)
def test_fashion_mnist_installed_package():
    data = load("fashion-mnist", normalize=False)
    assert data.source == str(mnist_module.FASHION_MNIST_DIR)
    (x, t), (x_test, t_test) = data.train, data.test
    assert x.shape == (60000, 784) and x_test.shape == (10000, 784) and x.dtype == np.uint8
    assert np.bincount(t).tolist() == [6000] * 10
    assert np.bincount(t_test).tolist() == [1000] * 10
    assert x.max() == 255
