"""What the panel shows, computed from the store, the session counters and job events.

Pure logic with no widget import, so every rule the panel follows is unit-testable::

    Store.entries(kind) --scan()--> Scan --PanelState.build()--> sections (synced rows)
    stats.snapshot() ------------------------^        ^
    job.* events ---------> JobTracker --------------+
    Panel.clear(row_id) --> clear_target(store, row_id) --> Store.delete*

Row ids are paths of percent-encoded parts, ``kind/group/version/key`` cut at the level
of the row (``functions/mod.f`` is a function, ``functions/mod.f/<version>`` one of its
versions, and so on), plus ``jobs/<id>`` and the two header targets ``stale`` and ``all``.
They depend only on what the row *is*, so they stay stable across refreshes, panels and
kernel restarts.

Entries are paged here (``PAGE_SIZE`` rows of an expanded version are synced, never all
10,000), so the browser only ever holds what it shows.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import quote, unquote

__all__ = [
    "KINDS", "PAGE_SIZE", "Coalescer", "JobTracker", "PanelState", "Scan", "Target",
    "clear_target", "human_duration", "human_size", "parse_row_id", "row_id", "scan",
]

KINDS = ("functions", "cells")
PAGE_SIZE = 50
SORT_KEYS = ("last_used", "size", "name")


# ----------------------------------------------------------------------------- formatting
def human_size(n: float | None) -> str:
    """Bytes as people read them: ``0 B``, ``999 B``, ``1.5 KiB``, ``12 MiB``, ``3.1 GiB``."""
    if n is None:
        return ""
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            if unit == "B":
                return f"{int(n)} B"
            return f"{n:.1f} {unit}" if abs(n) < 10 else f"{n:.0f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def human_duration(seconds: float | None) -> str:
    """A compact duration: ``850 µs``, ``12 ms``, ``3.4 s``, ``2 min 05 s``, ``1 h 03 min``."""
    if seconds is None:
        return ""
    s = max(0.0, float(seconds))
    if s == 0:
        return "0 s"
    if s < 1e-3:
        return f"{s * 1e6:.0f} µs"
    if s < 1:
        return f"{s * 1e3:.0f} ms"
    if s < 60:
        return f"{s:.1f} s" if s < 10 else f"{s:.0f} s"
    if s < 3600:
        return f"{int(s // 60)} min {int(s % 60):02d} s"
    return f"{int(s // 3600)} h {int(s % 3600 // 60):02d} min"


def human_age(then: float | None, now: float) -> str:
    """How long ago, for the text table (the browser computes its own)."""
    if not then:
        return ""
    age = int(max(0.0, now - then))
    return "just now" if age < 5 else human_duration(age) + " ago"


# ----------------------------------------------------------------------------- row ids
class Target(NamedTuple):
    """What a row id points at; unset trailing parts mean a wider target."""

    kind: str
    group: str | None = None
    version: str | None = None
    key: str | None = None


def row_id(*parts: str) -> str:
    """The id of the row made of ``parts`` (each part is encoded, so ``/`` in a name is safe)."""
    return "/".join(quote(str(p), safe="") for p in parts)


def parse_row_id(rid: str) -> Target:
    """Decode a row id; raises ``ValueError`` for anything the panel never produced."""
    if not isinstance(rid, str) or not rid:
        raise ValueError(f"Not a panel row id: {rid!r}.")
    parts = [unquote(p) for p in rid.split("/")]
    if parts[0] in ("stale", "all") and len(parts) == 1:
        return Target(parts[0])
    if parts[0] == "jobs" and len(parts) == 2:
        return Target("jobs", parts[1])
    if parts[0] not in KINDS or not 2 <= len(parts) <= 4 or not all(parts[1:]):
        raise ValueError(
            f"Not a panel row id: {rid!r}. Row ids look like 'functions/<group>[/<version>"
            "[/<key>]]', 'cells/...', 'jobs/<id>', 'stale' or 'all'; copy one from Panel.rows()."
        )
    return Target(*parts)


# ----------------------------------------------------------------------------- store scan
@dataclass
class Scan:
    """One read of the store: entries grouped by (kind, group, version), plus version info."""

    location: str = ""
    versions: dict[tuple[str, str, str], list[Any]] = field(default_factory=dict)
    infos: dict[tuple[str, str, str], dict] = field(default_factory=dict)
    took: float = 0.0
    _agg: dict[tuple[str, str, str], tuple[int, int, float | None]] = field(default_factory=dict)

    def aggregate(self, key: tuple[str, str, str]) -> tuple[int, int, float | None]:
        """``(entries, bytes, last used)`` of one version, computed once per scan."""
        agg = self._agg.get(key)
        if agg is None:
            entries = self.versions.get(key, ())
            last = max((e.last_access or e.created or 0 for e in entries), default=0) or None
            agg = self._agg[key] = (len(entries), sum(int(e.size or 0) for e in entries), last)
        return agg


def _read_info(store: Any, kind: str, group: str, version: str) -> dict:
    reader = getattr(store, "read_info", None) or getattr(store, "info", None)
    try:
        if callable(reader):
            return dict(reader(kind, group, version) or {})
        path = store.location / kind / group / version / "_info.json"
        return json.loads(path.read_text())
    except Exception:  # missing or unreadable info only loses a label
        return {}


def scan(store: Any) -> Scan:
    """Read every entry's metadata once (the panel's only disk access besides clearing)."""
    t0 = time.perf_counter()
    out = Scan(location=str(store.location))
    for kind in KINDS:
        for group in store.groups(kind):
            for version in store.versions(kind, group):
                out.versions[(kind, group, version)] = []
                out.infos[(kind, group, version)] = _read_info(store, kind, group, version)
        for info in store.entries(kind):
            ref = info.ref
            out.versions.setdefault((kind, ref.group, ref.version), []).append(info)
    out.took = time.perf_counter() - t0
    return out


# ----------------------------------------------------------------------------- rows
def _sort_key(key: str) -> Callable[[dict], Any]:
    if key == "size":
        return lambda r: (r["bytes"], r["label"])
    if key == "name":
        return lambda r: r["label"].lower()
    return lambda r: (r["last_used"] or 0, r["label"])


def _page(rows: list[dict], page: int, sort: str, desc: bool) -> dict:
    rows = sorted(rows, key=_sort_key(sort), reverse=desc if sort != "name" else not desc)
    pages = max(1, -(-len(rows) // PAGE_SIZE))
    page = min(max(0, page), pages - 1)
    return {"rows": rows[page * PAGE_SIZE:(page + 1) * PAGE_SIZE], "total": len(rows),
            "page": page, "pages": pages}


def _args_text(info: Any) -> str:
    """The entry's argument summary; falls back to joblib-style ``input_args`` metadata."""
    if info.args:
        return str(info.args)
    args = (getattr(info, "meta", None) or {}).get("input_args")
    return ", ".join(f"{k}={v}" for k, v in args.items()) if isinstance(args, dict) else ""


