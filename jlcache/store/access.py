"""Last-access times of a local cache, recorded in memory and written in batches.

A hit must not write (it is what a notebook pays on every re-run), yet eviction is least
recently used first. So ``touch`` records the time in a dict, and ``flush`` (every
``flush_interval`` seconds from ``touch``, before eviction, at exit) sets it as the file's
atime, while the mtime stays the creation time. Our own reads use ``O_NOATIME``, so the
kernel never moves atime itself.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable

from jlcache.store.disk import DiskLayout, Parts
from jlcache.store.layout import EntryRef

__all__ = ["AccessLog"]


def _touch_at(dfd: int, name: str, when: float) -> None:
    """Set ``name``'s atime (in the open folder ``dfd``) to ``when`` unless it is later."""
    try:
        st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        if stat.S_ISREG(st.st_mode) and st.st_atime < when:
            os.utime(name, ns=(int(when * 1e9), st.st_mtime_ns), dir_fd=dfd,
                     follow_symlinks=False)
    except OSError:
        pass


class AccessLog:
    """Accesses not yet written, per entry; ``pending`` is read by listings and eviction."""

    flush_interval = 5.0  # seconds between batched access-time writes

    def __init__(self, disk: DiskLayout) -> None:
        self._disk = disk
        self.pending: dict[EntryRef, float] = {}
        self._last_flush = time.monotonic()

    def touch(self, ref: EntryRef) -> None:
        """Record an access in memory; written to disk in batches, never per hit."""
        self.pending[ref] = time.time()
        if time.monotonic() - self._last_flush > self.flush_interval:
            self.flush()

    def last(self, ref: EntryRef) -> float:
        """The access recorded but not yet written (``0.0`` when none)."""
        return self.pending.get(ref, 0.0)

    def discard(self, ref: EntryRef) -> None:
        self.pending.pop(ref, None)

    def forget(self, match: Callable[[tuple], bool]) -> None:
        """Drop the recorded accesses of deleted entries (``match`` takes a ref)."""
        for ref in [r for r in list(self.pending) if match(r)]:
            self.pending.pop(ref, None)

    def flush(self) -> None:
        """Write recorded accesses as the files' atime (mtime keeps the creation time)."""
        pending, self.pending = self.pending, {}
        self._last_flush = time.monotonic()
        by_dir: dict[Parts, list[tuple[str, float]]] = {}
        for ref, when in list(pending.items()):
            try:
                _, parts, name = self._disk.where(ref)
            except ValueError:
                continue
            by_dir.setdefault(parts, []).append((name, when))
        for parts, files in by_dir.items():
            try:
                with self._disk.dirs.borrow(parts, safe=False) as dfd:
                    for name, when in files:
                        _touch_at(dfd, name, when)
            except OSError:  # deleted meanwhile, read-only cache: not worth failing
                pass
