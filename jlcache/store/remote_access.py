"""Last-access times of a remote cache: recorded in memory, written as small batch objects.

Object stores have no atime, and a hit must cost one GET and nothing else. So ``touch``
records the time in a dict; ``flush`` (in a background thread at most every
``flush_interval`` seconds from ``touch``, and before eviction, before listings and at
exit) writes everything recorded since the last flush as ONE new small object
``<root>/_access/<time>-<random>.json`` mapping ``kind/group/version/key`` to a time. Each
flush writes a new name, so concurrent processes never overwrite each other's records
(no read-modify-write). Eviction reads all records (one LIST plus one concurrent GET each)
and takes, per entry, the latest of its creation time and its recorded accesses; when
there are many record objects it merges them into one and deletes the ones it merged.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable

from jlcache.store.layout import EntryRef
from jlcache.store.remote import ACCESS, Remote

__all__ = ["RemoteAccess", "entry_name"]

_log = logging.getLogger("jlcache.store")
COMPACT_AFTER = 8  # record objects tolerated before eviction merges them into one


def entry_name(ref: EntryRef) -> str:
    """An entry's name in access records (the sanitized names of its object)."""
    return "/".join((*Remote.parts(ref.kind, ref.group, ref.version), ref.key))


class RemoteAccess:
    """Accesses not yet written (``pending``) and the records already in the store."""

    flush_interval = 30.0  # seconds between batched writes started by touch

    def __init__(self, remote: Remote) -> None:
        self._remote = remote
        self.pending: dict[EntryRef, float] = {}
        self._lock = threading.Lock()
        self._last_flush = time.monotonic()
        self._flushing = False

    def touch(self, ref: EntryRef) -> None:
        """Record an access in memory; a due flush runs in the background, not in the hit."""
        self.pending[ref] = time.time()
        if time.monotonic() - self._last_flush > self.flush_interval and not self._flushing:
            self._flushing = True
            self._last_flush = time.monotonic()
            threading.Thread(target=self._background_flush, name="jlcache-access-flush",
                             daemon=True).start()

    def _background_flush(self) -> None:
        try:
            self.flush()
        except Exception as exc:  # the store is down: the next flush tries again
            _log.debug("access records not written to %s: %s", self._remote.url, exc)
        finally:
            self._flushing = False

    def last(self, ref: EntryRef) -> float:
        return self.pending.get(ref, 0.0)

    def discard(self, ref: EntryRef) -> None:
        self.pending.pop(ref, None)

    def forget(self, match: Callable[[EntryRef], bool]) -> None:
        for ref in [r for r in list(self.pending) if match(r)]:
            self.pending.pop(ref, None)

    def flush(self) -> None:
        """Write the recorded accesses as one new object; kept for the next flush on failure."""
        with self._lock:
            pending, self.pending = self.pending, {}
            self._last_flush = time.monotonic()
        if not pending:
            return
        records = {}
        for ref, when in pending.items():
            try:
                records[entry_name(ref)] = when
            except ValueError:
                continue
        name = f"{self._remote.root}/{ACCESS}/{time.time_ns()}-{uuid.uuid4().hex}.json"
        try:
            self._remote.call(self._remote.fs.pipe_file, name, json.dumps(records).encode())
        except Exception:
            with self._lock:  # not lost: written by the next flush
                for ref, when in pending.items():
                    self.pending[ref] = max(when, self.pending.get(ref, 0.0))
            raise

    def flush_quietly(self) -> None:
        """Flush before a listing or an eviction; a store that is down only costs precision."""
        try:
            self.flush()
        except Exception as exc:
            _log.debug("access records not written to %s: %s", self._remote.url, exc)

    def read(self, paths: Iterable[str]) -> dict[str, float]:
        """Every recorded access in the record objects ``paths`` (from a listing), merged
        with this process's pending ones: entry name -> latest time."""
        paths = list(paths)
        times: dict[str, float] = {}
        if paths:
            fs = self._remote.fs
            found = self._remote.call(fs.cat, paths, on_error="omit")
            for data in found.values():
                try:
                    records = json.loads(data)
                except ValueError:
                    continue  # a damaged record only loses access times
                if isinstance(records, dict):
                    for name, when in records.items():
                        if isinstance(when, (int, float)) and when > times.get(name, 0.0):
                            times[name] = float(when)
        for ref, when in list(self.pending.items()):
            name = entry_name(ref)
            times[name] = max(when, times.get(name, 0.0))
        return times

    def compact(self, paths: list[str], times: dict[str, float], live: set[str]) -> None:
        """Replace many record objects by one holding the times of entries still there."""
        if len(paths) <= COMPACT_AFTER:
            return
        merged = {name: when for name, when in times.items() if name in live}
        name = f"{self._remote.root}/{ACCESS}/{time.time_ns()}-{uuid.uuid4().hex}.json"
        fs = self._remote.fs
        self._remote.call(fs.pipe_file, name, json.dumps(merged).encode())
        self._remote.call(fs.rm, paths)
