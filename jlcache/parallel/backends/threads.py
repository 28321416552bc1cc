"""Threads in this process (``"threading"``; also picked by ``prefer="threads"`` and
``require="sharedmem"``).

Good for tasks that release the GIL (numpy, I/O) and for tasks that must share memory with
the caller. One thread pool per size is kept for the process and reused across calls:
starting threads is cheap, but not free on every call of a tight loop.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from jlcache.parallel.backends.base import ParallelBackendBase

__all__ = ["ThreadingBackend"]

_lock = threading.Lock()
_pools: dict[int, ThreadPoolExecutor] = {}


def _shared_pool(n_jobs: int) -> ThreadPoolExecutor:
    with _lock:
        pool = _pools.get(n_jobs)
        if pool is None:
            pool = _pools[n_jobs] = ThreadPoolExecutor(n_jobs, thread_name_prefix="jlcache-worker")
        return pool


class ThreadingBackend(ParallelBackendBase):
    """A reusable ``ThreadPoolExecutor``; running tasks cannot be killed, only skipped.

    ``abort`` relies on the engine's stop flag (checked between tasks of a batch): a task
    that is already running finishes in the background.
    """

    name = "threading"
    uses_threads = True
    supports_sharedmem = True
    supports_timeout = True

    def start(self, n_jobs: int) -> int:
        self._pool = _shared_pool(n_jobs)
        return n_jobs

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        return self._pool.submit(fn, *args)
