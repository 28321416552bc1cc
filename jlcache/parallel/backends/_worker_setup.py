"""What a process worker is set up with before its first task: thread caps and an initializer.

Shared by the process backends. The thread caps follow joblib: a worker of a pool of
``n_jobs`` gets ``max(cpu_count() // n_jobs, 1)`` threads in each native thread pool (BLAS,
OpenMP, ...), unless the user set the variable in the caller's environment, and
``inner_max_num_threads`` overrides both. Without a cap, every worker's BLAS starts one
thread per core, and ``n_jobs`` workers multiplying matrices fight over the same cores.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

__all__ = ["MAX_NUM_THREADS_VARS", "check_initializer", "dumps_initializer",
           "is_mp_context", "run_pickled_initializer", "same_setup",
           "thread_limit_env", "with_initializer_hint"]

# the variables native thread pools read when they start (the same list as joblib's)
MAX_NUM_THREADS_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMBA_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
# lets TBB's schedulers in different workers coordinate instead of each using every core
TBB_ENABLE_IPC_VAR = "ENABLE_IPC"


@functools.lru_cache(maxsize=1)
def _cpus() -> int:
    """The CPU count, read once: it costs ~60 µs (cgroup files), and this runs on every call."""
    from jlcache.parallel.config import cpu_count

    return cpu_count()


def thread_limit_env(n_jobs: int, inner_max_num_threads: int | None) -> dict[str, str]:
    """The environment variables a worker of a pool of ``n_jobs`` workers starts with."""
    default = max(_cpus() // max(n_jobs, 1), 1)
    env = {}
    for var in MAX_NUM_THREADS_VARS:
        if inner_max_num_threads is not None:
            env[var] = str(inner_max_num_threads)
        else:
            env[var] = os.environ.get(var, str(default))
    if TBB_ENABLE_IPC_VAR not in os.environ:
        env[TBB_ENABLE_IPC_VAR] = "1"
    return env


def check_initializer(initializer: Any, initargs: Any) -> tuple[Callable[..., Any] | None, tuple]:
    """Validate ``initializer`` / ``initargs`` early, in the caller, with a clear message."""
    if initializer is not None and not callable(initializer):
        raise TypeError(f"initializer must be a callable run once in each new worker (or None), "
                        f"got {type(initializer).__name__}.")
    if initargs is None:
        initargs = ()
    if not isinstance(initargs, (tuple, list)):
        raise TypeError(f"initargs must be a tuple of arguments for the initializer, got "
                        f"{type(initargs).__name__}; write initargs=(value,) for one argument.")
    return initializer, tuple(initargs)


def same_setup(a: tuple, b: tuple) -> bool:
    """Whether two worker setups are equal (joblib compares with ``==``; identity if that fails)."""
    try:
        return bool(a == b)
    except Exception:  # e.g. arrays in initargs: an ambiguous truth value
        return len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))


def with_initializer_hint(error: BaseException, initializer: Any) -> BaseException:
    """A crash of a pool with an initializer may be the initializer's: say so."""
    if initializer is None:
        return error
    name = getattr(initializer, "__qualname__", None) or repr(initializer)
    return type(error)(f"{error}\nThe pool's initializer ({name}) may have raised or exited: "
                       "a worker whose initializer fails dies before running any task. Call "
                       "it in this process to check it.")


def is_mp_context(obj: Any) -> bool:
    """A ``multiprocessing`` context (what ``get_context("spawn")`` returns), by duck typing
    as joblib does: it has ``Pool`` and ``Lock``, and it is not a backend name."""
    return (not isinstance(obj, str) and hasattr(obj, "Pool") and hasattr(obj, "Lock")
            and hasattr(obj, "get_start_method"))


def dumps_initializer(initializer: Callable[..., Any], initargs: tuple) -> bytes:
    """cloudpickle the initializer in the caller, naming it if it cannot be pickled."""
    import cloudpickle

    try:
        return cloudpickle.dumps((initializer, initargs))
    except Exception as exc:
        raise TypeError(f"The initializer {initializer!r} or its initargs cannot be pickled to "
                        f"send them to the worker processes ({type(exc).__name__}: {exc}).") \
            from exc


def run_pickled_initializer(payload: bytes) -> None:
    """Worker side: unpickle and run the user's initializer (cloudpickled in the caller).

    The standard library's executor pickles its initializer with plain pickle under
    ``spawn``/``forkserver``, which fails for lambdas and functions defined in a notebook;
    tasks travel with cloudpickle, so the initializer does too.
    """
    import pickle

    initializer, initargs = pickle.loads(payload)
    initializer(*initargs)
