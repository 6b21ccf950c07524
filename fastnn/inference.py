"""Using a trained network on new images.

    classes, probs = predict(net, ["seven.png", "drawings/"])
    classes, probs = predict(net, x)          # x: (N, 784), (N, 28, 28) or one (H, W) picture

Files and pictures are brought to MNIST's format first (fastnn.images.to_mnist);
rows of an (N, 784) array are taken as they are, like the data set's.
"""
import os

import numpy as np

from .images import read_images, to_mnist
from .evaluation import check_network

__all__ = ["predict", "top_k"]


def predict(net, images):
    """(classes (N,) int, probabilities (N, C) float) of ``net`` on ``images``.

    images: a path or a list of paths (PNG, JPEG, .npy or folders of them), an (N, D)
    array of preprocessed rows (as the data sets hold them), an (N, 28, 28) stack or one
    (H, W) picture of any size, or a list of pictures. Pictures are brought to MNIST's
    format (grayscale, fitted into 20x20, centred by centre of mass in 28x28).
    """
    check_network(net)
    x = as_rows(images, net.sizes[0])
    probs = net.predict(x.astype(net.dtype))
    return np.argmax(probs, axis=1), probs


def as_rows(images, D=784):
    """``images`` (see predict) as (N, D) float64 rows."""
    if isinstance(images, (str, os.PathLike)):
        images = [images]
    if isinstance(images, (list, tuple)) and images and all(
            isinstance(i, (str, os.PathLike)) for i in images):
        return read_images(images)[1]
    if isinstance(images, (list, tuple)):
        if not images:
            raise ValueError("images: expected at least one image, got an empty list")
        return np.stack([to_mnist(np.asarray(i), f"images[{k}]") for k, i in enumerate(images)])
    a = np.asarray(images)
    if a.ndim == 2 and a.shape[1] == D:
        return np.asarray(a, dtype=np.float64)
    if a.ndim == 3 and a.shape[1:] == (28, 28):
        return np.stack([to_mnist(p, f"images[{k}]") for k, p in enumerate(a)])
    if a.ndim == 2:
        return to_mnist(a, "images").reshape(1, -1)
    raise ValueError(f"images: expected paths, (N, {D}) rows, (N, 28, 28) or one (H, W) picture, "
                     f"got shape {a.shape}")


def top_k(probs, k):
    """[(class, probability), ...] of the k most probable classes of one row of probs."""
    order = np.argsort(-probs, kind="stable")[:k]
    return [(int(c), float(probs[c])) for c in order]
