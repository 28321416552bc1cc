"""The two other shapes of a cached function: ``async def`` ones, and methods bound to an
instance (``@memory.cache`` in a class body). Both reuse ``MemorizedFunc``'s machinery."""

from __future__ import annotations

import functools
import inspect
import types
from typing import Any

from jlcache.identity.own_state import state_snapshot
from jlcache.memory.memorized import MemorizedFunc, _joblib_meta, _perf
from jlcache.memory.results import MISS, MemorizedResult, NotMemorizedResult
from jlcache.store.layout import EntryRef

__all__ = ["AsyncMemorizedFunc", "BoundMemorized"]


class AsyncMemorizedFunc(MemorizedFunc):
    """The ``async def`` flavour: calling it returns a coroutine."""

    def _setup(self, *args: Any, **kwargs: Any) -> None:
        super()._setup(*args, **kwargs)
        mark = getattr(inspect, "markcoroutinefunction", None)  # Python >= 3.12
        if mark is not None:
            mark(self)

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        ref, value = self._lookup(args, kwargs)
        if value is not MISS:
            return value
        return (await self._acompute(ref, args, kwargs))[0]

    # awaitable versions of the synchronous methods: the override is the point
    async def call(self, *args: Any, **kwargs: Any) -> tuple[Any, dict]:  # type: ignore[override]
        return await self._acompute(self._ref(args, kwargs), args, kwargs)

    async def call_and_shelve(  # type: ignore[override]
            self, *args: Any, **kwargs: Any) -> Any:
        ref = self._ref(args, kwargs)
        meta = self._cached_meta(ref)
        if meta is None:
            out, meta = await self._acompute(ref, args, kwargs)
            if not meta:
                return NotMemorizedResult(out)
        return MemorizedResult(self._memory, ref, self.mmap_mode, meta, self._name)

    async def _acompute(self, ref: EntryRef, args: tuple, kwargs: dict) -> tuple[Any, dict]:
        # No per-key thread lock here: blocking the event loop would stall every coroutine.
        snap = state_snapshot(self.func) if self._pinned is None else None
        t0 = _perf()
        out = await self.func(*args, **kwargs)
        duration = _perf() - t0
        ref = self._own_state(ref, snap)
        meta = self._put(ref, out, duration, args, kwargs)
        if meta is None:
            return out, {}
        return self._reload(ref, out), _joblib_meta(meta)


class BoundMemorized:
    """A cached method bound to one instance (the instance is hashed like any argument).

    It forwards the public and the private API (``_lookup``/``_store``, used by Parallel's
    cache-aware dispatch) with the instance prepended, and ``func`` is the plain bound method.
    """

    __slots__ = ("__func__", "__self__")
    _jlcache_memorized = True
    _FORWARDED = frozenset({"call", "call_and_shelve", "check_call_in_cache", "cache_key"})

    def __init__(self, memorized: MemorizedFunc, instance: Any) -> None:
        self.__func__ = memorized
        self.__self__ = instance

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.__func__(self.__self__, *args, **kwargs)

    @property
    def func(self) -> Any:
        return types.MethodType(self.__func__.func, self.__self__)

    def _lookup(self, args: tuple, kwargs: dict) -> tuple[EntryRef, Any]:
        return self.__func__._lookup((self.__self__, *args), kwargs)

    def _store(self, ref: EntryRef, value: Any, duration: float, args: tuple,
               kwargs: dict) -> bool:
        return self.__func__._store(ref, value, duration, (self.__self__, *args), kwargs)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.__func__, name)
        if name in self._FORWARDED:
            return functools.partial(attr, self.__self__)
        return attr

    def __reduce__(self) -> tuple:
        return (BoundMemorized, (self.__func__, self.__self__))

    def __repr__(self) -> str:
        name = getattr(self.__func__, "__qualname__", "method")
        return f"<bound cached method {name} of {self.__self__!r}>"
