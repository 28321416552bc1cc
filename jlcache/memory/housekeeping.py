"""What is stale, and how big things are: one definition of each for every front end.

``%jlcache info``/``clear --stale``, the panel (its labels, header and *clear stale*) and
(later) the command line all ask this module, so they never disagree.

**Stale**, in a notebook. Each version of a cached function or ``%%memo`` cell is, for this
session, exactly one of:

* ``current``: a definition live in this session has it (``stats.mark_current``: a
  ``MemorizedFunc`` created, or whose code or dependencies changed, a ``%%memo`` run).
  A name defined in *two cells* has two current versions: the earlier cell still defines its
  own, and running it again brings that function back, so its results are not stale. A cell
  that runs again replaces what it defined before (``stats.forget_site``), so *editing* a
  function makes its previous version stale. Outside notebook cells (a script, terminal
  IPython, which has no cell ids) the latest definition of a name replaces the previous one.
* ``stale``: the group has a current version in this session and this version is not one of
  them: no cell of this session defines it any more. ``clear_stale`` deletes these.
* ``unknown``: nothing in this session defined the group (yet): it may belong to a notebook
  that is not open, or to a cell not run since the kernel started. Never deleted as stale.

**Sizes** are bytes the entries take in their store: allocated bytes on disk for the local
store (a 200-byte entry takes a 4 KiB block), what ``Store.size()``, ``bytes_limit`` and
eviction count, and what clearing frees. "How much disk does my cache take" is the question
users ask, so ``entry_bytes`` is the one measure the panel, ``%jlcache info`` and the
``bytes`` of ``cache.hit``/``cache.store`` events report.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jlcache import events, stats
from jlcache.store.layout import KINDS

if TYPE_CHECKING:  # pragma: no cover
    from jlcache.store import Store

__all__ = ["CURRENT", "STALE", "UNKNOWN", "Removed", "clear_stale", "defined_versions",
           "entry_bytes", "stale_versions", "total_bytes", "version_state"]

CURRENT, STALE, UNKNOWN = "current", "stale", "unknown"

# kind -> group -> the versions defined in this session (a single version string is accepted)
Defined = Mapping[str, Mapping[str, Collection[str] | str]]
Guard = Callable[[str, str, str], contextlib.AbstractContextManager[Any]]


def defined_versions() -> dict[str, dict[str, frozenset[str]]]:
    """What this session defines, for every kind: the input of the functions below."""
    return {kind: stats.defined_versions(kind) for kind in KINDS}


def version_state(kind: str, group: str, version: str, defined: Defined | None = None) -> str:
    """``CURRENT``, ``STALE`` or ``UNKNOWN`` (see the module's docstring)."""
    if defined is None:
        defined = defined_versions()
    versions = defined.get(kind, {}).get(group)
    if not versions:
        return UNKNOWN
    if isinstance(versions, str):
        versions = (versions,)
    return CURRENT if version in versions else STALE


def stale_versions(store: Store, defined: Defined | None = None) -> list[tuple[str, str, str]]:
    """``(kind, group, version)`` of every stale version in ``store``."""
    if defined is None:
        defined = defined_versions()
    out: list[tuple[str, str, str]] = []
    for kind in KINDS:
        for group in store.groups(kind):
            if not defined.get(kind, {}).get(group):
                continue  # unknown: no need to list its versions
            out.extend((kind, group, version) for version in store.versions(kind, group)
                       if version_state(kind, group, version, defined) == STALE)
    return out


@dataclass
class Removed:
    """What ``clear_stale`` deleted."""

    versions: list[tuple[str, str, str]] = field(default_factory=list)
    entries: int = 0
    bytes: int = 0


def clear_stale(store: Store, defined: Defined | None = None, guard: Guard | None = None) -> Removed:
    """Delete every stale version; publishes ``cache.clear`` for each.

    ``guard(kind, group, version)`` wraps each deletion (a front end turns an ``OSError``
    into its own message there); a failure stops the clear, with what was removed before
    it already gone.
    """
    out = Removed()
    for kind, group, version in stale_versions(store, defined):
        infos = store.entries(kind, group, version)
        with (guard or _no_guard)(kind, group, version):
            store.delete_version(kind, group, version)
        out.versions.append((kind, group, version))
        out.entries += len(infos)
        out.bytes += total_bytes(infos)
        events.publish("cache.clear", kind=kind, group=group, func=group, version=version,
                       key=None)
    return out


def _no_guard(kind: str, group: str, version: str) -> contextlib.AbstractContextManager[None]:
    return contextlib.nullcontext()


def entry_bytes(entry: Any) -> int:
    """The size of one entry as jlcache reports it everywhere: bytes it takes in its store.

    ``entry`` is an ``EntryInfo`` (a listing) or the metadata a read returns (``get``,
    ``meta``); where the store did not measure the allocation (``disk``), the file's own
    size stands in.
    """
    if isinstance(entry, Mapping):
        disk, size = entry.get("disk"), entry.get("size")
    else:
        disk, size = getattr(entry, "disk", 0), getattr(entry, "size", 0)
    return int(disk or size or 0)


def total_bytes(entries: Iterable[Any]) -> int:
    """The size of several entries (a version, a group, the whole cache)."""
    return sum(entry_bytes(e) for e in entries)
