"""A tiny synchronous publish/subscribe bus between the engine and its front ends.

The engine (``Memory``, ``Parallel``) publishes; the magics and the panel subscribe. Data
flows one way, so the engine never needs to know who is listening, and it stays importable
without IPython or widgets.

Publishing must be nearly free when nobody listens (a cache hit publishes ``cache.hit``), so
``publish`` returns before building an ``Event`` when there are no subscribers and no
capture is active. The session counters (``stats``) are not a subscriber but the one
*counter hook* (``set_counter``), called with the name and data dict only: counting every
hit then costs a function call, not an ``Event`` and a dispatch loop.

Event names and their ``data`` keys::

    cache.hit    func, version, key, duration (recorded compute time), bytes
    cache.miss   func, version, key
    cache.store  func, version, key, bytes, duration, location (the store's url)
    cache.clear  func (or None for everything), version, key (None when wider)
    job.start    id, backend, n_jobs, total (None when unknown), func, background
    job.progress id, done, total, errors
    job.end      id, status ("done" | "error" | "cancelled"), elapsed, done, errors

Events produced inside a worker process are captured there (``capture``) and re-published
in the parent with ``remote=True`` (``replay``), so hit counts include worker-side hits.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Event", "capture", "count_hit", "has_subscribers", "publish", "replay",
           "set_counter", "subscribe"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened in the engine."""

    name: str
    data: dict[str, Any] = field(default_factory=dict)
    time: float = field(default_factory=time.time)


Callback = Callable[[Event], Any]

_lock = threading.Lock()
# Copy-on-write tuple: publishers iterate it without taking the lock.
_subscribers: tuple[Callback, ...] = ()
_local = threading.local()
# The session counters (``stats``): called with the event's name and data before, and
# without, building an ``Event``, so that counting every cache hit costs almost nothing.
_counter: Callable[[str, dict[str, Any]], Any] | None = None
# Its shortcut for ``cache.hit`` (kind, group, version, duration): a hit is the one event
# published on a path measured in microseconds.
_hit_counter: Callable[[str, str, str, Any], Any] | None = None


def subscribe(callback: Callback) -> Callable[[], None]:
    """Register ``callback`` for every event; returns the function that unregisters it."""
    global _subscribers
    with _lock:
        _subscribers = (*_subscribers, callback)

    def unsubscribe() -> None:
        global _subscribers
        with _lock:
            subs = list(_subscribers)
            if callback in subs:
                subs.remove(callback)
            _subscribers = tuple(subs)

    return unsubscribe


def set_counter(counter: Callable[[str, dict[str, Any]], Any] | None,
                hit: Callable[[str, str, str, Any], Any] | None = None) -> None:
    """Install the low-level counter hook (one per process; ``stats`` owns it).

    ``counter(name, data)`` sees every published event, remote ones included, in the
    publishing thread; it must be fast and must not raise. ``hit(kind, group, version,
    duration)``, when given, counts a ``cache.hit`` exactly as ``counter`` would
    (``count_hit``).
    """
    global _counter, _hit_counter
    _counter, _hit_counter = counter, hit


def count_hit(kind: str, group: str, version: str, duration: Any) -> bool:
    """Count a ``cache.hit`` without publishing it, when nothing but the counter listens.

    Returns ``False`` when the caller must ``publish`` it instead (a subscriber, a capture,
    or a counter without a hit shortcut). Why: a cache hit costs a few microseconds, and
    building the event's data dict alone was a large share of it.
    """
    if _subscribers or _local.__dict__.get("stack"):  # (getattr on a local misses slowly)
        return False
    if _counter is None:
        return True
    hit = _hit_counter
    if hit is None:
        return False
    hit(kind, group, version, duration)
    return True


def has_subscribers() -> bool:
    """True when publishing would reach someone (the counter, a subscriber, a capture)."""
    return _counter is not None or bool(_subscribers) or bool(_local.__dict__.get("stack"))


def publish(name: str, **data: Any) -> None:
    """Deliver an event to every subscriber; a failing subscriber never breaks the engine."""
    counter = _counter
    if counter is not None:
        counter(name, data)
    subs = _subscribers
    stack = _local.__dict__.get("stack")
    if not subs and not stack:
        return
    event = Event(name, data)
    if stack:
        stack[-1].append(event)
    _deliver(subs, event)


def _deliver(subs: Iterable[Callback], event: Event) -> None:
    for callback in subs:
        try:
            callback(event)
        except Exception:  # a front end's bug must not fail the user's computation
            _log.exception("jlcache event subscriber %r failed on %s", callback, event.name)


@contextmanager
def capture() -> Iterator[list[Event]]:
    """Collect the events published by this thread (used inside workers to send them home)."""
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    bucket: list[Event] = []
    stack.append(bucket)
    try:
        yield bucket
    finally:
        stack.pop()


def replay(events: Iterable[Event], **extra: Any) -> None:
    """Re-publish events that happened elsewhere (a worker), tagging them ``remote=True``."""
    for event in events:
        publish(event.name, **{**event.data, "remote": True, **extra})
