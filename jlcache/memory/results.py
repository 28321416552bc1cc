"""Small value types of the cache API: the ``MISS`` sentinel, ``CacheKey``, shelved results,
and the pass-through ``NotMemorizedFunc`` used when caching is disabled (``location=None``).
"""

from __future__ import annotations

import functools
import inspect
import reprlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from jlcache import events
from jlcache.errors import CorruptEntryError
from jlcache.store.layout import EntryRef

if TYPE_CHECKING:  # pragma: no cover
    from jlcache.memory.memory import Memory

__all__ = ["MISS", "CacheKey", "MemorizedResult", "NotMemorizedFunc", "NotMemorizedResult"]


class _Miss:
    """The named "not in cache" sentinel (``None`` is a legitimate cached value)."""

    __slots__ = ()
    _instance: _Miss | None = None

    def __new__(cls) -> _Miss:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISS"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "MISS"  # pickles by reference to the module-level constant


MISS = _Miss()


class CacheKey(NamedTuple):
    """Which entry a call maps to (``MemorizedFunc.cache_key``); ``str()`` is its file.

    ``path`` is ``None`` when the store keeps entries elsewhere than in local files.
    """

    kind: str
    group: str
    version: str
    key: str
    path: Path | None
    func: str
    arguments: dict[str, str]

    def __str__(self) -> str:
        if self.path is None:
            return "/".join((self.kind, self.group, self.version, self.key))
        return str(self.path)


def _cleared_message(func: str, where: str) -> str:
    return (
        f"The cached result of {func} is no longer in the cache ({where}): it was cleared "
        "(MemorizedResult.clear, MemorizedFunc.clear, Memory.clear) or evicted "
        "(bytes_limit / Memory.reduce_size). Call the function again, or "
        f"{func.rsplit('.', 1)[-1]}.call_and_shelve(...) for a new reference, to recompute it."
    )


class MemorizedResult:
    """A reference to one cached value; picklable, so it can be handed to other processes."""

    def __init__(self, memory: Memory, ref: EntryRef, mmap_mode: str | None = None,
                 metadata: dict | None = None, func: str = "") -> None:
        self._memory = memory
        self._ref = ref
        self.mmap_mode = mmap_mode
        self.metadata = dict(metadata or {})
        self.func = func or ref.group

    @property
    def location(self) -> Any:
        """The cache location of the ``Memory`` that holds the value (as joblib's)."""
        return self._memory.location

    @property
    def args_id(self) -> str:
        """The entry's key: the hash of the call's arguments (joblib's name for it)."""
        return self._ref.key

    @property
    def duration(self) -> float | None:
        """Seconds the call took to compute, or None when the entry did not record it."""
        return self.metadata.get("duration")

    def get(self) -> Any:
        """Load the value (memory-mapped when ``mmap_mode`` says so)."""
        store = self._memory._checked_store()
        try:
            value, _ = store.get(self._ref, mmap_mode=self.mmap_mode)
        except KeyError:
            raise KeyError(_cleared_message(self.func, store.describe(self._ref))) from None
        except CorruptEntryError as exc:
            raise KeyError(
                f"The cached result of {self.func} ({store.describe(self._ref)}) cannot be read: "
                f"{exc}. Call the function again to recompute it."
            ) from exc
        return value

    def clear(self) -> None:
        """Delete this entry from disk."""
        self._memory._checked_store().delete(self._ref)
        if events.has_subscribers():
            events.publish("cache.clear", kind=self._ref.kind, group=self._ref.group,
                           func=self.func, version=self._ref.version, key=self._ref.key)

    def __reduce__(self) -> tuple:
        return (MemorizedResult, (self._memory, self._ref, self.mmap_mode, self.metadata, self.func))

    def __repr__(self) -> str:
        return (f'MemorizedResult(location="{self._memory.location}", func="{self.func}", '
                f'args_id="{self._ref.key}")')


class NotMemorizedResult:
    """``call_and_shelve`` without a cache: holds the value itself."""

    __slots__ = ("valid", "value")

    def __init__(self, value: Any) -> None:
        self.value = value
        self.valid = True

    def get(self) -> Any:
        if not self.valid:
            raise KeyError(
                "This result was cleared (NotMemorizedResult.clear) and was never cached "
                "(the Memory has location=None). Call the function again to recompute it."
            )
        return self.value

    def clear(self) -> None:
        self.valid = False
        self.value = None

    def __getstate__(self) -> dict:
        return {"valid": self.valid, "value": self.value}

    def __setstate__(self, state: dict) -> None:
        self.valid = state["valid"]
        self.value = state["value"]

    def __repr__(self) -> str:
        if not self.valid:
            return "NotMemorizedResult with no value"
        return f"NotMemorizedResult({reprlib.repr(self.value)})"


class NotMemorizedFunc:
    """What ``Memory(location=None).cache(f)`` returns: calls go straight to ``f``."""

    _jlcache_memorized = False

    def __init__(self, func: Callable) -> None:
        self.func = func
        functools.update_wrapper(self, func, updated=())

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.func(*args, **kwargs)

    def call(self, *args: Any, **kwargs: Any) -> tuple[Any, dict]:
        return self.func(*args, **kwargs), {}

    def call_and_shelve(self, *args: Any, **kwargs: Any) -> NotMemorizedResult:
        return NotMemorizedResult(self.func(*args, **kwargs))

    def check_call_in_cache(self, *args: Any, **kwargs: Any) -> bool:
        return False

    def cache_key(self, *args: Any, **kwargs: Any) -> None:
        return None

    def clear(self, warn: bool = True) -> None:
        pass

    def __reduce__(self) -> tuple:
        return (type(self), (self.func,))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(func={self.func!r})"


class AsyncNotMemorizedFunc(NotMemorizedFunc):
    """The ``async def`` flavour: ``call`` and ``call_and_shelve`` are awaitable."""

    # awaitable versions of the synchronous methods, as in joblib: the override is the point
    async def call(self, *args: Any, **kwargs: Any) -> tuple[Any, dict]:  # type: ignore[override]
        return await self.func(*args, **kwargs), {}

    async def call_and_shelve(  # type: ignore[override]
            self, *args: Any, **kwargs: Any) -> NotMemorizedResult:
        return NotMemorizedResult(await self.func(*args, **kwargs))


def is_async(func: Callable) -> bool:
    """True for ``async def`` functions, also behind partials, methods and callable objects."""
    target = func
    while isinstance(target, functools.partial):
        target = target.func
    if inspect.iscoroutinefunction(target):
        return True
    call = _python_call(type(target))
    return not inspect.isroutine(target) and inspect.iscoroutinefunction(call)


def _python_call(cls: type) -> object:
    for klass in cls.__mro__:
        if "__call__" in klass.__dict__:
            return klass.__dict__["__call__"]
    return None
