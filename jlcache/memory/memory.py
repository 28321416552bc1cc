"""joblib-compatible ``Memory``: the entry point of the disk cache.

``Memory`` holds the options (location, ``mmap_mode``, compression, ``bytes_limit``) and
the ``Store`` (from ``open_store``: ``Memory`` never names a store class, so other kinds of
store need no change here); ``Memory.cache`` wraps functions in ``MemorizedFunc`` (``memorized.py``),
which does the per-call work. With ``location=None`` nothing is cached and calls go
straight through (``NotMemorizedFunc``), exactly as in joblib.

Differences from joblib a user may notice: ``verbose`` messages go through
``logging.getLogger("jlcache")`` instead of ``print``; ``Memory.clear`` does not print a
warning by default; entries are never wiped when a function is redefined (each definition is
its own version).
"""

from __future__ import annotations

import datetime
import logging
import math
import os
import threading
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from jlcache import events, stats
from jlcache.errors import NotCachedWarning
from jlcache.memory.keys import check_ignore
from jlcache.memory.memorized import MemorizedFunc
from jlcache.memory.results import (
    MISS,
    AsyncNotMemorizedFunc,
    CacheKey,
    MemorizedResult,
    NotMemorizedFunc,
    NotMemorizedResult,
    is_async,
)
from jlcache.memory.variants import AsyncMemorizedFunc
from jlcache.serialize.format import normalize_compress
from jlcache.store import Store, open_store, parse_age, parse_size

__all__ = [
    "MISS",
    "CacheKey",
    "MemorizedFunc",
    "MemorizedResult",
    "Memory",
    "NotMemorizedFunc",
    "NotMemorizedResult",
    "expires_after",
]

_log = logging.getLogger("jlcache.memory")
_MMAP_MODES = (None, "r", "r+", "w+", "c")
_handler_lock = threading.Lock()


def _ensure_visible_logging() -> None:
    """``verbose>0`` asks for messages: show them even if the application set up no logging."""
    logger = logging.getLogger("jlcache")
    with _handler_lock:
        if logger.level == logging.NOTSET or logger.level > logging.INFO:
            logger.setLevel(logging.INFO)
        if not logger.hasHandlers():
            handler = logging.StreamHandler()
            handler.setFormatter(logging.Formatter("%(message)s"))
            logger.addHandler(handler)


