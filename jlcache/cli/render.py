"""How the command line prints: plain tables for people, JSON for programs.

Sizes are written by ``housekeeping.human_size``, the panel's and ``%jlcache info``'s
formatter, so one cache shows one figure everywhere. Times are local dates (``ls -l``
style): a terminal listing is read later than it is printed, so "3 min ago" would lie.

``ls --json`` format 1 (stable: fields are only ever added; a change in meaning bumps
``format``)::

    {"format": 1, "location": "/abs/path or URL", "entries": int, "bytes": int,
     "groups": [{"kind": "function" | "cell", "name": str, "group": str,
                 "entries": int, "bytes": int, "last_used": float | null,
                 "versions": [{"version": str, "state": "current" | "stale",
                               "entries": int, "bytes": int,
                               "last_used": float | null, "last_stored": float | null}]}]}

``bytes`` are bytes on disk (``housekeeping.entry_bytes``); times are Unix timestamps
(seconds); versions are listed newest stored first; groups by kind then group.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from typing import IO, Any

from jlcache.memory.housekeeping import Damaged, human_size
from jlcache.memory.inventory import GroupSummary

__all__ = ["JSON_FORMAT", "damaged_line", "du_table", "ls_table", "to_json", "write_json"]

JSON_FORMAT = 1
_KIND = {"functions": "function", "cells": "cell"}


def to_json(location: str, groups: list[GroupSummary]) -> dict[str, Any]:
    """The ``ls --json`` document (format described in the module docstring)."""
    return {
        "format": JSON_FORMAT, "location": location,
        "entries": sum(g.entries for g in groups), "bytes": sum(g.bytes for g in groups),
        "groups": [{
            "kind": _KIND.get(g.kind, g.kind), "name": g.name, "group": g.group,
            "entries": g.entries, "bytes": g.bytes, "last_used": g.last_used,
            "versions": [{"version": v.version, "state": v.state, "entries": v.entries,
                          "bytes": v.bytes, "last_used": v.last_used,
                          "last_stored": v.last_stored} for v in g.versions],
        } for g in groups],
    }


def write_json(location: str, groups: list[GroupSummary], out: IO[str]) -> None:
    json.dump(to_json(location, groups), out, indent=1)
    out.write("\n")


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts else "-"


def _table(rows: Sequence[tuple[str, ...]], right: Iterable[int]) -> list[str]:
    """Aligned columns; ``right`` are the indexes of right-aligned (numeric) columns."""
    right = set(right)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.rjust(w) if i in right else c.ljust(w)
                      for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip()
            for r in rows]


def _heading(location: str, groups: list[GroupSummary]) -> str:
    funcs = sum(g.kind == "functions" for g in groups)
    return (f"jlcache at {location}: {funcs} function(s), {len(groups) - funcs} cell(s), "
            f"{sum(g.entries for g in groups)} entries, {human_size(sum(g.bytes for g in groups))}")


def ls_table(location: str, groups: list[GroupSummary]) -> str:
    """One line per function or cell, then one indented line per version."""
    head = _heading(location, groups)
    if not groups:
        return head + "\n(nothing cached)\n"
    rows = [("KIND", "NAME / VERSION", "STATE", "ENTRIES", "SIZE", "LAST USED")]
    for g in groups:
        rows.append((_KIND[g.kind], g.name, "", str(g.entries), human_size(g.bytes),
                     _when(g.last_used)))
        for v in g.versions:
            rows.append(("", "  " + v.version, v.state, str(v.entries), human_size(v.bytes),
                         _when(v.last_used)))
    return "\n".join([head, *_table(rows, (3, 4))]) + "\n"


def du_table(location: str, groups: list[GroupSummary]) -> str:
    """Bytes on disk per function and cell, largest first, and the total."""
    ordered = sorted(groups, key=lambda g: (-g.bytes, g.kind, g.name))
    total = sum(g.bytes for g in groups)
    rows = [(human_size(g.bytes), str(g.entries), _KIND[g.kind], g.name) for g in ordered]
    rows.append((human_size(total), str(sum(g.entries for g in groups)), "total", location))
    return "\n".join(_table([("SIZE", "ENTRIES", "KIND", "NAME"), *rows], (0, 1))) + "\n"


def damaged_line(d: Damaged, fixed: bool) -> str:
    """``damaged: <group> (<args>) <file>: <what is wrong>`` (``deleted:`` after ``--fix``)."""
    args = f"({d.args})" if d.args else "(arguments unknown: header unreadable)"
    return f"{'deleted' if fixed else 'damaged'}: {d.ref.group} {args} {d.where}: {_reason(d)}"


def _reason(d: Damaged) -> str:
    """What is wrong, without the file name and advice ``CorruptEntryError`` adds."""
    text = " ".join(d.reason.split())
    _, sep, rest = text.partition("is not a valid jlcache value file: ")
    if sep:
        text = rest.split(". Likely cause")[0]
    return text
