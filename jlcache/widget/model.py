"""What the panel shows, computed from the store, the session counters and hit events.

Pure logic with no widget import, so every rule the panel follows is unit-testable::

    Store.entries(kind) --scan()--> Scan --PanelState.sections()--> rows (synced traits)
    stats.snapshot() ---------------------------^     ^
    cache.hit events --> HitLog (last use, bytes) ----+

Sizes are ``housekeeping.entry_bytes`` (allocated bytes, what ``Store.size()`` and
``bytes_limit`` count, and what ``%jlcache info`` shows), so the header's total is the store's
size. Version states (current / stale / unknown) are ``housekeeping.version_state``. Entries are paged here (``PAGE_SIZE``
rows of an expanded version are built and synced, never all 10,000), so the browser only
ever holds what it shows. Row ids live in ``panel_ids``; clearing in ``panel_clear``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from jlcache.memory.housekeeping import CURRENT, STALE, Defined, entry_bytes, version_state
from jlcache.store.base import Store
from jlcache.store.layout import EntryInfo, EntryRef, Tally
from jlcache.widget.format import human_duration, human_size
from jlcache.widget.ids import KINDS, row_id

__all__ = ["PAGE_SIZE", "SORT_KEYS", "STALE_BUTTON_TIP", "STATE_TIPS", "HitLog", "PanelState",
           "Scan", "ViewState", "args_text", "disk_bytes", "scan"]

_log = logging.getLogger(__name__)
PAGE_SIZE = 25  # rows per page of a section or an expanded level: one screen, not 10,000
SORT_KEYS = ("last_used", "size", "name")
Version = tuple[str, str, str]  # (kind, group, version)
# The tooltip of a version's state label (``row["state_tip"]``, read by js/panel.js); what the
# states mean is ``jlcache.memory.housekeeping``'s docstring.
STATE_TIPS = {
    "current": "Current: a cell or module run in this session defines this version.",
    "stale": "Stale: this session defines other versions and no cell defines this one any more.",
    "unknown": "Unknown: nothing run in this session defines it yet; never cleared as stale.",
}
STALE_BUTTON_TIP = ("Delete stale versions: those no cell of this session defines any more "
                    "(functions and cells not run in this session are kept)")


# ----------------------------------------------------------------------------- entries
def disk_bytes(info: Any) -> int:
    """Allocated bytes of an entry (``housekeeping.entry_bytes``: the one measure of sizes)."""
    return entry_bytes(info)


def args_text(info: Any) -> str:
    """The entry's argument summary; falls back to joblib-style ``input_args`` metadata."""
    if info.args:
        return str(info.args)
    args = (getattr(info, "meta", None) or {}).get("input_args")
    return ", ".join(f"{k}={v}" for k, v in args.items()) if isinstance(args, dict) else ""


# ----------------------------------------------------------------------------- store scan
@dataclass
class Scan:
    """One read of the store: every version's ``Tally`` (entries, bytes, last use) and info.

    Entries themselves are read only for a version whose rows are shown (``entries``): the
    header and every row need the sums alone, so a store of 100k entries is summed from its
    listing (``Store.tally``) without an object per entry. Entries stored since the scan are
    added from their ``cache.store`` events (``add``) instead of rescanning during a job.
    """

    location: str = ""
    totals: dict[Version, Tally] = field(default_factory=dict)
    infos: dict[Version, dict] = field(default_factory=dict)
    took: float = 0.0
    store: Any = None
    _entries: dict[Version, list[Any]] = field(default_factory=dict)

    def aggregate(self, key: Version) -> tuple[int, int, float | None]:
        """``(entries, bytes on disk, last used)`` of one version."""
        t = self.totals.get(key)
        if t is None:
            return 0, 0, None
        return t.entries, t.disk, t.last_used or None

    def entries(self, key: Version) -> list[Any]:
        """The version's entries with their metadata, read once per scan when first asked."""
        found = self._entries.get(key)
        if found is None:
            found = []
            if self.store is not None and self.totals.get(key, _EMPTY).entries:
                try:
                    found = list(self.store.entries(*key))
                except Exception:  # a version deleted meanwhile: no rows until the next scan
                    _log.debug("could not list %s", key, exc_info=True)
            self._entries[key] = found
        return found

    def add(self, key: Version, entry_key: str, nbytes: int, duration: float | None, when: float) -> None:
        """Count an entry a ``cache.store`` event announced (its size is ``entry_bytes``)."""
        t = self.totals.get(key) or _EMPTY
        first = min(t.first, entry_key) if t.first else entry_key
        self.totals[key] = Tally(t.entries + 1, t.disk + nbytes, max(t.last_used, when),
                                 max(t.last_stored, when), first)
        if key not in self.infos:
            self.infos[key] = _read_info(self.store, *key) if self.store is not None else {}
        loaded = self._entries.get(key)
        if loaded is not None:  # its metadata (arguments) arrives with the next scan
            loaded.append(EntryInfo(EntryRef(*key, entry_key), None, nbytes, when, when, duration,
                                    "", disk=nbytes))


