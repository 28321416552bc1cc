"""Session counters for cached functions and cells, fed by the event bus.

Counting from events rather than inside ``Memory`` means hits that happened in worker
processes (captured there and replayed in the parent with ``remote=True``) are counted
too, and the panel and ``%jlcache info`` read one source of truth.

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
_unsubscribe = None
epoch = 0  # bumped by reset(): tells MemorizedFunc to mark its version current again


def _on_event(event: events.Event) -> None:
    name = event.name
    if not name.startswith("cache.") or name == "cache.clear":
        return
    data = event.data
    key = (data.get("kind", "functions"), data.get("group") or data.get("func"), data.get("version"))
    with _lock:
        counts = _counts.get(key)
        if counts is None:
            counts = _counts[key] = Counts()
        if name == "cache.hit":
            counts.hits += 1
            counts.time_saved += float(data.get("duration") or 0.0)
        elif name == "cache.miss":
            counts.misses += 1
        elif name == "cache.store":
            counts.stores += 1


def ensure_listening() -> None:
    """Subscribe to the event bus once per process (idempotent and thread-safe)."""
    global _unsubscribe
    if _unsubscribe is not None:
        return
    with _lock:
        if _unsubscribe is None:
            _unsubscribe = events.subscribe(_on_event)


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
