"""``TieredStore``: a local directory in front of a remote store (read- and write-through).

Hits come from the local tier when the entry is there, so they cost what a local hit costs
and ``mmap_mode`` returns ``numpy.memmap`` views of the local file; a local miss is read
from the remote store and copied into the local tier; every put goes to both (local first,
so the remote put's failure still leaves a usable local copy). The remote store is the
cache everyone shares: listings, sizes and eviction are the remote's, and whatever is
evicted or deleted there through this store is removed from the local tier too.

The local tier is a cache of the remote one: an entry deleted by another machine stays
readable here until this tier evicts or clears it (keys name the function version and the
arguments, so such a copy is still the right result). Composed of two ``Store``s used only
through the interface.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from jlcache.errors import CorruptEntryError
from jlcache.store.base import Info, Store, Where
from jlcache.store.layout import EntryInfo, EntryRef

__all__ = ["TieredStore"]


class TieredStore(Store):
    """``local`` (a ``LocalStore``) in front of ``remote`` (an ``ObjectStore``)."""

    def __init__(self, local: Store, remote: Store) -> None:
        self.local = local
        self.remote = remote

    def __repr__(self) -> str:
        return f"TieredStore({self.remote.url!r}, local_tier={self.local.url!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return TieredStore, (self.local, self.remote)

    @property
    def bytes_limit(self) -> int | None:
        return self.remote.bytes_limit

    @bytes_limit.setter
    def bytes_limit(self, value: int | None) -> None:
        self.remote.bytes_limit = value

    # ------------------------------------------------------------------------- naming
    @property
    def url(self) -> str:
        return self.remote.url

    def describe(self, where: Where = ()) -> str:
        return self.remote.describe(where)

    def local_path(self, ref: EntryRef) -> Path | None:
        return self.local.local_path(ref)

    # ------------------------------------------------------------------------- entries
    def put(self, ref: EntryRef, value: Any, meta: Mapping[str, Any], compress: Any = 0) -> int:
        meta = {"created": time.time(), **meta}  # the same creation time in both tiers
        self.local.put(ref, value, meta, compress)
        return self.remote.put(ref, value, meta, compress)

    def get(self, ref: EntryRef, mmap_mode: str | None = None) -> tuple[Any, dict[str, Any]]:
        try:
            value, meta = self.local.get(ref, mmap_mode)
        except (KeyError, CorruptEntryError):
            pass
        else:
            self.remote.touch(ref)  # the shared LRU order sees local hits too
            meta["disk"] = meta["size"]  # sizes are the remote's (it owns listings, eviction)
            return value, meta
        value, meta = self.remote.get(ref)  # KeyError / CorruptEntryError: the caller's miss
        self._fill(ref, value, meta)
        if mmap_mode is not None:
            try:
                return self.local.get(ref, mmap_mode)
            except (KeyError, CorruptEntryError):
                pass
        return value, meta

    def _fill(self, ref: EntryRef, value: Any, meta: dict[str, Any]) -> None:
        """Copy a remote entry into the local tier (a failure only costs the next hit)."""
        kept = {k: v for k, v in meta.items() if k not in ("size", "disk")}
        try:
            self.local.put(ref, value, kept)
        except Exception:  # a full or read-only local tier is not an error
            pass

    def meta(self, ref: EntryRef) -> dict[str, Any]:
        try:
            meta = self.local.meta(ref)
        except (KeyError, CorruptEntryError):
            return self.remote.meta(ref)
        meta["disk"] = meta["size"]  # sizes are the remote's (it owns listings, eviction)
        return meta

    def contains(self, ref: EntryRef) -> bool:
        return self.local.contains(ref) or self.remote.contains(ref)

    def touch(self, ref: EntryRef) -> None:
        self.local.touch(ref)
        self.remote.touch(ref)

    def flush(self) -> None:
        self.local.flush()
        self.remote.flush()

    # ------------------------------------------------------------------------- versions
    def write_info(self, kind: str, group: str, version: str, info: Info) -> None:
        built: list[Mapping[str, Any]] = []

        def once() -> Mapping[str, Any]:  # the description is built at most once for both
            if not built:
                built.append(info() if callable(info) else info)
            return built[0]

        self.local.write_info(kind, group, version, once)
        self.remote.write_info(kind, group, version, once)

    def read_info(self, kind: str, group: str, version: str) -> dict[str, Any]:
        return self.remote.read_info(kind, group, version) or self.local.read_info(
            kind, group, version)

    # ------------------------------------------------------------------------- listing
    def groups(self, kind: str) -> list[str]:
        return self.remote.groups(kind)

    def versions(self, kind: str, group: str) -> list[str]:
        return self.remote.versions(kind, group)

    def entries(self, kind: str, group: str | None = None,
                version: str | None = None) -> list[EntryInfo]:
        return self.remote.entries(kind, group, version)

    def size(self) -> int:
        return self.remote.size()

    # ------------------------------------------------------------------------- deleting
    def delete(self, ref: EntryRef) -> bool:
        local = self.local.delete(ref)
        return self.remote.delete(ref) or local

    def delete_version(self, kind: str, group: str, version: str) -> bool:
        local = self.local.delete_version(kind, group, version)
        return self.remote.delete_version(kind, group, version) or local

    def delete_group(self, kind: str, group: str) -> bool:
        local = self.local.delete_group(kind, group)
        return self.remote.delete_group(kind, group) or local

    def clear(self) -> None:
        self.local.clear()
        self.remote.clear()

    def reduce_size(self, bytes_limit: int | str | None = None, items_limit: int | None = None,
                    age_limit: timedelta | float | str | None = None) -> list[EntryRef]:
        """Evict from the shared store, drop the same entries here, then hold the local tier
        to the same limits (it is a cache of the remote one)."""
        evicted = self.remote.reduce_size(bytes_limit, items_limit, age_limit)
        for ref in evicted:
            self.local.delete(ref)
        self.local.reduce_size(bytes_limit, items_limit, age_limit)
        return evicted

    def sweep_temporaries(self) -> int:
        return self.local.sweep_temporaries()