_EMPTY = Tally(0, 0, 0.0, 0.0, "")


def _read_info(store: Store, kind: str, group: str, version: str) -> dict:
    try:
        return dict(store.read_info(kind, group, version) or {})
    except Exception:  # missing or unreadable info only loses a label
        return {}


def scan(store: Store) -> Scan:
    """Sum every version of the store from its listing (no entry is opened)."""
    t0 = time.perf_counter()
    out = Scan(location=store.url, store=store)
    for kind in KINDS:
        for group in store.groups(kind):
            for version in store.versions(kind, group):
                out.totals[(kind, group, version)] = _EMPTY
                out.infos[(kind, group, version)] = _read_info(store, kind, group, version)
        for (group, version), tally in store.tally(kind).items():
            out.totals[(kind, group, version)] = tally
            out.infos.setdefault((kind, group, version), {})
    out.took = time.perf_counter() - t0
    return out


# ----------------------------------------------------------------------------- hits
class HitLog:
    """What ``cache.hit`` events tell beyond the counters: when each entry was last served
    (hits need no disk write, so a rescan would not see them yet) and how many bytes were
    loaded. Events without ``bytes`` count the entry's size from the last scan instead."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.last: dict[tuple[str, str, str, str], float] = {}
        self.version_last: dict[Version, float] = {}
        self._bytes: dict[Version, int] = {}
        self._unsized: dict[tuple[str, str, str, str], int] = {}

    def record(self, data: dict, when: float) -> None:
        version: Version = (str(data.get("kind") or "functions"),
                            str(data.get("group") or data.get("func")), str(data.get("version")))
        key = (version[0], version[1], version[2], str(data.get("key")))
        nbytes = data.get("bytes")
        with self._lock:  # events from worker replays may arrive out of order: keep the latest
            self.last[key] = max(when, self.last.get(key, when))
            self.version_last[version] = max(when, self.version_last.get(version, when))
            if isinstance(nbytes, int | float):
                self._bytes[version] = self._bytes.get(version, 0) + int(nbytes)
            else:
                self._unsized[key] = self._unsized.get(key, 0) + 1

    def served(self, version: Version, scan: Scan) -> int:
        """Bytes loaded from ``version`` since this log started."""
        with self._lock:
            total = self._bytes.get(version, 0)
            unsized = [(k[3], n) for k, n in self._unsized.items() if k[:3] == version]
        if unsized:
            sizes = {e.ref.key: entry_bytes(e) for e in scan.entries(version)}
            total += sum(sizes.get(key, 0) * n for key, n in unsized)
        return total


# ----------------------------------------------------------------------------- rows
def _sort_key(key: str) -> Callable[[dict], Any]:
    if key == "size":
        return lambda r: (r["bytes"], r["label"])
    if key == "name":
        return lambda r: r["label"].lower()
    return lambda r: (r["last_used"] or 0, r["label"])


def _page(rows: list[Any], page: int, view: ViewState, key: Callable[[Any], Any] | None = None,
          build: Callable[[Any], dict] | None = None) -> dict:
    """One page of ``rows`` in the view's order; ``build`` turns only that page into dicts."""
    descending = view.desc if view.sort != "name" else not view.desc
    rows = sorted(rows, key=key or _sort_key(view.sort), reverse=descending)
    pages = max(1, -(-len(rows) // PAGE_SIZE))
    page = min(max(0, page), pages - 1)
    shown = rows[page * PAGE_SIZE:(page + 1) * PAGE_SIZE]
    return {"rows": [build(r) for r in shown] if build else shown, "total": len(rows),
            "page": page, "pages": pages}


def _totals(rows: Iterable[dict]) -> dict:
    rows = list(rows)
    used = [r["last_used"] for r in rows if r.get("last_used")]
    return {"entries": sum(r["entries"] for r in rows), "bytes": sum(r["bytes"] for r in rows),
            "hits": sum(r["hits"] for r in rows), "misses": sum(r["misses"] for r in rows),
            "time_saved": sum(r["time_saved"] for r in rows), "served": sum(r["served"] for r in rows),
            "last_used": max(used, default=None)}


def _finish(row: dict) -> dict:
    row["size"] = human_size(row["bytes"])
    row["saved"] = human_duration(row["time_saved"]) if row["time_saved"] else ""
    row["served_size"] = human_size(row["served"]) if row["served"] else ""
    return row


@dataclass
class ViewState:
    """What the user asked to see; shared by every view of one panel."""

    sort: str = "last_used"
    desc: bool = True
    expanded: set[str] = field(default_factory=set)
    pages: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"sort": self.sort, "desc": self.desc, "expanded": sorted(self.expanded),
                "pages": dict(self.pages), "page_size": PAGE_SIZE}


class PanelState:
    """Builds the synced sections from the last scan, the counters, hits and the view state."""

    def __init__(self) -> None:
        self.scan = Scan()
        self.view = ViewState()
        self.hits = HitLog()

    # ------------------------------------------------------------------ entries
    def _entry_last(self, info: Any) -> float | None:
        seen = self.hits.last.get((*info.ref[:3], info.ref.key))
        return max(info.last_access or info.created or 0, seen or 0) or None

    def _entry_row(self, info: Any) -> dict:
        ref = info.ref
        disk = disk_bytes(info)
        return {"id": row_id(ref.kind, ref.group, ref.version, ref.key), "type": "entry",
                "label": args_text(info) or ref.key[:12], "detail": ref.key, "entries": 1,
                "bytes": disk, "size": human_size(disk), "file_bytes": int(info.size or 0),
                "created": info.created, "last_used": self._entry_last(info), "duration": info.duration,
                "compute": human_duration(info.duration)}

    def _entry_page(self, key: Version, rid: str) -> dict:
        sort = self.view.sort
        if sort == "size":  # ties (small entries all take one block) go by the data's own size
            order: Callable[[Any], Any] = lambda i: (disk_bytes(i), int(i.size or 0), i.ref.key)  # noqa: E731
        elif sort == "name":
            order = lambda i: (args_text(i) or i.ref.key).lower()  # noqa: E731
        else:
            order = lambda i: (self._entry_last(i) or 0, i.ref.key)  # noqa: E731
        return _page(self.scan.entries(key), self.view.pages.get(rid, 0), self.view, order, self._entry_row)

    # ------------------------------------------------------------------ versions and groups
    def _version_row(self, key: Version, counts: Any, defined: Defined) -> dict:
        kind, group, version = key
        n, size, last = self.scan.aggregate(key)
        seen = self.hits.version_last.get(key)
        info = self.scan.infos.get(key, {})
        rid = row_id(kind, group, version)
        state = version_state(kind, group, version, defined)
        row = {"id": rid, "type": "version", "label": version[:12],
               "detail": info.get("first_line") or info.get("signature") or "",
               "state": state, "state_tip": STATE_TIPS[state],
               "entries": n, "bytes": size, "last_used": max(last or 0, seen or 0) or None,
               "created": info.get("created"), "hits": getattr(counts, "hits", 0),
               "misses": getattr(counts, "misses", 0), "time_saved": float(getattr(counts, "time_saved", 0.0)),
               "served": self.hits.served(key, self.scan)}
        if rid in self.view.expanded:
            row["children"] = self._entry_page(key, rid)
        return _finish(row)

    def _group_rows(self, kind: str, stats: dict, defined: Defined) -> list[dict]:
        by_group: dict[str, list[str]] = {}
        for k, group, version in self.scan.totals:
            if k == kind:
                by_group.setdefault(group, []).append(version)
        rows = []
        for group, versions in by_group.items():
            vrows = [self._version_row((kind, group, v), stats.get((kind, group, v)), defined)
                     for v in versions]
            rid = row_id(kind, group)
            current = [v for v in versions if version_state(kind, group, v, defined) == CURRENT]
            label, detail = self._group_label(kind, group, current or versions)
            row = {"id": rid, "type": "group", "label": label, "detail": detail,
                   "versions": len(vrows), "stale": sum(r["state"] == STALE for r in vrows),
                   **_totals(vrows)}
            if rid in self.view.expanded:
                row["children"] = _page(vrows, self.view.pages.get(rid, 0), self.view)
            rows.append(_finish(row))
        return rows

    def _group_label(self, kind: str, group: str, versions: list[str]) -> tuple[str, str]:
        """Function rows read ``module.qualname``; cell rows their name and first line of source
        (of the newest current version, else of the newest one)."""
        pick = max(versions, key=lambda v: self.scan.infos.get((kind, group, v), {}).get("created") or 0)
        info = self.scan.infos.get((kind, group, pick), {})
        if kind == "functions" and info.get("qualname"):
            return f"{info.get('module', '?')}.{info['qualname']}", ""
        label, detail = info.get("name") or group, info.get("first_line", "") or ""
        if detail.strip().startswith(label.strip()):  # an unnamed cell is named by its first line
            return label, ""
        return label, detail

    # ------------------------------------------------------------------ public
    def sections(self, stats: dict, defined: Defined) -> dict[str, dict]:
        """The ``functions`` and ``cells`` traits: a page of group rows each, expanded as asked.

        ``defined``: the versions this session defines (``housekeeping.defined_versions()``).
        """
        out = {}
        for kind in KINDS:
            rows = self._group_rows(kind, stats, defined)
            out[kind] = {"id": kind, **_page(rows, self.view.pages.get(kind, 0), self.view)}
        return out

    def summary(self, defined: Defined) -> dict:
        """The header: location, entries and bytes on disk (= ``Store.size()``), stale share."""
        total = stale = stale_bytes = n = 0
        for (kind, group, version) in self.scan.totals:
            count, size, _ = self.scan.aggregate((kind, group, version))
            total += size
            n += count
            if version_state(kind, group, version, defined) == STALE:
                stale += 1
                stale_bytes += size
        return {"location": self.scan.location, "entries": n, "bytes": total, "size": human_size(total),
                "stale_versions": stale, "stale_bytes": stale_bytes, "stale_size": human_size(stale_bytes),
                "stale_tip": STALE_BUTTON_TIP}
