"""MNIST, its bundled 10,000-digit sample, and Fashion-MNIST, as in the book's load_mnist.

Where the data come from, for `load(name)`:

- "mnist": from `data_dir` if given; else from the cache directory
  (`default_cache_dir()`), where every file is checked against its published
  checksums and downloaded from `MNIST_MIRRORS` when missing or corrupt. If the
  full set can be neither found nor downloaded, and `download` is not True,
  the bundled sample is used instead and one line on stderr says so.
- "mnist-sample": the 8000 + 2000 real MNIST digits shipped in the package.
- "fashion-mnist": local files only, from `data_dir` or FASHION_MNIST_DIR.
"""
from __future__ import annotations

import os
import sys
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from .download import DownloadError, Resource, fetch, verify
from .idx import DataError, read_images, read_labels

__all__ = [
    "CLASS_NAMES",
    "DATASETS",
    "Dataset",
    "FASHION_MNIST_DIR",
    "MNIST_FILES",
    "MNIST_MIRRORS",
    "default_cache_dir",
    "load",
    "load_mnist",
]

DATASETS = ("mnist", "mnist-sample", "fashion-mnist")

# Tried in order. The original host, yann.lecun.com, no longer serves the files.
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
# The published size, MD5 and SHA-256 of each official MNIST file.
MNIST_FILES = (
    Resource(
        "train-images-idx3-ubyte.gz", 9912422, "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    ),
    Resource(
        "train-labels-idx1-ubyte.gz", 28881, "d53e105ee54ea40749a09fcbcd1e9432",
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    ),
    Resource(
        "t10k-images-idx3-ubyte.gz", 1648877, "9fb629c4189551a2d022fa330f9573f3",
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    ),
    Resource(
        "t10k-labels-idx1-ubyte.gz", 4542, "ec29112dd5afa0611ce80d1b7f02629c",
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    ),
)
# Where Debian's dataset-fashion-mnist package installs Fashion-MNIST.
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")

# (images, labels) file names of each split, without the .gz that may follow.
_SPLITS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_IMAGE_SHAPE = (28, 28)
_DIGITS = tuple("0123456789")
_FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
#: The class names of each data set, indexed by label.
CLASS_NAMES = {"mnist": _DIGITS, "mnist-sample": _DIGITS, "fashion-mnist": _FASHION_CLASSES}
_SAMPLE = "bundled 10,000-digit MNIST sample (8000 train / 2000 test)"


class Dataset(NamedTuple):
    """A loaded data set and what it actually is.

    name: "mnist", "mnist-sample" or "fashion-mnist" -- the data really loaded,
        which is "mnist-sample" when "mnist" fell back to the sample.
    source: the directory the files were read from, or the bundled sample.
    train, test: (x, t) pairs, shaped as load_mnist returns them.
    classes: the class names, indexed by label.
    """

    name: str
    source: str
    train: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]
    classes: tuple[str, ...]

    def describe(self) -> str:
        """One line for logs: name, sizes and source."""
        return (
            f"{self.name}: {len(self.train[0])} train / {len(self.test[0])} test images "
            f"from {self.source}"
        )


def default_cache_dir() -> Path:
    """Where downloaded MNIST files are kept: $FASTNN_DATA_DIR/mnist if that variable
    is set, else $XDG_CACHE_HOME/fastnn/mnist, else ~/.cache/fastnn/mnist."""
    root = os.environ.get("FASTNN_DATA_DIR")
    if root:
        return Path(root).expanduser() / "mnist"
    cache = os.environ.get("XDG_CACHE_HOME")
    base = Path(cache).expanduser() if cache else Path.home() / ".cache"
    return base / "fastnn" / "mnist"


