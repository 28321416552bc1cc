"""Parallel engine: a joblib-compatible ``Parallel`` with progress events, fast batching,
array sharing, cache-aware dispatch and background jobs.

Importing this package imports no backend (and neither loky, cloudpickle nor numpy), and
none of its own modules: names resolve on first use. A process worker imports only what
running a batch needs (``tasks``, ``config``), which is part of every cold first call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jlcache._lazy import lazy_attributes

# public name -> module that defines it
_LAZY = {
    "BackgroundJob": "jlcache.parallel.jobs",
    "LokyBackend": "jlcache.parallel.backends.loky",
    "MultiprocessingBackend": "jlcache.parallel.backends.mp",
    "Parallel": "jlcache.parallel.core",
    "ParallelBackendBase": "jlcache.parallel.backends.base",
    "SequentialBackend": "jlcache.parallel.backends.sequential",
    "ThreadingBackend": "jlcache.parallel.backends.threads",
    "cancel_job": "jlcache.parallel.jobs",
    "cpu_count": "jlcache.parallel.config",
    "delayed": "jlcache.parallel.tasks",
    "effective_n_jobs": "jlcache.parallel.config",
    "jobs": "jlcache.parallel.jobs",
    "parallel_backend": "jlcache.parallel.config",
    "parallel_config": "jlcache.parallel.config",
    "register_parallel_backend": "jlcache.parallel.backends",
}

__all__ = [
    "BackgroundJob",
    "LokyBackend",
    "MultiprocessingBackend",
    "Parallel",
    "ParallelBackendBase",
    "SequentialBackend",
    "ThreadingBackend",
    "cancel_job",
    "cpu_count",
    "delayed",
    "effective_n_jobs",
    "jobs",
    "parallel_backend",
    "parallel_config",
    "register_parallel_backend",
]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from jlcache.parallel import jobs
    from jlcache.parallel.backends import register_parallel_backend
    from jlcache.parallel.backends.base import ParallelBackendBase
    from jlcache.parallel.backends.loky import LokyBackend
    from jlcache.parallel.backends.mp import MultiprocessingBackend
    from jlcache.parallel.backends.sequential import SequentialBackend
    from jlcache.parallel.backends.threads import ThreadingBackend
    from jlcache.parallel.config import (
        cpu_count,
        effective_n_jobs,
        parallel_backend,
        parallel_config,
    )
    from jlcache.parallel.core import Parallel
    from jlcache.parallel.jobs import BackgroundJob, cancel_job
    from jlcache.parallel.tasks import delayed


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals(), __all__)
