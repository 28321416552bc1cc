"""``LocalStore``: a cache in a directory of this machine (or a network-mounted one).

Layout (format 1)::

    <location>/                          0700 when created by jlcache
      FORMAT                             "1": a newer number is refused, never overwritten
      .gitignore                         "*"
      functions/<group>/<version>/<key>.jlc       one file per entry (see jlcache.serialize)
      functions/<group>/<version>/_info.json      once per version: names, first source line
      cells/<slot>/<version>/...                  the same for %%memo cells

The store is composed of small parts, each in its own module: ``location`` (creating and
vetting the directory), ``disk.DiskLayout`` (entry paths, trusted folders, version
descriptions), ``access.AccessLog`` (batched access times) and ``maintenance.Maintenance``
(listing, deletion, eviction, sweeping). This class keeps the entry reads and writes, whose
speed matters most, and the ``Store`` interface's promises (see ``store/base.py``).
"""

from __future__ import annotations

import os
import pickle
import stat
import threading
import time
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from jlcache.serialize import (
    read_kept,
    read_mapped_from,
    read_meta_from,
    read_value_and_pickle_from,
    read_value_from,
    verify_value_from,
    writable_mapping,
    write_value,
)
from jlcache.store import hot
from jlcache.store.access import AccessLog
from jlcache.store.base import Info, Store, Where, flush_at_exit
from jlcache.store.disk import DiskLayout, read_failed
from jlcache.store.hot import HEADERS, HOT, fresh_meta, identity, now_ns
from jlcache.store.layout import (  # noqa: F401 - also imported from here by older code
    KINDS,
    EntryInfo,
    EntryRef,
    Tally,
    group_name,
    parse_age,
    parse_size,
)
from jlcache.store.location import FORMAT, prepare_location
from jlcache.store.maintenance import Maintenance, disk_bytes
from jlcache.store.trust import Untrusted, trusted

__all__ = ["FORMAT", "LocalStore"]

_S_ISREG = stat.S_ISREG
_READ_ONLY_MAPS = ("r", "c", "readonly", "copyonwrite")  # the file never changes through these
_PUT_ATTEMPTS = 5  # a put racing concurrent clears recreates its directories this many times



