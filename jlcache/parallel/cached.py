"""Cache-aware dispatch: hits never leave the parent, misses are stored as they come back.

For a batch whose tasks call a ``MemorizedFunc`` (``_jlcache_memorized``), the parent looks
up every task (``_lookup``), sends only the misses - calling the plain ``.func`` in the worker,
so workers need not see the cache directory - and stores each result when its batch returns
(``_store``). Results stored before an error or an interrupt stay stored, so running the
same call again resumes instead of starting over.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any

__all__ = ["CachePlan", "Handoff", "memorized", "plan_batch", "run_handed_off", "store_partial"]

_first = itemgetter(0)


def memorized(func: Any) -> bool:
    return getattr(func, "_jlcache_memorized", False) is True


def _any_memorized(tasks: list) -> bool:
    funcs: Any
    try:
        funcs = set(map(_first, tasks))
    except TypeError:  # unhashable callables: check them one by one
        funcs = [task[0] for task in tasks]
    return any(memorized(f) for f in funcs)


class CachePlan:
    """Which positions of a batch are already known, and how to store the rest."""

    __slots__ = ("n", "sent_positions", "stores", "values")

    def __init__(self, n: int) -> None:
        self.n = n
        self.values: dict[int, Any] = {}          # position -> cached value
        self.sent_positions: list[int] = []       # position of each task sent to a worker
        self.stores: dict[int, tuple] = {}        # index in sent list -> (mfunc, ref, args, kwargs)

    def position(self, sent_index: int) -> int:
        return self.sent_positions[sent_index]

    def store(self, results: list, durations: list | None) -> list:
        """Store the results that came back (all of them, or those before a failure).

        Returns them as a direct call of each cached function returns them: with
        ``mmap_mode``, a stored array comes back as the read-only memmap of the stored file
        (mapped, not copied), so the first run and every later one give the same type.
        """
        out = results
        for i, value in enumerate(results):
            entry = self.stores.get(i)
            if entry is not None:
                mfunc, ref, args, kwargs = entry
                duration = durations[i] if durations and i < len(durations) else 0.0
                stored = mfunc._store(ref, value, duration, args, kwargs)
                if stored and getattr(mfunc, "mmap_mode", None) is not None:
                    if out is results:
                        out = list(results)
                    out[i] = mfunc._reload(ref, value)
        return out

    def merge(self, results: list) -> list:
        out: list = [None] * self.n
        for pos, value in self.values.items():
            out[pos] = value
        for pos, value in zip(self.sent_positions, results, strict=False):
            out[pos] = value
        return out


def plan_batch(tasks: list) -> tuple[CachePlan | None, list]:
    """``(plan, tasks to send)``; ``(None, tasks)`` when no task calls a cached function."""
    if not _any_memorized(tasks):
        return None, tasks
    from jlcache.memory.memory import MISS

    plan = CachePlan(len(tasks))
    send: list = []
    for pos, (func, args, kwargs) in enumerate(tasks):
        if memorized(func):
            ref, value = func._lookup(args, kwargs)
            if value is not MISS:
                plan.values[pos] = value
                continue
            plan.stores[len(send)] = (func, ref, args, kwargs)
            send.append((func.func, args, kwargs))
        else:
            send.append((func, args, kwargs))
        plan.sent_positions.append(pos)
    return plan, send


def store_partial(out: Any, plan: CachePlan) -> None:
    """Store what a stopped in-process batch finished (it ends at a task boundary).

    Runs when the batch returns, possibly after the call has ended: this is what lets a
    ``%pmap --memo`` re-run after Ctrl-C resume from every finished item.
    """
    from jlcache.parallel.tasks import TaskFailure

    try:
        if type(out) is TaskFailure:
            plan.store(out.results, out.durations)
        else:
            plan.store(out[0], out[2])
    except BaseException:  # best effort: the call has already ended
        pass


class Handoff:
    """An in-process batch between ``submit`` and the moment the caller tracks its future.

    A Ctrl-C can land in the caller right after a thread picked the batch up but before the
    caller knows the batch's future (a task that interrupts the main thread itself does
    exactly that). The caller then marks the handoff abandoned, and whichever side comes
    last - the thread finishing the batch, or the caller abandoning it - stores what it
    finished, so an interrupted call still resumes from every finished item.
    """

    __slots__ = ("abandoned", "lock", "out", "plan")

    def __init__(self, plan: CachePlan) -> None:
        import threading

        self.plan, self.out, self.abandoned = plan, None, False
        self.lock = threading.Lock()

    def finished(self, out: Any) -> None:
        with self.lock:
            self.out, abandoned = out, self.abandoned
        if abandoned:
            store_partial(out, self.plan)

    def abandon(self) -> None:
        with self.lock:
            self.abandoned, out = True, self.out
        if out is not None:
            store_partial(out, self.plan)


def run_handed_off(handoff: Handoff | None, *args: Any) -> Any:
    """``run_batch(*args)`` in an in-process worker, reporting to ``handoff`` when it ends."""
    from jlcache.parallel.tasks import run_batch

    out = run_batch(*args)
    if handoff is not None:
        handoff.finished(out)
    return out
