"""Images of one's own brought to MNIST's format, and read from files.

MNIST's authors normalised each digit to fit a 20x20 box, keeping its aspect
ratio (anti-aliased, hence grey levels), and placed it in a 28x28 image so
that its centre of mass is at the centre. ``to_mnist`` does the same to any
picture: grayscale, light digit on a dark background (a dark-on-light picture
is inverted, judged by its border), cropped to the digit, fitted into 20x20,
centred by centre of mass at pixel (14, 14). A 28x28 picture that is already centred that way
(an MNIST image) is kept as it is.

    x = to_mnist(load_image("seven.png"))      # (784,) float64 in [0, 1]
"""
import os
from pathlib import Path

import numpy as np

__all__ = ["IMAGE_SUFFIXES", "image_files", "load_image", "to_mnist"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".npy")
#: Pixels below this fraction of the brightest one are background when cropping.
CROP_LEVEL = 0.1


def image_files(paths):
    """The image files named by ``paths``: files as given, folders expanded to the
    IMAGE_SUFFIXES files in them (sorted). ValueError for a missing path or an
    empty folder."""
    files = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
            if not found:
                raise ValueError(f"{p}: no images ({', '.join(IMAGE_SUFFIXES)}) in that folder")
            files.extend(found)
        elif p.exists():
            files.append(p)
        else:
            raise ValueError(f"{p}: no such file or folder")
    return files


def load_image(path):
    """A picture as a float64 (H, W) array in [0, 1]: PNG, JPEG (any format Pillow
    reads) or a .npy array (H, W), (H, W, 3|4), or (784,). ValueError naming the
    file when it cannot be decoded."""
    path = Path(path)
    if path.suffix.lower() == ".npy":
        try:
            a = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as e:
            raise ValueError(f"{path}: not a readable .npy array ({e})") from None
        return _gray(a, path)
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("I;16", "I;16B", "I"):
                a = np.asarray(im, dtype=np.float64) / (65535.0 if im.mode.startswith("I;16") else
                                                        max(float(np.max(im)), 1.0))
                return np.clip(a, 0, 1)
            im = im.convert("LA") if im.mode in ("RGBA", "LA", "PA", "P") else im.convert("L")
            a = np.asarray(im)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise ValueError(f"{path}: cannot be decoded as an image (PNG, JPEG or .npy): {e}") from None
    if a.ndim == 3:     # gray + alpha: transparent pixels are background (white paper)
        alpha = a[..., 1] / 255.0
        return (a[..., 0] / 255.0) * alpha + (1 - alpha)
    return a / 255.0


def _gray(a, name):
    """An array as (H, W) float64 in [0, 1]."""
    if a.dtype.kind not in "biuf":
        raise ValueError(f"{name}: expected an image array of numbers, got dtype {a.dtype}")
    if a.ndim == 1 and a.size == 784:
        a = a.reshape(28, 28)
    if a.ndim == 3 and a.shape[2] in (3, 4):
        a = a[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    if a.ndim != 2 or min(a.shape) < 1:
        raise ValueError(f"{name}: expected an image (H, W), (H, W, 3|4) or (784,), got shape {a.shape}")
    a = a.astype(np.float64)
    if not np.isfinite(a).all():
        raise ValueError(f"{name}: the image holds NaN or inf")
    if a.max() > 1:         # 0-255 (or 0-65535) levels
        a = a / (255.0 if a.max() <= 255 else a.max())
    return np.clip(a, 0, 1)


def to_mnist(image, name="image"):
    """A picture (H, W) (or (H, W, 3|4), or (784,)) as MNIST's (784,) float64 in [0, 1].

    See the module docstring for the steps."""
    a = _gray(np.asarray(image), name)
    if np.median(_border(a)) > 0.5:        # dark on light: make it light on dark
        a = 1.0 - a
    a = np.clip(a - np.median(_border(a)), 0, 1)     # the background to 0
    if a.shape == (28, 28) and _centred(a):
        return a.reshape(-1)
    peak = a.max()
    if peak == 0:                          # a blank picture: nothing to centre
        return np.zeros(784)
    rows = np.flatnonzero(a.max(axis=1) > CROP_LEVEL * peak)
    cols = np.flatnonzero(a.max(axis=0) > CROP_LEVEL * peak)
    a = a[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1] / peak
    h, w = a.shape
    scale = 20.0 / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))     # (width, height)
    from PIL import Image
    box = np.asarray(Image.fromarray(a.astype(np.float32), mode="F").resize(size, Image.LANCZOS),
                     dtype=np.float64)
    box = np.clip(box, 0, 1)
    cy, cx = _centre_of_mass(box)
    top = int(np.clip(round(14 - cy), 0, 28 - box.shape[0]))
    left = int(np.clip(round(14 - cx), 0, 28 - box.shape[1]))
    out = np.zeros((28, 28))
    out[top:top + box.shape[0], left:left + box.shape[1]] = box
    return out.reshape(-1)


def _border(a):
    return np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])


def _centre_of_mass(a):
    total = a.sum()
    ys, xs = np.indices(a.shape)
    return (ys * a).sum() / total, (xs * a).sum() / total


def _centred(a):
    """A 28x28 picture already in MNIST's format: its centre of mass within one pixel of
    (14, 14), where MNIST puts it (measured on the sample: from 13.5 to 14.5)."""
    if a.max() == 0:
        return False
    cy, cx = _centre_of_mass(a)
    return abs(cy - 14) <= 1 and abs(cx - 14) <= 1


def read_images(paths):
    """(names, x): the files named by ``paths`` (folders expanded) as x (N, 784) float64."""
    files = image_files(paths)
    return [os.fspath(f) for f in files], np.stack([to_mnist(load_image(f), f) for f in files])
