"""Data sets for fastnn: MNIST (downloaded and cached, or the bundled sample) and Fashion-MNIST.

    from fastnn.datasets import load_mnist
    (x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, one_hot_label=True)

`load(name)` returns the same arrays in a Dataset that also says which data
were loaded and from where.
"""
from .download import DownloadError, Resource, fetch, verify
from .idx import DataError, read_idx, read_images, read_labels, write_idx
from .mnist import (
    CLASS_NAMES,
    DATASETS,
    FASHION_MNIST_DIR,
    MNIST_FILES,
    MNIST_MIRRORS,
    Dataset,
    default_cache_dir,
    load,
    load_mnist,
)

__all__ = [
    "CLASS_NAMES",
    "DATASETS",
    "DataError",
    "Dataset",
    "DownloadError",
    "FASHION_MNIST_DIR",
    "MNIST_FILES",
    "MNIST_MIRRORS",
    "Resource",
    "default_cache_dir",
    "fetch",
    "load",
    "load_mnist",
    "read_idx",
    "read_images",
    "read_labels",
    "verify",
    "write_idx",
]
