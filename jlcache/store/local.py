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
import errno
import json
import os
import stat
import threading
import time
import weakref
from pathlib import Path
from typing import Any

from jlcache import _fs
from jlcache.errors import CacheFormatError, UnsafeCacheDirError
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
from jlcache.store.maintenance import Maintenance

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
    fmt = location / "FORMAT"
    try:
        text = fmt.read_text().strip()
    except FileNotFoundError:
        text = None
    if text is not None:
        _check_format(location, text)
    for name, content in (("FORMAT", f"{FORMAT}\n"), (".gitignore", "*\n")):
        path = location / name
        if not os.path.lexists(path):
            try:
                _fs.atomic_write(str(path), lambda fd, c=content: _fs.write_all(fd, c.encode()))
            except OSError:  # a read-only cache can still serve hits
                pass


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


def _read_entry(path: str, mmap_mode: str | None) -> tuple[Any, dict]:
    """``read_value`` plus the file size, which the reader has already taken from ``fstat``."""
    mode = _check_mmap_mode(mmap_mode)
    fd = _fs.open_read(path, write=mode in ("r+", "w+"), follow_symlinks=False)
    try:
        reader = Reader(path, fd, SMALL_FILE)
        value, meta = reader.value(mode)
    finally:
        os.close(fd)
    meta["size"] = reader.size  # the header is parsed afresh on every read: ours to extend
    return value, meta


