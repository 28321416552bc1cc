"""Session counters for cached functions and cells, fed by the event bus.

Counting from events rather than inside ``Memory`` means hits that happened in worker
processes (captured there and replayed in the parent with ``remote=True``) are counted
too, and the panel and ``%jlcache info`` read one source of truth. The counters are the
bus's counter hook (``events.set_counter``) rather than a subscriber, so a cache hit is
counted without building an ``Event`` when nothing else listens.

``snapshot()`` is keyed by ``(kind, group, version)`` where ``kind`` is ``"functions"`` or
``"cells"``. "Current" versions are the ones defined in the session now (marked by
``MemorizedFunc`` on creation and on each call, and by ``%%memo`` on each run); any other
version on disk is stale.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

from jlcache import events

__all__ = ["Counts", "current_versions", "ensure_listening", "mark_current", "reset", "snapshot"]


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
_listening = False
epoch = 0  # bumped by reset(): tells MemorizedFunc to mark its version current again


_COUNTED = frozenset({"cache.hit", "cache.miss", "cache.store"})


def _count(name: str, data: dict) -> None:
    """The bus's counter hook: sees every event's name and data, without an ``Event``."""
    if name not in _COUNTED:
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


def ensure_listening() -> None:
    """Install the counter hook on the event bus once per process (idempotent)."""
    global _listening
    if not _listening:
        _listening = True
        events.set_counter(_count)


def snapshot() -> dict[tuple[str, str, str], Counts]:
    """A copy of the counters, safe to read while calls keep counting."""
    with _lock:
        return {key: replace(counts) for key, counts in _counts.items()}


def mark_current(kind: str, group: str, version: str) -> None:
    """Record ``version`` as the definition of ``group`` live in this session."""
    versions = _current.get(kind)
    if versions is None:
        with _lock:
            versions = _current.setdefault(kind, {})
    versions[group] = version  # a single dict store: atomic under the GIL, cheap on hot paths


def current_versions(kind: str) -> dict[str, str]:
    """``group -> version`` for the definitions live in this session."""
    with _lock:
        return dict(_current.get(kind, {}))


def reset() -> None:
    """Forget all counters and current versions (tests, ``%jlcache`` after a clear).

    Live cached functions mark their versions current again on their next call.
    """
    global epoch
    with _lock:
        _counts.clear()
        _current.clear()
        epoch += 1