def _entry_row(info: Any) -> dict:
    ref = info.ref
    last = info.last_access or info.created
    return {"id": row_id(ref.kind, ref.group, ref.version, ref.key), "type": "entry",
            "label": _args_text(info) or ref.key[:12], "detail": ref.key, "entries": 1,
            "bytes": int(info.size or 0), "size": human_size(info.size or 0),
            "created": info.created, "last_used": last, "duration": info.duration,
            "compute": human_duration(info.duration)}


def _totals(rows: Iterable[dict]) -> dict:
    rows = list(rows)
    used = [r["last_used"] for r in rows if r.get("last_used")]
    return {"entries": sum(r["entries"] for r in rows), "bytes": sum(r["bytes"] for r in rows),
            "hits": sum(r["hits"] for r in rows), "misses": sum(r["misses"] for r in rows),
            "time_saved": sum(r["time_saved"] for r in rows), "last_used": max(used, default=None)}


def _finish(row: dict) -> dict:
    row["size"] = human_size(row["bytes"])
    row["saved"] = human_duration(row["time_saved"]) if row["time_saved"] else ""
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
    """Builds the synced sections from the last scan, the counters and the view state."""

    def __init__(self) -> None:
        self.scan = Scan()
        self.view = ViewState()

    def _version_row(self, kind: str, group: str, version: str, counts: Any, current: str | None) -> dict:
        key = (kind, group, version)
        n, size, last = self.scan.aggregate(key)
        info = self.scan.infos.get(key, {})
        rid = row_id(kind, group, version)
        detail = info.get("first_line") or info.get("signature") or ""
        row = {"id": rid, "type": "version", "label": version[:12], "detail": detail,
               "state": "current" if version == current else "stale",
               "entries": n, "bytes": size, "last_used": last, "created": info.get("created"),
               "hits": getattr(counts, "hits", 0), "misses": getattr(counts, "misses", 0),
               "time_saved": float(getattr(counts, "time_saved", 0.0))}
        if rid in self.view.expanded:
            entries = [_entry_row(e) for e in self.scan.versions[key]]
            row["children"] = _page(entries, self.view.pages.get(rid, 0), self.view.sort, self.view.desc)
        return _finish(row)

    def _group_rows(self, kind: str, stats: dict, current: dict[str, str]) -> list[dict]:
        by_group: dict[str, list[str]] = {}
        for k, group, version in self.scan.versions:
            if k == kind:
                by_group.setdefault(group, []).append(version)
        rows = []
        for group, versions in by_group.items():
            vrows = [self._version_row(kind, group, v, stats.get((kind, group, v)), current.get(group))
                     for v in versions]
            rid = row_id(kind, group)
            label, detail = self._group_label(kind, group, versions, current.get(group))
            row = {"id": rid, "type": "group", "label": label, "detail": detail,
                   "versions": len(vrows), "stale": sum(r["state"] == "stale" for r in vrows),
                   **_totals(vrows)}
            if rid in self.view.expanded:
                row["children"] = _page(vrows, self.view.pages.get(rid, 0), self.view.sort, self.view.desc)
            rows.append(_finish(row))
        return rows

    def _group_label(self, kind: str, group: str, versions: list[str], current: str | None) -> tuple[str, str]:
        """Function rows read ``module.qualname``; cell rows their name and first line of source."""
        pick = current if current in versions else max(
            versions, key=lambda v: self.scan.infos.get((kind, group, v), {}).get("created") or 0)
        info = self.scan.infos.get((kind, group, pick), {})
        if kind == "functions" and info.get("qualname"):
            return f"{info.get('module', '?')}.{info['qualname']}", ""
        return info.get("name") or group, info.get("first_line", "")

    def sections(self, stats: dict, current: dict[str, dict[str, str]]) -> dict[str, dict]:
        out = {}
        for kind in KINDS:
            rows = self._group_rows(kind, stats, current.get(kind, {}))
            out[kind] = {"id": kind, **_page(rows, self.view.pages.get(kind, 0), self.view.sort, self.view.desc)}
        return out

    def summary(self, current: dict[str, dict[str, str]]) -> dict:
        total = stale = stale_bytes = n = 0
        for (kind, group, version) in self.scan.versions:
            count, size, _ = self.scan.aggregate((kind, group, version))
            total += size
            n += count
            if current.get(kind, {}).get(group) != version:
                stale += 1
                stale_bytes += size
        return {"location": self.scan.location, "entries": n, "bytes": total, "size": human_size(total),
                "stale_versions": stale, "stale_bytes": stale_bytes, "stale_size": human_size(stale_bytes)}


