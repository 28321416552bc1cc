"""What is stale, and how big things are: one definition of each for every front end.

``%jlcache info``/``clear --stale``, the panel (its labels, header and *clear stale*) and
the command line (``jlcache``) all ask this module, so they never disagree.

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

**Stale, without a session** (``defined=NO_SESSION``: the ``jlcache`` command line, a cron
job). Nothing defines anything there, so the session rule would call every version unknown.
What such a process knows is what the cache records, so the rule becomes: in each group, the
version **most recently stored to** (its newest entry; a version without entries counts from
when it was described) is ``current`` and every older version is ``stale``. It agrees with
the session rule for the usual history (edit a function, run it: the new version is both
defined and newest); it cannot know that two notebook cells define one name, and then
keeps only the newer one's results. One rule, two sources of knowledge: a session never
falls back to recency (its ``unknown`` groups stay unknown), a process without one never
guesses about sessions.

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
from jlcache.errors import CorruptEntryError
from jlcache.store.layout import KINDS, EntryInfo, EntryRef, Tally

if TYPE_CHECKING:  # pragma: no cover
    from jlcache.store import Store

__all__ = ["CURRENT", "NO_SESSION", "STALE", "UNKNOWN", "Damaged", "Removed", "clear_groups",
           "clear_stale", "defined_versions", "entry_bytes", "group_states", "human_size",
           "last_stored", "match_groups", "stale_versions", "tallies_by_group", "total_bytes", "verify",
           "version_state"]

CURRENT, STALE, UNKNOWN = "current", "stale", "unknown"

# kind -> group -> the versions defined in this session (a single version string is accepted)
Defined = Mapping[str, Mapping[str, Collection[str] | str]]
Guard = Callable[[str, str, str], contextlib.AbstractContextManager[Any]]


class _NoSession:
    """The type of ``NO_SESSION``."""

    def __repr__(self) -> str:
        return "NO_SESSION"


NO_SESSION = _NoSession()
"""``defined`` for a process with no session (the command line): judge versions by recency."""

Knowledge = Defined | _NoSession | None  # None: ask this session (defined_versions())


def defined_versions() -> dict[str, dict[str, frozenset[str]]]:
    """What this session defines, for every kind: the input of the functions below."""
    return {kind: stats.defined_versions(kind) for kind in KINDS}


def version_state(kind: str, group: str, version: str, defined: Defined | None = None) -> str:
    """``CURRENT``, ``STALE`` or ``UNKNOWN`` by the session rule (see the module's docstring);
    ``group_states`` covers ``NO_SESSION`` too, which needs the group's other versions."""
    if isinstance(defined, _NoSession):
        raise TypeError("version_state needs session knowledge; use group_states for NO_SESSION.")
    if defined is None:
        defined = defined_versions()
    versions = defined.get(kind, {}).get(group)
    if not versions:
        return UNKNOWN
    if isinstance(versions, str):
        versions = (versions,)
    return CURRENT if version in versions else STALE


def last_stored(store: Store, kind: str, group: str,
                entries: Iterable[EntryInfo] | None = None,
                tallies: Mapping[str, Tally] | None = None) -> dict[str, float]:
    """When each version of a group was last stored to: its newest entry's ``created``, or,
    for a version without entries, when it was described (``0.0`` when unknown).

    ``entries``: the group's entries when the caller listed them already (``Store.scan``);
    ``tallies``: their sums per version (``Store.tally``), the same answer for a big cache.
    """
    out = dict.fromkeys(store.versions(kind, group), 0.0)
    if tallies is not None:
        for version, tally in tallies.items():
            out[version] = max(out.get(version, 0.0), tally.last_stored)
    else:
        for entry in store.scan(kind, group) if entries is None else entries:
            version = entry.ref.version
            out[version] = max(out.get(version, 0.0), entry.created)
    for version, when in out.items():
        if not when:
            created = store.read_info(kind, group, version).get("created")
            out[version] = float(created) if isinstance(created, (int, float)) else 0.0
    return out


def tallies_by_group(store: Store, kind: str) -> dict[str, dict[str, Tally]]:
    """``Store.tally(kind)`` as ``{group: {version: Tally}}``."""
    out: dict[str, dict[str, Tally]] = {}
    for (group, version), tally in store.tally(kind).items():
        out.setdefault(group, {})[version] = tally
    return out


def group_states(kind: str, group: str, stored: Mapping[str, float],
                 defined: Knowledge = None) -> dict[str, str]:
    """The state of each version in ``stored`` (``last_stored``'s answer) by the one rule:
    the session's knowledge when there is a session, else recency (module docstring)."""
    if isinstance(defined, _NoSession):
        newest = max(stored.values(), default=0.0)
        return {v: CURRENT if when >= newest else STALE for v, when in stored.items()}
    if defined is None:
        defined = defined_versions()
    return {v: version_state(kind, group, v, defined) for v in stored}


def stale_versions(store: Store, defined: Knowledge = None) -> list[tuple[str, str, str]]:
    """``(kind, group, version)`` of every stale version in ``store``."""
    if defined is None:
        defined = defined_versions()
    out: list[tuple[str, str, str]] = []
    for kind in KINDS:
        if isinstance(defined, _NoSession):
            by_group = tallies_by_group(store, kind)
            for group in store.groups(kind):
                states = group_states(kind, group, last_stored(
                    store, kind, group, tallies=by_group.get(group, {})), defined)
                out.extend((kind, group, v) for v, state in states.items() if state == STALE)
            continue
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


def clear_stale(store: Store, defined: Knowledge = None, guard: Guard | None = None) -> Removed:
    """Delete every stale version; publishes ``cache.clear`` for each.

    ``guard(kind, group, version)`` wraps each deletion (a front end turns an ``OSError``
    into its own message there); a failure stops the clear, with what was removed before
    it already gone.
    """
    out = Removed()
    tallies: dict[str, dict[tuple[str, str], Tally]] = {}
    for kind, group, version in stale_versions(store, defined):
        if kind not in tallies:  # one listing per kind, not a header read per entry
            tallies[kind] = store.tally(kind)
        tally = tallies[kind].get((group, version))
        with (guard or _no_guard)(kind, group, version):
            store.delete_version(kind, group, version)
        out.versions.append((kind, group, version))
        out.entries += tally.entries if tally else 0
        out.bytes += tally.disk if tally else 0
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


def human_size(n: float | None) -> str:
    """Bytes as people read them: ``0 B``, ``999 B``, ``1.5 KiB``, ``12 MiB``, ``3.1 GiB``.

    Here, not in a front end, so the panel, ``%jlcache`` and the command line (which must
    not import widget libraries) write the same figure the same way.
    """
    if n is None:
        return ""
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            if unit == "B":
                return f"{int(n)} B"
            return f"{n:.1f} {unit}" if abs(n) < 10 else f"{n:.0f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


# ----------------------------------------------------------------------------- clearing
def match_groups(store: Store, target: str) -> list[tuple[str, str]]:
    """The ``(kind, group)`` pairs a user's ``target`` names: the exact group name, else every
    group ending in ``.target`` (a function's qualname) or ``-target``. Only ever *compared*
    with the store's listing, never joined into a path, so ``../x`` matches nothing."""
    groups = {kind: sorted(store.groups(kind)) for kind in KINDS}
    exact = [(k, g) for k in KINDS for g in groups[k] if g == target]
    if exact:
        return exact
    return [(k, g) for k in KINDS for g in groups[k]
            if g.endswith("." + target) or g.endswith("-" + target)]


def clear_groups(store: Store, targets: Iterable[tuple[str, str]],
                 guard: Guard | None = None) -> Removed:
    """Delete whole groups (every version); publishes ``cache.clear`` for each.
    ``guard(kind, group, "")`` wraps each deletion, as in ``clear_stale``."""
    out = Removed()
    for kind, group in targets:
        infos = store.scan(kind, group)
        with (guard or _no_guard)(kind, group, ""):
            store.delete_group(kind, group)
        out.versions.append((kind, group, ""))
        out.entries += len(infos)
        out.bytes += total_bytes(infos)
        events.publish("cache.clear", kind=kind, group=group, func=group, version=None, key=None)
    return out


# ----------------------------------------------------------------------------- verifying
@dataclass
class Damaged:
    """An entry whose bytes fail their checks: what it was and where it is."""

    ref: EntryRef
    args: str
    where: str
    reason: str


def verify(store: Store, fix: bool = False) -> list[Damaged]:
    """Read every entry and check its checksums (``Store.verify``: no value is unpickled);
    returns the damaged ones, deleted when ``fix`` (a damaged entry is only ever a miss, so
    deleting it loses nothing). An entry deleted meanwhile by another process is skipped."""
    damaged: list[Damaged] = []
    for kind in KINDS:
        for info in store.entries(kind):
            reason = (info.meta or {}).get("corrupt")
            if reason is None:
                try:
                    store.verify(info.ref)
                except KeyError:
                    continue
                except CorruptEntryError as exc:
                    reason = str(exc)
            if reason is None:
                continue
            damaged.append(Damaged(info.ref, info.args, store.describe(info.ref), str(reason)))
            if fix:
                store.delete(info.ref)
                events.publish("cache.clear", kind=kind, group=info.ref.group,
                               func=info.ref.group, version=info.ref.version, key=info.ref.key)
    return damaged
