"""``Store``: what the rest of jlcache may rely on about where cache entries live.

``Memory``, ``MemorizedFunc``, ``%%memo``, the panel, ``%jlcache`` and (later) the command
line talk to a cache only through this interface; ``LocalStore`` (``store/local.py``) is
the one implementation today. An object-storage store and a tiered (local + remote) store
are meant to be new files next to it, chosen by ``open_store`` (``store/factory.py``),
without any change to their callers. So the interface promises only what such stores can
keep too:

- **Entries are whole or absent.** ``put`` writes a whole entry atomically (a rename on a
  file system, one object put on S3); a concurrent reader sees the old entry, the new one or
  nothing, never part of one. Each entry carries a checksum: ``get`` returns a complete,
  verified value or raises.
- **Errors mean the same everywhere.** ``KeyError``: no entry (a miss). ``CorruptEntryError``:
  an entry exists but is damaged or unreadable (callers treat it as a miss, warn, recompute
  and overwrite). ``OSError`` with ``errno`` in ``jlcache._fs.PROCESS_ERRNOS``: the process
  ran out of descriptors or memory (not the entry's fault: callers re-raise). ``ValueError``:
  a ref that is not a valid name (``EntryRef`` parts become file or object names).
- **Names are strings, not paths.** ``url`` names the whole cache, ``describe`` names an entry
  or a folder of entries for messages; only ``local_path`` may return a file on this machine,
  and ``None`` is a valid answer (an object store has no local file). Callers never build
  paths from a store's location.
- **A hit never writes.** ``get`` and ``touch`` record the access in memory; ``flush`` writes
  recorded accesses in batches (file atimes locally, a small index object remotely), and
  eviction is least recently used first by those times.
- **Listings are snapshots.** ``groups``/``versions``/``entries`` may race with writers and
  deleters in other processes; a listed entry may be gone when read (``KeyError`` then).
  Damaged entries are listed (``meta={"corrupt": reason}``) so they can be seen and deleted.
- **Sizes are one figure:** ``EntryInfo.disk`` (what an entry costs where it is stored:
  allocated bytes locally, object size remotely); ``size()`` is their sum and is what
  ``bytes_limit`` and ``reduce_size`` compare with.
"""

from __future__ import annotations

import atexit
import threading
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from jlcache.store.layout import EntryInfo, EntryRef, Tally, tally_of

__all__ = ["Info", "Store", "Where", "flush_at_exit"]

Where = tuple[str, ...]
"""A prefix of an ``EntryRef``: ``()`` the whole cache, ``(kind,)``, ``(kind, group)``,
``(kind, group, version)``, or a whole ref (an ``EntryRef`` is one)."""

Info = Mapping[str, Any] | Callable[[], Mapping[str, Any]]
"""A version's description, or a function building it (called only when it must be written)."""


