"""What a cache holds, summed per function or cell and per version, from one listing.

The command line's ``ls``/``du`` (and any front end that wants the same rows) read this, so
the figures are ``housekeeping``'s: sizes are ``entry_bytes`` (bytes on disk), states are
``housekeeping.group_states``. It sums each version with ``Store.tally`` (one ``lstat`` per
entry, no entry opened, no object per entry), so a cache of 100k entries is summed in well
under a second.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jlcache.memory import housekeeping
from jlcache.store.layout import KINDS, Tally

if TYPE_CHECKING:  # pragma: no cover
    from jlcache.store import Store

__all__ = ["GroupSummary", "VersionSummary", "inventory"]


@dataclass
class VersionSummary:
    """One version of a function or cell: its state and what its entries take."""

    version: str
    state: str
    entries: int = 0
    bytes: int = 0
    last_used: float | None = None
    last_stored: float | None = None


@dataclass
class GroupSummary:
    """One cached function (``kind="functions"``) or cell slot (``"cells"``)."""

    kind: str
    group: str
    name: str
    versions: list[VersionSummary] = field(default_factory=list)

    @property
    def entries(self) -> int:
        return sum(v.entries for v in self.versions)

    @property
    def bytes(self) -> int:
        return sum(v.bytes for v in self.versions)

    @property
    def last_used(self) -> float | None:
        return max((v.last_used for v in self.versions if v.last_used), default=None)


def inventory(store: Store, defined: housekeeping.Knowledge = None) -> list[GroupSummary]:
    """Every group of ``store`` with its versions (newest stored first), sorted by kind and
    group. ``defined`` as in ``housekeeping``: ``None`` asks this session, ``NO_SESSION``
    judges by recency (the command line)."""
    out = []
    for kind in KINDS:
        by_group = housekeeping.tallies_by_group(store, kind)
        for group in store.groups(kind):
            tallies = by_group.get(group, {})
            stored = housekeeping.last_stored(store, kind, group, tallies=tallies)
            states = housekeeping.group_states(kind, group, stored, defined)
            rows = [_version(v, states[v], tallies.get(v), stored[v]) for v in stored]
            rows.sort(key=lambda r: (-(r.last_stored or 0.0), r.version))
            newest = rows[0].version if rows else None
            out.append(GroupSummary(kind, group, _name(store, kind, group, newest), rows))
    return out


def _version(version: str, state: str, tally: Tally | None, stored: float) -> VersionSummary:
    if tally is None:
        return VersionSummary(version, state, 0, 0, None, stored or None)
    return VersionSummary(version, state, tally.entries, tally.disk, tally.last_used or None,
                          stored or None)


def _name(store: Store, kind: str, group: str, version: str | None) -> str:
    """The name a person wrote (``module.qualname``, a cell's label); the group otherwise."""
    info: dict[str, Any] = store.read_info(kind, group, version) if version else {}
    module, qualname = info.get("module"), info.get("qualname")
    if isinstance(module, str) and isinstance(qualname, str):
        return f"{module}.{qualname}"
    name = info.get("name")
    return name if isinstance(name, str) and name else group
