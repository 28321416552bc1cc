"""``%jlcache info`` and ``%jlcache clear``: what is cached, and removing it safely.

Safety of ``clear TARGET``: a target is only ever *compared* with the group names the Store
lists (or resolved to a cached function in the user namespace); it is never joined into a
path. So ``clear ../../etc`` matches nothing and deletes nothing, wherever it points.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jlcache.store.layout import KINDS, Tally

if TYPE_CHECKING:  # pragma: no cover
    from jlcache.store import Store

__all__ = ["GroupRow", "RemovalFailed", "clear_stale", "collect", "format_table", "human_bytes",
           "removing", "resolve_target", "stale_summary"]


@dataclass
class GroupRow:
    """One cached function or cell slot, summed over its versions."""

    kind: str
    group: str
    name: str
    versions: int
    current: str | None
    entries: int
    bytes: int
    hits: int
    misses: int
    time_saved: float


def human_bytes(n: float) -> str:
    """Binary units, written exactly as the panel writes them (``1.5 KiB``, ``12 MiB``)."""
    from jlcache.memory.housekeeping import human_size  # not the widget's: no widget import

    return human_size(n)


def collect(store: Store) -> list[GroupRow]:
    """Rows for every function and cell group on disk, with this session's counters.

    Sizes are ``housekeeping.entry_bytes`` (bytes on disk), the panel's measure. The sums
    come from ``Store.tally`` (one ``lstat`` per entry, no entry opened), so a cache of 100k
    entries is listed in well under a second; one entry per group is read for its name.
    """
    from jlcache import stats

    counts = stats.snapshot()
    rows = []
    for kind in KINDS:
        current = stats.current_versions(kind)
        by_group: dict[str, list[tuple[str, Tally]]] = {}
        for (group, version), tally in sorted(store.tally(kind).items()):
            by_group.setdefault(group, []).append((version, tally))
        for group in store.groups(kind):
            versions = store.versions(kind, group)
            tallies = by_group.get(group, [])
            hits = misses = 0
            saved = 0.0
            for version in versions:
                c = counts.get((kind, group, version))
                if c is not None:
                    hits, misses, saved = hits + c.hits, misses + c.misses, saved + c.time_saved
            rows.append(GroupRow(kind, group, _group_name(store, kind, group, tallies), len(versions),
                                 current.get(group), sum(t.entries for _, t in tallies),
                                 sum(t.disk for _, t in tallies), hits, misses, saved))
    return rows


def _group_name(store: Store, kind: str, group: str, tallies: list[tuple[str, Tally]]) -> str:
    """The ``func`` its entries record (``module.qualname``, a cell's name): that of the
    first entry listed, read alone; when it says nothing, the first entry that does."""
    import warnings

    from jlcache.store.layout import EntryRef

    if tallies:
        version, tally = tallies[0]
        try:
            with warnings.catch_warnings():  # the listing below words any problem
                warnings.simplefilter("error")
                func = store.meta(EntryRef(kind, group, version, tally.first)).get("func")
            if func:
                return str(func)
        except Exception:
            pass
    return next((str(e.meta.get("func")) for e in store.entries(kind, group) if (e.meta or {}).get("func")),
                group)


def format_table(rows: list[GroupRow], location: Any) -> str:
    """A plain-text table (terminal, nbconvert and the panel's fallback all read it)."""
    total = sum(r.bytes for r in rows)
    lines = [f"jlcache at {location}: {len(rows)} cached functions/cells, {human_bytes(total)}"]
    if not rows:
        return lines[0] + "\n(nothing cached yet)"
    header = ("kind", "name", "versions", "entries", "size", "hits", "misses", "saved")
    table = [header]
    for r in sorted(rows, key=lambda r: (r.kind, r.name)):
        table.append((r.kind[:-1], r.name[:60], str(r.versions), str(r.entries),
                      human_bytes(r.bytes), str(r.hits), str(r.misses), f"{r.time_saved:.2f}s"))
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        lines.append("  ".join(cell.ljust(w) if i < 2 else cell.rjust(w)
                               for i, (cell, w) in enumerate(zip(row, widths, strict=True))))
    return "\n".join(lines)


def resolve_target(store: Store, ns: dict, target: str) -> list[tuple[str, str]]:
    """The ``(kind, group)`` pairs ``target`` names; empty if none (never builds a path)."""
    from jlcache.memory.housekeeping import match_groups

    obj = ns.get(target)
    if obj is not None and callable(obj):
        group = _function_group(obj)
        if group is not None and group in store.groups("functions"):
            return [("functions", group)]
    return match_groups(store, target)


def _function_group(obj: Any) -> str | None:
    from jlcache.identity.functions import identify
    from jlcache.store.layout import group_name

    func = obj.func if getattr(obj, "_jlcache_memorized", False) else obj
    try:
        return group_name(identify(func).name)
    except Exception:
        return None


class RemovalFailed(Exception):
    """A folder of the cache could not be removed; the message says which, why and what to do."""


@contextlib.contextmanager
def removing(folder: Any, *, contents: bool = False) -> Iterator[None]:
    """Turn an ``OSError`` while deleting ``folder`` (or, with ``contents``, the entries in it)
    into a ``RemovalFailed`` that names it.

    Why: the file system's own error names only the file ``rmtree`` stopped at, relative to a
    directory it does not show (``'_info.json'``), and not what the user can do about it.
    """
    try:
        yield
    except OSError as exc:
        what = f"the entries in {folder}" if contents else str(folder)
        raise RemovalFailed(_removal_message(what, folder, exc)) from None


def _removal_message(what: str, folder: Any, exc: OSError) -> str:
    code = exc.errno
    if code == errno.EROFS:
        cause, fix = ("the cache is on a read-only file system; nothing was deleted",
                      "Remount it read-write (or ask whoever mounted it) and run the command again")
    elif code in (errno.EACCES, errno.EPERM):
        cause, fix = ("permission denied: the folder or something in it is not writable by you; "
                      "some of its files may already be gone",
                      f"Fix the permissions (e.g. `chmod -R u+w {folder}`) and run the command "
                      "again")
    else:
        cause = os.strerror(code) if code else type(exc).__name__
        fix = "Fix the cause and run the command again"
    return (f"could not remove {what}: {cause} ({type(exc).__name__}: {exc}). {fix}, or "
            "use a writable cache with `%jlcache dir PATH`.")


def delete_groups(store: Store, targets: list[tuple[str, str]]) -> int:
    """Delete whole groups; returns the number of entries removed."""
    from jlcache import events

    removed = 0
    for kind, group in targets:
        removed += len(store.entries(kind, group))
        with removing(store.describe((kind, group))):
            store.delete_group(kind, group)
        events.publish("cache.clear", kind=kind, group=group, func=group, version=None, key=None)
    return removed


def stale_summary(store: Store) -> list[str]:
    """One line per stale version (kind, group, version, entries, size): what a clear would
    delete, shown before asking."""
    from jlcache.memory import housekeeping

    lines = []
    tallies: dict[str, dict[tuple[str, str], Tally]] = {}
    for kind, group, version in housekeeping.stale_versions(store):
        if kind not in tallies:  # one listing per kind, not a header read per entry
            tallies[kind] = store.tally(kind)
        tally = tallies[kind].get((group, version))
        n, size = (tally.entries, tally.disk) if tally else (0, 0)
        lines.append(f"{kind[:-1]} {group} @ {version} ({n} entr{'y' if n == 1 else 'ies'}, "
                     f"{human_bytes(size)})")
    return lines


def clear_stale(store: Store) -> list[tuple[str, str, str]]:
    """Delete the stale versions (``jlcache.memory.housekeeping`` says which: versions no
    definition of this session has, in groups this session defines). An ``OSError`` becomes
    a ``RemovalFailed`` naming the version's folder."""
    from jlcache.memory import housekeeping

    def guard(kind: str, group: str, version: str) -> contextlib.AbstractContextManager[None]:
        return removing(store.describe((kind, group, version)))

    return housekeeping.clear_stale(store, guard=guard).versions