class Store(ABC):
    """A cache's entries: atomic ``put``, verified ``get``, listing, deletion, LRU eviction.

    Implementations are picklable (a worker process opens the same cache) and safe to use
    from several threads and processes at once.
    """

    bytes_limit: int | None
    """Allocated bytes the store keeps itself under after each ``put`` (``None``: no limit)."""

    # ------------------------------------------------------------------------- naming
    @property
    @abstractmethod
    def url(self) -> str:
        """The cache as one string: an absolute path for a local store, a URL such as
        ``s3://bucket/prefix`` for a remote one. Two stores with equal ``url`` are the same
        cache (it scopes in-process locks); it never contains credentials."""

    @abstractmethod
    def describe(self, where: Where = ()) -> str:
        """Where an entry (or a folder of entries, see ``Where``) lives, for messages only:
        a path or a URL. ``ValueError`` for a name that is not valid."""

    def local_path(self, ref: EntryRef) -> Path | None:
        """The entry's file on this machine (which may not exist), or ``None`` when the
        store keeps it elsewhere. Only for showing and for tools that need a file."""
        return None

    # ------------------------------------------------------------------------- entries
    @abstractmethod
    def put(self, ref: EntryRef, value: Any, meta: Mapping[str, Any], compress: Any = 0) -> int:
        """Store ``value`` under ``ref``, atomically replacing any entry there.

        ``meta`` (JSON-able; other values are stored as ``str``) is kept in the entry, with
        ``created`` added when missing. Returns the bytes the entry takes in the store (on a
        local disk: allocated bytes, the one size every report uses). An unpicklable value
        raises ``UnpicklableValueError`` and leaves nothing behind. May evict
        (``bytes_limit``)."""

    @abstractmethod
    def get(self, ref: EntryRef, mmap_mode: str | None = None) -> tuple[Any, dict[str, Any]]:
        """``(value, meta)`` of a complete, verified entry, and records an access (``touch``).

        ``meta`` also holds ``size`` (bytes of the entry) and ``disk`` (bytes it takes in the
        store: allocated bytes for a local file). ``KeyError`` when absent,
        ``CorruptEntryError`` when damaged. With ``mmap_mode``, numpy arrays come back
        memory-mapped when the entry is a local file; a store without local files returns
        ordinary arrays (and says so once).
        """

    @abstractmethod
    def meta(self, ref: EntryRef) -> dict[str, Any]:
        """The entry's metadata (with ``size`` and ``disk``) without loading its value; ``KeyError`` when
        absent, ``CorruptEntryError`` when damaged. Records no access."""

    def verify(self, ref: EntryRef) -> None:
        """Check the entry's checksums without loading its value into the caller: ``None``
        when whole, ``KeyError`` when absent, ``CorruptEntryError`` when damaged. Records
        no access. This default reads the entry with ``get`` (and unpickles it); a store that
        can check bytes alone (``LocalStore``) overrides it, so a checker never needs the
        modules a value's classes live in."""
        self.get(ref)

    @abstractmethod
    def contains(self, ref: EntryRef) -> bool:
        """Whether the entry exists; no side effects, no verification (``get`` verifies)."""

    @abstractmethod
    def touch(self, ref: EntryRef) -> None:
        """Record an access now, in memory: written by ``flush``, never once per hit."""

    @abstractmethod
    def flush(self) -> None:
        """Write the recorded accesses (also done periodically, before eviction and at exit)."""

    # ------------------------------------------------------------------------- versions
    @abstractmethod
    def write_info(self, kind: str, group: str, version: str, info: Info) -> None:
        """Describe a version (names, first source line) for listings.

        Cheap to call on every store: the store remembers, per process and cache, which
        versions it described and builds ``info`` (when it is a callable) only for a new one.
        A description removed by eviction while its version is in use is written again.
        Failures (a read-only cache) raise ``OSError``; callers may ignore them.
        """

    @abstractmethod
    def read_info(self, kind: str, group: str, version: str) -> dict[str, Any]:
        """The version's description; ``{}`` when missing, unreadable or not trusted."""

    # ------------------------------------------------------------------------- listing
    @abstractmethod
    def groups(self, kind: str) -> list[str]:
        """Names of the functions (``kind="functions"``) or cell slots (``"cells"``), sorted."""

    @abstractmethod
    def versions(self, kind: str, group: str) -> list[str]:
        """The group's versions, sorted; ``[]`` for an unknown group. A version (or group)
        whose last entry was deleted one by one may still be listed, with no entries, until
        ``delete_version``/``reduce_size`` removes it: ``entries`` is what holds data."""

    @abstractmethod
    def entries(self, kind: str, group: str | None = None,
                version: str | None = None) -> list[EntryInfo]:
        """Every entry of ``kind`` (narrowed to a group and version), with its metadata."""

    def scan(self, kind: str, group: str | None = None,
             version: str | None = None) -> list[EntryInfo]:
        """``entries`` without reading each entry: sizes, times and refs only (``meta`` is
        ``{}``, ``args`` ``""``, ``created`` when the store wrote it), for listings of whole
        caches that must stay fast (``jlcache ls``/``du`` on 100k entries). This default is
        ``entries``; a store whose listing alone knows sizes and times overrides it."""
        return self.entries(kind, group, version)

    def tally(self, kind: str) -> dict[tuple[str, str], Tally]:
        """``{(group, version): Tally}`` for every version of ``kind`` holding entries: the
        sums of ``scan(kind)`` (count, bytes, newest use and store, first key) without an
        ``EntryInfo`` per entry, for summaries of caches of 100k entries (the panel's header
        and rows, ``%jlcache info``). This default sums ``scan``."""
        return tally_of(self.scan(kind))

    @abstractmethod
    def size(self) -> int:
        """Bytes of every entry (the sum of ``EntryInfo.disk``)."""

    # ------------------------------------------------------------------------- deleting
    @abstractmethod
    def delete(self, ref: EntryRef) -> bool:
        """Remove one entry; ``False`` if it was not there."""

    @abstractmethod
    def delete_version(self, kind: str, group: str, version: str) -> bool:
        """Remove a version with its entries and description; ``False`` if there was none."""

    @abstractmethod
    def delete_group(self, kind: str, group: str) -> bool:
        """Remove every version of one function or cell; ``False`` if there was none."""

    @abstractmethod
    def clear(self) -> None:
        """Remove every entry; the cache itself (its marker, its location) stays usable."""

    @abstractmethod
    def reduce_size(self, bytes_limit: int | str | None = None, items_limit: int | None = None,
                    age_limit: timedelta | float | str | None = None) -> list[EntryRef]:
        """Evict, least recently used first, until every given limit holds; returns the refs
        evicted. ``age_limit`` removes entries not used for that long, ``items_limit`` keeps
        at most that many, ``bytes_limit`` (bytes or ``"1G"``) bounds ``size()``."""

    def sweep_temporaries(self) -> int:
        """Remove what crashed writers left behind; returns how many. A store whose puts
        leave nothing behind (an object store's single put) has nothing to do."""
        return 0


_open_stores: weakref.WeakSet[Store] = weakref.WeakSet()
_exit_lock = threading.Lock()
_exit_registered = False


def flush_at_exit(store: Store) -> None:
    """Flush ``store``'s batched access records when the interpreter exits (once per store).

    Hits never write (see ``touch``): without this, the last few seconds of accesses of a
    session would be lost to eviction's least-recently-used order.
    """
    global _exit_registered
    _open_stores.add(store)
    with _exit_lock:
        if not _exit_registered:
            atexit.register(_flush_all)
            _exit_registered = True


def _flush_all() -> None:
    for store in list(_open_stores):
        try:
            store.flush()
        except Exception:  # at exit, a failed access-time update (or a store that is down)
            pass          # is not worth a traceback
