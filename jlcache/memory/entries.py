"""Reading and writing one cache entry, and telling the session about it: the one path
shared by cached functions (``MemorizedFunc``) and cached cells (``jlcache.cells.cached``).

    load(store, ref)  -> (value, meta) | (MISS, {})   missing, damaged or unreadable = a miss
    save(store, ref, value, meta, info)  -> bytes      version described once, then put
    hit / miss / stored                                cache.* events (and so the counters)

Why one path: a corrupt entry, the version's ``_info.json``, the metadata a listing shows
and the events the panel and the counters read must mean the same for a function and for
a cell; they used to be written twice and drifted.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable
from typing import Any

from jlcache import events
from jlcache._fs import PROCESS_ERRNOS
from jlcache.errors import CorruptEntryError, CorruptEntryWarning
from jlcache.memory.housekeeping import entry_bytes
from jlcache.memory.results import MISS
from jlcache.store import EntryRef, Store

__all__ = ["entry_meta", "hit", "load", "miss", "save", "stored"]

_log = logging.getLogger("jlcache.memory")
Warn = Callable[[Warning], None]
def _warn(warning: Warning) -> None:
    # attributed to the user's call: _warn < load < MemorizedFunc._load < _lookup < __call__
    warnings.warn(warning, stacklevel=6)


def load(store: Store, ref: EntryRef, mmap_mode: str | None, what: str, *, quiet: bool = False,
         warn: Warn | None = None) -> tuple[Any, dict]:
    """``(value, meta)`` of the entry, or ``(MISS, {})``.

    A damaged or unreadable entry (permissions, I/O) is a miss with one
    ``CorruptEntryWarning`` naming ``what`` and the file (unless ``quiet``); the caller
    recomputes and overwrites it. The process out of descriptors or memory raises: computing
    again would not help.
    """
    try:
        return store.get(ref, mmap_mode=mmap_mode)
    except KeyError:
        return MISS, {}
    except (CorruptEntryError, OSError) as exc:
        if isinstance(exc, OSError) and exc.errno in PROCESS_ERRNOS:
            raise
        if not quiet:
            (warn or _warn)(CorruptEntryWarning(
                f"The cache entry of {what} at {store.describe(ref)} could not be read ({exc}); it "
                "is treated as a miss and will be recomputed and overwritten. No action is "
                "needed unless this keeps happening (then check the disk, or clear the cache)."))
        return MISS, {}


def entry_meta(func: str, duration: float, input_args: dict[str, str], **extra: Any) -> dict:
    """The metadata every entry carries (what listings, the panel and joblib users read)."""
    return {"duration": duration, "time": time.time() - duration, "input_args": input_args,
            "func": func, **extra}


def save(store: Store, ref: EntryRef, value: Any, meta: dict, info: Callable[[], dict],
         compress: Any = False) -> int:
    """Describe the version (``info()``, built once per process) and put the entry; returns its
    size (``housekeeping.entry_bytes``). Store errors propagate: the caller words them."""
    describe(store, ref, info)
    return store.put(ref, value, meta, compress=compress)


def describe(store: Store, ref: EntryRef, info: Callable[[], dict]) -> None:
    """Write the version's ``_info.json``; the store builds ``info()`` only for a version
    this process has not described yet, so calling this on every store is cheap."""
    try:
        store.write_info(ref.kind, ref.group, ref.version, info)
    except Exception as exc:  # read-only caches still serve hits; the put reports the failure
        _log.debug("could not write _info.json for %s: %s", ref.group, exc)


def _publish(name: str, ref: Any, func: str, **data: Any) -> None:
    events.publish(name, kind=ref.kind, group=ref.group, func=func, version=ref.version,
                   key=ref.key, **data)


def hit(ref: Any, func: str, meta: dict) -> None:
    """``cache.hit``, with the compute time it saved and the entry's size.

    Always counted: the session counters listen through the bus's counter hook, which
    counts a hit without any event data when nobody else listens (``events.count_hit``).
    """
    if not events.count_hit(ref.kind, ref.group, ref.version, meta.get("duration")):
        _publish("cache.hit", ref, func, duration=meta.get("duration"), bytes=entry_bytes(meta))


def miss(ref: Any, func: str) -> None:
    _publish("cache.miss", ref, func)


def stored(ref: Any, func: str, nbytes: int, duration: float, location: str | None = None) -> None:
    """``cache.store``; ``location`` (the store's ``url``) tells a panel showing another
    cache that this entry is not one of its own."""
    if events.has_subscribers():
        _publish("cache.store", ref, func, bytes=nbytes, duration=duration, location=location)
