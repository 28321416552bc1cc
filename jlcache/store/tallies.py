"""Summing a version folder's entries from their ``lstat`` alone (``Store.tally``).

A summary of a cache of 100k entries (the panel's first paint, ``%jlcache info``) needs
counts, bytes and times per version, not an ``EntryInfo`` (and a ``Path``) per entry:
building those costs more than the ``lstat`` calls themselves.
"""

from __future__ import annotations

import os
import stat

from jlcache.store.layout import SUFFIX, Tally

__all__ = ["disk_bytes", "tally_dir"]


def disk_bytes(st: os.stat_result) -> int:
    """Allocated bytes: what the entry really costs on disk (a 200-byte file takes a block)."""
    blocks = getattr(st, "st_blocks", None)
    return blocks * 512 if blocks is not None else st.st_size


def tally_dir(vdir: str, pending: float) -> Tally | None:
    """One version folder's ``Tally`` (``None`` when it holds no entry); the same entries and
    figures as ``Maintenance.scan`` (regular files named ``*.jlc``, never through a link)."""
    n = disk = 0
    used = stored = 0.0
    first: str | None = None
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
                if not stat.S_ISREG(st.st_mode):
                    continue
                n += 1
                disk += disk_bytes(st)
                mtime = st.st_mtime
                used = max(used, st.st_atime, mtime)
                stored = max(stored, mtime)
                if first is None or name < first:
                    first = name
    except (FileNotFoundError, NotADirectoryError):
        return None
    if first is None:
        return None
    return Tally(n, disk, max(used, pending), stored, first[:-len(SUFFIX)])
