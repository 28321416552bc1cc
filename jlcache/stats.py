"""Session counters for cached functions and cells, fed by the event bus.

Counting from events rather than inside ``Memory`` means hits that happened in worker
processes (captured there and replayed in the parent with ``remote=True``) are counted
too, and the panel and ``%jlcache info`` read one source of truth. The counters are the
bus's counter hook (``events.set_counter``) rather than a subscriber, so a cache hit is
counted without building an ``Event`` when nothing else listens.

``snapshot()`` is keyed by ``(kind, group, version)`` where ``kind`` is ``"functions"`` or
``"cells"``.

Definitions: ``mark_current`` records which version of a group is defined in this session,
and *where* (a "site": the notebook cell that defined it, told by the IPython front end
through ``set_site``; ``None`` outside a notebook cell). A group defined in two cells has
two current versions; a cell that runs again replaces what it defined before
(``forget_site``). ``jlcache.memory.housekeeping`` turns this into "current", "stale" and
"unknown".
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from jlcache import events

__all__ = ["Counts", "current_site", "current_versions", "defined_versions", "ensure_listening",
           "forget_site", "mark_current", "reset", "set_job_hook", "set_site", "snapshot"]


@dataclass
class Counts:
    """What happened to one version of a function or cell in this session."""

    hits: int = 0
    misses: int = 0
    stores: int = 0
    time_saved: float = 0.0  # sum of the recorded compute time of the hits, in seconds


_lock = threading.Lock()
_counts: dict[tuple[str, str, str], Counts] = {}
_current: dict[str, dict[str, str]] = {}
# kind -> group -> site -> version: every definition live in this session, by where it was made
_defined: dict[str, dict[str, dict[str | None, str]]] = {}
_site: str | None = None
_listening = False
epoch = 0  # bumped by reset(): tells MemorizedFunc to mark its version current again


_COUNTED = frozenset({"cache.hit", "cache.miss", "cache.store"})
# Where ``job.*`` events go (``jlcache.parallel.jobs`` keeps the session's recent jobs there):
# set by that module, so this one never imports the parallel engine.
_job_hook: Callable[[str, dict], Any] | None = None


def set_job_hook(hook: Callable[[str, dict], Any] | None) -> None:
    """Have ``hook(name, data)`` see every ``job.*`` event this process publishes."""
    global _job_hook
    _job_hook = hook


def _count(name: str, data: dict) -> None:
    """The bus's counter hook: sees every event's name and data, without an ``Event``."""
    if name not in _COUNTED:
        hook = _job_hook
        if hook is not None and name.startswith("job."):
            hook(name, data)
        return
    get = data.get
    key: tuple[str, str, str] = (get("kind", "functions"),
                                 get("group") or get("func"), get("version"))  # type: ignore[assignment]
    saved = get("duration") if name == "cache.hit" else None
    with _lock:
        counts = _counts.get(key)
        if counts is None:
            counts = _counts[key] = Counts()
        if name == "cache.hit":
            counts.hits += 1
            if saved:
                counts.time_saved += float(saved)
        elif name == "cache.miss":
            counts.misses += 1
        else:
            counts.stores += 1


def _count_hit(kind: str, group: str, version: str, saved: Any) -> None:
    """``_count("cache.hit", data)`` without the data dict (``events.count_hit``)."""
    key = (kind, group, version)
    with _lock:
        counts = _counts.get(key)
        if counts is None:
            counts = _counts[key] = Counts()
        counts.hits += 1
        if saved:
            counts.time_saved += float(saved)


def ensure_listening() -> None:
    """Install the counter hook on the event bus once per process (idempotent)."""
    global _listening
    if not _listening:
        _listening = True
        events.set_counter(_count, hit=_count_hit)


def snapshot() -> dict[tuple[str, str, str], Counts]:
    """A copy of the counters, safe to read while calls keep counting."""
    with _lock:
        return {key: replace(counts) for key, counts in _counts.items()}


def mark_current(kind: str, group: str, version: str, site: str | None = None) -> None:
    """Record ``version`` as a definition of ``group`` live in this session, made at ``site``.

    Called when a definition appears or changes (``MemorizedFunc`` on creation and when its
    identity changes, ``%%memo`` on each run), not on every call.
    """
    with _lock:
        _current.setdefault(kind, {})[group] = version
        _defined.setdefault(kind, {}).setdefault(group, {})[site] = version


def current_versions(kind: str) -> dict[str, str]:
    """``group -> version`` of the most recent definition of each group in this session."""
    with _lock:
        return dict(_current.get(kind, {}))


def defined_versions(kind: str) -> dict[str, frozenset[str]]:
    """``group -> versions`` defined in this session (one per site: cells defining the same
    name each keep theirs)."""
    with _lock:
        return {group: frozenset(sites.values())
                for group, sites in _defined.get(kind, {}).items() if sites}


def set_site(site: str | None) -> None:
    """Where definitions are being made now (the running notebook cell's id), or ``None``."""
    global _site
    _site = site


def current_site() -> str | None:
    """The site ``set_site`` last named (``None`` outside a notebook cell)."""
    return _site


def forget_site(site: str) -> None:
    """A cell runs again: what it defined before is replaced by what this run defines."""
    with _lock:
        for groups in _defined.values():
            for sites in groups.values():
                sites.pop(site, None)


def reset() -> None:
    """Forget all counters and current versions (tests, ``%jlcache`` after a clear).

    Live cached functions mark their versions current again on their next call.
    """
    global epoch
    with _lock:
        _counts.clear()
        _current.clear()
        _defined.clear()
        epoch += 1
