"""Threads in this process (``"threading"``; also picked by ``prefer="threads"`` and
``require="sharedmem"``).

Good for tasks that release the GIL (numpy, I/O) and for tasks that must share memory with
the caller. One thread pool per size is kept for the process and reused across calls:
starting threads is cheap, but not free on every call of a tight loop.

A running thread cannot be stopped. When a call ends while some of its tasks still run (a
timeout, an error, a dropped generator), its pool is *retired*: the next call gets a fresh
pool instead of queueing behind the abandoned tasks, and the retired threads exit once their
task returns. The threads are daemon threads, so an abandoned task that never returns does
not keep the interpreter from exiting (``concurrent.futures`` joins its threads at exit).
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from jlcache.parallel.backends.base import ParallelBackendBase

__all__ = ["ThreadingBackend"]

_lock = threading.Lock()
_pools: dict[int, _DaemonPool] = {}


class _DaemonPool:
    """A minimal ``submit``-only thread pool of daemon threads that can be retired."""

    def __init__(self, n_workers: int) -> None:
        self.n_workers = n_workers
        self.retired = False
        self.pid = os.getpid()
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future | None:
        """Queue ``fn(*args)``; None once retired (the caller then uses a fresh pool)."""
        future: Future = Future()
        with self._lock:
            if self.retired:
                return None
            self._queue.put((future, fn, args))
            if len(self._threads) < self.n_workers:
                thread = threading.Thread(target=self._work, daemon=True,
                                          name=f"jlcache-worker-{len(self._threads)}")
                thread.start()
                self._threads.append(thread)
        return future

    def _work(self) -> None:
        get = self._queue.get
        while True:
            item = get()
            if item is None:  # retired: exit after the work queued before retirement
                return
            future, fn, args = item
            del item
            if future.set_running_or_notify_cancel():
                try:
                    result = fn(*args)
                except BaseException as exc:
                    future.set_exception(exc)
                else:
                    future.set_result(result)
            del future, fn, args

    def retire(self) -> None:
        """Let every thread exit once it reaches the end of the queue (or its current task)."""
        with self._lock:
            if self.retired:
                return
            self.retired = True
            for _ in self._threads:
                self._queue.put(None)


def _shared_pool(n_jobs: int) -> _DaemonPool:
    with _lock:
        pool = _pools.get(n_jobs)
        if pool is None or pool.retired or pool.pid != os.getpid():
            pool = _pools[n_jobs] = _DaemonPool(n_jobs)
        return pool


def _retire(pool: _DaemonPool) -> None:
    with _lock:
        if _pools.get(pool.n_workers) is pool:
            del _pools[pool.n_workers]
    pool.retire()


def _forget_pools_in_child() -> None:
    """A forked child inherits the pools but not their threads (nor a free lock): forget
    both, or a nested ``Parallel`` in a ``multiprocessing`` worker waits forever on a
    pool whose threads do not exist."""
    global _lock
    _lock = threading.Lock()
    _pools.clear()


os.register_at_fork(after_in_child=_forget_pools_in_child)


class ThreadingBackend(ParallelBackendBase):
    """A reusable pool of daemon threads; running tasks cannot be killed, only abandoned.

    ``abort`` relies on the engine's stop flag (checked between tasks of a batch) and retires
    the pool: a task that is already running finishes in the background, and the next call
    starts on fresh threads.
    """

    name = "threading"
    uses_threads = True
    supports_sharedmem = True
    supports_timeout = True
    # a batch costs a thread ~20 µs: 4,096 tiny tasks make that ~5 ns each, and the caller
    # then holds a few thousand tasks' arguments rather than ~100k (issue 14, memory)
    max_batch = 4096

    def start(self, n_jobs: int) -> int:
        pool = getattr(self, "_pool", None)
        if pool is None or pool.retired or pool.n_workers != n_jobs or pool.pid != os.getpid():
            self._pool = _shared_pool(n_jobs)
        return n_jobs

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        future = self._pool.submit(fn, *args)
        while future is None:  # another call sharing the pool retired it meanwhile
            self._pool = _shared_pool(self._pool.n_workers)
            future = self._pool.submit(fn, *args)
        return future

    def abort(self) -> None:
        """Some tasks are still running: leave them their threads, use fresh ones next."""
        pool = getattr(self, "_pool", None)
        if pool is not None:
            _retire(pool)
