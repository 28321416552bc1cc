"""Parallel engine: a joblib-compatible ``Parallel`` with progress events, fast batching,
array sharing, cache-aware dispatch and background jobs.

Importing this package imports no backend (and neither loky, cloudpickle nor numpy): they
load on first use.
"""

from __future__ import annotations

from jlcache.parallel import jobs
from jlcache.parallel.backends import register_parallel_backend
from jlcache.parallel.backends.base import ParallelBackendBase
from jlcache.parallel.config import cpu_count, effective_n_jobs, parallel_backend, parallel_config
from jlcache.parallel.core import Parallel
from jlcache.parallel.jobs import BackgroundJob, cancel_job
from jlcache.parallel.tasks import delayed

__all__ = [
    "BackgroundJob",
    "Parallel",
    "ParallelBackendBase",
    "cancel_job",
    "cpu_count",
    "delayed",
    "effective_n_jobs",
    "jobs",
    "parallel_backend",
    "parallel_config",
    "register_parallel_backend",
]