# ----------------------------------------------------------------------------- clearing
class Cleared(NamedTuple):
    """What a clear removed, for the panel's status line and for tests."""

    message: str
    entries: int
    bytes: int


def _stale_versions(store: Any, current: dict[str, dict[str, str]]) -> list[tuple[str, str, str]]:
    return [(kind, group, version) for kind in KINDS for group in store.groups(kind)
            for version in store.versions(kind, group)
            if current.get(kind, {}).get(group) != version]


def _measure(store: Any, kind: str, group: str | None = None, version: str | None = None) -> tuple[int, int]:
    infos = store.entries(kind, group, version)
    return len(infos), sum(int(i.size or 0) for i in infos)


def clear_target(store: Any, rid: str, current: dict[str, dict[str, str]]) -> Cleared:
    """Delete exactly what row ``rid`` stands for, resolving it against the store itself.

    The id is never turned into a path here: it is matched against the store's own
    listing, so an id that names nothing (or tries ``..``) deletes nothing.
    """
    target = parse_row_id(rid)
    if target.kind == "jobs":
        raise ValueError(f"{rid!r} is a job, not cached data: use Panel.cancel({rid!r}) to stop it.")
    if target.kind == "all":
        n, size = (sum(x) for x in zip(*(_measure(store, k) for k in KINDS), strict=True))
        store.clear()
        return Cleared(f"Cleared the whole cache ({n} entries, {human_size(size)}).", n, size)
    if target.kind == "stale":
        n = size = 0
        stale = _stale_versions(store, current)
        for kind, group, version in stale:
            dn, ds = _measure(store, kind, group, version)
            store.delete_version(kind, group, version)
            n, size = n + dn, size + ds
        return Cleared(f"Cleared {len(stale)} stale version(s) ({n} entries, {human_size(size)}).", n, size)
    kind, group, version, key = target
    gone = Cleared(f"Nothing to clear: {rid!r} is no longer in the cache (refreshed).", 0, 0)
    if group not in store.groups(kind) or (version and version not in store.versions(kind, group)):
        return gone
    if key is not None:
        match = [i for i in store.entries(kind, group, version) if i.ref.key == key]
        if not match:
            return gone
        store.delete(match[0].ref)
        size = int(match[0].size or 0)
        return Cleared(f"Cleared entry {_args_text(match[0]) or key[:12]} of {group} ({human_size(size)}).", 1, size)
    n, size = _measure(store, kind, group, version)
    if version is not None:
        store.delete_version(kind, group, version)
        what = f"version {version[:12]} of {group}"
    else:
        store.delete_group(kind, group)
        what = group
    return Cleared(f"Cleared {what} ({n} entries, {human_size(size)}).", n, size)


