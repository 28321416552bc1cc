"""Process workers from loky's reusable executor (``"loky"``, the default backend).

One executor is shared by every call in the process, whatever thread makes the call (loky's
own ``get_reusable_executor`` keeps one per thread, which would give a background job a cold
pool): it is created on first use, resized rather than respawned when ``n_jobs`` changes,
and rebuilt lazily after a crash or an ``abort``. Idle workers exit after ``idle_timeout``.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from jlcache.parallel.backends._procs import crash_error
from jlcache.parallel.backends.base import ParallelBackendBase

__all__ = ["LokyBackend", "shutdown_pool", "worker_thread_env"]

_lock = threading.RLock()
_pool: Any = None
_users = 0  # calls currently using _pool (a concurrent call must not kill its workers)


def _usable(pool: Any) -> bool:
    flags = getattr(pool, "_flags", None)
    return pool is not None and not (flags is not None and (flags.broken or flags.shutdown))


def _acquire(n_jobs: int, idle_timeout: float, env: dict | None) -> Any:
    global _pool, _users
    with _lock:
        if _usable(_pool):
            if _pool._max_workers != n_jobs and _users == 0:
                _pool._resize(n_jobs)
        else:
            from loky import get_reusable_executor

            # loky caches its executor per thread; keeping our own reference shares one
            # pool between the caller and background jobs running in other threads.
            _pool = get_reusable_executor(max_workers=n_jobs, timeout=idle_timeout, env=env)
        _users += 1
        return _pool


def _release(pool: Any) -> None:
    global _users
    with _lock:
        if pool is _pool:
            _users = max(_users - 1, 0)


def shutdown_pool(kill: bool = True) -> None:
    """Stop the shared pool (tests and interpreter shutdown use it)."""
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=True, kill_workers=kill)


_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "NUMEXPR_NUM_THREADS", "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")


def worker_thread_env(inner_max_num_threads: int | None, n_jobs: int) -> dict[str, str]:
    """Thread limits of native libraries (BLAS, OpenMP) in the workers, as joblib sets them.

    Without a limit, each of ``n_jobs`` workers runs as many BLAS threads as there are CPUs
    and numeric tasks (a scikit-learn fit) slow down several times from oversubscription.
    An explicit ``inner_max_num_threads`` wins; otherwise the CPUs are shared out between
    the workers, and a limit the user set in this process's environment is kept. Applied
    when the shared pool starts (a resize keeps it, rather than respawning warm workers).
    """
    if inner_max_num_threads:
        return {k: str(inner_max_num_threads) for k in _THREAD_VARS}
    from jlcache.parallel.config import cpu_count

    share = str(max(cpu_count() // max(n_jobs, 1), 1))
    return {k: os.environ.get(k, share) for k in _THREAD_VARS}


class LokyBackend(ParallelBackendBase):
    """Robust process pool: survives worker crashes, pickles with cloudpickle."""

    name = "loky"
    supports_timeout = True
    supports_cancel = True

    def __init__(self, nesting_level: int | None = None, inner_max_num_threads: int | None = None,
                 idle_timeout: float = 300, **kwargs: Any) -> None:
        super().__init__(nesting_level, inner_max_num_threads, **kwargs)
        self.idle_timeout = idle_timeout
        self._pool: Any = None

    def start(self, n_jobs: int) -> int:
        """Idempotent: a pool that crashed or was aborted since is replaced."""
        if self._pool is not None and not _usable(self._pool):
            _release(self._pool)
            self._pool = None
        if self._pool is None:
            env = worker_thread_env(self.inner_max_num_threads, n_jobs)
            self._pool = _acquire(n_jobs, self.idle_timeout, env)
        return self._pool._max_workers

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        return self._pool.submit(fn, *args)

    def stop(self) -> None:
        if self._pool is not None:
            _release(self._pool)
            self._pool = None

    def abort(self) -> None:
        """Kill the workers (unless another call shares them); the pool is rebuilt next time."""
        global _pool, _users
        pool = self._pool
        if pool is None:
            return
        with _lock:
            shared = pool is _pool and _users > 1
            if shared:
                return
            self._pool = None
            if pool is _pool:
                _pool, _users = None, 0
        for proc in list(getattr(pool, "_processes", {}).values()):
            try:
                proc.kill()
            except Exception:
                pass
        # kill_workers=True also stops loky's manager thread; without it the thread can outlive
        # the pool and block interpreter exit (loky joins it at exit) after a Ctrl-C.
        pool.shutdown(wait=False, kill_workers=True)

    def crash_error(self, exc: BaseException) -> BaseException | None:
        from concurrent.futures.process import BrokenProcessPool

        from loky.process_executor import BrokenProcessPool as LokyBroken
        from loky.process_executor import ShutdownExecutorError

        if isinstance(exc, ShutdownExecutorError):
            return None
        if not isinstance(exc, (LokyBroken, BrokenProcessPool)):
            return None
        codes = [int(c) for c in re.findall(r"\((-?\d+)\)", str(exc).split("exit codes")[-1])]
        if "exit codes" not in str(exc):
            codes = []
        return crash_error(codes, "loky", detail=str(exc).strip().splitlines()[0])
