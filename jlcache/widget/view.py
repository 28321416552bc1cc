"""The jlcache panel: a live anywidget view of the cache and of running jobs.

Thin on purpose: what the rows contain, how clears resolve and how updates are throttled
live in the pure, unit-tested ``panel_*`` modules (``panel_model`` rows, ``panel_clear``,
``panel_jobs``, ``panel_throttle``, ``panel_text``); this module wires them to the event
bus and to the browser.

    engine events --(any thread)--> Panel._on_event: mark dirty, poke the Coalescer
    Coalescer thread (<= 5/s) -----> Panel._flush: count stores, rescan if due, set synced traits
    browser click --model.send()--> Panel._on_msg -> clear / cancel / expand / page / sort

Messages from the front end (``content`` of ``model.send``; typed in ``messages.py``)::

    {"type": "clear",   "id": ROW_ID}           {"type": "cancel", "id": "jobs/<id>"}
    {"type": "expand",  "id": ROW_ID, "open": bool}
    {"type": "page",    "id": ROW_ID | "functions" | "cells", "page": int}
    {"type": "sort",    "key": "last_used" | "size" | "name", "desc": bool}
    {"type": "refresh"}
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anywidget
import traitlets as t

from jlcache import events, stats
from jlcache.errors import JlcacheError
from jlcache.memory import housekeeping
from jlcache.store.base import Store
from jlcache.widget import messages
from jlcache.widget.clear import Cleared, clear_target
from jlcache.widget.ids import KINDS, parse_row_id
from jlcache.widget.jobs import JobTracker
from jlcache.widget.model import SORT_KEYS, PanelState, Scan, scan
from jlcache.widget.text import text_table
from jlcache.widget.throttle import Coalescer

__all__ = ["Panel", "panel"]

_log = logging.getLogger(__name__)
_HERE = Path(__file__).parent
# The ES module and its stylesheet sit next to this file (jlcache/widget/js/).
_JS = _HERE / "js"
SETTLE = 1.0  # seconds without a store before the entries counted from events are rescanned


class Panel(anywidget.AnyWidget):
    """Live view of one ``Memory``'s cache (functions, cells) and of this kernel's jobs.

    ``Panel.clear(row_id)`` is what a clear button does; ``Panel.refresh()`` re-reads the
    store. Close it (``.close()``) to stop listening to the engine.
    """

    _esm = _JS / "panel.js"
    _css = _JS / "panel.css"

    summary = t.Dict().tag(sync=True)
    functions = t.Dict().tag(sync=True)
    cells = t.Dict().tag(sync=True)
    jobs: t.List[dict[str, Any]] = t.List().tag(sync=True)
    view = t.Dict().tag(sync=True)
    status = t.Dict().tag(sync=True)  # {"text", "error", "seq"}: seq makes a repeat visible

    def __init__(self, memory: Any, *, interval: float = 0.2, **kwargs: Any) -> None:
        self._memory = memory
        self._store: Store | None = getattr(memory, "store", None)
        self._state = PanelState()
        self._tracker = JobTracker()
        self._lock = threading.RLock()
        self._dirty_scan = self._dirty_stats = self._dirty_jobs = False
        self._last_scan = float("-inf")
        self._stored: list[tuple] = []  # cache.store events not yet counted in the scan
        self._stored_lock = threading.Lock()
        self._last_store = float("-inf")
        self._settle = False  # entries were counted from events: rescan once stores stop
        self._seq = 0
        super().__init__(**kwargs)
        self._coalescer = Coalescer(self._flush, interval)
        self.on_msg(self._on_msg)
        stats.ensure_listening()
        self._unsubscribe: Callable[[], None] | None = events.subscribe(self._on_event)
        self._seed_jobs()
        self.refresh()
        self._coalescer.start()

    # ------------------------------------------------------------------ public API
    def refresh(self) -> None:
        """Re-read the store and the counters now and update every view."""
        with self._lock:
            self._dirty_scan = self._dirty_stats = self._dirty_jobs = True
            self._flush(force=True)

    def clear(self, row_id: str) -> Cleared:
        """Delete from disk exactly what ``row_id`` shows (an entry, version, function, cell,
        ``"stale"`` or ``"all"``), then refresh. Returns what was removed."""
        if self._store is None:
            raise JlcacheError("This panel's Memory has location=None: there is no cache on disk to clear.")
        with self._lock:
            done = clear_target(self._store, row_id, housekeeping.defined_versions())
        target = parse_row_id(row_id)
        # Other panels (and anyone listening) learn about it like about any other clear.
        events.publish("cache.clear", kind=target.kind if target.kind in KINDS else None,
                       group=target.group, func=target.group, version=target.version, key=target.key)
        self._set_status(done.message)
        self.refresh()
        return done

    def cancel(self, row_id: str) -> bool:
        """Cancel the background job shown in row ``jobs/<id>``; True if it was running."""
        target = parse_row_id(row_id)
        if target.kind != "jobs":
            raise ValueError(f"{row_id!r} is not a job row; job rows look like 'jobs/<id>'.")
        from jlcache.parallel import cancel_job

        ok = bool(target.group and cancel_job(target.group))
        self._set_status(f"Cancelling job {target.group}." if ok else
                         f"Job {target.group} is not running in the background; nothing to cancel.")
        return ok

    def rows(self) -> list[dict]:
        """Every synced row (sections, expanded children, jobs), flattened: handy in tests."""
        out: list[dict] = []

        def walk(section: dict) -> None:
            for row in section.get("rows", ()):
                out.append(row)
                walk(row.get("children", {}))

        walk(self.functions)
        walk(self.cells)
        return out + list(self.jobs)

    def close(self) -> None:
        """Stop listening to the engine and close every view."""
        unsubscribe, self._unsubscribe = getattr(self, "_unsubscribe", None), None
        if unsubscribe is not None:
            unsubscribe()
        if getattr(self, "_coalescer", None) is not None:
            self._coalescer.close()
        super().close()

    # ------------------------------------------------------------------ text views
    def __repr__(self) -> str:
        if getattr(self, "_coalescer", None) is None:  # during construction
            return object.__repr__(self)
        if self._dirty_scan or self._dirty_stats or self._dirty_jobs:
            self._flush(force=True)
        return text_table(self.summary, {"functions": self.functions, "cells": self.cells}, self.jobs)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self))

    # ------------------------------------------------------------------ plumbing
    def _seed_jobs(self) -> None:
        """The session's recent jobs (running or finished before this panel existed) get a
        row, and background ones a cancel button."""
        registry = sys.modules.get("jlcache.parallel.jobs")  # not loaded: no job ever ran
        if registry is None:
            return
        self._tracker.seed(registry.recent_jobs())
        for job in registry.all_jobs():  # in case its events were never recorded
            done, total = job.progress
            self._tracker.seed([{"id": job.id, "func": job.description, "background": True,
                                 "total": total, "done": done, "status": job.status}])

    def _on_event(self, event: events.Event) -> None:
        name = event.name
        if name.startswith("job."):
            if self._tracker.handle(name, event.data, event.time):
                self._dirty_jobs = True
                self._coalescer.poke()
        elif name == "cache.hit":
            self._state.hits.record(event.data, event.time)
            self._dirty_stats = True
            self._coalescer.poke()
        elif name == "cache.miss":
            self._dirty_stats = True
            self._coalescer.poke()
        elif name == "cache.store":
            data = event.data
            with self._stored_lock:
                self._stored.append((data, event.time))
            self._last_store = time.monotonic()
            self._coalescer.poke()
        elif name == "cache.clear":
            self._dirty_scan = True
            self._coalescer.poke()

    def _flush(self, force: bool = False) -> None:
        with self._lock:
            self._count_stored()
            if self._settle and time.monotonic() - self._last_store >= SETTLE:
                self._settle, self._dirty_scan = False, True
            if self._dirty_scan and (force or self._scan_allowed()):
                self._dirty_scan = self._settle = False
                self._state.scan = scan(self._store) if self._store is not None else Scan()
                self._last_scan = time.monotonic()
                self._dirty_stats = True
            with self.hold_sync():  # one message per update, whatever changed
                if self._dirty_stats:
                    self._dirty_stats = False
                    defined = housekeeping.defined_versions()
                    sections = self._state.sections(stats.snapshot(), defined)
                    self.summary = self._state.summary(defined)
                    self.functions, self.cells = sections["functions"], sections["cells"]
                    self.view = self._state.view.as_dict()
                if self._dirty_jobs:
                    self._dirty_jobs = False
                    self.jobs = self._tracker.rows()
            if self._dirty_scan or self._settle:  # a rescan is due later: come back for it
                self._coalescer.poke()

    def _count_stored(self) -> None:
        """Add the entries ``cache.store`` events announced to the last scan: a job storing
        thousands of results then costs no rescan (a directory walk holding the GIL the job
        needs) until its stores stop for ``SETTLE`` seconds; that rescan reads the metadata
        (arguments) the events do not carry."""
        with self._stored_lock:
            stored, self._stored = self._stored, []
        if not stored or self._store is None:
            return
        current, url = self._state.scan, self._store.url
        for data, when in stored:
            location = data.get("location")
            if location is None:  # a publisher that does not say where: read the store
                self._dirty_scan = True
                continue
            kind = str(data.get("kind") or "functions")
            group, version, key = data.get("group") or data.get("func"), data.get("version"), data.get("key")
            if location == url and kind in KINDS and group and version and key:
                nbytes = data.get("bytes")
                current.add((kind, str(group), str(version)), str(key),
                            int(nbytes) if isinstance(nbytes, int | float) else 0, data.get("duration"), when)
                self._dirty_stats = self._settle = True

    def _scan_allowed(self) -> bool:
        """Rescans cost a directory walk (and the GIL a running job needs): keep them under
        ~2% of the time and at most 2/s; clicks force one at once."""
        gap = max(0.5, 50 * self._state.scan.took)
        return time.monotonic() - self._last_scan >= gap

    def _set_status(self, text: str, error: bool = False) -> None:
        self._seq += 1
        status = messages.Status(text=text, error=error, seq=self._seq)
        self.status = dict(status)  # the synced trait holds a plain dict of that shape

    def _on_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        try:
            self._handle(messages.parse(content))
        except Exception as exc:  # a click must never leave a traceback in the kernel log only
            _log.debug("panel message %r failed", content, exc_info=True)
            self._set_status(f"{type(exc).__name__}: {exc}", error=True)

    def _handle(self, msg: messages.Message) -> None:
        view = self._state.view
        if msg["type"] == "clear":
            self.clear(msg["id"])
        elif msg["type"] == "cancel":
            self.cancel(msg["id"])
        elif msg["type"] == "refresh":
            self.refresh()
            self._set_status("Refreshed.")
        else:
            with self._lock:
                if msg["type"] == "expand":
                    (view.expanded.add if msg["open"] else view.expanded.discard)(msg["id"])
                elif msg["type"] == "page":
                    view.pages[msg["id"]] = msg["page"]
                elif msg["type"] == "sort" and msg["key"] in SORT_KEYS:
                    view.sort, view.desc = msg["key"], msg["desc"]
                    view.pages.clear()  # a new order starts at its first page
                else:
                    raise ValueError(f"unknown panel message {msg!r}")
                self._dirty_stats = True
                self._flush(force=True)


def panel(memory: Any = None) -> Panel:
    """The panel for ``memory`` (a ``Memory`` or a cache location), or for the default
    Memory of the IPython extension when none is given."""
    if memory is None:
        memory = _default_memory()
    elif isinstance(memory, (str, os.PathLike)):
        from jlcache.memory.memory import Memory

        memory = Memory(memory)
    return Panel(memory)


def _default_memory() -> Any:
    from jlcache.memory.session import get_memory

    try:
        return get_memory()
    except Exception as exc:  # e.g. the default location is not usable
        raise JlcacheError(
            "jlcache.panel() without an argument shows the session's default cache "
            f"($JLCACHE_DIR, else ./.jlcache), but it could not be opened ({type(exc).__name__}: "
            f"{exc}). Pass a Memory instead: jlcache.panel(Memory('cache-dir'))."
        ) from None