# ----------------------------------------------------------------------------- jobs
@dataclass
class Job:
    """One Parallel / %pmap call as the panel knows it from its events."""

    id: str
    func: str = ""
    backend: str = ""
    n_jobs: int | None = None
    total: int | None = None
    done: int = 0
    errors: int = 0
    status: str = "running"
    background: bool = False
    started: float = field(default_factory=time.time)
    elapsed: float | None = None  # final, from job.end

    def row(self, now: float) -> dict:
        elapsed = self.elapsed if self.elapsed is not None else max(0.0, now - self.started)
        rate = self.done / elapsed if elapsed > 0 and self.done else None
        eta = None
        if self.status == "running" and rate and self.total is not None:
            eta = max(0, self.total - self.done) / rate
        return {"id": row_id("jobs", self.id), "type": "job", "job": self.id, "label": self.func,
                "backend": self.backend, "n_jobs": self.n_jobs, "total": self.total, "done": self.done,
                "errors": self.errors, "status": self.status, "background": self.background,
                "cancellable": self.background and self.status == "running",
                "started": self.started, "elapsed": elapsed, "elapsed_text": human_duration(elapsed),
                "rate": rate, "rate_text": f"{rate:,.0f}/s" if rate and rate >= 10 else (f"{rate:.1f}/s" if rate else ""),
                "eta": eta, "eta_text": human_duration(eta) if eta is not None else ""}


class JobTracker:
    """Running and recent jobs, fed by ``job.*`` events (which may come from any thread)."""

    def __init__(self, keep: int = 10) -> None:
        self.keep = keep
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def handle(self, name: str, data: dict, when: float | None = None) -> bool:
        """Apply one event; returns False for events that are not about a job of this process."""
        if not name.startswith("job.") or data.get("remote") or data.get("id") is None:
            return False
        jid = str(data["id"])
        with self._lock:
            job = self._jobs.get(jid)
            if job is None:
                job = self._jobs[jid] = Job(jid, started=when or time.time())
            if name == "job.start":
                job.func, job.backend = str(data.get("func") or ""), str(data.get("backend") or "")
                job.n_jobs, job.background = data.get("n_jobs"), bool(data.get("background"))
            for attr in ("total", "done", "errors"):
                if data.get(attr) is not None:
                    setattr(job, attr, data[attr])
            if name == "job.end":
                job.status = str(data.get("status") or "done")
                if job.total is None and job.status == "done":
                    job.total = job.done  # an iterator of unknown length: now it is known
                job.elapsed = float(data.get("elapsed") or max(0.0, (when or time.time()) - job.started))
                self._forget_old()
        return True

    def _forget_old(self) -> None:
        finished = sorted((j for j in self._jobs.values() if j.status != "running"),
                          key=lambda j: j.started, reverse=True)
        for job in finished[self.keep:]:
            del self._jobs[job.id]

    def rows(self, now: float | None = None) -> list[dict]:
        now = time.time() if now is None else now
        with self._lock:
            jobs = list(self._jobs.values())
        jobs.sort(key=lambda j: (j.status == "running", j.started), reverse=True)
        return [j.row(now) for j in jobs]


