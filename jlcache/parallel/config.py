"""Thread-local, nestable parallel configuration (``parallel_config`` / ``parallel_backend``).

Each thread has a stack of frames; a frame holds only the settings its ``parallel_config``
call set explicitly, so a nested frame inherits everything it leaves unset. A new thread
starts from the defaults (the stack is thread-local), which is what keeps a background
job's configuration from leaking into the caller and vice versa.

The module also records whether the current code runs *inside* a worker, so a nested
``Parallel`` degrades (processes -> threads -> sequential) instead of oversubscribing.
"""

from __future__ import annotations

import os
import threading
from typing import Any

__all__ = [
    "Default",
    "cpu_count",
    "effective_n_jobs",
    "get_config",
    "mark_process_worker",
    "parallel_backend",
    "parallel_config",
    "worker_kind",
]


class Default:
    """A parameter left unset: the active ``parallel_config`` (or this default) applies."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"default({self.value!r})"


DEFAULTS: dict[str, Any] = {
    "backend": None,  # None -> the registry's default ("loky" unless make_default changed it)
    "n_jobs": None,
    "verbose": 0,
    "temp_folder": None,
    "max_nbytes": "1M",
    "mmap_mode": "r",
    "prefer": None,
    "require": None,
    "inner_max_num_threads": None,
    "backend_params": {},
}

_local = threading.local()
_process_worker = False  # set in process workers by the batch runner


def _stack() -> list[dict[str, Any]]:
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    return stack


def get_config() -> dict[str, Any]:
    """The merged configuration of the current thread (defaults, then frames in order)."""
    merged = dict(DEFAULTS)
    for frame in getattr(_local, "stack", ()):
        params = frame.get("backend_params")
        merged.update(frame)
        if params is not None:
            merged["backend_params"] = params
    return merged


def validate_choice(name: str, value: Any, choices: tuple) -> None:
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not valid; expected one of {choices}.")


def check_n_jobs(n_jobs: Any) -> int | None:
    """``n_jobs`` as an int (like joblib, ``"2"`` and ``2.0`` are accepted: config values)."""
    if n_jobs is None:
        return None
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int):
        try:
            n_jobs = int(n_jobs)
        except (TypeError, ValueError):
            raise ValueError(f"n_jobs must be an int or None, got {n_jobs!r} "
                             f"({type(n_jobs).__name__}); pass e.g. n_jobs=2, or -1 for all "
                             "CPUs.") from None
    if n_jobs == 0:
        raise ValueError("n_jobs == 0 has no meaning: use n_jobs=1 to run sequentially, "
                         "-1 for all CPUs, or a positive number of workers.")
    return n_jobs


def check_inner_max_num_threads(value: Any) -> int | None:
    """``inner_max_num_threads`` as a positive int or None (None: joblib's default caps)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"inner_max_num_threads must be a positive int or None, got {value!r}; "
                         "pass e.g. inner_max_num_threads=2 to let each worker's BLAS/OpenMP "
                         "use 2 threads.")
    return value


class parallel_config:
    """Set the parallel defaults for the current thread, inside a ``with`` block.

    Like joblib, the settings take effect when the object is created and are undone when
    the ``with`` block exits; unset parameters are inherited from the enclosing config.
    Extra keyword arguments are passed to the backend's constructor.
    """

    def __init__(self, backend: Any = None, *, n_jobs: Any = Default(None),
                 verbose: Any = Default(0), temp_folder: Any = Default(None),
                 max_nbytes: Any = Default("1M"), mmap_mode: Any = Default("r"),
                 prefer: Any = Default(None), require: Any = Default(None),
                 inner_max_num_threads: Any = Default(None), **backend_params: Any) -> None:
        frame: dict[str, Any] = {}
        given = {"n_jobs": n_jobs, "verbose": verbose, "temp_folder": temp_folder,
                 "max_nbytes": max_nbytes, "mmap_mode": mmap_mode, "prefer": prefer,
                 "require": require, "inner_max_num_threads": inner_max_num_threads}
        for key, value in given.items():
            if not isinstance(value, Default):
                frame[key] = value
        if "n_jobs" in frame:
            frame["n_jobs"] = check_n_jobs(frame["n_jobs"])
        if "prefer" in frame:
            validate_choice("prefer", frame["prefer"], (None, "processes", "threads"))
        if "require" in frame:
            validate_choice("require", frame["require"], (None, "sharedmem"))
        if "inner_max_num_threads" in frame:
            check_inner_max_num_threads(frame["inner_max_num_threads"])
        if backend is not None:
            if isinstance(backend, str):
                from jlcache.parallel.backends import check_known

                check_known(backend)
            frame["backend"] = backend
            frame["backend_params"] = dict(backend_params)
        elif backend_params:
            raise ValueError(f"backend parameters {sorted(backend_params)} were given without a "
                             "backend; pass the backend name too, e.g. "
                             "parallel_config('loky', ...).")
        self._frame = frame
        self._thread_stack = _stack()
        self._thread_stack.append(frame)

    def __enter__(self) -> parallel_config:
        return self

    def __exit__(self, *exc: object) -> None:
        self.unregister()

    def unregister(self) -> None:
        """Remove this frame (and only it) from its thread's stack."""
        stack = self._thread_stack
        for i in range(len(stack) - 1, -1, -1):
            if stack[i] is self._frame:
                del stack[i]
                break


class parallel_backend(parallel_config):
    """Legacy form of ``parallel_config`` (joblib < 1.3); ``with`` yields ``(backend, n_jobs)``."""

    def __init__(self, backend: Any, n_jobs: int = -1, inner_max_num_threads: Any = None,
                 **backend_params: Any) -> None:
        super().__init__(backend, n_jobs=n_jobs, inner_max_num_threads=inner_max_num_threads,
                         **backend_params)
        self._pair = (backend, n_jobs)

    def __enter__(self) -> Any:
        return self._pair


def cpu_count(only_physical_cores: bool = False) -> int:
    """CPUs this process may use (affinity and cgroup quotas respected, via loky)."""
    try:
        from loky import cpu_count as loky_cpu_count
    except ImportError:  # pragma: no cover - loky is a dependency
        return max(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                   else os.cpu_count() or 1, 1)
    return max(int(loky_cpu_count(only_physical_cores=only_physical_cores)), 1)


def effective_n_jobs(n_jobs: int | None = -1) -> int:
    """The number of workers ``n_jobs`` means here (``None`` -> config, then 1; ``-1`` all CPUs)."""
    if n_jobs is None:
        n_jobs = get_config()["n_jobs"]
        if n_jobs is None:
            return 1
    checked = check_n_jobs(n_jobs)
    if checked is None:
        return 1
    if checked < 0:
        return max(cpu_count() + 1 + checked, 1)
    return checked


# --- where are we running? ------------------------------------------------------------------

def mark_process_worker() -> None:
    """Called by the batch runner in a worker process (cheap: once per batch)."""
    global _process_worker
    _process_worker = True


def set_thread_worker(flag: bool) -> None:
    _local.thread_worker = flag


def worker_kind() -> str | None:
    """``"thread"`` inside a thread worker, ``"process"`` inside a process worker, else None."""
    if getattr(_local, "thread_worker", False):
        return "thread"
    if _process_worker:
        return "process"
    return None
