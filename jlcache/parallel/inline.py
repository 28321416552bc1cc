"""``n_jobs=1``: run each task in the consumer's thread as it is pulled from the iterable.

With no worker to feed there is nothing to batch *for*: building batches of tasks only to
run them at once costs a list, a future and the collector's traversal of every task tuple
held (with 100k tiny tasks that alone doubled the call's time). ``InlineRun`` keeps the
``Run`` contract - ``job.*`` events, throttled progress, ordered chunks for
``return_as="generator"``, errors noted with the task's position, Ctrl-C, ``cancel()`` - but
its loop holds one task at a time: the user's generator, the call, an ``append``.

Chunks (sized by the batcher, as for a worker, up to ``CHUNK``) only set how often it stops
to report progress, look for ``cancel()`` and hand results to a generator's consumer. A task calling a
``Memory``-cached function goes through the same cache plan as on any backend.
"""

from __future__ import annotations

import time
from itertools import chain, islice
from typing import Any

from jlcache.parallel.cached import memorized, plan_batch
from jlcache.parallel.describe import describe_func
from jlcache.parallel.dispatch import ERROR_GRACE, JobCancelled, Run, _status_of
from jlcache.parallel.tracebacks import without_jlcache_frames
from jlcache.parallel.wire import check_task

__all__ = ["InlineRun"]

_END = object()
# the most results held before a generator's consumer gets them (~3 µs of bookkeeping per
# chunk: under 2 ns per task at this size; larger chunks only hold more memory)
CHUNK = 2048


class InlineRun(Run):
    """``Run`` for backends that declare ``inline = True`` (the sequential backend)."""

    def start(self) -> None:
        """Peek at the first task to name the job's function; run nothing yet."""
        try:
            first: Any = next(self._it, _END)
            if first is _END:
                self._exhausted = True
            else:
                check_task(first, 0)  # the classic mistake fails the call, not its consumer
                self._it = chain((first,), self._it)
                if not self.job["func"]:
                    self.job["func"] = describe_func(first[0])
            self._announce()
        except BaseException as exc:
            self.finish(_status_of(exc))
            raise

    def completed(self) -> Any:
        """Yield ``(chunk index, results)`` until the iterable is exhausted."""
        __tracebackhide__ = True  # IPython: the task's frames explain its error
        status, grace = "error", None
        try:
            idx = 0
            while not self._exhausted:
                if self._cancel_requested:
                    raise JobCancelled("the job was cancelled")
                results = self._run_chunk()
                if results:
                    yield idx, results
                    idx += 1
            status = "done"
        except GeneratorExit:
            status, grace = "cancelled", ERROR_GRACE
            raise
        except BaseException as exc:
            status = _status_of(exc)
            raise
        finally:
            self.finish(status, grace)

    def _run_chunk(self) -> list:
        __tracebackhide__ = True
        remaining = self.total - self._n_tasks if self._sized and self.total is not None else None
        size = min(self.batcher.next_size(remaining, 1), CHUNK)
        results: list = []
        append = results.append
        plain = None  # the last function known not to be cached: called directly
        t0 = time.perf_counter()
        for task in islice(self._it, size):
            try:
                func, args, kwargs = task
                if func is not plain:
                    if memorized(func):
                        append(_cached_call(task))
                        continue
                    plain = func
                append(func(*args, **kwargs))
            except BaseException as exc:
                self._fail(exc, task, self._n_tasks + len(results), results)
        n = len(results)
        if n < size:
            self._exhausted = True
            if not self._sized:
                self.total = self._n_tasks + n  # the hint was a guess; now the count is known
        self.batcher.record(n, time.perf_counter() - t0)
        self._n_tasks += n
        self.done += n
        self._report()
        return results

    def _fail(self, exc: BaseException, task: Any, index: int, results: list) -> None:
        """Count, then raise the task's error with its position noted (Ctrl-C as it is)."""
        __tracebackhide__ = True
        self.done += len(results)
        self._n_tasks += len(results)
        if isinstance(exc, KeyboardInterrupt):
            raise exc
        try:
            check_task(task, index)  # not a task at all: say so rather than "cannot unpack"
        except TypeError as bad:
            raise bad from None
        self.errors += 1
        exc.__traceback__ = without_jlcache_frames(exc.__traceback__)
        raise self._noted(exc, index, task)


def _cached_call(task: Any) -> Any:
    """One task of a ``Memory``-cached function: a hit is loaded, a miss computed and stored."""
    plan, sent = plan_batch([task])
    if not sent:
        return plan.merge([])[0]  # type: ignore[union-attr]
    func, args, kwargs = sent[0]
    t0 = time.perf_counter()
    value = func(*args, **kwargs)
    return plan.store([value], [time.perf_counter() - t0])[0]  # type: ignore[union-attr]