# ----------------------------------------------------------------------------- throttling
class Coalescer:
    """Runs ``flush`` at most once per ``interval`` seconds, however often it is poked.

    ``poke`` is on the engine's hot path (one call per event), so when a flush is already
    scheduled it returns after reading one attribute. The flush runs on a timer thread; a
    poke that arrives while a flush runs schedules the next one, so no update is lost.
    """

    def __init__(self, flush: Callable[[], None], interval: float = 0.1,
                 timer: Callable[..., Any] = threading.Timer, clock: Callable[[], float] = time.monotonic) -> None:
        self._flush, self.interval, self._timer_factory, self._clock = flush, interval, timer, clock
        self._lock = threading.Lock()
        self._run_lock = threading.Lock()  # flushes never overlap, even when one is slow
        self._pending = False
        self._closed = False
        self._last = float("-inf")
        self._timer: Any = None
        self.flushes = 0

    def poke(self) -> None:
        if self._pending or self._closed:
            return
        with self._lock:
            if self._pending or self._closed:
                return
            self._pending = True
            delay = max(0.0, self._last + self.interval - self._clock())
            self._timer = self._timer_factory(delay, self._run)
            self._timer.daemon = True
            self._timer.start()

    def _run(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._pending = False
            self._last = self._clock()
        with self._run_lock:
            self.flushes += 1
            self._flush()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()


# ----------------------------------------------------------------------------- text
_CACHE_COLS = (("", 0), ("entries", 8), ("size", 10), ("hits", 7), ("misses", 8), ("saved", 10), ("last used", 13))


def _cache_line(indent: str, row: dict, width: int, now: float) -> str:
    label = indent + row["label"] + (f" ({row['state']})" if row.get("state") else "")
    if len(label) > width:
        label = label[: width - 1] + "…"
    cells = [str(row["entries"]), row["size"], str(row.get("hits", "")), str(row.get("misses", "")),
             row.get("saved", ""), human_age(row.get("last_used"), now)]
    return label.ljust(width) + "".join(c.rjust(w) for c, (_, w) in zip(cells, _CACHE_COLS[1:], strict=True))


def _section_lines(title: str, section: dict, now: float, width: int = 44) -> list[str]:
    head = title.ljust(width) + "".join(n.rjust(w) for n, w in _CACHE_COLS[1:])
    lines = [head]
    for row in section["rows"]:
        lines.append(_cache_line("  ", row, width, now))
        for vrow in row.get("children", {}).get("rows", ()):
            lines.append(_cache_line("    ", vrow, width, now))
            lines += [_cache_line("      ", e, width, now) for e in vrow.get("children", {}).get("rows", ())]
    if not section["rows"]:
        lines.append("  (none)")
    elif section["total"] > len(section["rows"]):
        lines.append(f"  … {section['total'] - len(section['rows'])} more (page {section['page'] + 1}/{section['pages']})")
    return lines


def _job_lines(jobs: list[dict]) -> list[str]:
    cols = (("Jobs", 28), ("backend", 12), ("n_jobs", 7), ("done/total", 16), ("errors", 7),
            ("elapsed", 11), ("rate", 10), ("ETA", 11), ("status", 11))
    lines = [cols[0][0].ljust(cols[0][1]) + "".join(n.rjust(w) for n, w in cols[1:])]
    for j in jobs:
        label = ("  " + (j["label"] or j["job"]))[: cols[0][1] - 1].ljust(cols[0][1])
        total = "?" if j["total"] is None else str(j["total"])
        cells = [j["backend"], str(j["n_jobs"] or ""), f"{j['done']}/{total}", str(j["errors"]),
                 j["elapsed_text"], j["rate_text"], j["eta_text"], j["status"]]
        lines.append(label + "".join(c.rjust(w) for c, (_, w) in zip(cells, cols[1:], strict=True)))
    if not jobs:
        lines.append("  (none)")
    return lines


def text_table(summary: dict, sections: dict, jobs: list[dict], now: float | None = None) -> str:
    """The panel as plain text: what terminals and ``nbconvert`` show instead of the widget."""
    now = time.time() if now is None else now
    head = (f"jlcache panel: {summary.get('location') or '(no cache)'}: {summary['entries']} entries, "
            f"{summary['size']}")
    if summary.get("stale_versions"):
        head += f" (stale: {summary['stale_versions']} version(s), {summary['stale_size']})"
    lines = [head, ""]
    lines += _section_lines("Functions", sections["functions"], now)
    lines += ["", *_section_lines("Cells", sections["cells"], now), "", *_job_lines(jobs)]
    return "\n".join(line.rstrip() for line in lines)
