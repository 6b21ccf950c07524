"""Fetch files from a list of mirrors into a cache, verified and written atomically."""
from __future__ import annotations

import hashlib
import http.client
import logging
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterable, NamedTuple, Sequence

from .._atomic import atomic_write

__all__ = ["DownloadError", "Resource", "fetch", "verify"]

log = logging.getLogger(__name__)

TIMEOUT = 10.0  # seconds without progress before a mirror is given up
_CHUNK = 1 << 16


class Resource(NamedTuple):
    """A file as published on the mirrors: its name, size in bytes and checksums."""

    name: str
    size: int | None = None
    md5: str | None = None
    sha256: str | None = None


class DownloadError(RuntimeError):
    """No mirror delivered a file that matched its checksums."""


class _MirrorFailed(Exception):
    """This mirror failed for this file; another may work."""


class _MirrorUnreachable(_MirrorFailed):
    """No connection to this mirror at all: skip it for the remaining files."""


class _Digest:
    """Size, MD5 and SHA-256 of a byte stream, computed as it goes by."""

    def __init__(self) -> None:
        self.size = 0
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.sha256 = hashlib.sha256()

    def update(self, chunk: bytes) -> None:
        self.size += len(chunk)
        self.md5.update(chunk)
        self.sha256.update(chunk)

    def mismatch(self, resource: Resource) -> str | None:
        """What differs from `resource`, or None if everything given matches."""
        if resource.size is not None and self.size != resource.size:
            return f"size is {self.size} bytes, expected {resource.size}"
        if resource.md5 is not None and self.md5.hexdigest() != resource.md5.lower():
            return f"MD5 is {self.md5.hexdigest()}, expected {resource.md5}"
        if resource.sha256 is not None and self.sha256.hexdigest() != resource.sha256.lower():
            return f"SHA-256 is {self.sha256.hexdigest()}, expected {resource.sha256}"
        return None


def verify(path: str | os.PathLike, resource: Resource) -> str | None:
    """Check a local file against `resource`: None if it matches, else what is wrong."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if resource.size is not None and size != resource.size:
            return f"size is {size} bytes, expected {resource.size}"
        digest = _Digest()
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    except FileNotFoundError:
        return "missing"
    except OSError as e:
        return f"unreadable ({e.strerror or e})"
    return digest.mismatch(resource)


def fetch(
    files: Iterable[Resource],
    mirrors: Sequence[str],
    dest: str | os.PathLike,
    *,
    timeout: float = TIMEOUT,
) -> dict[str, Path]:
    """Make sure each file is in `dest` and matches its checksums; download the rest.

    A file already in `dest` that verifies is kept as it is. Otherwise the
    mirrors are tried in order (URL = mirror + name). A mirror that fails --
    HTTP error, connection refused, timeout, a body shorter than its
    Content-Length, a checksum mismatch -- is logged and the next one tried.
    A download replaces the file in `dest` only once it has been verified
    (temporary file, fsync, os.replace), so no half-written file is ever left.
    Raises DownloadError listing what every mirror did if none succeeds.
    Returns {name: path}.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    unreachable: set[str] = set()
    paths: dict[str, Path] = {}
    for resource in files:
        path = dest / resource.name
        problem = verify(path, resource)
        if problem is not None:
            if problem != "missing":
                log.info("%s: %s; fetching it again", path, problem)
            _fetch_one(resource, mirrors, path, timeout, unreachable)
        paths[resource.name] = path
    return paths


def _fetch_one(
    resource: Resource, mirrors: Sequence[str], path: Path, timeout: float, unreachable: set[str]
) -> None:
    failures = []
    for mirror in mirrors:
        url = mirror if mirror.endswith("/") else mirror + "/"
        url += resource.name
        if mirror in unreachable:
            failures.append(f"{url}: skipped (unreachable for an earlier file)")
            continue
        try:
            _download(url, path, resource, timeout)
        except _MirrorFailed as e:
            if isinstance(e, _MirrorUnreachable):
                unreachable.add(mirror)
            log.info("%s: %s; trying the next mirror", url, e)
            failures.append(f"{url}: {e}")
        else:
            log.info("downloaded %s to %s", url, path)
            return
    if not failures:
        raise DownloadError(f"{resource.name}: no mirrors to download it from")
    raise DownloadError(f"{resource.name}: every mirror failed: " + "; ".join(failures))


def _download(url: str, path: Path, resource: Resource, timeout: float) -> None:
    """Download `url` to `path` if its content matches `resource`; raise _MirrorFailed if not."""
    request = urllib.request.Request(url, headers={"User-Agent": "fastnn"})
    digest = _Digest()
    with atomic_write(path) as f:
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                length = response.headers.get("Content-Length")
                while chunk := response.read(_CHUNK):
                    f.write(chunk)
                    digest.update(chunk)
        except urllib.error.HTTPError as e:
            raise _MirrorFailed(f"HTTP {e.code} {e.reason}") from None
        except urllib.error.URLError as e:
            reason = e.reason
            if isinstance(reason, TimeoutError):
                reason = f"timed out after {timeout:g} s"
            raise _MirrorUnreachable(f"cannot connect ({reason})") from None
        except TimeoutError:
            raise _MirrorFailed(f"timed out after {timeout:g} s without data") from None
        except http.client.IncompleteRead as e:
            raise _MirrorFailed(f"truncated body: {len(e.partial)} bytes received") from None
        except (OSError, http.client.HTTPException) as e:
            raise _MirrorFailed(f"transfer failed ({type(e).__name__}: {e})") from None
        if length is not None and length.isdigit() and digest.size != int(length):
            raise _MirrorFailed(
                f"truncated body: {digest.size} of {length} bytes (Content-Length) received"
            )
        problem = digest.mismatch(resource)
        if problem is not None:
            raise _MirrorFailed(f"checksum mismatch: {problem}")