class LocalStore(Store):
    """A cache directory: put/get entries atomically, list them, evict least recently used.

    ``bytes_limit`` (bytes or "1G") is enforced after each ``put``: a running estimate of
    the size avoids a directory scan per store (see ``Maintenance.enforce_limit``).
    """

    def __init__(self, location: str | os.PathLike[str],
                 bytes_limit: int | str | None = None) -> None:
        self.location = Path(os.path.abspath(os.path.expanduser(os.fspath(location))))
        self.bytes_limit = parse_size(bytes_limit)
        prepare_location(self.location)
        self._root = str(self.location)
        self._lock = threading.RLock()
        self._disk = DiskLayout(self._root)
        self._access = AccessLog(self._disk)
        self.maintenance = Maintenance(self._disk, self._access, self._lock)
        flush_at_exit(self)

    def __repr__(self) -> str:
        return f"LocalStore({self._root!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickles as its location: a worker process opens (and vets) the same directory."""
        return LocalStore, (self._root, self.bytes_limit)

    # ------------------------------------------------------------------------- tuning
    @property
    def flush_interval(self) -> float:
        """Seconds between batched access-time writes (``touch`` flushes after this long)."""
        return self._access.flush_interval

    @flush_interval.setter
    def flush_interval(self, seconds: float) -> None:
        self._access.flush_interval = seconds

    @property
    def vet_interval(self) -> float:
        """Seconds before the folders on the way to an entry are vetted again on a hit."""
        return self._disk.dirs.ttl

    @vet_interval.setter
    def vet_interval(self, seconds: float) -> None:
        self._disk.dirs.ttl = seconds

    # ------------------------------------------------------------------------- naming
    @property
    def url(self) -> str:
        return self._root

    def describe(self, where: Where = ()) -> str:
        return self._disk.path_of(where)

    def local_path(self, ref: EntryRef) -> Path:
        return Path(self._disk.where(ref)[0])

    def path(self, ref: EntryRef) -> Path:
        """The entry's file (which may not exist); ``ValueError`` for an unsafe ref."""
        return Path(self._disk.where(ref)[0])

    # ------------------------------------------------------------------------- entries
    def put(self, ref: EntryRef, value: Any, meta: Mapping[str, Any], compress: Any = 0) -> int:
        meta = {"created": time.time(), **meta}
        disk = self._disk
        path, parts, name = disk.where(ref)
        for attempt in range(_PUT_ATTEMPTS):
            try:
                with disk.writable_dir(parts, stacklevel=5) as dfd:
                    size = write_value(path, value, meta, compress, dir_fd=dfd)
                    size = _written_disk(name, dfd, size)
                    self.maintenance.maybe_sweep(parts, dfd)
                break
            except FileNotFoundError:
                # another process (a clear, an eviction) removed a directory on the way or
                # our temporary inside it meanwhile: recreate the directories and write again
                disk.dirs.forget(parts.__eq__)
                if attempt == _PUT_ATTEMPTS - 1:
                    raise
                if not os.path.isdir(self._root):
                    self._recreate_location()
                time.sleep(0.002 * attempt)  # let a running clear finish its sweep first
        self._access.discard(ref)
        hot.discard(path)  # the file was replaced: its copy could not match again anyway
        if self.bytes_limit is not None:
            self.maintenance.enforce_limit(size, self.bytes_limit)
        return size

    def _recreate_location(self) -> None:
        """The whole location was deleted (``rm -rf``) under a live Memory: create it again,
        with the checks it had at the start (a path that is now a file or unsafe raises)."""
        with self._lock:
            self._disk.dirs.forget()
            prepare_location(self.location)

    def get(self, ref: EntryRef, mmap_mode: str | None = None) -> tuple[Any, dict[str, Any]]:
        """``(value, meta)``; ``KeyError`` if absent (or a symlink), ``CorruptEntryError`` if
        damaged; an ``OSError`` means the process ran out of descriptors or memory.

        A small value read before is unpickled from memory once one ``lstat`` shows its file
        unchanged and still trusted (``store.hot``); anything else is a full read.
        """
        if mmap_mode is None:
            path, parts, _ = self._disk.where(ref)
            kept = HOT.get(path)
            if kept is not None and self._disk.dirs.fresh(parts):
                found = _kept_value(path, kept)
                if found is not None:
                    self._access.touch(ref)
                    return found
        return self._read(ref, mmap_mode)

    def _read(self, ref: EntryRef, mmap_mode: str | None) -> tuple[Any, dict[str, Any]]:
        write = mmap_mode is not None and writable_mapping(mmap_mode)
        read_at = now_ns()  # before the open: see HotEntries.keep
        path, fd, st = self._disk.open_entry(ref, write, 6)
        raw: bytes | tuple[bytes, dict] | None = None
        try:
            if mmap_mode is None:
                value, meta, raw = read_value_and_pickle_from(fd, path, st)
            elif mmap_mode in _READ_ONLY_MAPS:
                value, meta = _mapped(fd, path, mmap_mode, st, read_at)
            else:
                value, meta = read_value_from(fd, path, mmap_mode, st)
        except OSError as exc:
            raise read_failed(exc, path) from None
        finally:
            os.close(fd)
        meta["size"] = st.st_size  # the header is parsed afresh on every read: ours to extend
        meta["disk"] = disk_bytes(st)
        if raw is not None:
            data, header = raw if isinstance(raw, tuple) else (raw, None)
            HOT.keep(path, st, read_at, data, fresh_meta(meta), header)
        elif mmap_mode is None:
            HOT.discard(path)
        self._access.touch(ref)
        return value, meta

    def contains(self, ref: EntryRef) -> bool:
        """Whether the entry exists (a regular file in trusted folders); no side effects."""
        _, parts, name = self._disk.where(ref)
        try:
            with self._disk.dirs.borrow(parts) as dfd:
                return stat.S_ISREG(os.stat(name, dir_fd=dfd, follow_symlinks=False).st_mode)
        except (OSError, Untrusted):
            return False

    def meta(self, ref: EntryRef) -> dict[str, Any]:
        path, fd, st = self._disk.open_entry(ref, stacklevel=4)
        try:
            meta = read_meta_from(fd, path, st)
        except OSError as exc:
            raise read_failed(exc, path) from None
        finally:
            os.close(fd)
        meta["size"] = st.st_size
        meta["disk"] = disk_bytes(st)
        return meta

    def verify(self, ref: EntryRef) -> None:
        """Checksums only: the value is never unpickled (see ``Store.verify``)."""
        path, fd, st = self._disk.open_entry(ref, stacklevel=4)
        try:
            verify_value_from(fd, path, st)
        except OSError as exc:
            raise read_failed(exc, path) from None
        finally:
            os.close(fd)

    def touch(self, ref: EntryRef) -> None:
        self._access.touch(ref)

    def flush(self) -> None:
        self._access.flush()

    # ------------------------------------------------------------------------- version info
    def write_info(self, kind: str, group: str, version: str, info: Info) -> None:
        disk = self._disk
        parts = disk.parts(kind, group, version)
        if disk.known_info(parts):
            return  # written by this process, and restored by every put if evicted since
        fields = info() if callable(info) else info
        data = disk.remember_info(parts, {"name": group, "created": time.time(), **fields})
        with disk.writable_dir(parts, stacklevel=6) as dfd:
            disk.write_info_file(parts, dfd, data)

    def read_info(self, kind: str, group: str, version: str) -> dict[str, Any]:
        return self._disk.read_info(self._disk.parts(kind, group, version))

    # ------------------------------------------------------------------------- housekeeping
    def groups(self, kind: str) -> list[str]:
        return self.maintenance.groups(kind)

    def versions(self, kind: str, group: str) -> list[str]:
        return self.maintenance.versions(kind, group)

    def entries(self, kind: str, group: str | None = None,
                version: str | None = None) -> list[EntryInfo]:
        return self.maintenance.entries(kind, group, version)

    def scan(self, kind: str, group: str | None = None,
             version: str | None = None) -> list[EntryInfo]:
        return self.maintenance.scan(kind, group, version)

    def tally(self, kind: str) -> dict[tuple[str, str], Tally]:
        return self.maintenance.tally(kind)

    def size(self) -> int:
        return self.maintenance.size()

    def delete(self, ref: EntryRef) -> bool:
        return self.maintenance.delete(ref)

    def delete_version(self, kind: str, group: str, version: str) -> bool:
        return self.maintenance.delete_version(kind, group, version)

    def delete_group(self, kind: str, group: str) -> bool:
        return self.maintenance.delete_group(kind, group)

    def clear(self) -> None:
        self.maintenance.clear()

    def reduce_size(self, bytes_limit: int | str | None = None, items_limit: int | None = None,
                    age_limit: timedelta | float | str | None = None) -> list[EntryRef]:
        return self.maintenance.reduce_size(bytes_limit, items_limit, age_limit)

    def sweep_temporaries(self) -> int:
        return self.maintenance.sweep_temporaries()


