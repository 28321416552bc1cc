"""Listing, deletion and LRU eviction of a remote cache (never on the path of a hit).

A listing is one recursive LIST of the prefix (fsspec's ``find``, paginated by the
store), with fsspec's listing cache dropped first: another machine may have written or
deleted anything since. Entry metadata for ``entries`` comes from a ranged GET of each
object's header, issued concurrently (``cat_ranges``). Eviction needs no header: the
object's size and creation time come from the listing, its last access from the access
records (``remote_access.py``).
"""

from __future__ import annotations

import datetime
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from jlcache.errors import CorruptEntryError
from jlcache.serialize import header_length, read_meta_bytes
from jlcache.store import recent_listings
from jlcache.store.layout import INFO, KINDS, SUFFIX, EntryInfo, EntryRef, parse_age, parse_size
from jlcache.store.maintenance import AUTO_EVICT_TARGET, args_summary, choose_victims
from jlcache.store.remote import ACCESS, Remote
from jlcache.store.remote_access import RemoteAccess, entry_name

__all__ = ["Listing", "RemoteMaintenance"]

HEAD = 4096  # bytes of each object read for its metadata (more when its header is longer)
RESCAN_INTERVAL = 60.0  # seconds a size estimate is trusted before a LIST refreshes it


def _mtime(info: dict[str, Any]) -> float:
    """An object's modification time in whatever form its fsspec implementation gives."""
    for key in ("LastModified", "last_modified", "mtime", "updated", "created"):
        value = info.get(key)
        if isinstance(value, datetime.datetime):
            return value.timestamp()
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
    return 0.0


@dataclass
class Listing:
    """One LIST of the cache: entries (ref -> (object name, size, mtime)), version
    descriptions (parts -> object name), access record objects."""

    entries: dict[EntryRef, tuple[str, int, float]]
    infos: dict[tuple[str, str, str], str]
    access: list[str]


