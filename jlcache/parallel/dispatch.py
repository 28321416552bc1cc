"""One ``Parallel`` call in motion: batches out, results back, in order, with events.

::

    user iterable --take--> batch (wire.Taken) --[cache plan]--> payload --submit--> backend
          ^                                                                              |
          |  refill up to `window` batches in flight            future.add_done_callback |
          +---- _completed() <-- SimpleQueue of finished batches <-----------------------+
                     |  replay worker events, store cache misses, record durations,
                     v  publish job.progress (throttled), raise the first failure
             ordered / unordered results

The driver runs in the consumer's thread and never sleeps: it blocks on the queue (with a
deadline when ``timeout`` is set), which a KeyboardInterrupt interrupts. Any abnormal end -
task error, Ctrl-C, timeout, a closed generator, ``cancel()`` - cancels queued batches and,
when some are still running, asks the backend to ``abort`` (kill its workers).
"""

from __future__ import annotations

import pickle
import queue
import time
from collections import deque
from operator import length_hint
from typing import Any

from jlcache import events
from jlcache.errors import TaskTimeoutError
from jlcache.parallel.cached import Handoff, memorized, plan_batch, run_handed_off, store_partial
from jlcache.parallel.describe import (
    describe_func,
    describe_task,
    timeout_consequence,
    unpicklable_error,
    unpicklable_result_note,
)
from jlcache.parallel.interrupts import get_interruptibly
from jlcache.parallel.sharing import dumps
from jlcache.parallel.tasks import RemoteTraceback, TaskFailure, run_pickled
from jlcache.parallel.tracebacks import remote_traceback, without_jlcache_frames
from jlcache.parallel.wire import Taken, check_task, compact, take, to_tasks

__all__ = ["JobCancelled", "Run"]

PROGRESS_EVERY = 0.2
_RETRIED: Any = object()  # _collect's answer when the batch was resubmitted to a fresh pool
ERROR_GRACE = 0.25  # seconds running batches may take to finish after a task error
_WAKE = object()
# what a worker raises when it cannot pickle a batch's results to send them back
_PICKLING_ERRORS = (pickle.PicklingError, TypeError, AttributeError, RecursionError)


class JobCancelled(Exception):
    """Internal: ``cancel()`` was called (a background job, the panel's cancel button)."""


class _Batch:
    """One batch in flight: its tasks (``Taken``: no task tuples kept in the common case),
    the cache plan, and ``sent``, the wire form of the tasks that went to a worker."""

    __slots__ = ("future", "idx", "n_sent", "plan", "sent", "start", "submitted", "tasks")

    def __init__(self, idx: int, start: int, tasks: Taken, plan: Any, sent: Any,
                 n_sent: int) -> None:
        self.idx, self.start, self.tasks, self.plan, self.sent = idx, start, tasks, plan, sent
        self.n_sent = n_sent
        self.future: Any = None
        self.submitted = 0.0