def _read_entry_meta(path: str) -> dict:
    fd = _fs.open_read(path, follow_symlinks=False)
    try:
        reader = Reader(path, fd, META_READ)
    finally:
        os.close(fd)
    meta = reader.header["meta"]
    meta["size"] = reader.size
    return meta


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
        self._trusted: set[tuple[str, str, str]] = set()
        self._paths: dict[EntryRef, str] = {}
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
        return os.path.join(self._root, _check_kind(kind), group_name(group),
                            _check_component("version", version))

    def _path(self, ref: EntryRef) -> str:
        path = self._paths.get(ref)
        if path is None:  # validating and joining costs more than the hit's read: do it once
            if len(self._paths) >= _PATH_CACHE:
                self._paths.clear()
            path = self._paths[ref] = os.path.join(self._dir(ref.kind, ref.group, ref.version),
                                                   _check_component("key", ref.key) + SUFFIX)
        return path

    def path(self, ref: EntryRef) -> Path:
        """The entry's file (which may not exist); ``ValueError`` for an unsafe ref."""
        return Path(self._path(ref))

    def _is_real_dir_chain(self, kind: str, group: str, version: str) -> bool:
        """True when kind/group/version are real directories (no symlink leads out)."""
        key = (kind, group, version)
        if key in self._trusted:
            return True
        path = self._root
        for part in (kind, group_name(group), version):
            path = os.path.join(path, part)
            try:
                if not stat.S_ISDIR(os.lstat(path).st_mode):
                    return False
            except FileNotFoundError:
                return False
        self._trusted.add(key)
        return True

    def _ensure_dir(self, kind: str, group: str, version: str) -> str:
        directory = self._dir(kind, group, version)
        if (kind, group, version) in self._trusted:
            return directory
        path = self._root
        for part in (kind, group_name(group), version):
            path = os.path.join(path, part)
            _fs.make_private_dir(path)
            if not stat.S_ISDIR(os.lstat(path).st_mode):
                raise UnsafeCacheDirError(
                    f"{path} inside the cache is a symbolic link or not a directory; jlcache "
                    "does not write through links. Remove it (it is recreated as needed)."
                )
        self._trusted.add((kind, group, version))
        self._restore_info(kind, group, version, directory)
        return directory

    # ------------------------------------------------------------------------- entries
    def put(self, ref: EntryRef, value: Any, meta: dict, compress: Any = 0) -> int:
        """Store ``value`` atomically under ``ref``; returns the file size in bytes.

        ``meta`` (JSON-able; other values are stored as ``str``) goes into the file's
        header, with ``created`` added when missing.
        """
        meta = {"created": time.time(), **meta}
        path = self._path(ref)
        for attempt in range(_PUT_ATTEMPTS):
            try:
                directory = self._ensure_dir(ref.kind, ref.group, ref.version)
                size = write_value(path, value, meta, compress)
                break
            except FileNotFoundError:
                # another process (a clear, an eviction) removed a directory on the way or
                # our temporary inside it meanwhile: recreate the directories and write again
                self._trusted.discard((ref.kind, ref.group, ref.version))
                if attempt == _PUT_ATTEMPTS - 1:
                    raise
                if not os.path.isdir(self._root):
                    self._recreate_location()
                time.sleep(0.002 * attempt)  # let a running clear finish its sweep first
        self._pending.pop(ref, None)
        self._maybe_sweep(directory)
        if self.bytes_limit is not None:
            self._enforce_limit(size)
        return size

    def _recreate_location(self) -> None:
        """The whole location was deleted (``rm -rf``) under a live Memory: create it again,
        with the checks it had at the start (a path that is now a file or unsafe raises)."""
        with self._lock:
            self._trusted.clear()
            _prepare_location(self.location)

    def get(self, ref: EntryRef, mmap_mode: str | None = None) -> tuple[Any, dict]:
        """``(value, meta)``; ``KeyError`` if absent (or a symlink), ``CorruptEntryError`` if damaged.

        ``meta`` also holds ``size``, the file's size in bytes. Counts as an access (see ``touch``).
        """
        path = self._path(ref)
        if not self._is_real_dir_chain(ref.kind, ref.group, ref.version):
            raise KeyError(f"No cache entry at {path}.")
        try:
            value, meta = _read_entry(path, mmap_mode)
        except FileNotFoundError:
            raise KeyError(f"No cache entry at {path}.") from None
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise
            raise KeyError(f"{path} is a symbolic link; jlcache does not follow links inside "
                           "the cache, so it counts as missing.") from None
        self.touch(ref)
        return value, meta

    def contains(self, ref: EntryRef) -> bool:
        """Whether the entry exists (a regular file); no side effects."""
        try:
            path = self._path(ref)
            return (self._is_real_dir_chain(ref.kind, ref.group, ref.version)
                    and stat.S_ISREG(os.lstat(path).st_mode))
        except (FileNotFoundError, NotADirectoryError):
            return False

    def meta(self, ref: EntryRef) -> dict:
        """The entry's metadata (with ``size``) without loading its value; ``KeyError`` if absent."""
        path = self._path(ref)
        if not self._is_real_dir_chain(ref.kind, ref.group, ref.version):
            raise KeyError(f"No cache entry at {path}.")
        try:
            return _read_entry_meta(path)
        except FileNotFoundError:
            raise KeyError(f"No cache entry at {path}.") from None
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise
            raise KeyError(f"{path} is a symbolic link and is not followed.") from None

    # ------------------------------------------------------------------------- version info
    def write_info(self, kind: str, group: str, version: str, info: dict) -> None:
        """Describe a version once (names, source line); a no-op when already written."""
        data = json.dumps({"name": group, "created": time.time(), **info}, default=str).encode()
        _known_infos[(self._root, kind, group_name(group), version)] = data
        directory = self._ensure_dir(kind, group, version)
        self._write_info_file(directory, data)

    def _write_info_file(self, directory: str, data: bytes) -> None:
        path = os.path.join(directory, INFO)
        if not os.path.lexists(path):
            _fs.atomic_write(path, lambda fd: _fs.write_all(fd, data))

    def _restore_info(self, kind: str, group: str, version: str, directory: str) -> None:
        data = _known_infos.get((self._root, kind, group_name(group), version))
        if data is not None:
            try:
                self._write_info_file(directory, data)
            except OSError:
                pass

    def read_info(self, kind: str, group: str, version: str) -> dict:
        """The version's ``_info.json`` as a dict (``{}`` if missing or unreadable)."""
        path = os.path.join(self._dir(kind, group, version), INFO)
        try:
            fd = _fs.open_read(path, follow_symlinks=False)
        except OSError:
            return {}
        try:
            info = json.loads(os.read(fd, 1 << 20))
            return info if isinstance(info, dict) else {}
        except ValueError:
            return {}
        finally:
            os.close(fd)
