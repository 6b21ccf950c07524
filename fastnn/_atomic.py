"""Atomic file and directory replacement: a reader sees the old version or the complete new one.

    with atomic_write("weights.npz") as f:      # temporary file, fsync, rename
        f.write(data)
    exchange_dirs("staging", "run")             # two directories swap names at once
"""
from __future__ import annotations

import ctypes
import errno
import os
import tempfile
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO, Iterator

__all__ = ["atomic_write", "exchange_dirs"]


@contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """Yield a binary file that replaces `path` only if the block ends without error.

    The data go to a temporary file in the same directory, which is flushed,
    fsync'ed and renamed over `path` with os.replace. On any exception
    (KeyboardInterrupt included) the temporary file is removed and `path` is
    left as it was. An OSError that names no file (a full disk while writing)
    is raised again naming `path`.
    """
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    except OSError as e:
        raise _named(e, path) from None
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o644)
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(e, OSError) and e.filename is None:
            raise _named(e, path) from e
        raise
    _fsync_dir(path.parent)


def _named(e: OSError, path: Path) -> OSError:
    """``e`` with ``path`` as its file name: ``[Errno 28] No space left on device: 'path'``."""
    if e.errno is None:
        return OSError(f"{path}: {e}")
    return OSError(e.errno, e.strerror or os.strerror(e.errno), str(path))


def _fsync_dir(directory: Path) -> None:
    """Make a rename in `directory` durable, where the platform allows it."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _renameat2():
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return None
    fn.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint)
    return fn


def exchange_dirs(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Swap the names of directories `a` and `b` in one step, where the system can.

    Linux's renameat2(RENAME_EXCHANGE) makes the swap atomic: no moment has
    either name missing. Elsewhere (or on a file system without it) `b` is
    renamed aside and `a` into its place: a crash between those two renames
    leaves `b`'s old content under a hidden name beside it, nothing lost.
    Returns True when the swap was atomic. Both must be in the same directory.
    """
    a, b = Path(a), Path(b)
    fn = _renameat2()
    if fn is not None:
        if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
            _fsync_dir(b.parent)
            return True
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM):
            raise OSError(err, os.strerror(err), str(b))
    aside = Path(tempfile.mkdtemp(dir=b.parent, prefix=f".{b.name}.old-"))
    os.rename(b, aside / "x")
    os.rename(a, b)
    os.rename(aside / "x", a)
    os.rmdir(aside)
    _fsync_dir(b.parent)
    return False