class Run:
    """Drives one call; ``start()`` dispatches the first batches, ``completed()`` the rest."""

    def __init__(self, *, backend: Any, n_jobs: int, iterable: Any, batcher: Any, window: int,
                 timeout: float | None, sharer: Any, job: dict, reporters: list) -> None:
        self.backend, self.n_jobs, self.batcher = backend, n_jobs, batcher
        self.window, self.timeout, self.sharer = window, timeout, sharer
        self.job, self.reporters = job, reporters
        self._sized = hasattr(iterable, "__len__")
        # an iterator's length_hint is only shown (job events, progress bars), never trusted
        # for batching: a wrong hint must not change which tasks run
        self.total: int | None = len(iterable) if self._sized else _hint(iterable)
        self._it = iter(iterable)
        self._in_process = backend.uses_threads
        self._thread_worker = backend.uses_threads and backend.name != "sequential"
        self._q: queue.SimpleQueue = queue.SimpleQueue()
        self._inflight: dict[int, _Batch] = {}
        self._ready: deque[_Batch] = deque()
        self._stop = [False]
        self._handoff: Handoff | None = None  # an in-process batch submitted, not yet tracked
        self._replace_workers = False  # set when a worker may be unfit for the next tasks
        self._retried = False          # a pool found broken before any result: retried once
        self._cancel_requested = False
        self._exhausted = False
        self._n_batches = self._n_tasks = 0
        self.done = self.errors = 0
        self.status: str | None = None
        self._announced = False
        self._t0 = time.monotonic()
        self._last_progress = self._t0

    # --- public --------------------------------------------------------------------------
    def start(self) -> None:
        """Publish ``job.start`` (naming the function of the first task) and dispatch."""
        try:
            first = self._take()
            task = first.task(0) if first is not None else None
            if task is not None and not self.job["func"] and isinstance(task, tuple) and task:
                self.job["func"] = describe_func(task[0])
            self._announce()
            if first is not None:
                self._dispatch(first)
            self._fill()
        except BaseException as exc:
            self.finish(_status_of(exc))
            raise

    def _announce(self) -> None:
        if not self._announced:
            self._announced = True
            events.publish("job.start", **self.job, total=self.total, n_jobs=self.n_jobs)

    def cancel(self) -> None:
        """Ask the driver (possibly blocked in another thread) to stop."""
        self._cancel_requested = True
        self._stop[0] = True
        self._q.put(_WAKE)

    def completed(self) -> Any:
        """Yield ``(batch index, results)`` as batches finish; cleans up however it ends."""
        __tracebackhide__ = True  # IPython: the task's frames explain its error
        status, grace = "error", None
        try:
            while self._inflight or self._ready:
                batch = self._next_done()
                results = self._collect(batch)
                if results is _RETRIED:
                    continue
                # break the cycle batch -> future -> done callback -> batch: the batch's
                # tasks are then freed now, not at the garbage collector's next full pass
                batch.future = batch.sent = None
                self._fill()  # keep workers busy while the consumer handles these results
                yield batch.idx, results
            status = "done"
        except GeneratorExit:  # the consumer stopped early (break): keep the pool warm if it can
            status, grace = "cancelled", ERROR_GRACE
            raise
        except BaseException as exc:
            status = _status_of(exc)
            raise
        finally:
            self.finish(status, grace)

    def finish(self, status: str, grace: float | None = None) -> None:
        if self.status is not None:
            return
        self.status = status
        self._announce()
        try:
            if status != "done":
                if grace is None:
                    grace = ERROR_GRACE if status == "error" else 0.0
                self._stop_everything(grace)
        finally:
            try:
                self.backend_release(status)
            finally:
                elapsed = time.monotonic() - self._t0
                try:  # a subscriber may raise (a Ctrl-C landing in it): job.end still goes out
                    self._report(final=True)
                    for reporter in self.reporters:
                        try:
                            reporter.close(status, self.done, self.total, self.errors)
                        except Exception:
                            pass
                finally:
                    events.publish("job.end", id=self.job["id"], status=status,
                                   elapsed=elapsed, done=self.done, errors=self.errors)

    # set by Parallel: stop or keep the pool, remove shared arrays (given the run's status)
    backend_release: Any = staticmethod(lambda status: None)

    # --- dispatch ------------------------------------------------------------------------
    def _take(self) -> Taken | None:
        if self._exhausted:
            return None
        remaining = self.total - self._n_tasks if self._sized and self.total is not None else None
        tasks = take(self._it, self.batcher.next_size(remaining, self.n_jobs))
        if tasks is None:
            self._exhausted = True
            if not self._sized:
                self.total = self._n_tasks  # the hint was a guess; now the count is known
        return tasks

    def _fill(self) -> None:
        while not self._exhausted and len(self._inflight) < self.window:
            if self._cancel_requested:
                raise JobCancelled("the job was cancelled")
            if self._stop[0]:  # an in-process batch was interrupted: collect it, start no more
                return
            t0 = time.perf_counter()
            tasks = self._take()
            if tasks is not None:
                self._dispatch(tasks)
                self.batcher.record_parent(len(tasks), time.perf_counter() - t0)

    def _plan(self, tasks: Taken) -> tuple[Any, Any, int]:
        """``(cache plan, wire form of the tasks to send, how many)``."""
        check_task(tasks.task(0), self._n_tasks)  # the classic mistake makes every task bad
        columns = not self._in_process
        if tasks.tasks is None and not memorized(tasks.func):
            return None, tasks.wire(columns), len(tasks)
        listed = tasks.as_tasks()
        if tasks.tasks is not None:  # a mixed batch (rare): name a bad task before it runs
            for i, task in enumerate(listed):
                check_task(task, self._n_tasks + i)
        plan, sent = plan_batch(listed)
        return plan, compact(sent, columns), len(sent)

    def _dispatch(self, tasks: Taken) -> None:
        plan, sent, n_sent = self._plan(tasks)
        batch = _Batch(self._n_batches, self._n_tasks, tasks, plan, sent, n_sent)
        self._n_batches += 1
        self._n_tasks += len(tasks)
        if not n_sent:
            self._ready.append(batch)  # every task was a cache hit
            return
        timed = plan is not None
        if self._in_process:
            handoff = self._handoff = Handoff(plan) if plan is not None else None
            fut = self.backend.submit(run_handed_off, handoff, sent, self._stop, timed,
                                      self._thread_worker)
            self._track(batch, fut)
            self._handoff = None
            return
        try:
            payload = dumps(sent, self.sharer)
        except Exception as exc:
            raise unpicklable_error(to_tasks(sent), batch.start, exc) from exc
        self._track(batch, self.backend.submit(run_pickled, payload, timed))

    def _track(self, batch: _Batch, fut: Any) -> None:
        batch.future = fut
        batch.submitted = time.monotonic()
        self._inflight[batch.idx] = batch
        put = self._q.put
        fut.add_done_callback(lambda f, b=batch: put(b) if b.future is f else None)

    def _retry_on_fresh_pool(self, batch: _Batch) -> bool:
        """Resubmit everything once if the pool broke before any task of this call returned.

        Such a pool was most likely broken before the call (a warm worker killed while idle,
        e.g. by the out-of-memory killer), not by one of its tasks; a task that really
        crashes its worker crashes the fresh pool too and is reported then.
        """
        if self._retried or self.done or self._in_process:
            return False
        self._retried = True
        batches = sorted([batch, *self._inflight.values()], key=lambda b: b.idx)
        self.backend.start(self.n_jobs)            # replaces the broken pool
        for b in batches:
            self._track(b, self.backend.submit(run_pickled, dumps(b.sent, self.sharer),
                                               b.plan is not None))
        return True

    # --- collect -------------------------------------------------------------------------
    def _next_done(self) -> _Batch:
        if self._ready:
            return self._ready.popleft()
        wait = None
        if self.timeout is not None and self._inflight:
            oldest = min(self._inflight.values(), key=lambda b: b.submitted)
            wait = max(oldest.submitted + self.timeout - time.monotonic(), 0.0)
        try:
            item = get_interruptibly(self._q, wait)
        except queue.Empty:
            raise self._timeout_error() from None
        if item is _WAKE:
            raise JobCancelled("the job was cancelled")
        if not isinstance(item, _Batch):  # pragma: no cover - only batches and _WAKE are queued
            raise TypeError(f"unexpected item in the completion queue: {item!r}")
        if self._inflight.get(item.idx) is not item or not item.future.done():
            return self._next_done()   # a resubmitted batch's stale notification
        del self._inflight[item.idx]
        return item

    def _timeout_error(self) -> TaskTimeoutError:
        oldest = min(self._inflight.values(), key=lambda b: b.submitted)
        what = describe_task(oldest.tasks.task(0))
        span = f"task #{oldest.start}" if len(oldest.tasks) == 1 else \
            f"tasks #{oldest.start}-#{oldest.start + len(oldest.tasks) - 1}"
        return TaskTimeoutError(
            f"{span} ({what}) did not finish within timeout={self.timeout}s. "
            + timeout_consequence(self._in_process))

    def _collect(self, batch: _Batch) -> list:
        __tracebackhide__ = True  # IPython: the task's frames explain its error
        if batch.future is None:
            results = batch.plan.merge([])
        else:
            try:
                out = batch.future.result()
            except BaseException as exc:
                crash = self.backend.crash_error(exc)
                if crash is not None:
                    if self._retry_on_fresh_pool(batch):
                        return _RETRIED
                    raise crash from exc
                if not self._in_process and isinstance(exc, _PICKLING_ERRORS):
                    self._note_unpicklable_result(batch, exc)
                raise
            if type(out) is TaskFailure:
                self._raise_failure(batch, out)
            results, duration, durations, worker_events = out
            if worker_events:
                events.replay(worker_events)
            self.batcher.record(batch.n_sent, duration)
            if batch.plan is not None:
                results = batch.plan.merge(batch.plan.store(results, durations))
        self.done += len(batch.tasks)
        self._report()
        return results

    def _note_unpicklable_result(self, batch: _Batch, exc: BaseException) -> None:
        """A process batch failed outside its tasks (they return a ``TaskFailure``): the
        worker could not pickle the results back. Say which task, as for a task's error."""
        note = unpicklable_result_note(batch.tasks.as_tasks(), batch.start, self.backend.name)
        if hasattr(exc, "add_note") and note not in getattr(exc, "__notes__", ()):
            exc.add_note(note)

    def _raise_failure(self, batch: _Batch, failure: TaskFailure) -> None:
        __tracebackhide__ = True  # IPython shows the task's frames, not this one
        exc = failure.exc
        interrupted = isinstance(exc, KeyboardInterrupt)
        self.errors += not interrupted
        if failure.events:
            events.replay(failure.events)
        position = failure.position
        if batch.plan is not None:
            batch.plan.store(failure.results, failure.durations)
            position = batch.plan.position(position)
        if interrupted:
            raise exc  # Ctrl-C: the finished results are stored; stop without decorating it
        if isinstance(exc, MemoryError) and not self._in_process:
            # a worker at its memory limit (ulimit, cgroup) fails whatever it runs next,
            # even unpickling the next task: start the next call with fresh workers
            self._replace_workers = True
        if failure.tb:
            exc.__cause__ = RemoteTraceback(f"\n\"\"\"\n{failure.tb}\"\"\"")
            exc.__traceback__ = remote_traceback(failure.frames)
        else:  # raised in this process: the user's frames are real, jlcache's are noise
            exc.__traceback__ = without_jlcache_frames(exc.__traceback__)
        raise self._noted(exc, batch.start + position, batch.tasks.task(position))

    def _noted(self, exc: BaseException, index: int, task: Any) -> BaseException:
        """``exc`` with a note naming the task that raised it (once)."""
        note = (f"jlcache: raised by task #{index} ({describe_task(task)}) "
                f"on the {self.backend.name!r} backend")
        if hasattr(exc, "add_note") and note not in getattr(exc, "__notes__", ()):
            exc.add_note(note)
        return exc

    def _report(self, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self._last_progress < PROGRESS_EVERY:
            return
        self._last_progress = now
        events.publish("job.progress", id=self.job["id"], done=self.done, total=self.total,
                       errors=self.errors)
        for reporter in self.reporters:
            try:
                reporter.update(self.done, self.total, self.errors)
            except Exception:
                pass

    # --- abnormal end --------------------------------------------------------------------
    def _stop_everything(self, grace: float) -> None:
        """Cancel queued batches; kill running ones unless they finish within ``grace``.

        A task error and a generator the consumer stopped reading get a short grace so the
        pool usually stays warm for the next call; Ctrl-C and ``cancel()`` get none.
        """
        self._stop[0] = True
        if self._handoff is not None:  # interrupted between submit and _track
            self._handoff.abandon()
            self._handoff = None
        running = [b.future for b in self._inflight.values()
                   if not b.future.cancel() and not b.future.done()]
        if self._in_process:  # threads cannot be killed: they stop after their current task
            for b in self._inflight.values():
                if b.plan is not None and not b.future.cancelled():
                    b.future.add_done_callback(lambda f, plan=b.plan: _store_partial(f, plan))
        self._inflight.clear()
        self._ready.clear()
        if running and grace > 0:
            from concurrent.futures import wait

            running = list(wait(running, timeout=grace).not_done)
        # an in-process backend cannot stop a running task, but its abort() hands the next
        # call fresh threads instead of ones busy with abandoned tasks
        if (running or self._replace_workers) and (self.backend.supports_cancel
                                                    or self._in_process):
            self.backend.abort()


def _hint(iterable: Any) -> int | None:
    try:
        return length_hint(iterable) or None
    except Exception:  # a broken __length_hint__ only costs the display of the total
        return None


def _store_partial(future: Any, plan: Any) -> None:
    """Store what a stopped in-process batch finished, once its future has its result."""
    try:
        out = future.result()
    except BaseException:  # best effort: the call has already ended
        return
    store_partial(out, plan)


def _status_of(exc: BaseException) -> str:
    if isinstance(exc, (KeyboardInterrupt, GeneratorExit, JobCancelled)):
        return "cancelled"
    return "error"
