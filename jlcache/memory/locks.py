"""Compute-once within a process: one lock per cache key, alive only while it is contended.

When 16 threads ask for the same missing key, the first computes and stores; the others
wait on the key's lock and then find the entry (or, if it could not be stored, the value
the first thread left in the slot). Across processes there is no lock: each process may
compute, and the store's atomic rename keeps the entry whole.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterator
from contextlib import contextmanager

__all__ = ["KeyLocks", "Slot"]


class Slot:
    """The lock of one key plus what the computing thread leaves for its waiters."""

    __slots__ = ("lock", "result", "users")

    def __init__(self, empty: object) -> None:
        self.lock = threading.RLock()  # re-entrant: a function may call itself with the same key
        self.users = 0
        self.result = empty  # set when the value was computed but could not be stored


class KeyLocks:
    """A dict of per-key locks that removes each lock when its last user leaves."""

    def __init__(self, empty: object) -> None:
        self._empty = empty
        self._guard = threading.Lock()
        self._slots: dict[Hashable, Slot] = {}

    @contextmanager
    def hold(self, key: Hashable) -> Iterator[Slot]:
        with self._guard:
            slot = self._slots.get(key)
            if slot is None:
                slot = self._slots[key] = Slot(self._empty)
            slot.users += 1
        try:
            with slot.lock:
                yield slot
        finally:
            with self._guard:
                slot.users -= 1
                if slot.users == 0:
                    del self._slots[key]

    def __len__(self) -> int:
        return len(self._slots)
