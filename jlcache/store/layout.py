"""Names and records of cache entries: refs, listings, file-system-safe group names, limits.

Shared by every store (local today, object storage later) and by the front ends: ``KINDS``
is defined here and only here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, NamedTuple

import xxhash

__all__ = ["INFO", "KINDS", "SUFFIX", "EntryInfo", "EntryRef", "Tally", "group_name", "parse_age",
           "parse_size", "tally_of"]

KINDS = ("functions", "cells")  # what a cache holds: cached functions and %%memo cells
SUFFIX = ".jlc"
INFO = "_info.json"
_GROUP_MAX = 160
_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")
_COMPONENT = re.compile(r"[A-Za-z0-9_\-][A-Za-z0-9_.\-]{0,159}\Z")
_SIZE = re.compile(r"\s*(\d+(?:\.\d*)?)\s*([kmgt]?)(?:i?b)?\s*\Z", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


class EntryRef(NamedTuple):
    """Names one entry; ``group`` is made file-system safe by the store (see ``group_name``)."""

    kind: str
    group: str
    version: str
    key: str


@dataclass
class EntryInfo:
    """What a listing knows about one entry.

    ``size``: the entry's bytes; ``disk``: what it costs where it is stored (allocated bytes
    on a file system), the figure sizes and limits use; ``path``: its local file, ``None``
    when the store keeps it elsewhere (``Store.describe(ref)`` names it either way).
    """

    ref: EntryRef
    path: Path | None
    size: int
    created: float
    last_access: float
    duration: float | None
    args: str
    meta: dict[str, Any] = field(default_factory=dict)
    disk: int = 0


class Tally(NamedTuple):
    """One version's entries summed by a listing (``Store.tally``): what a summary of a whole
    cache needs, without an ``EntryInfo`` per entry (100k of them cost a second to build).

    The figures are those of ``Store.scan``'s entries: ``disk`` sums ``EntryInfo.disk``,
    ``last_used`` is the newest ``last_access``, ``last_stored`` the newest ``created``, and
    ``first`` the key of the version's first entry in listing order."""

    entries: int
    disk: int
    last_used: float
    last_stored: float
    first: str


def tally_of(entries: list[EntryInfo]) -> dict[tuple[str, str], Tally]:
    """``{(group, version): Tally}`` of a listing (``Store.tally``'s default)."""
    out: dict[tuple[str, str], Tally] = {}
    for e in entries:
        key = (e.ref.group, e.ref.version)
        t = out.get(key)
        disk = e.disk or e.size or 0
        if t is None:
            out[key] = Tally(1, disk, e.last_access or e.created or 0.0, e.created or 0.0, e.ref.key)
        else:
            out[key] = Tally(t.entries + 1, t.disk + disk, max(t.last_used, e.last_access or e.created or 0.0),
                             max(t.last_stored, e.created or 0.0), t.first)
    return out


# ----------------------------------------------------------------------------- naming
def group_name(name: str) -> str:
    """A directory name for ``module.qualname`` (or a cell slot) that any file system accepts.

    Safe names pass unchanged (so the function is idempotent); anything else has odd
    characters replaced and a short hash of the original appended, so ``f.<locals>.g``
    and ``f._locals_.g`` never share a directory. The original lives in ``_info.json``.
    """
    if len(name) <= _GROUP_MAX and _COMPONENT.match(name):
        return name
    safe = _UNSAFE.sub("_", name)[:150].lstrip(".") or "_"
    digest = xxhash.xxh3_64_hexdigest(name.encode("utf-8", "surrogatepass"))[:8]
    return f"{safe}-{digest}"


def _check_component(what: str, value: str) -> str:
    if not isinstance(value, str) or not _COMPONENT.match(value):
        raise ValueError(
            f"Invalid cache entry {what} {value!r}: it must be 1-160 characters of letters, "
            "digits, '_', '-' or '.', not starting with '.' (it becomes a file name)."
        )
    return value


def _check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"Unknown entry kind {kind!r}: use 'functions' or 'cells'.")
    return kind


def parse_size(limit: int | str | None) -> int | None:
    """``1024``, ``"100K"``, ``"10M"``, ``"1G"`` (powers of 1024, as joblib) to bytes."""
    if limit is None or (isinstance(limit, int) and not isinstance(limit, bool)):
        if limit is not None and limit < 0:
            raise ValueError(f"A size limit cannot be negative (got {limit}).")
        return limit
    match = _SIZE.match(limit) if isinstance(limit, str) else None
    if match is None:
        raise ValueError(
            f"Size limit {limit!r} is not understood: use a number of bytes or a string such "
            "as '100K', '10M' or '1G'."
        )
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


_AGE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([smhdw]?)\s*$", re.IGNORECASE)
_AGE_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_age(age: timedelta | float | str | None) -> float | None:
    """A ``timedelta``, a number of seconds or ``"30s"``/``"15m"``/``"2h"``/``"1d"``/``"1w"``,
    as seconds: ages are usually thought of in days, not in seconds."""
    if age is None:
        return None
    if isinstance(age, timedelta):
        seconds = age.total_seconds()
    elif isinstance(age, (int, float)) and not isinstance(age, bool):
        seconds = float(age)
    else:
        match = _AGE.match(age) if isinstance(age, str) else None
        if match is None:
            raise ValueError(
                f"age_limit {age!r} is not understood: use a timedelta, a number of seconds "
                "or a string such as '30s', '15m', '2h', '1d' or '1w'."
            )
        seconds = float(match.group(1)) * _AGE_UNITS[match.group(2).lower()]
    if seconds < 0:
        raise ValueError(f"age_limit cannot be negative (got {age!r}).")
    return seconds


