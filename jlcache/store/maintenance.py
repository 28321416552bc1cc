"""The local store's housekeeping: listing, deleting, eviction, temporary clean-up.

``Maintenance`` is a collaborator ``LocalStore`` owns, not a mixin: it sees the cache only
through the ``DiskLayout`` (root, vetted folders, entry paths, version descriptions) and
the ``AccessLog`` (recorded accesses) it is given, and keeps its own state (the size
estimate, when each folder was swept). Every deletion resolves its target inside the
location and never through a symbolic link, and tolerates another process deleting the
same files at the same time.
"""

from __future__ import annotations

import errno
import os
import stat
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

from jlcache import _fs
from jlcache.errors import CorruptEntryError
from jlcache.serialize import read_meta
from jlcache.store import hot
from jlcache.store.access import AccessLog
from jlcache.store.disk import DiskLayout, Parts
from jlcache.store.layout import (
    INFO,
    KINDS,
    SUFFIX,
    EntryInfo,
    EntryRef,
    Tally,
    _check_component,
    _check_kind,
    group_name,
    parse_age,
    parse_size,
)
from jlcache.store.tallies import disk_bytes, eviction_listing, tally_dir

__all__ = ["Maintenance", "args_summary", "choose_victims", "disk_bytes"]

FRESH_VERSION = 600.0  # seconds during which an entry-less version is assumed in use
ARGS_MAX = 200  # characters of an entry's argument summary in listings
AUTO_EVICT_TARGET = 0.9  # automatic eviction goes below the limit so the next put doesn't rescan


def _read_small(path: str) -> bytes | None:
    try:
        return _fs.read_small_file(path)[0]
    except OSError:  # missing, a link, a FIFO...: nothing worth restoring
        return None


def args_summary(meta: dict) -> str:
    """``x=3, y='a'`` from the ``input_args`` the memory layer and ``%%memo`` record."""
    args = meta.get("args")  # a writer may give its own summary
    if isinstance(args, str):
        return args
    inputs = meta.get("input_args")
    if not isinstance(inputs, dict):
        return ""
    return ", ".join(f"{name}={value}" for name, value in inputs.items())[:ARGS_MAX]


def _is_real_dir(path: str) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return False


