"""Bridged calls that stay on joblib's own driver, reported as jlcache jobs.

A joblib backend jlcache has no twin for (``parallel_config("dask")`` with a client, ray's
joblib backend, a third-party backend, a subclass of a joblib backend) keeps running
exactly as joblib runs it: a user who asks joblib for dask gets joblib's dask. The call is
still a jlcache job: ``job.start`` when it begins, ``job.progress`` each time joblib
records finished tasks (it calls ``Parallel.print_progress`` then; the bridge shadows that
method on this one object, and calls joblib's afterwards so ``verbose`` still prints), and
``job.end`` with the outcome. Ctrl-C is joblib's.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

from jlcache import events

__all__ = ["run_observed"]

_EVERY = 0.2  # seconds between job.progress events, as the engine


class _Job:
    """Publishes one call's job events and drives its progress reporters."""

    def __init__(self, parallel: Any, label: str, total: int | None, progress: bool) -> None:
        from jlcache.parallel.jobs import new_job_id
        from jlcache.parallel.progress import make_reporters

        self.parallel, self.total, self.done = parallel, total, 0
        self.id = new_job_id()
        self.t0 = self.last = time.monotonic()
        self.ended = False
        n_jobs = parallel.n_jobs
        self.reporters = make_reporters(progress, 0, f"Parallel(n_jobs={n_jobs})")
        events.publish("job.start", id=self.id, backend=_backend_label(parallel._backend),
                       func=label, total=total, n_jobs=n_jobs, background=False)

    def progress(self, final: bool = False) -> None:
        parallel = self.parallel
        self.done = int(getattr(parallel, "n_completed_tasks", self.done) or 0)
        if self.total is None and getattr(parallel, "_original_iterator", True) is None \
                and not getattr(parallel, "_iterating", True):
            self.total = int(parallel.n_dispatched_tasks)  # the input is exhausted: now known
        now = time.monotonic()
        if not final and now - self.last < _EVERY:
            return
        self.last = now
        events.publish("job.progress", id=self.id, done=self.done, total=self.total, errors=0)
        for reporter in self.reporters:
            try:
                reporter.update(self.done, self.total, 0)
            except Exception:
                pass

    def end(self, status: str) -> None:
        if self.ended:
            return
        self.ended = True
        self.parallel.__dict__.pop("print_progress", None)
        if status == "done" and self.total is None:
            self.total = self.done
        self.progress(final=True)
        errors = int(status == "error")
        for reporter in self.reporters:
            try:
                reporter.close(status, self.done, self.total, errors)
            except Exception:
                pass
        events.publish("job.end", id=self.id, status=status, elapsed=time.monotonic() - self.t0,
                       done=self.done, errors=errors)


def run_observed(original: Any, parallel: Any, iterable: Any, progress: bool) -> Any:
    """``original(parallel, iterable)`` (joblib's ``__call__``) reported as a jlcache job."""
    label, iterable = _peek_label(iterable)
    total = len(iterable) if hasattr(iterable, "__len__") else None
    job = _Job(parallel, label, total, progress)
    joblib_print_progress = type(parallel).print_progress

    def print_progress() -> None:
        job.progress()
        joblib_print_progress(parallel)

    parallel.print_progress = print_progress  # this object only; removed when the call ends
    try:
        out = original(parallel, iterable)
    except BaseException as exc:
        job.end(_status_of(exc))
        raise
    if parallel.return_as == "list":
        job.done = len(out)
        job.end("done")
        return out
    return _watch(out, job)


def _watch(results: Any, job: _Job) -> Any:
    """joblib's result generator, ending the job when it is exhausted, fails or is closed."""
    status = "error"
    try:
        yield from results
        status = "done"
    except BaseException as exc:
        status = _status_of(exc)
        raise
    finally:
        job.end(status)


def _peek_label(iterable: Any) -> tuple[str, Any]:
    """The first task's function name, and the iterable to run (unchanged when sized)."""
    from jlcache.parallel.describe import describe_func

    if isinstance(iterable, (list, tuple)):
        first = iterable[0] if iterable else None
    elif hasattr(iterable, "__len__"):
        return "", iterable
    else:
        it = iter(iterable)
        first = next(it, None)
        iterable = it if first is None else itertools.chain([first], it)
    try:
        return describe_func(first[0]), iterable  # type: ignore[index]  # None: caught below
    except Exception:
        return "", iterable


def _backend_label(backend: Any) -> str:
    name = type(backend).__name__
    if name == "DaskDistributedBackend":
        return "dask (joblib)"
    return f"{name.removesuffix('Backend').lower() or name} (joblib)"


def _status_of(exc: BaseException) -> str:
    return "cancelled" if isinstance(exc, (KeyboardInterrupt, GeneratorExit)) else "error"
