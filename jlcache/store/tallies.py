"""Listing a local cache from each entry's ``lstat`` alone: ``Store.tally`` and eviction.

A summary of a cache of 100k entries (the panel's first paint, ``%jlcache info``) needs
counts, bytes and times per version, and eviction needs times and sizes per entry, not an
``EntryInfo`` (and a ``Path``, an ``EntryRef``) per entry: building those costs more than
the ``lstat`` calls themselves. Both listings walk each version folder once.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable

from jlcache.store.layout import INFO, SUFFIX, Tally

__all__ = ["Listing", "disk_bytes", "eviction_listing", "tally_dir"]

Parts = tuple[str, str, str]

_NO_BLOCKS = not hasattr(os.stat_result, "st_blocks")  # Windows: sizes are file sizes


def disk_bytes(st: os.stat_result) -> int:
    """Allocated bytes: what the entry really costs on disk (a 200-byte file takes a block)."""
    blocks = getattr(st, "st_blocks", None)
    return blocks * 512 if blocks is not None else st.st_size


def tally_dir(vdir: str, pending: float) -> Tally | None:
    """One version folder's ``Tally`` (``None`` when it holds no entry); the same entries and
    figures as ``Maintenance.scan`` (regular files named ``*.jlc``, never through a link).
    The loop does per entry only what the figures need: it runs 100k times for a big cache."""
    n = disk = 0
    used = stored = 0.0
    first: str | None = None
    is_reg = stat.S_ISREG
    try:
        with os.scandir(vdir) as it:
            for entry in it:
                name = entry.name
                if not name.endswith(SUFFIX):
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if not is_reg(st.st_mode):
                    continue
                n += 1
                disk += disk_bytes(st) if _NO_BLOCKS else st.st_blocks * 512
                mtime, atime = st.st_mtime, st.st_atime
                if mtime > stored:
                    stored = mtime
                if atime > used:
                    used = atime
                if first is None or name < first:
                    first = name
    except (FileNotFoundError, NotADirectoryError):
        return None
    if first is None:
        return None
    return Tally(n, disk, max(used, stored, pending), stored, first[:-len(SUFFIX)])


class Listing:
    """What ``reduce_size`` needs from one walk: ``items`` ``(last access, mtime, path,
    (kind, group, version, key), disk bytes)`` per entry (sorted as plain tuples, oldest
    access first: paths are unique, so the order is that of the first three), the number of
    files other than ``_info.json`` and temporaries in each version folder (a folder whose
    files are all evicted is a candidate for removal) and the folders holding temporaries."""

    def __init__(self) -> None:
        self.items: list[tuple[float, float, str, tuple[str, str, str, str], int]] = []
        self.files: dict[Parts, int] = {}
        self.temporaries: list[str] = []


def eviction_listing(version_dirs: Iterable[tuple[str, str, str, str]]) -> Listing:
    """Walk ``(kind, group, version, path)`` folders once (see ``Listing``)."""
    out = Listing()
    items, is_reg = out.items, stat.S_ISREG
    for kind, group, version, vdir in version_dirs:
        files = 0
        temporaries = False
        try:
            with os.scandir(vdir) as it:
                for entry in it:
                    name = entry.name
                    if name.endswith(SUFFIX):
                        try:
                            st = entry.stat(follow_symlinks=False)
                        except FileNotFoundError:
                            continue
                        if not is_reg(st.st_mode):
                            continue
                        files += 1
                        mtime, atime = st.st_mtime, st.st_atime
                        items.append((atime if atime > mtime else mtime, mtime, entry.path,
                                      (kind, group, version, name[:-len(SUFFIX)]),
                                      disk_bytes(st) if _NO_BLOCKS else st.st_blocks * 512))
                    elif name.endswith(".tmp"):
                        temporaries = True
                    elif name != INFO and entry.is_file(follow_symlinks=False):
                        files += 1
        except (FileNotFoundError, NotADirectoryError):
            continue
        out.files[(kind, group, version)] = files
        if temporaries:
            out.temporaries.append(vdir)
    return out
