"""Background jobs and the registry the panel uses to find and cancel them.

``Parallel(..., background=True)(tasks)`` returns a ``BackgroundJob`` at once; the call runs
in a daemon thread, so the notebook stays responsive (and the kernel can process a click on
the panel's cancel button, which calls ``cancel_job(job_id)``).

It also keeps the session's job *history* (``recent_jobs``): every ``Parallel`` / ``%pmap`` /
bridged joblib call of this process, the last ``HISTORY`` finished ones with their outcome
and duration, so a panel or ``%jlcache`` opened after a job still lists it. It is fed by the
job events themselves (through ``stats``' counter hook, which sees every event without
making the bus build ``Event`` objects), so it holds exactly what the events said.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import OrderedDict
from concurrent.futures import CancelledError, Future
from typing import Any

__all__ = ["HISTORY", "BackgroundJob", "all_jobs", "cancel_job", "get", "new_job_id", "recent_jobs"]

_ids = itertools.count(1)
_lock = threading.Lock()
_jobs: OrderedDict[str, BackgroundJob] = OrderedDict()
_KEEP_FINISHED = 100


HISTORY = 20  # finished jobs remembered for the panel and ``%jlcache``
_MAX_RUNNING = 200  # a bound even for jobs whose end was never published
_history: OrderedDict[str, dict[str, Any]] = OrderedDict()
_FIELDS = ("func", "backend", "n_jobs", "total", "done", "errors", "background")


def new_job_id() -> str:
    """Process-unique, short, stable id shared by events, the panel and the registry.

    Every job asks for one before it publishes ``job.start``, so this is where the history
    makes sure it hears the job's events.
    """
    _listen()
    return f"job-{next(_ids)}"


def _listen() -> None:
    from jlcache import stats

    stats.set_job_hook(_record)
    stats.ensure_listening()


def _record(name: str, data: dict[str, Any]) -> None:
    """One ``job.*`` event of this process (worker replays, ``remote``, are not jobs here)."""
    if data.get("remote") or data.get("id") is None:
        return
    jid, now = str(data["id"]), time.time()
    with _lock:
        job = _history.get(jid)
        if job is None:
            job = _history[jid] = {"id": jid, "func": "", "backend": "", "n_jobs": None,
                                   "total": None, "done": 0, "errors": 0, "background": False,
                                   "status": "running", "started": now, "elapsed": None}
        for key in _FIELDS:
            if data.get(key) is not None:  # absent or None: keep what an earlier event said
                job[key] = data[key]
        if name == "job.end":
            job["status"] = str(data.get("status") or "done")
            job["elapsed"] = float(data.get("elapsed") or now - job["started"])
            _trim()


def _trim() -> None:
    finished = [k for k, j in _history.items() if j["status"] != "running"]
    for key in finished[: max(len(finished) - HISTORY, 0)]:
        del _history[key]
    while len(_history) > HISTORY + _MAX_RUNNING:
        _history.popitem(last=False)


def recent_jobs() -> list[dict[str, Any]]:
    """This session's running jobs and its last ``HISTORY`` finished ones, oldest first.

    Each is a fresh dict: ``id, func, backend, n_jobs, total, done, errors, background,
    status`` ("running" | "done" | "error" | "cancelled"), ``started`` (epoch seconds) and
    ``elapsed`` (seconds, once finished, else None).
    """
    with _lock:
        return [dict(job) for job in _history.values()]


class BackgroundJob:
    """Handle on a ``Parallel`` call running in a background thread."""

    def __init__(self, job_id: str, description: str) -> None:
        self.id = job_id
        self.description = description
        self._future: Future = Future()
        self._run: Any = None
        self._cancelled = False
        self._lock = threading.Lock()
        _register(self)

    # called by Parallel --------------------------------------------------------------------
    def _attach(self, run: Any) -> None:
        with self._lock:
            self._run = run
            if self._cancelled:
                run.cancel()

    def _start(self, target: Any) -> None:
        def body() -> None:
            try:
                result = target()
            except BaseException as exc:
                if self._cancelled or type(exc).__name__ == "JobCancelled":
                    if not self._future.cancel():
                        self._set_cancelled()
                else:
                    self._future.set_exception(exc)
            else:
                self._future.set_result(result)

        threading.Thread(target=body, name=f"jlcache-{self.id}", daemon=True).start()

    def _set_cancelled(self) -> None:
        self._future.set_exception(CancelledError(f"{self.id} was cancelled"))

    # public ----------------------------------------------------------------------------------
    def result(self, timeout: float | None = None) -> Any:
        """The list of results; raises the task's error, ``CancelledError`` or ``TimeoutError``."""
        return self._future.result(timeout)

    def cancel(self) -> bool:
        """Stop queued and running work; returns False if the job had already finished."""
        with self._lock:
            if self._future.done():
                return False
            self._cancelled = True
            run = self._run
        if run is not None:
            run.cancel()
        return True

    def done(self) -> bool:
        """Whether the job has finished (with results, an error, or cancelled)."""
        return self._future.done()

    def cancelled(self) -> bool:
        """Whether ``cancel()`` stopped the job (False until the cancellation completed)."""
        return self._cancelled and self._future.done()

    @property
    def progress(self) -> tuple[int, int | None]:
        """``(done, total)``; total is None while the length of the input is unknown."""
        run = self._run
        return (0, None) if run is None else (run.done, run.total)

    @property
    def status(self) -> str:
        """``"running"``, then how it ended: ``"done"``, ``"error"`` or ``"cancelled"``."""
        run = self._run
        if not self._future.done():
            return "running"
        if self._cancelled:
            return "cancelled"
        return run.status if run is not None and run.status else "error"

    def __repr__(self) -> str:
        done, total = self.progress
        return f"<BackgroundJob {self.id} {self.description} {self.status} {done}/{total or '?'}>"


def _register(job: BackgroundJob) -> None:
    with _lock:
        _jobs[job.id] = job
        finished = [k for k, j in _jobs.items() if j.done()]
        for key in finished[: max(len(finished) - _KEEP_FINISHED, 0)]:
            del _jobs[key]


def get(job_id: str) -> BackgroundJob | None:
    """The background job with this id (running or recently finished), or None."""
    with _lock:
        return _jobs.get(job_id)


def all_jobs() -> list[BackgroundJob]:
    with _lock:
        return list(_jobs.values())


def cancel_job(job_id: str) -> bool:
    """Cancel a background job by id (the panel's cancel button); False if unknown or finished."""
    job = get(job_id)
    return False if job is None else job.cancel()
