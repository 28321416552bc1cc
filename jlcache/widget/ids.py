"""Row ids: the stable names the panel gives functions, versions, entries, cells and jobs.

An id is a path of percent-encoded parts, ``kind/group/version/key`` cut at the level of
the row (``functions/mod.f`` is a function, ``functions/mod.f/<version>`` one of its
versions, and so on), plus ``jobs/<id>`` and the two header targets ``stale`` and ``all``.
Ids depend only on what the row *is*, so they stay stable across refreshes, panels and
kernel restarts, and a click names its target without the browser knowing any path.
"""

from __future__ import annotations

from typing import NamedTuple
from urllib.parse import quote, unquote

from jlcache.store.layout import KINDS

__all__ = ["KINDS", "Target", "parse_row_id", "row_id"]


class Target(NamedTuple):
    """What a row id points at; unset trailing parts mean a wider target."""

    kind: str
    group: str | None = None
    version: str | None = None
    key: str | None = None


def row_id(*parts: str) -> str:
    """The id of the row made of ``parts`` (each part is encoded, so ``/`` in a name is safe)."""
    return "/".join(quote(str(p), safe="") for p in parts)


def parse_row_id(rid: str) -> Target:
    """Decode a row id; raises ``ValueError`` for anything the panel never produced."""
    if not isinstance(rid, str) or not rid:
        raise ValueError(f"Not a panel row id: {rid!r}.")
    parts = [unquote(p) for p in rid.split("/")]
    if parts[0] in ("stale", "all") and len(parts) == 1:
        return Target(parts[0])
    if parts[0] == "jobs" and len(parts) == 2 and parts[1]:
        return Target("jobs", parts[1])
    if parts[0] not in KINDS or not 2 <= len(parts) <= 4 or not all(parts[1:]):
        raise ValueError(
            f"Not a panel row id: {rid!r}. Row ids look like 'functions/<group>[/<version>"
            "[/<key>]]', 'cells/...', 'jobs/<id>', 'stale' or 'all'; copy one from Panel.rows()."
        )
    return Target(*parts)
