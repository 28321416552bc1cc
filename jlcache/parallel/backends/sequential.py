"""Run every task in the calling thread, one after the other (``n_jobs=1`` or ``"sequential"``)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from jlcache.parallel.backends.base import ParallelBackendBase

__all__ = ["SequentialBackend"]


class SequentialBackend(ParallelBackendBase):
    """No workers: ``submit`` runs the batch right away and returns a finished future.

    Useful for debugging (real tracebacks, ``pdb`` works) and as the nested fallback.
    """

    name = "sequential"
    uses_threads = True
    supports_sharedmem = True
    default_window = 1
    inline = True  # Parallel runs the tasks itself (jlcache.parallel.inline); submit is for others

    def effective_n_jobs(self, n_jobs: int) -> int:
        return 1

    def start(self, n_jobs: int) -> int:
        return 1

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        future: Future = Future()
        future.set_running_or_notify_cancel()
        try:
            future.set_result(fn(*args))
        except Exception as exc:  # KeyboardInterrupt propagates to the caller directly
            future.set_exception(exc)
        return future

    def nested_backend(self) -> ParallelBackendBase:
        return SequentialBackend(nesting_level=self.nesting_level + 1)
