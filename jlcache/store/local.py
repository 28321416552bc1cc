"""Where cache bytes live: layout, atomic puts, safe deletes, last-access tracking, eviction.

Layout (format 1)::

    <location>/                          0700 when created by jlcache
      FORMAT                             "1": a newer number is refused, never overwritten
      .gitignore                         "*"
      functions/<group>/<version>/<key>.jlc       one file per entry (see serialize.py)
      functions/<group>/<version>/_info.json      once per version: names, first source line
      cells/<slot>/<version>/...                  the same for %%memo cells

A hit never writes: ``get`` records the access time in memory and ``flush`` (every few
seconds, before eviction, at exit) sets it as the file's atime, while the mtime stays the
creation time. Our own reads use ``O_NOATIME`` so the kernel never moves atime itself.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import json
import os
import stat
import threading
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jlcache import _fs
from jlcache._fs import PROCESS_ERRNOS
from jlcache.errors import CacheFormatError, CorruptEntryError, UnsafeCacheDirError
from jlcache.serialize.format import _META_READ as META_READ
from jlcache.serialize.format import SMALL_FILE, _check_mmap_mode, write_value
from jlcache.serialize.reader import Reader
from jlcache.store.layout import (
    INFO,
    KINDS,
    SUFFIX,
    EntryInfo,
    EntryRef,
    _check_component,
    _check_kind,
    group_name,
    parse_age,
    parse_size,
)
from jlcache.store.maintenance import Maintenance, _disk
from jlcache.store.trust import TrustedDirs, Untrusted, check_file, process_error, warn_untrusted

__all__ = ["KINDS", "EntryInfo", "EntryRef", "Store", "group_name", "parse_age", "parse_size"]

FORMAT = 1
_PATH_CACHE = 50_000
_PUT_ATTEMPTS = 5  # a put racing concurrent clears recreates its directories this many times
# version descriptions written by this process, to restore them if eviction removes the
# directory while its function is still in use: (location, kind, group, version) -> bytes
_known_infos: dict[tuple[str, str, str, str], bytes] = {}
_stores: weakref.WeakSet = weakref.WeakSet()
_atexit_registered = False


# ----------------------------------------------------------------------------- the location
def _prepare_location(location: Path) -> None:
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
                _fs.atomic_write(str(path), lambda fd, c=content: _fs.write_all(fd, c.encode()))
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


def _read_failed(exc: OSError, path: str) -> Exception:
    """What an ``OSError`` while opening or reading an entry means for the caller.

    Missing (or a link, which is never followed): ``KeyError``. The process out of
    descriptors or memory: the ``OSError`` itself, as recomputing would not help. Anything
    else is about the entry (unreadable, I/O error): ``CorruptEntryError``, a miss.
    """
    if exc.errno == errno.ELOOP:
        return KeyError(f"{path} is a symbolic link or lies behind one; jlcache does not "
                        "follow links inside the cache, so it counts as missing.")
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return KeyError(f"No cache entry at {path}.")
    if exc.errno in PROCESS_ERRNOS:
        return process_error(exc, path)
    return CorruptEntryError(f"{path} could not be read ({exc.strerror or exc}). Likely cause: "
                             "its permissions or a disk error. A cache treats it as missing and "
                             "recomputes it.")


def _written_disk(name: str, dfd: int, size: int) -> int:
    """Allocated bytes of the entry just written (its file size if it cannot be measured)."""
    try:
        return _disk(os.stat(name, dir_fd=dfd, follow_symlinks=False))
    except OSError:
        return size


def _flush_all() -> None:
    for store in list(_stores):
        try:
            store.flush()
        except Exception:  # at exit, a failed access-time update is not worth a traceback
            pass


class Store(Maintenance):
    """A cache directory: put/get entries atomically, list them, evict least recently used.

    ``bytes_limit`` (bytes or "1G") is enforced after each ``put``: a running estimate of
    the size avoids a directory scan per store; when it passes the limit, entries are
    evicted (least recently used first) down to 90% of it, so scans stay rare.
    """

    flush_interval = 5.0  # seconds between batched access-time writes
    sweep_interval = 1.0  # seconds between temporary clean-ups of one directory by put
    rescan_interval = 30.0  # seconds before the size estimate is refreshed from disk

    def __init__(self, location: str | os.PathLike, bytes_limit: int | str | None = None) -> None:
        global _atexit_registered
        self.location = Path(os.path.abspath(os.path.expanduser(os.fspath(location))))
        self.bytes_limit = parse_size(bytes_limit)
        _prepare_location(self.location)
        self._root = str(self.location)
        self._lock = threading.RLock()
        self._pending: dict[EntryRef, float] = {}
        self._last_flush = time.monotonic()
        self._dirs = TrustedDirs(self._root)
        self._paths: dict[EntryRef, tuple[str, tuple[str, str, str], str]] = {}
        self._swept: dict[str, float] = {}
        self._estimate: int | None = None
        self._estimate_at = 0.0
        _stores.add(self)
        if not _atexit_registered:
            atexit.register(_flush_all)
            _atexit_registered = True

    def __repr__(self) -> str:
        return f"Store({self._root!r})"

    def __reduce__(self) -> tuple:
        """Pickles as its location: a worker process opens (and vets) the same directory."""
        return Store, (self._root, self.bytes_limit)

    # ------------------------------------------------------------------------- paths
    def _dir(self, kind: str, group: str, version: str) -> str:
        return os.path.join(self._root, *self._parts(kind, group, version))

    @staticmethod
    def _parts(kind: str, group: str, version: str) -> tuple[str, str, str]:
        return _check_kind(kind), group_name(group), _check_component("version", version)

    def _where(self, ref: EntryRef) -> tuple[str, tuple[str, str, str], str]:
        """The entry's path, its version folder's parts and its file name (cached)."""
        where = self._paths.get(ref)
        if where is None:  # validating and joining costs more than the hit's read: do it once
            if len(self._paths) >= _PATH_CACHE:
                self._paths.clear()
            parts = self._parts(ref.kind, ref.group, ref.version)
            name = _check_component("key", ref.key) + SUFFIX
            where = self._paths[ref] = (os.path.join(self._root, *parts, name), parts, name)
        return where

    def _path(self, ref: EntryRef) -> str:
        return self._where(ref)[0]

    def path(self, ref: EntryRef) -> Path:
        """The entry's file (which may not exist); ``ValueError`` for an unsafe ref."""
        return Path(self._path(ref))

    @contextlib.contextmanager
    def _writable_dir(self, parts: tuple[str, str, str]) -> Iterator[int]:
        """The version folder (created if missing) open for writing into, or a clear refusal."""
        try:
            with self._dirs.borrow(parts, create=True) as dfd:
                self._restore_info(parts, dfd)  # one stat: the folder may have been evicted
                yield dfd
        except Untrusted as exc:
            warn_untrusted(exc, stacklevel=5)
            raise UnsafeCacheDirError(str(exc)) from None
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
            raise UnsafeCacheDirError(
                f"A folder on the way to {os.path.join(self._root, *parts)} inside the cache is "
                "a symbolic link or not a directory; jlcache does not write through links. "
                "Remove it (it is recreated as needed)."
            ) from None

    # ------------------------------------------------------------------------- entries
    def put(self, ref: EntryRef, value: Any, meta: dict, compress: Any = 0) -> int:
        """Store ``value`` atomically under ``ref``; returns the bytes it takes on disk.

        That is the allocated size (``EntryInfo.disk``), the one measure of sizes that
        ``size()``, ``bytes_limit`` and every report use (``memory.housekeeping``).
        ``meta`` (JSON-able; other values are stored as ``str``) goes into the file's
        header, with ``created`` added when missing.
        """
        meta = {"created": time.time(), **meta}
        path, parts, name = self._where(ref)
        for attempt in range(_PUT_ATTEMPTS):
            try:
                with self._writable_dir(parts) as dfd:
                    size = write_value(path, value, meta, compress, dir_fd=dfd)
                    size = _written_disk(name, dfd, size)
                    self._maybe_sweep(parts, dfd)
                break
            except FileNotFoundError:
                # another process (a clear, an eviction) removed a directory on the way or
                # our temporary inside it meanwhile: recreate the directories and write again
                self._dirs.forget(parts.__eq__)
                if attempt == _PUT_ATTEMPTS - 1:
                    raise
                if not os.path.isdir(self._root):
                    self._recreate_location()
                time.sleep(0.002 * attempt)  # let a running clear finish its sweep first
        self._pending.pop(ref, None)
        if self.bytes_limit is not None:
            self._enforce_limit(size)
        return size

    def _recreate_location(self) -> None:
        """The whole location was deleted (``rm -rf``) under a live Memory: create it again,
        with the checks it had at the start (a path that is now a file or unsafe raises)."""
        with self._lock:
            self._dirs.forget()
            _prepare_location(self.location)

    def _open_entry(self, ref: EntryRef, write: bool = False) -> tuple[str, int, os.stat_result]:
        """Open a trusted entry: ``KeyError`` if missing, behind a link or not trusted (one
        ``UnsafeCacheWarning``); ``CorruptEntryError``/``OSError`` as ``_read_failed`` says."""
        path, parts, _ = self._where(ref)
        fd = -1
        try:
            fd = self._dirs.open_in(parts, path, write)
            st = os.fstat(fd)
            check_file(path, st, self._root)  # the file itself: ours and private
            return path, fd, st
        except Untrusted as exc:
            if fd >= 0:
                os.close(fd)
            warn_untrusted(exc, stacklevel=6)
            raise KeyError(f"{exc.path} is not trusted, so {path} counts as missing.") from None
        except OSError as exc:
            if fd >= 0:
                os.close(fd)
            raise _read_failed(exc, path) from None

    def get(self, ref: EntryRef, mmap_mode: str | None = None) -> tuple[Any, dict]:
        """``(value, meta)``; ``KeyError`` if absent (or a symlink), ``CorruptEntryError`` if damaged.

        ``meta`` also holds ``size``, the file's size in bytes, and ``disk``, the bytes it
        takes on disk. Counts as an access (see
        ``touch``). An ``OSError`` means the process ran out of descriptors or memory.
        """
        mode = _check_mmap_mode(mmap_mode)
        path, fd, st = self._open_entry(ref, write=mode in ("r+", "w+"))
        try:
            value, meta = Reader(path, fd, SMALL_FILE, st).value(mode)
        except OSError as exc:
            raise _read_failed(exc, path) from None
        finally:
            os.close(fd)
        meta["size"] = st.st_size  # the header is parsed afresh on every read: ours to extend
        meta["disk"] = _disk(st)
        self.touch(ref)
        return value, meta

    def contains(self, ref: EntryRef) -> bool:
        """Whether the entry exists (a regular file in trusted folders); no side effects."""
        _, parts, name = self._where(ref)
        try:
            with self._dirs.borrow(parts) as dfd:
                return stat.S_ISREG(os.stat(name, dir_fd=dfd, follow_symlinks=False).st_mode)
        except (OSError, Untrusted):
            return False

    def meta(self, ref: EntryRef) -> dict:
        """The entry's metadata (with ``size`` and ``disk``) without loading its value; ``KeyError`` if absent."""
        path, fd, st = self._open_entry(ref)
        try:
            meta = Reader(path, fd, META_READ, st).header["meta"]
        except OSError as exc:
            raise _read_failed(exc, path) from None
        finally:
            os.close(fd)
        meta["size"] = st.st_size
        meta["disk"] = _disk(st)
        return meta

    # ------------------------------------------------------------------------- version info
    def write_info(self, kind: str, group: str, version: str, info: dict) -> None:
        """Describe a version once (names, source line); a no-op when already written."""
        data = json.dumps({"name": group, "created": time.time(), **info}, default=str).encode()
        parts = self._parts(kind, group, version)
        _known_infos[(self._root, *parts)] = data
        with self._writable_dir(parts) as dfd:
            self._write_info_file(parts, dfd, data)

    def _write_info_file(self, parts: tuple[str, str, str], dfd: int, data: bytes) -> None:
        try:
            os.stat(INFO, dir_fd=dfd, follow_symlinks=False)
        except FileNotFoundError:
            path = os.path.join(self._root, *parts, INFO)
            _fs.atomic_write(path, lambda fd: _fs.write_all(fd, data), dir_fd=dfd)

    def _restore_info(self, parts: tuple[str, str, str], dfd: int) -> None:
        data = _known_infos.get((self._root, *parts))
        if data is not None:
            try:
                self._write_info_file(parts, dfd, data)
            except OSError:
                pass

    def read_info(self, kind: str, group: str, version: str) -> dict:
        """The version's ``_info.json`` as a dict (``{}`` if missing, unreadable or not trusted)."""
        parts = self._parts(kind, group, version)
        try:
            with self._dirs.borrow(parts) as dfd:
                data, st = _fs.read_small_file(INFO, dir_fd=dfd)
            check_file(os.path.join(self._root, *parts, INFO), st, self._root)
            info = json.loads(data)
        except Untrusted as exc:
            warn_untrusted(exc)
            return {}
        except (OSError, ValueError):
            return {}
        return info if isinstance(info, dict) else {}
