"""Running and recent ``Parallel`` / ``%pmap`` jobs, as the panel learns of them from events.

``job.start`` / ``job.progress`` / ``job.end`` may arrive from any thread (a background
job's driver, a backend's callback thread), so the tracker takes a lock per event and
hands out plain dict rows; it never touches a job object itself.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from jlcache.widget.format import human_duration, human_rate
from jlcache.widget.ids import row_id

__all__ = ["Job", "JobTracker"]


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
    # a finished job's row never changes: built once (each update resends the whole list)
    _row: dict | None = field(default=None, repr=False, compare=False)

    def fraction(self) -> float | None:
        """How far along, when the total is known (``job.start`` carries it for sized inputs)."""
        if self.total:
            return min(1.0, self.done / self.total)
        if self.total == 0 or (self.status == "done" and self.total is None):
            return 1.0
        return None

    def row(self, now: float) -> dict:
        if self._row is not None:
            return dict(self._row)
        row = self._build_row(now)
        if self.status != "running":
            self._row = row
            return dict(row)
        return row

    def _build_row(self, now: float) -> dict:
        elapsed = self.elapsed if self.elapsed is not None else max(0.0, now - self.started)
        rate = self.done / elapsed if elapsed > 0 and self.done else None
        eta = None
        if self.status == "running" and rate and self.total is not None:
            eta = max(0, self.total - self.done) / rate
        return {"id": row_id("jobs", self.id), "type": "job", "job": self.id, "label": self.func,
                "backend": self.backend, "n_jobs": self.n_jobs, "total": self.total, "done": self.done,
                "fraction": self.fraction(), "errors": self.errors, "status": self.status,
                "background": self.background, "cancellable": self.background and self.status == "running",
                "started": self.started, "elapsed": elapsed, "elapsed_text": human_duration(elapsed),
                "rate": rate, "rate_text": human_rate(rate),
                "eta": eta, "eta_text": human_duration(eta) if eta is not None else ""}


class JobTracker:
    """Running and recent jobs, fed by ``job.*`` events (which may come from any thread)."""

    def __init__(self, keep: int = 20) -> None:
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
            job._row = None
            if name == "job.start":
                job.func, job.backend = str(data.get("func") or ""), str(data.get("backend") or "")
                job.n_jobs, job.background = data.get("n_jobs"), bool(data.get("background"))
            for attr in ("total", "done", "errors"):
                if data.get(attr) is not None:  # absent or None: keep what an earlier event said
                    setattr(job, attr, int(data[attr]))
            if name == "job.end":
                self._finish(job, data, when)
        return True

    def seed(self, history: list[dict]) -> None:
        """Start from the engine's session history (``jlcache.parallel.jobs.recent_jobs``), so
        a panel opened after a job still lists it; later events update these rows."""
        for past in history:
            jid = str(past["id"])
            with self._lock:
                if jid in self._jobs:
                    continue
                job = self._jobs[jid] = Job(jid, started=float(past.get("started") or time.time()))
                job.func, job.backend = str(past.get("func") or ""), str(past.get("backend") or "")
                job.n_jobs, job.background = past.get("n_jobs"), bool(past.get("background"))
                job.total, job.done = past.get("total"), int(past.get("done") or 0)
                job.errors = int(past.get("errors") or 0)
                if past.get("status", "running") != "running":
                    self._finish(job, {"status": past["status"], "elapsed": past.get("elapsed")},
                                 job.started + float(past.get("elapsed") or 0.0))

    def _finish(self, job: Job, data: dict, when: float | None) -> None:
        job._row = None
        job.status = str(data.get("status") or "done")
        if job.total is None and job.status == "done":
            job.total = job.done  # an iterator of unknown length: now it is known
        job.elapsed = float(data.get("elapsed") or max(0.0, (when or time.time()) - job.started))
        finished = sorted((j for j in self._jobs.values() if j.status != "running"),
                          key=lambda j: j.started, reverse=True)
        for old in finished[self.keep:]:
            del self._jobs[old.id]

    def rows(self, now: float | None = None) -> list[dict]:
        """Running jobs first, then the most recent; each row is a fresh dict."""
        now = time.time() if now is None else now
        with self._lock:
            jobs = list(self._jobs.values())
            rows = [j.row(now) for j in sorted(jobs, key=lambda j: (j.status == "running", j.started),
                                               reverse=True)]
        return rows
