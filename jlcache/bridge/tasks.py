"""What a bridged task runs in: joblib's nested configuration, as joblib's own batches set it.

joblib runs each batch inside ``parallel_config(backend=<nested backend>)``, so that a
``Parallel`` call *inside* a task uses threads one level down and runs sequentially below
that, instead of starting a process pool per worker. A bridged call wraps each task's
function in ``InJoblibContext`` to keep that behaviour in jlcache's workers, and to mark
the thread: a ``joblib.Parallel`` call made inside a bridged task (in this process: the
sequential and threading backends) is nested and runs on joblib's own driver, exactly as
joblib would run it, instead of becoming a second job.

This module is imported in worker processes: it imports nothing heavy (joblib comes with
the pickled nested backend, when there is one).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

__all__ = ["InJoblibContext", "in_bridged_task"]

_local = threading.local()


def in_bridged_task() -> bool:
    """True inside a task of a bridged call running in this thread."""
    return getattr(_local, "depth", 0) > 0


class InJoblibContext:
    """``func`` called inside joblib's nested ``parallel_config`` (none for sequential calls).

    The attribute is named ``func`` so that job labels and error messages name the wrapped
    function (``describe_func`` follows ``.func``).
    """

    __slots__ = ("backend", "func", "n_jobs")

    def __init__(self, func: Callable[..., Any], backend: Any = None,
                 n_jobs: int | None = None) -> None:
        self.func, self.backend, self.n_jobs = func, backend, n_jobs

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        depth = getattr(_local, "depth", 0)
        _local.depth = depth + 1
        try:
            if self.backend is None:
                return self.func(*args, **kwargs)
            from joblib import parallel_config

            with parallel_config(backend=self.backend, n_jobs=self.n_jobs):
                return self.func(*args, **kwargs)
        finally:
            _local.depth = depth

    def __reduce__(self) -> tuple:
        return (InJoblibContext, (self.func, self.backend, self.n_jobs))

    def __repr__(self) -> str:
        return f"InJoblibContext({self.func!r})"
