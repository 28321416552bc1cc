"""Process workers from the standard library (``"multiprocessing"``).

A ``concurrent.futures.ProcessPoolExecutor`` on the platform's default start method (or
``context=`` from the backend parameters: a start method name or a multiprocessing context,
which ``Parallel(backend=multiprocessing.get_context("spawn"))`` passes), created per call and
kept for the duration of a ``with Parallel(...)`` block; ``initializer(*initargs)`` runs once
in each worker. The executor (unlike ``multiprocessing.Pool``) notices a
worker that dies, so a crash becomes an error instead of a hang. Payloads are cloudpickle
bytes made by the engine, so lambdas and notebook functions work here too.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from jlcache.parallel.backends._procs import crash_error, failed_future
from jlcache.parallel.backends._worker_setup import (
    check_initializer,
    dumps_initializer,
    is_mp_context,
    run_pickled_initializer,
    with_initializer_hint,
)
from jlcache.parallel.backends.base import ParallelBackendBase

__all__ = ["MultiprocessingBackend"]


class MultiprocessingBackend(ParallelBackendBase):
    name = "multiprocessing"
    supports_timeout = True
    supports_cancel = True

    def __init__(self, nesting_level: int | None = None, inner_max_num_threads: int | None = None,
                 context: Any = None, initializer: Callable[..., Any] | None = None,
                 initargs: tuple = (), **kwargs: Any) -> None:
        super().__init__(nesting_level, inner_max_num_threads, **kwargs)
        if context is not None and not isinstance(context, str) and not is_mp_context(context):
            raise TypeError(f"context must be a start method name ('spawn', 'fork', "
                            f"'forkserver') or a multiprocessing context, got "
                            f"{type(context).__name__}.")
        self.context = context
        self.initializer, self.initargs = check_initializer(initializer, initargs)
        self._pool: ProcessPoolExecutor | None = None
        self._procs: list[Any] = []

    def start(self, n_jobs: int) -> int:
        """Idempotent: a pool that broke (a worker died) since is replaced."""
        if self._pool is not None and getattr(self._pool, "_broken", False):
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        if self._pool is None:
            ctx = (self.context if is_mp_context(self.context)
                   else multiprocessing.get_context(self.context))
            init: dict[str, Any] = {}
            if self.initializer is not None:
                payload = dumps_initializer(self.initializer, self.initargs)
                init = {"initializer": run_pickled_initializer, "initargs": (payload,)}
            self._pool = ProcessPoolExecutor(n_jobs, mp_context=ctx, **init)
            self._n = n_jobs
        return self._n

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        pool = self._pool
        if pool is None:
            raise RuntimeError("the multiprocessing pool is not started: call start() first")
        try:
            future = pool.submit(fn, *args)
        except BrokenProcessPool as exc:  # a worker died since the last submit (or at start)
            self._remember(pool)
            return failed_future(exc)
        self._remember(pool)
        return future

    def _remember(self, pool: ProcessPoolExecutor) -> None:
        """Keep every worker process seen (the pool forgets them once it breaks): after a
        crash, their exit codes say what happened (e.g. SIGKILL from the out-of-memory killer)."""
        for proc in list(getattr(pool, "_processes", {}).values()):
            if proc not in self._procs:
                self._procs.append(proc)
        del self._procs[:-64]

    def stop(self) -> None:
        pool, self._pool = self._pool, None
        self._procs = []  # a later crash is explained by its own workers only
        if pool is not None:
            pool.shutdown(wait=True)

    def abort(self) -> None:
        pool, self._pool = self._pool, None
        self._procs = []  # the workers killed here must not explain a later crash
        if pool is None:
            return
        procs = list(getattr(pool, "_processes", {}).values())
        for proc in procs:
            try:
                proc.kill()
            except Exception:
                pass
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in procs:
            proc.join(timeout=1)

    def crash_error(self, exc: BaseException) -> BaseException | None:
        if not isinstance(exc, BrokenProcessPool):
            return None
        pool = self._pool
        if pool is not None:
            self._remember(pool)
        deadline = time.monotonic() + 1.0
        for proc in self._procs:
            proc.join(timeout=max(deadline - time.monotonic(), 0.01))
        return with_initializer_hint(
            crash_error([p.exitcode for p in self._procs], "multiprocessing"), self.initializer)
