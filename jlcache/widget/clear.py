"""Deleting exactly what a panel row stands for (a click on *clear*, or ``Panel.clear``).

The row id is never turned into a path here: it is matched against the store's own
listing, so an id that names nothing (or tries ``..``) deletes nothing and says so.
Sizes reported are ``housekeeping.entry_bytes`` (allocated bytes), like the panel's totals,
``%jlcache info`` and ``Store.size()``; "stale" is ``housekeeping``'s definition too.
"""

from __future__ import annotations

from typing import NamedTuple

from jlcache.memory import housekeeping
from jlcache.memory.housekeeping import Defined
from jlcache.store.base import Store
from jlcache.widget.format import human_size
from jlcache.widget.ids import KINDS, parse_row_id
from jlcache.widget.model import args_text, disk_bytes

__all__ = ["Cleared", "clear_target"]


class Cleared(NamedTuple):
    """What a clear removed, for the panel's status line and for tests."""

    message: str
    entries: int
    bytes: int


def _entries(n: int) -> str:
    return f"{n} entry" if n == 1 else f"{n} entries"


def _measure(store: Store, kind: str, group: str | None = None, version: str | None = None) -> tuple[int, int]:
    infos = store.entries(kind, group, version)
    return len(infos), housekeeping.total_bytes(infos)


def _clear_all(store: Store) -> Cleared:
    n, size = (sum(x) for x in zip(*(_measure(store, k) for k in KINDS), strict=True))
    store.clear()
    return Cleared(f"Cleared the whole cache ({_entries(n)}, {human_size(size)}).", n, size)


def _clear_stale(store: Store, defined: Defined) -> Cleared:
    done = housekeeping.clear_stale(store, defined)
    return Cleared(f"Cleared {len(done.versions)} stale version(s) ({_entries(done.entries)}, "
                   f"{human_size(done.bytes)}).", done.entries, done.bytes)


def clear_target(store: Store, rid: str, defined: Defined) -> Cleared:
    """Delete exactly what row ``rid`` stands for, resolving it against the store itself.

    ``defined``: the versions this session defines (``housekeeping.defined_versions()``),
    which decide what ``"stale"`` deletes.
    """
    target = parse_row_id(rid)
    if target.kind == "jobs":
        raise ValueError(f"{rid!r} is a job, not cached data: use Panel.cancel({rid!r}) to stop it.")
    if target.kind == "all":
        return _clear_all(store)
    if target.kind == "stale":
        return _clear_stale(store, defined)
    kind, group, version, key = target
    gone = Cleared(f"Nothing to clear: {rid!r} is no longer in the cache (refreshed).", 0, 0)
    if group not in store.groups(kind) or (version and version not in store.versions(kind, group)):
        return gone
    if key is not None:
        match = [i for i in store.entries(kind, group, version) if i.ref.key == key]
        if not match:
            return gone
        store.delete(match[0].ref)
        size = disk_bytes(match[0])
        return Cleared(f"Cleared entry {args_text(match[0]) or key[:12]} of {group} ({human_size(size)}).",
                       1, size)
    n, size = _measure(store, kind, group, version)
    if version is not None:
        store.delete_version(kind, group, version)
        what = f"version {version[:12]} of {group}"
    else:
        store.delete_group(kind, group)
        what = group
    return Cleared(f"Cleared {what} ({_entries(n)}, {human_size(size)}).", n, size)
