"""Error and warning types.

Every message says what happened, the likely cause, and what to do about it. Types also
derive from the builtin a user would naturally catch (``TypeError``, ``ImportError``,
``TimeoutError``...), so code written for joblib keeps working.
"""

from __future__ import annotations

import pickle
from multiprocessing import TimeoutError as _MPTimeoutError  # (cheap: what joblib raises)

__all__ = [
    "BackendUnavailableError",
    "CacheFormatError",
    "CacheWarning",
    "CorruptEntryError",
    "CorruptEntryWarning",
    "JlcacheError",
    "NotCachedWarning",
    "ParallelWarning",
    "StoreUnavailableError",
    "StoreUnavailableWarning",
    "TaskTimeoutError",
    "UnhashableError",
    "UnpicklableTaskError",
    "UnpicklableValueError",
    "UnsafeCacheDirError",
    "UnsafeCacheWarning",
    "WorkerCrashedError",  # noqa: F822 (created on first use by __getattr__)
]


class JlcacheError(Exception):
    """Base class of every error jlcache raises on purpose."""


class CacheFormatError(JlcacheError):
    """The cache directory was written by a jlcache format this version does not understand."""


class UnsafeCacheDirError(JlcacheError, PermissionError):
    """The cache directory could be written by someone else; loading from it would unpickle their data."""


class CorruptEntryError(JlcacheError):
    """A cache entry cannot be read back (truncated, garbage, unknown version).

    Internal: ``Memory`` turns it into a miss plus a ``CorruptEntryWarning``.
    """


class UnhashableError(JlcacheError, TypeError):
    """An argument could not be turned into a cache key."""


class UnpicklableTaskError(JlcacheError, pickle.PicklingError):
    """A task (its function or one of its arguments) cannot be sent to a worker process."""


def _worker_crashed_error() -> type:
    # Also a ``BrokenProcessPool`` (as joblib's loky ``TerminatedWorkerError`` is), so
    # ``except BrokenProcessPool`` keeps working; created on first use because
    # ``concurrent.futures.process`` costs ~20 ms to import and Memory never needs it.
    from concurrent.futures.process import BrokenProcessPool

    class WorkerCrashedError(JlcacheError, BrokenProcessPool):
        """A worker process died while running a task (signal, ``os._exit``, out of memory)."""

    WorkerCrashedError.__module__ = __name__
    WorkerCrashedError.__qualname__ = "WorkerCrashedError"
    return WorkerCrashedError


def __getattr__(name: str) -> type:
    if name == "WorkerCrashedError":
        cls = globals()["WorkerCrashedError"] = _worker_crashed_error()
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class TaskTimeoutError(JlcacheError, TimeoutError, _MPTimeoutError):
    """A task ran longer than the ``timeout`` given to ``Parallel``.

    Also a ``multiprocessing.TimeoutError``, the type joblib raises.
    """


class BackendUnavailableError(JlcacheError, ImportError):
    """A parallel backend needs an optional dependency that is not installed."""


class StoreUnavailableError(JlcacheError, OSError):
    """A remote cache (object storage) cannot be used: unreachable, missing bucket, denied.

    Raised when a ``Memory`` first opens it (so a wrong URL or credentials fail at once);
    once the store has worked in the session, failures are a ``StoreUnavailableWarning``
    and results are computed and returned uncached.
    """


class CacheWarning(UserWarning):
    """Base class of jlcache's warnings about the cache."""


class CorruptEntryWarning(CacheWarning):
    """An entry could not be read and was treated as a miss (it will be recomputed)."""


class UnsafeCacheWarning(CacheWarning):
    """A folder or file inside the cache could be written by someone else: it is not trusted.

    Its entries are never unpickled (they are misses, recomputed) and nothing is stored there.
    """


class StoreUnavailableWarning(CacheWarning):
    """A remote cache stopped answering: calls are computed and returned, not cached, until it is back."""


class NotCachedWarning(CacheWarning):
    """A result was computed and returned but could not be stored."""


class UnpicklableValueError(JlcacheError, pickle.PicklingError, TypeError):
    """A value (a result to cache, or one given to ``jlcache.dump``) cannot be pickled.

    Both a ``PicklingError`` and a ``TypeError``, like the errors pickle itself raises.
    """


class ParallelWarning(UserWarning):
    """A ``Parallel`` option could not be honoured (e.g. ``timeout`` on a backend that cannot stop tasks)."""