def _mapped(fd: int, path: str, mmap_mode: str, st: os.stat_result,
            read_at: int) -> tuple[Any, dict[str, Any]]:
    """A read-only mapped read, reusing the header kept from the last read of this very,
    unchanged file (``HEADERS``; the same identity rule as ``HOT``)."""
    kept = HEADERS.get(path)
    unchanged = kept is not None and kept[0] == identity(st)
    value, meta, keep = read_mapped_from(fd, path, mmap_mode, st,
                                         (kept[1], kept[2]) if unchanged else None)  # type: ignore[index]
    if not unchanged:
        HEADERS.keep(path, st, read_at, *keep)
    return value, meta


def _kept_value(path: str, kept: tuple) -> tuple[Any, dict[str, Any]] | None:
    """The kept value of ``path`` if one ``lstat`` shows the very file it was read from,
    unchanged and trusted; ``None`` (and the copy dropped) sends the caller to a full read,
    which decides what a missing, changed or untrusted file means."""
    ident, data, meta, nested, header = kept
    try:
        st = os.stat(path, follow_symlinks=False)
    except OSError:
        HOT.discard(path)
        return None
    if (st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns, st.st_ctime_ns) != ident \
            or not _S_ISREG(st.st_mode) or not trusted(st):
        HOT.discard(path)
        return None
    try:
        value = pickle.loads(data) if header is None else read_kept(path, data, header)
    except Exception:  # a class gone or changed since: the full read words it
        HOT.discard(path)
        return None
    meta = meta.copy()  # (``fresh_meta``, inlined: this runs on every hit)
    for key in nested:
        meta[key] = meta[key].copy()
    return value, meta


def _written_disk(name: str, dfd: int, size: int) -> int:
    """Allocated bytes of the entry just written (its file size if it cannot be measured)."""
    try:
        return disk_bytes(os.stat(name, dir_fd=dfd, follow_symlinks=False))
    except OSError:
        return size
