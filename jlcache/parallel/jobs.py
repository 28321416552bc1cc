"""Background jobs and the registry the panel uses to find and cancel them.

``Parallel(..., background=True)(tasks)`` returns a ``BackgroundJob`` at once; the call runs
in a daemon thread, so the notebook stays responsive (and the kernel can process a click on
the panel's cancel button, which calls ``cancel_job(job_id)``).
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from concurrent.futures import CancelledError, Future
from typing import Any

__all__ = ["BackgroundJob", "all_jobs", "cancel_job", "get", "new_job_id"]

_ids = itertools.count(1)
_lock = threading.Lock()
_jobs: OrderedDict[str, BackgroundJob] = OrderedDict()
_KEEP_FINISHED = 100


def new_job_id() -> str:
    """Process-unique, short, stable id shared by events, the panel and the registry."""
    return f"job-{next(_ids)}"


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
        return self._future.done()

    def cancelled(self) -> bool:
        return self._cancelled and self._future.done()

    @property
    def progress(self) -> tuple[int, int | None]:
        """``(done, total)``; total is None while the length of the input is unknown."""
        run = self._run
        return (0, None) if run is None else (run.done, run.total)

    @property
    def status(self) -> str:
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
