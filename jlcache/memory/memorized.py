"""``MemorizedFunc``: one cached function (what ``Memory.cache`` returns).

A call flows as::

    args, kwargs --ArgBinder--> bound tuple --hash((bound, bound_state))--> key
    identify(func) -> (group, version)           EntryRef(kind, group, version, key)
    Store.get(ref) -- hit --> touch, cache.hit --> value       (Store: jlcache/store/base.py)
                  \\- miss --> per-key lock --> func(...) --> Store.put --> cache.store --> value

The hit path is kept lean on purpose (it is what a notebook pays on every re-run): the
signature is bound by a per-function ``ArgBinder``, identity comes from ``identify``'s
cache, the key is one ``hash`` call over a tuple, the entry is one file read, the access
time is recorded in memory (``Store.touch``), and events are only built when someone listens.
Loading, storing and the ``cache.*`` events go through ``memory.entries``, the one path
``%%memo`` cells (``cells.cached``) share.
"""

from __future__ import annotations

import functools
import logging
import os
import pickle
import time
import types
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from jlcache import events, stats
from jlcache.errors import CorruptEntryError, NotCachedWarning, UnhashableError
from jlcache.identity import hash as _hash
from jlcache.identity.functions import FunctionIdentity, bound_state, identify
from jlcache.identity.own_state import (
    describe,
    exclude_state,
    mutated_state,
    state_snapshot,
    unannounced_state,
)
from jlcache.memory import entries
from jlcache.memory.keys import (
    ArgBinder,
    KeyMemo,
    check_ignore,
    first_source_line,
    signature_line,
    summarize_args,
)
from jlcache.memory.locks import KeyLocks
from jlcache.memory.results import MISS, CacheKey, MemorizedResult, NotMemorizedResult
from jlcache.store import EntryRef, Store, group_name

if TYPE_CHECKING:  # pragma: no cover
    from jlcache.memory.memory import Memory

__all__ = ["MemorizedFunc"]

_log = logging.getLogger("jlcache.memory")
_WARNED_UNPICKLABLE: set[str] = set()  # functions already warned about an unpicklable result
_KIND = "functions"
_LOCKS = KeyLocks(MISS)
_groups: dict[str, str] = {}
_perf = time.perf_counter