class Maintenance:
    """Listing, deletion, eviction and sweeping of one local cache."""

    sweep_interval = 1.0  # seconds between temporary clean-ups of one folder by ``put``
    rescan_interval = 30.0  # seconds before the size estimate is refreshed from disk

    def __init__(self, disk: DiskLayout, access: AccessLog, lock: threading.RLock) -> None:
        self._disk = disk
        self._root = disk.root
        self._access = access
        self.lock = lock
        self._swept: dict[Parts, float] = {}
        self._estimate: int | None = None
        self._estimate_at = 0.0

    # ------------------------------------------------------------------------- walking
    def _version_dirs(self, kinds: tuple, group: str | None = None,
                      version: str | None = None) -> Iterator[tuple[str, str, str, str]]:
        """``(kind, group, version, path)`` of real version directories (no symlinks)."""
        for kind in kinds:
            kdir = os.path.join(self._root, kind)
            if not _is_real_dir(kdir):
                continue
            if group is None:
                groups = [e.name for e in _fs.real_subdirs(kdir)]
            else:
                groups = [group_name(group)]
            for g in sorted(groups):
                gdir = os.path.join(kdir, g)
                if version is None:
                    names = [e.name for e in _fs.real_subdirs(gdir)]
                elif _is_real_dir(os.path.join(gdir, _check_component("version", version))):
                    names = [version]
                else:
                    names = []
                for v in sorted(names):
                    yield kind, g, v, os.path.join(gdir, v)

    @staticmethod
    def _files(directory: str) -> list[os.DirEntry]:
        try:
            with os.scandir(directory) as it:
                return [e for e in it if e.is_file(follow_symlinks=False)]
        except (FileNotFoundError, NotADirectoryError):
            return []

    def _entry_files(self, kinds: tuple, group: str | None = None, version: str | None = None
                     ) -> Iterator[tuple[EntryRef, str, os.stat_result]]:
        for kind, g, v, vdir in self._version_dirs(kinds, group, version):
            for entry in sorted(self._files(vdir), key=lambda e: e.name):
                if entry.name.endswith(SUFFIX):
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    yield EntryRef(kind, g, v, entry.name[:-len(SUFFIX)]), entry.path, st

    # ------------------------------------------------------------------------- listing
    def groups(self, kind: str) -> list[str]:
        """Group directory names (sanitized ``module.qualname`` or cell slots)."""
        return sorted(e.name for e in _fs.real_subdirs(os.path.join(self._root, _check_kind(kind))))

    def versions(self, kind: str, group: str) -> list[str]:
        gdir = os.path.join(self._root, _check_kind(kind), group_name(group))
        return sorted(e.name for e in _fs.real_subdirs(gdir)) if _is_real_dir(gdir) else []

    def entries(self, kind: str, group: str | None = None,
                version: str | None = None) -> list[EntryInfo]:
        """Every entry with its metadata (one header read each); damaged ones are listed too,
        with ``meta={"corrupt": reason}``, so that they can be seen and deleted."""
        out = []
        for ref, path, st in self._entry_files((_check_kind(kind),), group, version):
            try:
                meta = read_meta(path, follow_symlinks=False)
            except FileNotFoundError:
                continue
            except (CorruptEntryError, OSError) as exc:
                meta = {"corrupt": str(exc)}
            duration = meta.get("duration")
            out.append(EntryInfo(
                ref=ref, path=Path(path), size=st.st_size,
                created=float(meta.get("created") or st.st_mtime),
                last_access=max(st.st_atime, self._access.last(ref)),
                duration=float(duration) if isinstance(duration, (int, float)) else None,
                args=args_summary(meta), meta=meta, disk=disk_bytes(st),
            ))
        return out

    def scan(self, kind: str, group: str | None = None,
             version: str | None = None) -> list[EntryInfo]:
        """``entries`` from one ``lstat`` per file, no header read: ``created`` is the file's
        mtime (an entry is written once and its mtime kept, see ``access``), ``meta`` empty."""
        pending = self._access.pending
        return [EntryInfo(ref=ref, path=Path(path), size=st.st_size, created=st.st_mtime,
                          last_access=max(st.st_atime, st.st_mtime, pending.get(ref, 0.0)),
                          duration=None, args="", disk=disk_bytes(st))
                for ref, path, st in self._entry_files((_check_kind(kind),), group, version)]

    def tally(self, kind: str) -> dict[tuple[str, str], Tally]:
        """``Store.tally``: the sums of ``scan(kind)`` per version from one ``lstat`` per file
        and no object per entry (about 4x faster than ``scan`` on 100k entries)."""
        pending: dict[tuple[str, str], float] = {}
        for ref, when in list(self._access.pending.items()):
            if ref.kind == kind:
                key = (ref.group, ref.version)
                pending[key] = max(when, pending.get(key, 0.0))
        out: dict[tuple[str, str], Tally] = {}
        for _, group, version, vdir in self._version_dirs((_check_kind(kind),)):
            found = tally_dir(vdir, pending.get((group, version), 0.0))
            if found is not None:
                out[(group, version)] = found
        return out

    def size(self) -> int:
        """Allocated bytes of all entries (what ``bytes_limit`` is compared with)."""
        return sum(t.disk for kind in KINDS for t in self.tally(kind).values())

    # ------------------------------------------------------------------------- deleting
    def delete(self, ref: EntryRef) -> bool:
        """Remove one entry; ``False`` if it was not there (or sits behind a symlink)."""
        path, parts, name = self._disk.where(ref)
        self._access.discard(ref)
        hot.discard(path)
        self._estimate = None
        try:  # relative to the version folder we opened: never through a link put there since
            with self._disk.dirs.borrow(parts, safe=False) as dfd:
                return _fs.unlink_quiet(name, dir_fd=dfd)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                return False
            raise

    def delete_version(self, kind: str, group: str, version: str) -> bool:
        """Remove a version with all its entries (and its group when that becomes empty)."""
        gdir = os.path.join(self._root, _check_kind(kind), group_name(group))
        if not (_is_real_dir(os.path.dirname(gdir)) and _is_real_dir(gdir)):
            return False
        self._forget(kind, group, version)
        removed = _fs.remove_tree(os.path.join(gdir, _check_component("version", version)))
        _fs.rmdir_quiet(gdir)
        return removed

    def delete_group(self, kind: str, group: str) -> bool:
        """Remove every version of one function or cell."""
        kdir = os.path.join(self._root, _check_kind(kind))
        if not _is_real_dir(kdir):
            return False
        self._forget(kind, group)
        return _fs.remove_tree(os.path.join(kdir, group_name(group)))

    def clear(self) -> None:
        """Remove every entry (``FORMAT`` and ``.gitignore`` stay)."""
        self._forget()
        for kind in KINDS:
            _fs.remove_tree(os.path.join(self._root, kind))

    def _forget(self, kind: str | None = None, group: str | None = None,
                version: str | None = None) -> None:
        def matches(key: tuple) -> bool:
            return ((kind is None or key[0] == kind)
                    and (group is None or group_name(key[1]) == group_name(group))
                    and (version is None or key[2] == version))

        self._disk.dirs.forget(matches)
        self._access.forget(matches)
        hot.forget_under(self._disk.path_of(tuple(p for p in (kind, group, version) if p)))
        self._estimate = None

    # ------------------------------------------------------------------------- eviction
    def reduce_size(self, bytes_limit: int | str | None = None, items_limit: int | None = None,
                    age_limit: timedelta | float | str | None = None) -> list[EntryRef]:
        """Evict entries, least recently used first, until every given limit holds.

        ``age_limit`` (timedelta or seconds) removes entries not used for that long;
        ``items_limit`` keeps at most that many entries; ``bytes_limit`` (bytes or "1G")
        bounds their allocated size. Emptied version and group directories go too.
        Returns the evicted refs.
        """
        limit = parse_size(bytes_limit)
        age = parse_age(age_limit)
        if items_limit is not None and (not isinstance(items_limit, int) or items_limit < 0):
            raise ValueError(f"items_limit must be a non-negative integer (got {items_limit!r}).")
        with self.lock:
            self._access.flush()
            listing = eviction_listing(self._version_dirs(KINDS))  # one walk; no object per entry
            for vdir in (self._root, *listing.temporaries):  # as sweep_temporaries, where needed
                self._sweep_dir(vdir)
            listing.items.sort()
            victims, total = _choose(listing.items, limit, items_limit, age)
            evicted: dict[tuple[str, str, str], int] = {}
            refs = []
            for _, _, path, where, _ in victims:
                _fs.unlink_quiet(path)
                ref = EntryRef(*where)
                self._access.discard(ref)
                hot.discard(path)
                refs.append(ref)
                evicted[where[:3]] = evicted.get(where[:3], 0) + 1
            self._prune_empty(set(evicted), {parts for parts, n in listing.files.items()
                                             if n <= evicted.get(parts, 0)})
            self._estimate = total
            self._estimate_at = time.monotonic()
        return refs

    def _prune_empty(self, evicted: set[tuple[str, str, str]],
                     candidates: set[tuple[str, str, str]] | None = None) -> None:
        """Remove version directories left without entries, then empty groups.

        A version holding only a recent ``_info.json`` is spared unless this eviction
        emptied it: its function is probably computing its first result right now.
        ``candidates``: the only folders that can be empty (the rest held other files when
        listed), so that a big cache's folders are not listed a second time.
        """
        now = time.time()
        removed = False
        for kind, group, version, vdir in list(self._version_dirs(KINDS)):
            if candidates is not None and (kind, group, version) not in candidates:
                continue
            files = self._files(vdir)
            if any(e.name != INFO for e in files):
                continue
            if files and (kind, group, version) not in evicted:
                try:
                    if now - files[0].stat(follow_symlinks=False).st_mtime < FRESH_VERSION:
                        continue
                except FileNotFoundError:
                    pass
            saved = _read_small(os.path.join(vdir, INFO)) if files else None
            _fs.unlink_quiet(os.path.join(vdir, INFO))
            if _fs.rmdir_quiet(vdir):
                removed = True
            elif saved is not None:  # a writer got in meanwhile: give its version its info back
                self._restore_saved_info((kind, group, version), saved)
            _fs.rmdir_quiet(os.path.dirname(vdir))
        if removed:
            self._disk.dirs.forget()  # reopened (and vetted) on next use

    def _restore_saved_info(self, parts: Parts, saved: bytes) -> None:
        try:
            with self._disk.dirs.borrow(parts, safe=False) as dfd:
                self._disk.write_info_file(parts, dfd, saved)
        except OSError:
            pass

    def enforce_limit(self, written: int, bytes_limit: int) -> None:
        """After a put: cheap running estimate; scan and evict only past ``bytes_limit``.

        When the estimate passes the limit, entries are evicted down to 90% of it, so that
        scans stay rare.
        """
        with self.lock:
            now = time.monotonic()
            if self._estimate is None or now - self._estimate_at > self.rescan_interval:
                estimate = self._estimate = self.size()
                self._estimate_at = now
            else:
                estimate = self._estimate = self._estimate + -(-written // 4096) * 4096
            if estimate > bytes_limit:
                self.reduce_size(bytes_limit=int(bytes_limit * AUTO_EVICT_TARGET))

    # ------------------------------------------------------------------------- temporaries
    def sweep_temporaries(self) -> int:
        """Remove temporaries whose writer no longer runs; returns how many were removed."""
        removed = self._sweep_dir(self._root)
        for _kind, _group, _version, vdir in self._version_dirs(KINDS):
            removed += self._sweep_dir(vdir)
        return removed

    def _sweep_dir(self, directory: str) -> int:
        """Sweep a folder, opened without following a link (except the location itself)."""
        flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
        if directory != self._root:
            flags |= getattr(os, "O_NOFOLLOW", 0)
        try:
            dfd = os.open(directory, flags)
        except OSError:
            return 0
        try:
            return _sweep_fd(dfd)
        finally:
            os.close(dfd)

    def maybe_sweep(self, parts: Parts, dfd: int) -> None:
        """Sweep the open version folder ``dfd`` unless it was swept in the last second."""
        now = time.monotonic()
        if now - self._swept.get(parts, float("-inf")) >= self.sweep_interval:
            self._swept[parts] = now
            _sweep_fd(dfd)


def _sweep_fd(dfd: int) -> int:
    """Remove the stale temporaries in the open folder ``dfd``; returns how many."""
    removed = 0
    now = time.time()
    try:
        with os.scandir(dfd) as it:
            names = [e.name for e in it if e.is_file(follow_symlinks=False)]
    except OSError:
        return 0
    for name in names:
        pid = _fs.parse_temp_name(name)
        if pid is not None and _fs.temp_is_stale(name, pid, now, dir_fd=dfd):
            removed += _fs.unlink_quiet(name, dir_fd=dfd)
    return removed


def _choose(items: list, limit: int | None, items_limit: int | None,
            age: float | None) -> tuple[list, int]:
    """The entries to evict from ``items`` (sorted oldest access first), and the size left.

    Each item starts with its last access time and has its size at index 4 (the object
    store's maintenance shares this rule through ``choose_victims``)."""
    now = time.time()
    victims = [it for it in items if age is not None and now - it[0] > age]
    keep = [it for it in items if not (age is not None and now - it[0] > age)]
    total = sum(it[4] for it in keep)
    count = len(keep)
    for it in keep:
        over_bytes = limit is not None and total > limit
        over_items = items_limit is not None and count > items_limit
        if not (over_bytes or over_items):
            break
        victims.append(it)
        total -= it[4]
        count -= 1
    return victims, total


choose_victims = _choose
