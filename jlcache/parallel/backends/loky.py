"""Process workers from loky's reusable executor (``"loky"``, the default backend).

One executor is shared by every call in the process, whatever thread makes the call (loky's
own ``get_reusable_executor`` keeps one per thread, which would give a background job a cold
pool): it is created on first use, resized rather than respawned when ``n_jobs`` changes,
replaced when the workers' setup changes (thread caps, initializer: see ``_worker_setup``),
and rebuilt lazily after a crash or an ``abort``. Idle workers exit after ``idle_timeout``.

Private loky API used (the version range is pinned in pyproject.toml and checked by
``tests/parallel/test_worker_setup.py``): ``loky.reusable_executor._ReusablePoolExecutor``
and its ``_resize``, ``_max_workers``, ``_flags``, ``_processes``, ``_pending_work_items`` and
``_ensure_executor_running``; ``jlcache.parallel.tasks`` recognises a loky worker by its
process class's name, ``LokyProcess``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from jlcache.parallel.backends._procs import crash_error, failed_future
from jlcache.parallel.backends._worker_setup import (
    check_initializer,
    same_setup,
    thread_limit_env,
    with_initializer_hint,
)
from jlcache.parallel.backends.base import ParallelBackendBase
from jlcache.parallel.config import check_inner_max_num_threads

__all__ = ["LokyBackend", "shutdown_pool"]

_lock = threading.RLock()
_pool: Any = None
_setup: tuple | None = None  # (idle timeout, env, initializer, initargs) _pool was built with
_users = 0  # calls currently using _pool (a concurrent call must not kill its workers)


def _usable(pool: Any) -> bool:
    flags = getattr(pool, "_flags", None)
    return pool is not None and not (flags is not None and (flags.broken or flags.shutdown))


def _new_executor(n_jobs: int, setup: tuple) -> Any:
    """A loky executor built directly: loky's ``get_reusable_executor`` keeps one per thread
    and shuts it down when another thread asks with other arguments, while ours is shared."""
    from loky.reusable_executor import _ReusablePoolExecutor

    idle_timeout, env, initializer, initargs = setup
    pool = _ReusablePoolExecutor(max_workers=n_jobs, timeout=idle_timeout,
                                 initializer=initializer, initargs=initargs, env=dict(env))
    _spawn_now(pool)
    return pool


def _spawn_now(pool: Any) -> None:
    """Start the workers now rather than at the first ``submit``: a worker takes ~100 ms to
    boot (a fresh interpreter importing loky), which then overlaps with what the caller
    still does before its first batch is ready (imports, pulling and pickling tasks)."""
    try:
        with pool._flags.shutdown_lock:
            pool._ensure_executor_running()
    except Exception:  # best effort: the first submit starts them (and reports a failure)
        pass


def _acquire(n_jobs: int, setup: tuple) -> tuple[Any, bool]:
    """``(pool, shared)``: the shared pool if it was built with ``setup``, else a fresh one.

    As in joblib, workers are reused only while their setup (thread caps, initializer,
    initargs, idle timeout) stays the same: a worker's environment and initializer are
    fixed when it starts. When the shared pool has another setup and another call is using
    it, this call gets a private pool instead of killing the other call's workers.
    """
    global _pool, _setup, _users
    with _lock:
        if _usable(_pool) and same_setup(_setup, setup):  # type: ignore[arg-type]
            # loky's resize waits for every queued task: only resize an idle pool
            if (_pool._max_workers != n_jobs and _users == 0
                    and not getattr(_pool, "_pending_work_items", None)):
                _pool._resize(n_jobs)
            _users += 1
            return _pool, True
        if _usable(_pool) and _users > 0:
            return _new_executor(n_jobs, setup), False
        old, _pool, _setup, _users = _pool, _new_executor(n_jobs, setup), setup, 1
        pool = _pool
    if old is not None and _usable(old):
        old.shutdown(wait=True)  # idle workers exit; the new pool's start with the new setup
    elif old is not None:
        old.shutdown(wait=False, kill_workers=True)  # broken: make sure nothing lingers
    return pool, True


def _release(pool: Any) -> None:
    global _users
    with _lock:
        if pool is _pool:
            _users = max(_users - 1, 0)


def shutdown_pool(kill: bool = True) -> None:
    """Stop the shared pool (tests and interpreter shutdown use it)."""
    global _pool, _setup
    with _lock:
        pool, _pool, _setup = _pool, None, None
    if pool is not None:
        pool.shutdown(wait=True, kill_workers=kill)


class LokyBackend(ParallelBackendBase):
    """Robust process pool: survives worker crashes, pickles with cloudpickle.

    ``initializer(*initargs)`` runs once in each new worker; ``inner_max_num_threads`` caps
    the workers' native thread pools (default: ``cpu_count() // n_jobs``, as joblib).
    ``idle_worker_timeout`` is accepted as joblib's name for ``idle_timeout``.
    """

    name = "loky"
    supports_timeout = True
    supports_cancel = True

    def __init__(self, nesting_level: int | None = None, inner_max_num_threads: int | None = None,
                 idle_timeout: float = 300, initializer: Callable[..., Any] | None = None,
                 initargs: tuple = (), idle_worker_timeout: float | None = None,
                 **kwargs: Any) -> None:
        if "timeout" in kwargs:
            raise ValueError("The loky backend has no 'timeout' parameter: for how long idle "
                             "workers are kept, pass idle_worker_timeout=SECONDS; for a limit "
                             "per task, pass Parallel(timeout=SECONDS).")
        super().__init__(nesting_level, check_inner_max_num_threads(inner_max_num_threads),
                         **kwargs)
        self.idle_timeout = idle_timeout if idle_worker_timeout is None else idle_worker_timeout
        self.initializer, self.initargs = check_initializer(initializer, initargs)
        self._pool: Any = None
        self._shared = True

    def start(self, n_jobs: int) -> int:
        """Idempotent: a pool that crashed or was aborted since is replaced."""
        if self._pool is not None and not _usable(self._pool):
            self.stop()
        if self._pool is None:
            env = thread_limit_env(n_jobs, self.inner_max_num_threads)
            setup = (self.idle_timeout, tuple(sorted(env.items())), self.initializer,
                     self.initargs)
            self._pool, self._shared = _acquire(n_jobs, setup)
        return self._pool._max_workers

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        from loky.process_executor import BrokenProcessPool

        try:
            return self._pool.submit(fn, *args)
        except BrokenProcessPool as exc:  # a worker died since the last submit (or at start)
            return failed_future(exc)

    def stop(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if self._shared:
            _release(pool)
        else:
            pool.shutdown(wait=False)

    def abort(self) -> None:
        """Kill the workers (unless another call shares them); the pool is rebuilt next time."""
        global _pool, _users
        pool = self._pool
        if pool is None:
            return
        with _lock:
            if pool is _pool and _users > 1:
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
        return with_initializer_hint(
            crash_error(codes, "loky", detail=str(exc).strip().splitlines()[0]), self.initializer)
