"""Listings of a remote cache, reused for a moment by the calls that follow.

The panel and ``%jlcache info`` ask a store for its groups, then the versions of each
group, then entries: on a remote cache each question was one LIST request, so a large bucket
cost a round trip per group or version. A recursive listing answers every narrower
question, so the last few listings of each cache URL are kept for ``TTL`` seconds and any
question under one of them is answered from it.

Any write or delete this process sends to that URL (``Remote.call`` reports them) drops the
listings holding the changed objects at once (an access record written under ``_access/``
leaves the listings of ``functions/...`` alone), so a process always sees its own changes; changes made by other
machines show at the next listing, at most ``TTL`` seconds later. Eviction, ``clear`` and
the size estimate always list afresh.
"""

from __future__ import annotations

import threading
import time
from typing import Any

__all__ = ["TTL", "WRITES", "forget", "generation", "lookup", "remember"]

TTL = 5.0  # seconds a listing answers later questions (a big panel scan takes a few)
# fsspec methods that change objects (async ones, and sync wrappers named "_pipe_file"
# by s3fs, without their leading underscores): after any of them the listings are dropped
WRITES = frozenset({"pipe_file", "pipe", "put_file", "put", "rm_file", "rm",
                    "touch", "mv", "copy", "cp_file", "open"})

_lock = threading.Lock()
_listings: dict[str, dict[tuple[str, ...], tuple[float, dict[str, Any]]]] = {}
_generations: dict[str, int] = {}  # url -> number of forgets: a listing that overlapped one
                                   # may lack that change and is not kept


def generation(url: str) -> int:
    """Read before listing; ``remember`` keeps the listing only if nothing changed since."""
    with _lock:
        return _generations.get(url, 0)


def lookup(url: str, where: tuple[str, ...]) -> dict[str, Any] | None:
    """A recent listing of ``where`` or of a prefix containing it (unfiltered), else None."""
    now = time.monotonic()
    with _lock:
        for listed, (at, found) in _listings.get(url, {}).items():
            if now - at <= TTL and where[:len(listed)] == listed:
                return found
    return None


def remember(url: str, where: tuple[str, ...], found: dict[str, Any], at: float,
             since: int) -> None:
    """Keep a listing that started at ``at`` (monotonic) when this process changed nothing
    there since ``generation`` returned ``since``; expired ones are dropped."""
    with _lock:
        if _generations.get(url, 0) != since:
            return
        kept = _listings.setdefault(url, {})
        for listed in [k for k, (t, _) in kept.items() if at - t > TTL]:
            del kept[listed]
        kept[where] = (at, found)


def forget(url: str, changed: list[list[str]] | None = None) -> None:
    """Drop the listings of ``url`` that hold a changed object (its names under the cache
    root, as ``Remote.relative`` gives them); ``None``: every listing of ``url``."""
    with _lock:
        _generations[url] = _generations.get(url, 0) + 1
        kept = _listings.get(url)
        if not kept:
            return
        if changed is None:
            kept.clear()
            return
        for where in [w for w in kept if any(tuple(n[:len(w)]) == w for n in changed)]:
            del kept[where]
