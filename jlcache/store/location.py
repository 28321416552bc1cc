"""A local cache location: created private, marked with its format, refused when unsafe.

``<location>/FORMAT`` holds the cache format number: a newer number is refused, never
overwritten, so an old jlcache cannot damage a cache a newer one wrote; ``.gitignore``
keeps the cache out of a repository the notebook lives in.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

from jlcache import _fs
from jlcache._fs import PROCESS_ERRNOS
from jlcache.errors import CacheFormatError, UnsafeCacheDirError
from jlcache.store.trust import Untrusted, check_file

__all__ = ["FORMAT", "prepare_location"]

FORMAT = 1


def prepare_location(location: Path) -> None:
    """Create (0700) or vet the directory, then check or write ``FORMAT`` and ``.gitignore``."""
    if not os.path.exists(location):
        os.makedirs(location.parent, exist_ok=True)
        if _fs.make_private_dir(str(location)):
            os.chmod(location, _fs.DIR_MODE)  # exact, whatever the umask
    _fs.check_private_dir(location)
    text = _read_format(location)
    if text is not None:
        _check_format(location, text)
    for name, content in (("FORMAT", f"{FORMAT}\n"), (".gitignore", "*\n")):
        path = location / name
        if not os.path.lexists(path):
            try:
                _fs.atomic_write(str(path), _writer(content.encode()))
            except OSError:  # a read-only cache can still serve hits
                pass


def _read_format(location: Path) -> str | None:
    """``FORMAT``'s text (``None`` if missing); never blocks on a FIFO nor follows a link."""
    fmt = str(location / "FORMAT")
    try:
        data, st = _fs.read_small_file(fmt, 64)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno in PROCESS_ERRNOS:
            raise
        what = "a symbolic link" if exc.errno == errno.ELOOP else exc.strerror
        raise CacheFormatError(
            f"{fmt} cannot be read as a jlcache format file: {what}. A jlcache cache holds a "
            "small regular file there. Choose another location, or replace it with a file "
            "containing '1' if the directory really is a jlcache cache."
        ) from None
    try:
        check_file(fmt, st, str(location))
    except Untrusted as exc:
        raise UnsafeCacheDirError(
            f"Refusing to use the cache directory {location}: its FORMAT file {exc.reason}, so "
            f"someone else may have prepared this directory. Fix it with {exc.fix}, or choose "
            "another location."
        ) from None
    return data.decode("utf-8", "replace").strip()


def _check_format(location: Path, text: str) -> None:
    try:
        found = int(text)
    except ValueError:
        raise CacheFormatError(
            f"{location}/FORMAT contains {text[:40]!r}, not a jlcache format number: the "
            "directory is not a jlcache cache or its FORMAT file was damaged. Choose another "
            "location; if it really is a jlcache cache, write '1' into FORMAT."
        ) from None
    if found > FORMAT:
        raise CacheFormatError(
            f"The cache directory {location} was written by a newer jlcache (cache format "
            f"{found}); this jlcache understands format {FORMAT} only. Upgrade jlcache "
            "(`pip install -U jlcache`) to use it, or choose another location. The directory "
            "was left untouched."
        )
    if found < 1:
        raise CacheFormatError(
            f"{location}/FORMAT says format {found}, which no jlcache ever wrote. Choose another "
            "location, or write '1' into FORMAT if it is a jlcache cache."
        )


def _writer(data: bytes) -> Callable[[int], None]:
    return lambda fd: _fs.write_all(fd, data)
