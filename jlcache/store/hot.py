"""Small entries kept in memory, so that a repeated hit costs one ``lstat`` and an unpickle.

Why: a hit on a tiny value used to open the file, ``lstat`` its folder, ``fstat`` it, read
it, parse the JSON header and check the pickle's checksum: four system calls and a parse,
several times what reading one small file costs. A notebook re-running a cell hits the
same few entries again and again, and between two hits the file almost never changes.

What is kept, per entry: the validated pickle bytes (decompressed; for a value with arrays,
the whole file and its parsed header, so the arrays are rebuilt over a new buffer and
their checksums verified on each hit), the header's metadata and the file's *identity*
as one ``lstat`` sees it::

    (st_ino, st_dev, st_size, st_mtime_ns, st_ctime_ns)

A hit ``lstat``s the entry (never following a link: a link has another identity), applies
the same trust rule as a read (a regular file, ours or root's, writable by no one else:
``trust.check_file``) and compares the identity. Equal means the very same inode, not
changed since it was read and validated: every write, truncation, ``chmod``, ``chown`` or
link count change moves ``st_ctime``; our writers replace files by ``rename`` (a new inode,
allocated while the old one still exists); another process rewriting or deleting the
entry changes the identity too. Anything else (missing, another identity, untrusted) drops
the copy and the hit takes the full read, which decides and warns exactly as before.

The one hole such identities have is timestamp granularity: a file changed twice within
one tick of the file system's clock keeps its ``st_ctime``. So an entry is only kept when
its ``st_ctime`` is older than the read by ``RACY_NS`` (git's "racily clean" rule): any
later change then gets a later ``st_ctime``. A freshly written entry is read the full way
until it is that old.

The folders on the way are vetted on the same schedule as for a full read
(``TrustedDirs.ttl``, by the caller); a folder replaced by a link in between can only lead
the ``lstat`` to the same unchanged inode, whose bytes were validated already (and the
next vetting, within ``ttl``, refuses the link).

Memory is bounded: only entries of at most ``max_entry`` bytes are kept, and
all of them together within ``budget`` bytes, least recently used dropped first. Each hit
unpickles the bytes again, so no two hits share a mutable object.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict

__all__ = ["HEADERS", "HOT", "RACY_NS", "HotEntries", "discard", "forget_under", "fresh_meta", "identity", "nested_keys", "now_ns"]

RACY_NS = 50_000_000  # 50 ms: above any kernel's timestamp tick (1/HZ <= 10 ms)
_ENABLED = os.name == "posix"  # st_ctime is the change time there (creation time on Windows)

Ident = tuple[int, int, int, int, int]
# identity, bytes, metadata, its keys holding dicts/lists, the header when bytes = the file
Kept = tuple[Ident, bytes, dict, tuple[str, ...], "dict | None"]


def identity(st: os.stat_result) -> Ident:
    """What a file is and how it was last changed, from one stat."""
    return (st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class HotEntries:
    """``path -> Kept`` (identity, bytes, metadata...), LRU within a byte budget."""

    def __init__(self, budget: int = 32 * 2**20, max_entry: int = 64 * 2**10) -> None:
        self.budget = budget
        self.max_entry = max_entry
        self._items: OrderedDict[str, Kept] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, path: object) -> bool:
        return path in self._items

    @property
    def nbytes(self) -> int:
        """Bytes of pickles held now (never above ``budget``)."""
        return self._bytes

    def get(self, path: str) -> Kept | None:
        """The kept copy of ``path`` (the caller compares its identity), most recent first."""
        item = self._items.get(path)
        if item is not None:
            try:
                self._items.move_to_end(path)
            except KeyError:  # dropped by another thread meanwhile: still a valid copy
                pass
        return item

    def keep(self, path: str, st: os.stat_result, read_at_ns: int, data: bytes | None,
             meta: dict, header: dict | None = None) -> None:
        """Keep ``data`` (the validated pickle of the file ``st`` describes, read after
        ``read_at_ns``; with ``header`` the whole file, holding arrays) if it is small and
        the file old enough to be told apart from any
        later change (see ``RACY_NS``); otherwise drop any copy."""
        size = 0 if data is None else len(data)
        if (data is None or not _ENABLED or size > self.max_entry or size > self.budget
                or st.st_ctime_ns >= read_at_ns - RACY_NS):
            self.discard(path)
            return
        with self._lock:
            old = self._items.pop(path, None)
            if old is not None:
                self._bytes -= len(old[1])
            self._items[path] = (identity(st), data, meta, nested_keys(meta), header)
            self._bytes += size
            while self._bytes > self.budget:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= len(dropped[1])

    def discard(self, path: str) -> None:
        """Forget ``path`` (deleted or rewritten through our API, or found changed)."""
        if path in self._items:
            with self._lock:
                old = self._items.pop(path, None)
                if old is not None:
                    self._bytes -= len(old[1])

    def forget_under(self, folder: str) -> None:
        """Forget every entry inside ``folder``: a version, a group or a cache deleted."""
        prefix = os.path.join(folder, "")
        with self._lock:
            for path in [p for p in self._items if p.startswith(prefix)]:
                self._bytes -= len(self._items.pop(path)[1])

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0


# One per process: the budget bounds what all caches opened by this process keep.
HOT = HotEntries()
# The same for the headers of values read memory-mapped (``(first bytes, header)``): their
# arrays are mapped afresh on each hit, only the header's read and checks are saved.
HEADERS = HotEntries(budget=4 * 2**20, max_entry=4096)


def _after_fork() -> None:
    """A child forked while another thread held a lock must not inherit it held."""
    for kept in (HOT, HEADERS):
        kept._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


def discard(path: str) -> None:
    """Forget what is kept of the entry ``path`` (deleted or replaced through our API)."""
    HOT.discard(path)
    HEADERS.discard(path)


def forget_under(folder: str) -> None:
    """Forget what is kept of the entries inside ``folder`` (a version, group or cache)."""
    HOT.forget_under(folder)
    HEADERS.forget_under(folder)


def fresh_meta(meta: dict, nested: tuple[str, ...] | None = None) -> dict:
    """A copy of ``meta`` the caller may change (its dict and list values copied too), so a
    kept entry's metadata never changes through what a hit returned. ``nested`` names
    those values when known (``nested_keys``)."""
    out = meta.copy()
    for key in nested_keys(meta) if nested is None else nested:
        out[key] = out[key].copy()
    return out


def nested_keys(meta: dict) -> tuple[str, ...]:
    """The keys of ``meta`` whose values are dicts or lists (copied by ``fresh_meta``)."""
    return tuple(k for k, v in meta.items() if type(v) is dict or type(v) is list)


def now_ns() -> int:
    """The clock a read is stamped with before its ``open`` (compared with ``st_ctime``)."""
    return time.time_ns()