class Memory:
    """A disk cache for function results, compatible with ``joblib.Memory``.

    ``location=None`` disables caching. ``mmap_mode`` maps cached numpy arrays back from
    disk in constant time; ``compress`` trades speed for disk; ``bytes_limit`` is enforced
    after every store (least recently used entries go first). ``location`` may also be an
    fsspec URL (``s3://bucket/prefix``...), with ``storage_options`` for fsspec and an
    optional ``local_tier`` directory of local copies (see ``jlcache.store.open_store``).
    """

    def __init__(self, location: str | os.PathLike | None = None, backend: str = "local",
                 mmap_mode: str | None = None, compress: bool | int | str | tuple = False,
                 verbose: int = 0, bytes_limit: int | str | None = None,
                 backend_options: dict | None = None, storage_options: dict | None = None,
                 local_tier: str | os.PathLike | None = None) -> None:
        if backend != "local":
            raise ValueError(f"backend={backend!r} is not supported: jlcache stores entries on a "
                             "local (or network-mounted) filesystem; use backend='local'.")
        if mmap_mode not in _MMAP_MODES:
            raise ValueError(f"mmap_mode={mmap_mode!r} is not one of {_MMAP_MODES}.")
        normalize_compress(compress)  # a bad value fails here, not silently at the first store
        self.location = location
        self.backend = backend
        self.mmap_mode = mmap_mode
        self.compress = compress
        self._verbose = verbose
        self.bytes_limit = _size_limit(bytes_limit)
        if backend_options is not None and not isinstance(backend_options, Mapping):
            raise TypeError(f"backend_options must be a dict of options or None; got "
                            f"{type(backend_options).__name__} {backend_options!r}.")
        self.backend_options = dict(backend_options or {})
        self._warned: set[tuple] = set()
        self._warn_lock = threading.Lock()
        self.store: Store | None = None
        if location is not None:
            self.store = open_store(location, bytes_limit=self.bytes_limit,
                                    storage_options=storage_options, local_tier=local_tier)
        self.storage_options, self.local_tier = storage_options, local_tier
        self._lock_scope = None if self.store is None else self.store.url
        if verbose:
            _ensure_visible_logging()
        stats.ensure_listening()

    @property
    def verbose(self) -> int:
        """The ``verbose`` level given to ``Memory`` (read-only: logging is set up once, at
        construction, so changing it later would silently do nothing)."""
        return self._verbose

    def _checked_store(self) -> Store:
        """The store, for the objects that exist only when there is one (``MemorizedFunc``,
        ``MemorizedResult``); a clear error instead of ``None`` has no attribute ``get``."""
        if self.store is None:
            raise ValueError("This Memory has location=None, so nothing is cached and there is "
                             "no store; give Memory a cache directory.")
        return self.store

    def cache(self, func: Callable | None = None, ignore: list[str] | None = None,
              verbose: int | None = None, mmap_mode: str | bool | None = False,
              cache_validation_callback: Callable[[dict], bool] | None = None) -> Any:
        """Wrap ``func`` so its results are cached (usable as ``@memory.cache`` or
        ``@memory.cache(ignore=[...])``)."""
        check_ignore(ignore)  # a wrong ignore fails at decoration, even as @cache(ignore=...)
        if cache_validation_callback is not None and not callable(cache_validation_callback):
            raise ValueError("cache_validation_callback must be callable (it receives the "
                             f"entry's metadata and returns True to use it); got {cache_validation_callback!r}.")
        if func is None:
            return lambda f: self.cache(f, ignore=ignore, verbose=verbose, mmap_mode=mmap_mode,
                                        cache_validation_callback=cache_validation_callback)
        if isinstance(func, (MemorizedFunc, NotMemorizedFunc)):
            func = func.func
        if not callable(func):
            raise TypeError(f"Memory.cache expects a callable; got {type(func).__name__} {func!r}.")
        if self.store is None:
            cls = AsyncNotMemorizedFunc if is_async(func) else NotMemorizedFunc
            return cls(func)
        if mmap_mode is False:
            mmap_mode = self.mmap_mode
        elif mmap_mode not in _MMAP_MODES:
            raise ValueError(f"mmap_mode={mmap_mode!r} is not one of {_MMAP_MODES}.")
        if verbose is None:
            verbose = self._verbose
        elif verbose:
            _ensure_visible_logging()
        memorized = AsyncMemorizedFunc if is_async(func) else MemorizedFunc
        return memorized(func, self, ignore=ignore, verbose=verbose, mmap_mode=mmap_mode,
                   cache_validation_callback=cache_validation_callback)

    def eval(self, func: Callable, *args: Any, **kwargs: Any) -> Any:
        """Call ``func(*args, **kwargs)`` through the cache."""
        if self.store is None:
            return func(*args, **kwargs)
        return self.cache(func)(*args, **kwargs)

    def clear(self, warn: bool = True) -> None:
        """Delete every entry of this cache (all functions, all versions)."""
        if self.store is None:
            return
        if warn:
            _log.info("[Memory(location=%s)] clearing the whole cache", self.location)
        self.store.clear()
        if events.has_subscribers():
            events.publish("cache.clear", kind=None, group=None, func=None, version=None, key=None)

    def reduce_size(self, bytes_limit: int | str | None = None, items_limit: int | None = None,
                    age_limit: datetime.timedelta | float | None = None) -> None:
        """Evict entries until the cache fits the limits; least recently used go first.

        ``bytes_limit`` defaults to the Memory's own; ``age_limit`` is a ``timedelta`` (or
        seconds) since last access.
        """
        limits = _size_limit(bytes_limit), _items_limit(items_limit), _age_limit(age_limit)
        if self.store is None:
            return
        if limits[0] is None:
            limits = (self.bytes_limit, *limits[1:])
        if limits == (None, None, None):
            return
        removed = self.store.reduce_size(bytes_limit=limits[0], items_limit=limits[1],
                                         age_limit=limits[2])
        if removed and events.has_subscribers():
            for ref in removed:
                events.publish("cache.clear", kind=ref.kind, group=ref.group, func=ref.group,
                               version=ref.version, key=ref.key)

    def stats(self) -> dict:
        """Session counters ``(kind, group, version) -> Counts`` (see ``jlcache.stats``)."""
        return stats.snapshot()

    def _warn_store_failed(self, func: str, exc: BaseException) -> None:
        """Warn once per Memory per reason (a read-only or full disk fails every call)."""
        reason = (type(exc).__name__, getattr(exc, "errno", None))
        with self._warn_lock:
            if reason in self._warned:
                return
            self._warned.add(reason)
        warnings.warn(NotCachedWarning(
            f"A result of {func} was computed and returned but not cached: writing to "
            f"{self.location} failed ({type(exc).__name__}: {exc}). The disk may be full or the "
            "cache directory read-only; existing entries are still used. Free space, fix the "
            "permissions, or choose another location. (Shown once per Memory for this reason.)"),
            stacklevel=5)

    def __reduce__(self) -> tuple:
        return (Memory, (self.location, self.backend, self.mmap_mode, self.compress,
                         self._verbose, self.bytes_limit, self.backend_options,
                         self.storage_options, self.local_tier))

    def __repr__(self) -> str:
        location = None if self.store is None else self.store.url
        return f"Memory(location={location})"