class MemorizedFunc:
    """A function whose results are cached on disk, keyed by its code and its arguments."""

    _jlcache_memorized = True

    def __init__(self, func: Callable, location: Memory | str | os.PathLike,
                 backend: str = "local", ignore: list[str] | None = None,
                 mmap_mode: str | None = None, compress: bool | int | str | tuple = False,
                 verbose: int = 1, timestamp: float | None = None,
                 cache_validation_callback: Callable[[dict], bool] | None = None) -> None:
        """joblib's signature (``MemorizedFunc(func, location, ...)``, same order); ``location``
        may also be a jlcache ``Memory``, whose options then apply (``Memory.cache`` does so)."""
        memory = _memory_for(location, backend, compress)
        self.timestamp = time.time() if timestamp is None else timestamp
        self._setup(func, memory, ignore, verbose, mmap_mode, cache_validation_callback)
        self._identity()  # fails early for uncacheable callables, marks the version current

    def _setup(self, func: Callable, memory: Memory, ignore: list[str] | None, verbose: int,
               mmap_mode: str | None, cache_validation_callback: Callable[[dict], bool] | None,
               pinned: FunctionIdentity | None = None) -> None:
        self.func = func
        self._memory = memory
        self._cache_store: Store = memory._checked_store()
        self.ignore = check_ignore(ignore)
        self._verbose = verbose
        self.mmap_mode = mmap_mode
        self.cache_validation_callback = cache_validation_callback
        self._binder = ArgBinder(func, self.ignore)
        self._stateless = type(func) is types.FunctionType  # bound_state(plain function) == ()
        self._keys = KeyMemo()
        self._last_ref: EntryRef | None = None
        functools.update_wrapper(self, func, updated=())
        self._name = ""
        self._last: tuple[Any, int, tuple[str, str, str]] = (None, -1, ("", "", ""))
        # Set in unpickled copies (workers): the identity resolved by the process that pickled
        # it. A worker may not be able to resolve it the same way (a notebook cell's source
        # exists only in the kernel), and its copy of the function and of the globals it
        # reads is a snapshot taken at pickling time, so the pinned identity stays right.
        self._pinned = pinned
        # The notebook cell this definition was made in: a name defined in two cells has a
        # current version per cell (``memory.housekeeping``).
        self._site = stats.current_site()

    # -- keys -------------------------------------------------------------------------------

    def _ident(self) -> FunctionIdentity:
        pinned = self._pinned
        return identify(self.func) if pinned is None else pinned

    def _identity(self) -> tuple[str, str, str]:
        pinned = self._pinned  # (``_ident``, inlined: this runs on every call)
        ident = identify(self.func) if pinned is None else pinned
        last_ident, epoch, parts = self._last  # one read: threads may replace it concurrently
        if ident is last_ident and epoch == stats.epoch:  # identify returns its cached object
            return parts                                  # while nothing changed
        name = ident.name
        group = _groups.get(name)
        if group is None:
            group = _groups[name] = group_name(name)
        self._name = name
        stats.mark_current(_KIND, group, ident.version, self._site)
        parts = (name, group, ident.version)
        self._last = (ident, stats.epoch, parts)
        return parts

    def _ref(self, args: tuple, kwargs: dict) -> EntryRef:
        bound = self._binder.bind(args, kwargs)
        _, group, version = self._identity()
        key = self._keys.get(bound) if self._stateless else None
        if key is None:
            try:
                key = _hash((bound, () if self._stateless else bound_state(self.func)))
            except UnhashableError as exc:
                raise self._name_unhashable(bound, exc) from exc
            if self._stateless:
                self._keys.remember(bound, key)
        last = self._last_ref  # a repeated call reuses its ref (building one costs ~0.3 µs)
        if last is not None and last[3] == key and last[2] == version and last[1] == group:
            return last
        ref = self._last_ref = EntryRef(_KIND, group, version, key)
        return ref

    def _name_unhashable(self, bound: tuple, exc: Exception) -> UnhashableError:
        names = [n for n, keep in zip(self._binder.names, self._binder._keep, strict=True) if keep]
        if len(names) != len(bound):
            names = [f"argument {i}" for i in range(len(bound))]
        for name, value in zip(names, bound, strict=True):
            try:
                _hash(value)
            except UnhashableError as inner:
                return UnhashableError(
                    f"Cannot cache {self._name}: argument {name!r} (type "
                    f"{type(value).__name__}) cannot be hashed into a cache key: {inner} "
                    f"Pass a hashable value, or add {name!r} to ignore=[...] if it does not "
                    "affect the result."
                )
        return UnhashableError(f"Cannot cache {self._name}: {exc}")

    # -- lookup and store (also the private API of parallel/ and ipython/) -----------------

    def _lookup(self, args: tuple, kwargs: dict) -> tuple[EntryRef, Any]:
        """The entry a call maps to and its value, or ``MISS``; publishes hit/miss."""
        ref = self._ref(args, kwargs)
        value, meta = self._load(ref)
        if value is not MISS:
            callback = self.cache_validation_callback
            if callback is not None and not callback(_joblib_meta(meta)):
                self._cache_store.delete(ref)  # invalid for good, as in joblib
                value = MISS
            else:  # Store.get has recorded the access (in memory, no write)
                if self._verbose:
                    _log.info("[Memory] %s: cache hit (%s)", self._name, ref.key)
                entries.hit(ref, self._name, meta)
                return ref, value
        if self._verbose:
            shown = ", ".join(f"{k}={v}" for k, v in self._input_args(args, kwargs).items())
            _log.info("[Memory] cache miss, calling %s(%s) (key %s)", self._name, shown, ref.key)
        entries.miss(ref, self._name)
        return ref, MISS

    def _load(self, ref: EntryRef, quiet: bool = False) -> tuple[Any, dict]:
        return entries.load(self._cache_store, ref, self.mmap_mode, self._name, quiet=quiet)

    def _store(self, ref: EntryRef, value: Any, duration: float, args: tuple,
               kwargs: dict) -> bool:
        """Store one computed value; warns instead of raising when it cannot be stored (and
        returns False then)."""
        return self._put(ref, value, duration, args, kwargs) is not None

    def _put(self, ref: EntryRef, value: Any, duration: float, args: tuple,
             kwargs: dict) -> dict | None:
        memory = self._memory
        meta = entries.entry_meta(self._name, duration, self._input_args(args, kwargs))
        try:
            nbytes = entries.save(self._cache_store, ref, value, meta, self._info, memory.compress)
        except (pickle.PicklingError, TypeError, AttributeError, RecursionError) as exc:
            if self._name not in _WARNED_UNPICKLABLE:  # once per function: not on every call
                _WARNED_UNPICKLABLE.add(self._name)
                root = exc.__cause__ or exc
                warnings.warn(NotCachedWarning(
                    f"{self._name} returned a {type(value).__qualname__} that cannot be pickled "
                    f"({type(root).__name__}: {root}), so it is not cached and every call "
                    "recomputes it. Return plain data (numbers, arrays, dicts) to cache it. "
                    "(Shown once per function.)"), stacklevel=4)
            return None
        except Exception as exc:  # never let a storage problem fail the user's call
            memory._warn_store_failed(self._name, exc)
            return None
        meta["bytes"] = nbytes
        entries.stored(ref, self._name, nbytes, duration, self._cache_store.url)
        return meta

    def _input_args(self, args: tuple, kwargs: dict) -> dict[str, str]:
        try:
            return summarize_args(self._binder.arguments(args, kwargs))
        except TypeError:
            return {}

    def _info(self) -> dict[str, Any]:
        """What ``_info.json`` says about this function's version (names, signature, source)."""
        ident = self._ident()
        return {"module": ident.module, "qualname": ident.qualname,
                "signature": signature_line(self.func), "first_line": first_source_line(self.func),
                "code_hash": ident.code_hash, "deps_hash": ident.deps_hash, "created": time.time()}

    # -- computing ----------------------------------------------------------------------------

    def _compute(self, ref: EntryRef, args: tuple, kwargs: dict,
                 force: bool = False) -> tuple[Any, dict]:
        """Compute under the key's lock so concurrent callers in this process compute once."""
        lock_key = (self._memory._lock_scope, ref)
        with _LOCKS.hold(lock_key) as slot:
            if not force:
                if slot.result is not MISS:
                    return slot.result, {}
                value, meta = self._load(ref, quiet=True)
                if value is not MISS:
                    return value, _joblib_meta(meta)
            snap = state_snapshot(self.func) if self._pinned is None else None
            t0 = _perf()
            out = self.func(*args, **kwargs)
            duration = _perf() - t0
            ref = self._own_state(ref, snap)
            if self._verbose:
                _log.info("[Memory] %s computed in %.3fs", self._name, duration)
            stored = self._put(ref, out, duration, args, kwargs)
            if stored is None:
                slot.result = out
                return out, {}
            return self._reload(ref, out), _joblib_meta(stored)

    def _own_state(self, ref: EntryRef, snap: dict | None) -> EntryRef:
        """Stop keying on state the call itself mutated (else every call is a new version)."""
        known = unannounced_state(snap)        # seen in the code: left out from the start
        changes = mutated_state(self.func, snap)
        exclude_state(changes)
        told = changes + known
        if told:
            _log.warning("[Memory] %s modifies %s that it reads; that is its own state, not "
                         "an input, so %s not part of its cache key (pass such state as an "
                         "argument if the result depends on it). Shown once.", self._name,
                         describe(self.func, told), "they are" if len(told) > 1 else "it is")
        if not changes:
            return ref
        return EntryRef(ref.kind, ref.group, self._identity()[2], ref.key)

    def _reload(self, ref: EntryRef, out: Any) -> Any:
        """With ``mmap_mode``, return the stored memmap so the first call matches later ones."""
        if self.mmap_mode is None:
            return out
        value, _ = self._load(ref, quiet=True)
        return out if value is MISS else value

    # -- public API ---------------------------------------------------------------------------

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        ref, value = self._lookup(args, kwargs)
        if value is not MISS:
            return value
        return self._compute(ref, args, kwargs)[0]

    def call(self, *args: Any, **kwargs: Any) -> tuple[Any, dict]:
        """Recompute and store, whatever is cached; returns ``(output, metadata)``."""
        ref = self._ref(args, kwargs)
        return self._compute(ref, args, kwargs, force=True)

    def call_and_shelve(self, *args: Any, **kwargs: Any) -> MemorizedResult | NotMemorizedResult:
        """Make sure the value is cached and return a reference to it instead of the value."""
        ref = self._ref(args, kwargs)
        meta = self._cached_meta(ref)
        if meta is None:
            out, meta = self._compute(ref, args, kwargs, force=True)
            if not meta:
                return NotMemorizedResult(out)
        return MemorizedResult(self._memory, ref, self.mmap_mode, meta, self._name)

    def _cached_meta(self, ref: EntryRef) -> dict | None:
        store = self._cache_store
        try:
            meta = _joblib_meta(store.meta(ref))
        except (KeyError, CorruptEntryError):
            meta = None
        callback = self.cache_validation_callback
        if meta is not None and callback is not None and not callback(meta):
            meta = None
        if meta is not None:
            store.touch(ref)
        if meta is None:
            entries.miss(ref, self._name)
        else:
            entries.hit(ref, self._name, meta)
        return meta

    def check_call_in_cache(self, *args: Any, **kwargs: Any) -> bool:
        """Whether a call would be a hit: cached, and accepted by ``cache_validation_callback``.

        A pure query (no events, no counters, no access time, nothing deleted): an entry
        the callback rejects is reported as absent but left for the next call to replace.
        """
        store = self._cache_store
        ref = self._ref(args, kwargs)
        callback = self.cache_validation_callback
        if callback is None:
            return store.contains(ref)
        try:
            meta = _joblib_meta(store.meta(ref))
        except (KeyError, CorruptEntryError, OSError):
            return False
        return bool(callback(meta))

    def cache_key(self, *args: Any, **kwargs: Any) -> CacheKey:
        """Which entry this call maps to (and where it lives on disk)."""
        ref = self._ref(args, kwargs)
        return CacheKey(ref.kind, ref.group, ref.version, ref.key, self._cache_store.local_path(ref),
                        self._name, self._input_args(args, kwargs))

    def clear(self, warn: bool = True) -> None:
        """Delete every cached entry of this function, all versions."""
        _, group, _ = self._identity()
        if warn:
            _log.info("[Memory] clearing every cached version of %s", self._name)
        self._cache_store.delete_group(_KIND, group)
        if events.has_subscribers():
            events.publish("cache.clear", kind=_KIND, group=group, func=self._name,
                           version=None, key=None)

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        """``@memory.cache`` in a class body: ``obj.method(...)`` passes ``obj`` as ``self``."""
        if instance is None:
            return self
        from jlcache.memory.variants import BoundMemorized

        return BoundMemorized(self, instance)

    def __reduce__(self) -> tuple:
        """Pickles with its identity resolved here, so a worker keys calls like this process."""
        return (_rebuild, (type(self), self.func, self._memory, self.ignore, self._verbose,
                           self.mmap_mode, self.cache_validation_callback, self._ident()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(func={self.func!r}, location={self._memory.location!r})"


def _memory_for(location: Any, backend: str, compress: Any) -> Memory:
    from jlcache.memory.memory import Memory

    if isinstance(location, Memory):
        if backend != "local" or compress is not False:
            raise ValueError("backend and compress are options of the Memory passed as "
                             "location; set them there (Memory(path, compress=...)), or pass "
                             "a path as location.")
        return location
    if not isinstance(location, (str, os.PathLike)):
        raise TypeError(f"location must be a cache directory (str or os.PathLike) or a jlcache "
                        f"Memory; got {type(location).__name__} {location!r}. Without a "
                        "location nothing is cached: use NotMemorizedFunc(func) for that.")
    return Memory(location, backend=backend, compress=compress)


def _rebuild(cls: type[MemorizedFunc], func: Callable, memory: Memory, ignore: list[str], verbose: int,
             mmap_mode: str | None, callback: Callable[[dict], bool] | None,
             pinned: FunctionIdentity) -> MemorizedFunc:
    """Unpickle a ``MemorizedFunc`` with its pinned identity (``identify`` is not run)."""
    self = cls.__new__(cls)
    self._setup(func, memory, ignore, verbose, mmap_mode, callback, pinned)
    if self._site is not None:  # restored by a notebook cell (a %%memo hit): defined there
        self._identity()
    return self


def _joblib_meta(meta: dict) -> dict:
    """The metadata shape joblib users (and their validation callbacks) expect."""
    out = dict(meta)
    out.setdefault("duration", None)
    out.setdefault("input_args", {})
    out.setdefault("time", out.get("created"))
    return out
