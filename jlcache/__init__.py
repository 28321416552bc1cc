"""jlcache: Jupyter notebooks that remember and parallelise their work.

Import is cheap on purpose: the public names below are resolved on first use, so
``import jlcache`` loads neither numpy, IPython, widgets, dask nor ray.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jlcache._lazy import lazy_attributes

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    # caching
    "Memory": "jlcache.memory",
    "MemorizedFunc": "jlcache.memory",
    "MemorizedResult": "jlcache.memory",
    "NotMemorizedFunc": "jlcache.memory",
    "expires_after": "jlcache.memory",
    "hash": "jlcache.identity",  # hashing's hash, with identity plugged in for functions
    "dump": "jlcache.serialize",
    "load": "jlcache.serialize",
    # parallel
    "Parallel": "jlcache.parallel",
    "delayed": "jlcache.parallel",
    "parallel_config": "jlcache.parallel",
    "parallel_backend": "jlcache.parallel",
    "register_parallel_backend": "jlcache.parallel",
    "effective_n_jobs": "jlcache.parallel",
    "cpu_count": "jlcache.parallel",
    "ParallelBackendBase": "jlcache.parallel",
    "ThreadingBackend": "jlcache.parallel",
    "LokyBackend": "jlcache.parallel",
    "MultiprocessingBackend": "jlcache.parallel",
    "SequentialBackend": "jlcache.parallel",
    "BackgroundJob": "jlcache.parallel",
    "cancel_job": "jlcache.parallel",
    "bridge_joblib": "jlcache.bridge",
    "bridge": "jlcache.bridge",
    # front ends
    "panel": "jlcache.widget",
    "Panel": "jlcache.widget",
    # plumbing
    "events": "jlcache.events",
    "errors": "jlcache.errors",
}

__all__ = [
    # caching
    "MemorizedFunc",
    "MemorizedResult",
    "Memory",
    "NotMemorizedFunc",
    "dump",
    "expires_after",
    "hash",
    "load",
    # parallel
    "BackgroundJob",
    "LokyBackend",
    "MultiprocessingBackend",
    "Parallel",
    "ParallelBackendBase",
    "SequentialBackend",
    "ThreadingBackend",
    "bridge_joblib",
    "cancel_job",
    "cpu_count",
    "delayed",
    "effective_n_jobs",
    "parallel_backend",
    "parallel_config",
    "register_parallel_backend",
    # front ends
    "Panel",
    "load_ipython_extension",
    "panel",
    "unload_ipython_extension",
    # plumbing
    "errors",
    "events",
]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from jlcache import errors, events
    from jlcache.bridge import bridge_joblib
    from jlcache.identity import hash
    from jlcache.memory import (
        MemorizedFunc,
        MemorizedResult,
        Memory,
        NotMemorizedFunc,
        expires_after,
    )
    from jlcache.parallel import (
        BackgroundJob,
        LokyBackend,
        MultiprocessingBackend,
        Parallel,
        ParallelBackendBase,
        SequentialBackend,
        ThreadingBackend,
        cancel_job,
        cpu_count,
        delayed,
        effective_n_jobs,
        parallel_backend,
        parallel_config,
        register_parallel_backend,
    )
    from jlcache.serialize import dump, load
    from jlcache.widget import Panel, panel


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals(), __all__)


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext jlcache``: register the magics (IPython is imported only now)."""
    from jlcache.ipython import load_ipython_extension as _load

    _load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext jlcache``: remove the magics and stop listening to events."""
    from jlcache.ipython import unload_ipython_extension as _unload

    _unload(ipython)