def _no_bool(name: str, value: Any) -> None:
    if isinstance(value, bool):
        raise TypeError(f"{name}={value!r}: a bool is not a limit. Pass a number (or None for "
                        "no limit).")


def _size_limit(value: Any) -> int | None:
    """``bytes_limit`` in bytes; the parameter is named in every error."""
    _no_bool("bytes_limit", value)
    try:
        return parse_size(value)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"bytes_limit: {exc}") from None


def _items_limit(value: Any) -> int | None:
    _no_bool("items_limit", value)
    if value is None:
        return None
    if not isinstance(value, int):
        raise TypeError(f"items_limit must be a whole number of entries to keep (or None); "
                        f"got {type(value).__name__} {value!r}.")
    if value < 0:
        raise ValueError(f"items_limit cannot be negative (got {value}).")
    return value


def _age_limit(value: Any) -> float | None:
    _no_bool("age_limit", value)
    if isinstance(value, float) and math.isnan(value):
        raise ValueError("age_limit is nan: pass a timedelta, a number of seconds or a string "
                         "such as '2h' (or None for no age limit).")
    try:
        return parse_age(value)
    except (TypeError, ValueError) as exc:
        raise type(exc)(str(exc) if "age_limit" in str(exc) else f"age_limit: {exc}") from None


def expires_after(days: float = 0, seconds: float = 0, microseconds: float = 0,
                  milliseconds: float = 0, minutes: float = 0, hours: float = 0,
                  weeks: float = 0) -> Callable[[dict], bool]:
    """A ``cache_validation_callback`` that recomputes entries older than the given age."""
    limit = datetime.timedelta(days=days, seconds=seconds, microseconds=microseconds,
                               milliseconds=milliseconds, minutes=minutes, hours=hours,
                               weeks=weeks).total_seconds()

    def cache_validation_callback(metadata: dict) -> bool:
        import time

        created = metadata.get("time")
        return created is not None and time.time() - created < limit

    return cache_validation_callback

