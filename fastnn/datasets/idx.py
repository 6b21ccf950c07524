"""Read and write IDX files, the format of MNIST and Fashion-MNIST.

An IDX file is a big-endian header followed by an array in C order. The header
is a 4-byte magic number -- two zero bytes, a type code (0x08 for uint8) and
the number of dimensions -- then one uint32 size per dimension. MNIST uses
0x00000803 for images (N, rows, cols) and 0x00000801 for labels (N,).
Files may be gzip-compressed; compression is recognised by the gzip magic bytes
(1f 8b), whatever the file is called.
"""
from __future__ import annotations

import gzip
import os
import zlib
from math import prod
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import atomic_write

__all__ = [
    "DataError",
    "IMAGES_MAGIC",
    "LABELS_MAGIC",
    "read_idx",
    "read_images",
    "read_labels",
    "write_idx",
]

GZIP_MAGIC = b"\x1f\x8b"
IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801

# IDX type code -> element type as stored (big-endian).
_TYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dt.newbyteorder("="): code for code, dt in _TYPES.items()}


class DataError(ValueError):
    """A data file or directory is missing, corrupt, or not what was expected."""


def read_idx(path: Any) -> np.ndarray:
    """Read any IDX file (gzip or raw) into a native-endian array of its shape."""
    return _parse(_read_bytes(path), str(path), expect=None, what="data")


def read_images(path: Any) -> np.ndarray:
    """Read an IDX image file with magic 0x00000803: (N, rows, cols) uint8."""
    return _parse(_read_bytes(path), str(path), expect=IMAGES_MAGIC, what="pixels")


def read_labels(path: Any, n_classes: int | None = 10) -> np.ndarray:
    """Read an IDX label file with magic 0x00000801: (N,) uint8, each < n_classes."""
    name = str(path)
    labels = _parse(_read_bytes(path), name, expect=LABELS_MAGIC, what="labels")
    if n_classes is not None and labels.size:
        bad = np.flatnonzero(labels >= n_classes)
        if bad.size:
            i = int(bad[0])
            raise DataError(
                f"{name}: label {labels[i]} at index {i} is out of range 0-{n_classes - 1} "
                f"({bad.size} labels out of range)"
            )
    return labels


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write `array` as an IDX file, gzip-compressed if the name ends in .gz.

    The write is atomic: the file at `path` is either left untouched or holds
    the complete new data. Element types: uint8, int8, int16, int32, float32,
    float64.
    """
    array = np.asarray(array)
    code = _CODES.get(array.dtype.newbyteorder("="))
    if code is None:
        raise ValueError(f"array: IDX cannot store dtype {array.dtype}")
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"array: IDX needs 1 to 255 dimensions, got {array.ndim}")
    if any(n >= 2**32 for n in array.shape):
        raise ValueError(f"array: dimension too large for IDX: {array.shape}")
    header = bytes([0, 0, code, array.ndim]) + b"".join(
        n.to_bytes(4, "big") for n in array.shape
    )
    data = header + np.ascontiguousarray(array, dtype=_TYPES[code]).tobytes()
    if str(path).endswith(".gz"):
        data = gzip.compress(data, compresslevel=6, mtime=0)
    with atomic_write(path) as f:
        f.write(data)


def _read_bytes(path: Any) -> bytes:
    """The decompressed content of `path` (a path, or a package resource)."""
    name = str(path)
    reader = Path(path) if isinstance(path, (str, os.PathLike)) else path
    try:
        raw = reader.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{name}: is a directory, not an IDX file") from None
    except OSError as e:
        raise DataError(f"{name}: cannot read: {e.strerror or e}") from None
    if raw[:2] == GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as e:
            raise DataError(f"{name}: corrupt or truncated gzip data ({e})") from None
    return raw


def _describe_magic(magic: int) -> str:
    code, ndim = (magic >> 8) & 0xFF, magic & 0xFF
    if magic >> 16 or code not in _TYPES:
        return "not an IDX file"
    return f"{_TYPES[code].newbyteorder('=')} with {ndim} dimension{'s' if ndim != 1 else ''}"


def _parse(raw: bytes, name: str, expect: int | None, what: str) -> np.ndarray:
    """Check the header and payload size of IDX bytes and return the array."""
    if len(raw) < 4:
        raise DataError(f"{name}: truncated: {len(raw)} bytes, too short for an IDX header")
    magic = int.from_bytes(raw[:4], "big")
    if expect is not None and magic != expect:
        raise DataError(
            f"{name}: wrong magic number 0x{magic:08X} ({_describe_magic(magic)}), "
            f"expected 0x{expect:08X} ({_describe_magic(expect)})"
        )
    if raw[0] or raw[1] or raw[2] not in _TYPES:
        raise DataError(f"{name}: not an IDX file (magic number 0x{magic:08X})")
    dtype, ndim = _TYPES[raw[2]], raw[3]
    if ndim == 0:
        raise DataError(f"{name}: IDX header declares 0 dimensions")
    start = 4 + 4 * ndim
    if len(raw) < start:
        raise DataError(
            f"{name}: truncated: header of {ndim} dimensions needs {start} bytes, file has {len(raw)}"
        )
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = prod(dims) * dtype.itemsize
    actual = len(raw) - start
    if actual != expected:
        problem = "truncated" if actual < expected else "oversized"
        shape = "x".join(map(str, dims))
        raise DataError(
            f"{name}: {problem}: header says {shape} = {expected} bytes of {what}, "
            f"file has {actual}"
        )
    array = np.frombuffer(raw, dtype=dtype, offset=start).reshape(dims)
    return array.astype(dtype.newbyteorder("="))  # a writable, native-endian copy