def load_mnist(
    normalize: bool = True,
    flatten: bool = True,
    one_hot_label: bool = False,
    *,
    dataset: str = "mnist",
    data_dir: str | os.PathLike | None = None,
    download: bool | None = None,
    dtype: Any = np.float32,
    cache_dir: str | os.PathLike | None = None,
    verbose: bool = True,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load MNIST as the book does: ((x_train, t_train), (x_test, t_test)).

    x: (N, 784) if flatten else (N, 1, 28, 28); `dtype` in [0, 1] if normalize,
    else uint8 0-255. t: (N, 10) `dtype` if one_hot_label, else (N,) int64.
    See `load` for the other arguments; use it to learn which data were loaded.
    """
    data = load(
        dataset, normalize=normalize, flatten=flatten, one_hot_label=one_hot_label,
        data_dir=data_dir, download=download, dtype=dtype, cache_dir=cache_dir,
        verbose=verbose,
    )
    return data.train, data.test


def load(
    name: str = "mnist",
    *,
    normalize: bool = True,
    flatten: bool = True,
    one_hot_label: bool = False,
    data_dir: str | os.PathLike | None = None,
    download: bool | None = None,
    dtype: Any = np.float32,
    cache_dir: str | os.PathLike | None = None,
    verbose: bool = True,
) -> Dataset:
    """Load a data set by name ("mnist", "mnist-sample", "fashion-mnist") as a Dataset.

    data_dir: a directory holding the four IDX files (gzip or raw); used as is,
        without download or fallback.
    download: for "mnist" without data_dir. None: download into the cache if
        needed, else fall back to the bundled sample; True: download or raise
        DownloadError; False: never use the network (cache, else the sample).
    cache_dir: where downloads are kept (default `default_cache_dir()`).
    verbose: print the one-line notice on stderr when falling back to the sample.
    Raises DataError for missing or malformed files.
    """
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype: expected a floating type such as np.float32, got {dtype!r}") from None
    if not np.issubdtype(dtype, np.floating):
        raise ValueError(f"dtype: expected a floating type such as np.float32, got {dtype}")
    for flag, value in (("normalize", normalize), ("flatten", flatten),
                        ("one_hot_label", one_hot_label), ("verbose", verbose)):
        if not (isinstance(value, (bool, np.bool_)) or (type(value) is int and value in (0, 1))):
            raise TypeError(f"{flag}: expected True or False, got {value!r}")
    if name not in DATASETS:
        raise ValueError(f"name: expected one of {', '.join(DATASETS)}, got {name!r}")
    if download is not None and not isinstance(download, bool):
        raise ValueError(f"download: expected None, True or False, got {download!r}")

    name, source, files = _locate(name, data_dir, download, cache_dir, verbose)
    splits = []
    for split, (images, labels) in _SPLITS.items():
        x, t = _read_split(split, files[images], files[labels])
        splits.append(_prepare(x, t, normalize, flatten, one_hot_label, dtype))
    classes = _FASHION_CLASSES if name == "fashion-mnist" else _DIGITS
    return Dataset(name, source, splits[0], splits[1], classes)


def _locate(
    name: str, data_dir: Any, download: bool | None, cache_dir: Any, verbose: bool
) -> tuple[str, str, dict[str, Any]]:
    """Decide where the data come from: (name actually loaded, source, {stem: file})."""
    if name == "mnist-sample":
        if data_dir is not None:
            raise ValueError("data_dir: not used with the bundled 'mnist-sample'")
        return _sample()
    if name == "fashion-mnist":
        if download:
            raise ValueError("download: fashion-mnist is read from local files only")
        if data_dir is None:
            if not FASHION_MNIST_DIR.is_dir():
                raise DataError(
                    f"Fashion-MNIST not found in {FASHION_MNIST_DIR}. On Debian or Ubuntu, "
                    "install it with `apt-get install dataset-fashion-mnist`; elsewhere, "
                    "download the four IDX files from "
                    "https://github.com/zalandoresearch/fashion-mnist and pass data_dir="
                )
            data_dir = FASHION_MNIST_DIR
        return name, str(data_dir), _find_files(Path(data_dir))
    if data_dir is not None:
        return name, str(data_dir), _find_files(Path(data_dir))

    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    if download is False:
        problems = [f"{r.name} {p}" for r in MNIST_FILES if (p := verify(cache / r.name, r))]
        if not problems:
            return name, str(cache), _cached_files(cache)
        reason = f"{cache} is incomplete ({problems[0]}) and download=False"
    else:
        try:
            fetch(MNIST_FILES, MNIST_MIRRORS, cache)
            return name, str(cache), _cached_files(cache)
        except (DownloadError, OSError) as e:
            if download:
                raise DownloadError(
                    f"could not download MNIST into {cache}: {e}. Check the network "
                    "connection, or pass data_dir= a directory holding the four MNIST "
                    "files, or use the bundled sample with dataset='mnist-sample'."
                ) from e
            reason = f"{cache} is incomplete and the download failed"
    if verbose:
        print(f"fastnn: full MNIST unavailable ({reason}); using the {_SAMPLE}", file=sys.stderr)
    return _sample()


def _sample() -> tuple[str, str, dict[str, Any]]:
    folder = resources.files(__package__) / "sample"
    files = {stem: folder / f"{stem}.gz" for pair in _SPLITS.values() for stem in pair}
    return "mnist-sample", f"the bundled MNIST sample in {folder}", files


def _cached_files(cache: Path) -> dict[str, Path]:
    return {stem: cache / f"{stem}.gz" for pair in _SPLITS.values() for stem in pair}


def _find_files(directory: Path) -> dict[str, Path]:
    """The four IDX files in `directory`, each as NAME.gz or NAME."""
    if not directory.is_dir():
        raise DataError(f"data_dir {directory}: no such directory")
    files, missing = {}, []
    for stem in (stem for pair in _SPLITS.values() for stem in pair):
        found = [p for p in (directory / f"{stem}.gz", directory / stem) if p.is_file()]
        if found:
            files[stem] = found[0]
        else:
            missing.append(f"{stem}[.gz]")
    if missing:
        raise DataError(
            f"data_dir {directory}: missing {', '.join(missing)}; it must hold "
            "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte "
            "and t10k-labels-idx1-ubyte, each gzip-compressed (.gz) or raw"
        )
    return files


def _read_split(split: str, images_file: Any, labels_file: Any) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 28, 28) uint8 and labels (N,) uint8 of one split, checked together."""
    x = read_images(images_file)
    t = read_labels(labels_file, n_classes=10)
    if x.shape[1:] != _IMAGE_SHAPE:
        shape = "x".join(map(str, x.shape[1:]))
        raise DataError(f"{images_file}: images are {shape}, expected 28x28")
    if len(x) == 0:
        raise DataError(f"{images_file}: holds no images (its header says 0x28x28); "
                        f"expected at least one")
    if len(x) != len(t):
        raise DataError(
            f"{split} split: {len(x)} images in {images_file} but {len(t)} labels in {labels_file}"
        )
    return x, t


def _prepare(
    x: np.ndarray, t: np.ndarray, normalize: bool, flatten: bool, one_hot_label: bool,
    dtype: np.dtype,
) -> tuple[np.ndarray, np.ndarray]:
    """The book's transforms: x (N, 784) or (N, 1, 28, 28); t (N,) int64 or (N, 10)."""
    n = len(x)
    if normalize:
        x = x.astype(dtype)
        x /= 255.0
    x = x.reshape(n, -1) if flatten else x.reshape(n, 1, *_IMAGE_SHAPE)
    if one_hot_label:
        onehot = np.zeros((n, 10), dtype=dtype)
        onehot[np.arange(n), t] = 1
        return x, onehot
    return x, t.astype(np.int64)