class RemoteMaintenance:
    """What a remote store does besides reading and writing one entry."""

    def __init__(self, remote: Remote, access: RemoteAccess, lock: threading.RLock) -> None:
        self._remote = remote
        self._access = access
        self.lock = lock
        self._estimate: int | None = None
        self._estimate_at = 0.0

    # ------------------------------------------------------------------------- listing
    def listing(self, where: tuple[str, ...] = (), fresh: bool = False) -> Listing:
        """Everything under a kind/group/version prefix (``()``: the whole cache); from a
        listing of the last ``recent_listings.TTL`` seconds unless ``fresh``."""
        remote, fs = self._remote, self._remote.fs
        prefix = remote.prefix(where)
        found = None if fresh else recent_listings.lookup(remote.url, where)
        if found is None:
            since, at = recent_listings.generation(remote.url), time.monotonic()
            fs.invalidate_cache()
            try:
                found = remote.call(fs.find, prefix, detail=True)
            except FileNotFoundError:
                found = {}
            recent_listings.remember(remote.url, where, found, at, since)
        out = Listing({}, {}, [])
        want = remote.relative(prefix) if where else []  # "mod.f" must not list "mod.f2"
        for path, info in found.items():
            names = remote.relative(path)
            if names[:len(want)] != want:
                continue
            if len(names) == 2 and names[0] == ACCESS:
                out.access.append(path)
            elif len(names) == 4 and names[0] in KINDS:
                kind, group, version, name = names
                if name == INFO:
                    out.infos[(kind, group, version)] = path
                elif name.endswith(SUFFIX) and len(name) > len(SUFFIX):
                    ref = EntryRef(kind, group, version, name[:-len(SUFFIX)])
                    out.entries[ref] = (path, int(info.get("size") or 0), _mtime(info))
        return out

    def groups(self, kind: str) -> list[str]:
        listing = self.listing((kind,))
        return sorted({r.group for r in listing.entries} | {p[1] for p in listing.infos})

    def versions(self, kind: str, group: str) -> list[str]:
        listing = self.listing((kind, group))
        return sorted({r.version for r in listing.entries} | {p[2] for p in listing.infos})

    def entries(self, kind: str, group: str | None = None,
                version: str | None = None) -> list[EntryInfo]:
        """Every entry with its metadata (a concurrent ranged GET of each header); damaged
        ones are listed with ``meta={"corrupt": reason}``."""
        where = tuple(x for x in (kind, group, version) if x is not None)
        if group is None and version is not None:
            where = (kind,)
        self._access.flush_quietly()
        listing = self.listing(where)
        items = [(ref, *v) for ref, v in listing.entries.items()
                 if version is None or ref.version == version]
        heads = self.heads([(path, size) for _, path, size, _ in items])
        times = self._access.read(listing.access)
        out = []
        for (ref, path, size, mtime), head in zip(items, heads, strict=True):
            meta = self._meta(path, head, size)
            duration = meta.get("duration")
            created = meta.get("created")
            out.append(EntryInfo(
                ref=ref, path=None, size=size,
                created=float(created) if isinstance(created, (int, float)) else mtime,
                last_access=max(mtime, times.get(entry_name(ref), 0.0)),
                duration=float(duration) if isinstance(duration, (int, float)) else None,
                args=args_summary(meta), meta=meta, disk=size))
        return out

    def heads(self, objects: list[tuple[str, int]]) -> list[Any]:
        """The first bytes (at least the header) of each object, fetched concurrently; an
        exception in place of an object that could not be read."""
        if not objects:
            return []
        fs = self._remote.fs
        paths = [p for p, _ in objects]
        ends = [min(size, HEAD) for _, size in objects]
        heads = self._remote.call(fs.cat_ranges, paths, [0] * len(paths), ends,
                                  on_error="return")
        for i, ((path, size), head) in enumerate(zip(objects, heads, strict=True)):
            if isinstance(head, bytes) and len(head) < size and header_length(head) > len(head):
                try:
                    heads[i] = self._remote.call(fs.cat_file, path, start=0,
                                                 end=header_length(head))
                except Exception as exc:  # listed as damaged, not a crash
                    heads[i] = exc
        return heads

    def _meta(self, path: str, head: Any, size: int) -> dict[str, Any]:
        if isinstance(head, FileNotFoundError):
            return {"corrupt": "deleted while listed"}
        if isinstance(head, BaseException):
            return {"corrupt": f"unreadable ({type(head).__name__}: {head})"}
        try:
            return read_meta_bytes(head, self._remote.describe_url(path), size)
        except CorruptEntryError as exc:
            return {"corrupt": str(exc)}

    def size(self) -> int:
        return sum(size for _, size, _ in self.listing(fresh=True).entries.values())

    # ------------------------------------------------------------------------- deleting
    def delete(self, ref: EntryRef) -> bool:
        """Remove one entry; ``False`` if it was not there (S3 deletes say nothing)."""
        path = self._remote.path(ref)
        fs = self._remote.fs
        self._access.discard(ref)
        fs.invalidate_cache(path)
        if not self._remote.call(fs.exists, path):
            return False
        try:
            self._remote.call(fs.rm_file, path)
        except FileNotFoundError:
            return False
        return True

    def remove(self, where: tuple[str, ...]) -> bool:
        """Remove every object under a kind/group/version prefix; ``False`` if none."""
        listing = self.listing(where, fresh=True)
        paths = [v[0] for v in listing.entries.values()] + list(listing.infos.values())
        self._access.forget(lambda ref: ref[:len(where)] == where)
        self._rm(paths)
        return bool(paths)

    def clear(self) -> None:
        """Remove every entry, description and access record; ``FORMAT`` stays."""
        listing = self.listing(fresh=True)
        self._access.forget(lambda ref: True)
        self._rm([v[0] for v in listing.entries.values()] + list(listing.infos.values())
                 + listing.access)
        self._estimate = 0

    def _rm(self, paths: list[str]) -> None:
        if paths:
            try:
                self._remote.call(self._remote.fs.rm, paths)
            except FileNotFoundError:  # another process deleted some first
                pass
            self._remote.fs.invalidate_cache()

    # ------------------------------------------------------------------------- eviction
    def reduce_size(self, bytes_limit: int | str | None = None, items_limit: int | None = None,
                    age_limit: timedelta | float | str | None = None) -> list[EntryRef]:
        """Evict, least recently used first (creation time or latest access record), until
        every limit holds; then drop descriptions of versions this emptied and merge the
        access records."""
        limit, age = parse_size(bytes_limit), parse_age(age_limit)
        if items_limit is not None and (not isinstance(items_limit, int) or items_limit < 0):
            raise ValueError(f"items_limit must be a non-negative integer (got {items_limit!r}).")
        with self.lock:
            self._access.flush_quietly()
            listing = self.listing(fresh=True)
            times = self._access.read(listing.access)
            items = [(max(mtime, times.get(entry_name(ref), 0.0)), mtime, path, ref, size)
                     for ref, (path, size, mtime) in listing.entries.items()]
            items.sort(key=lambda it: it[:3])
            victims, total = choose_victims(items, limit, items_limit, age)
            evicted = [v[3] for v in victims]
            for ref in evicted:
                self._access.discard(ref)
            left = {(r.kind, r.group, r.version) for r in listing.entries} - {
                (r.kind, r.group, r.version) for r in evicted}
            emptied = [path for parts, path in listing.infos.items()
                       if parts not in left and any(r[:3] == parts for r in evicted)]
            self._rm([v[2] for v in victims] + emptied)
            live = {entry_name(r) for r in listing.entries} - {entry_name(r) for r in evicted}
            self._access.compact(listing.access, times, live)
            self._estimate, self._estimate_at = total, time.monotonic()
        return evicted

    def enforce_limit(self, written: int, bytes_limit: int) -> None:
        """After a put: a running estimate (refreshed by a LIST every ``RESCAN_INTERVAL``);
        evict below 90% of the limit only when it is passed."""
        with self.lock:
            now = time.monotonic()
            if self._estimate is None or now - self._estimate_at > RESCAN_INTERVAL:
                self._estimate, self._estimate_at = self.size(), now
            else:
                self._estimate += written
            if self._estimate > bytes_limit:
                self.reduce_size(bytes_limit=int(bytes_limit * AUTO_EVICT_TARGET))
