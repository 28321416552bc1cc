"""What the dask and ray backends share: sending large arguments once, and stopping tasks.

Data flow of one ``Parallel`` call on a cluster::

    parent                                               worker
    ------                                               ------
    engine pickles a batch --> RemoteSharer.reduce(arr)
                               (first time per call: client.scatter / ray.put,
                                then a small ``_slot(key)`` reference)
    backend.submit(fn, payload)
      -> cluster.submit(run_on_worker, token, keys, fn, (payload,), *refs)
                                                          cluster resolves refs -> values
                                                          run_on_worker binds them to the
                                                          thread, fn unpickles the payload,
                                                          ``_slot(key)`` returns the value
    abort(): cancel queued tasks on the cluster; dask also interrupts running ones
             (``interrupt_call`` via ``client.run``), ray kills their worker processes.

The references travel as *top-level* task arguments so that the cluster itself moves the data
(and knows the dependency: dask schedules near the data, ray resolves it from its store).
"""

from __future__ import annotations

import ctypes
import sys
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["RemoteSharer", "TaskInterrupted", "estimate_nbytes", "interrupt_call",
           "run_on_worker"]


def estimate_nbytes(obj: Any) -> int:
    """A cheap size of objects worth shipping once: arrays, pandas objects, ``nbytes`` holders.

    Called by the pickler for every object of a batch, so it answers 0 fast for the rest.
    """
    nbytes = getattr(type(obj), "nbytes", None)
    if nbytes is not None:  # numpy arrays, torch tensors, xarray, arrow arrays...
        value = getattr(obj, "nbytes", 0)
        return value if isinstance(value, int) else 0
    module = type(obj).__module__
    if module.startswith("pandas.") and hasattr(obj, "memory_usage"):
        try:
            usage = obj.memory_usage(index=True, deep=False)
            return int(usage.sum() if hasattr(usage, "sum") else usage)
        except Exception:
            return 0
    return 0


# ------------------------------------------------------------------------------ parent side


class RemoteSharer:
    """Sends each large object once per call through ``put`` and pickles a small reference.

    Duck-types the engine's ``ArraySharer`` (``reduce(obj)``), so the engine's pickler routes
    large arguments here instead of to ``/dev/shm``, which remote workers cannot see.
    Objects are recognised by identity within the call; the references are dropped at
    ``close()`` so the cluster frees the data when the call ends. ``accepts_any``: the
    engine's pickler offers every object (pandas frames too), not only numpy arrays.
    """

    accepts_any = True

    def __init__(self, put: Callable[[Any], Any], max_nbytes: int | None) -> None:
        self._put = put
        self.max_nbytes = max_nbytes
        self._lock = threading.Lock()
        self._by_id: dict[int, tuple[str, Any, Any]] = {}  # id -> (key, obj kept alive, ref)
        self._pending: dict[str, Any] = {}                 # refs used since the last take()
        self.puts = 0

    def reduce(self, obj: Any) -> tuple | None:
        known = self._by_id.get(id(obj))
        if known is None or known[1] is not obj:
            if self.max_nbytes is None or estimate_nbytes(obj) < self.max_nbytes:
                return None
            known = self._register(obj)
        with self._lock:
            self._pending[known[0]] = known[2]
        return _slot, (known[0],)

    def pin(self, obj: Any) -> None:
        """Send ``obj`` now and reference it whatever its size (joblib's ``scatter=[...]``)."""
        self._register(obj)

    def _register(self, obj: Any) -> tuple[str, Any, Any]:
        with self._lock:
            known = self._by_id.get(id(obj))
            if known is None or known[1] is not obj:
                key = f"a{len(self._by_id)}"
                known = self._by_id[id(obj)] = (key, obj, self._put(obj))
                self.puts += 1
            return known

    def take(self) -> tuple[tuple[str, ...], tuple[Any, ...]]:
        """The references the batch pickled since the last call (keys, refs), in order."""
        with self._lock:
            pending, self._pending = self._pending, {}
        return tuple(pending), tuple(pending.values())

    def refs(self) -> list[Any]:
        with self._lock:
            return [ref for _, _, ref in self._by_id.values()]

    def close(self) -> None:
        with self._lock:
            self._by_id.clear()
            self._pending.clear()


# ------------------------------------------------------------------------------ worker side

_local = threading.local()
_running_lock = threading.Lock()
_running: dict[str, set[int]] = {}   # call token -> idents of threads running its tasks
_stopped: set[str] = set()            # tokens interrupted on this worker (bounded below)


class TaskInterrupted(BaseException):
    """Raised inside a task whose call was cancelled (BaseException: user code won't catch it)."""


def _slot(key: str) -> Any:
    values = getattr(_local, "values", None)
    if values is None or key not in values:
        raise RuntimeError(f"jlcache: the shared argument {key!r} did not reach this worker; "
                           "the call was probably cancelled while this task was starting.")
    return values[key]


def run_on_worker(token: str, keys: tuple[str, ...], fn: Callable[..., Any], args: tuple,
                  *values: Any) -> Any:
    """Entry point of every remote batch: bind shared values, make the task interruptible."""
    ident = threading.get_ident()
    with _running_lock:
        if token in _stopped:
            raise TaskInterrupted(f"call {token} was cancelled")
        _running.setdefault(token, set()).add(ident)
    _local.values = dict(zip(keys, values, strict=True))
    try:
        return fn(*args)
    finally:
        _local.values = None
        with _running_lock:
            idents = _running.get(token)
            if idents is not None:
                idents.discard(ident)
                if not idents:
                    del _running[token]


def interrupt_call(token: str) -> int:
    """Stop this worker's running tasks of call ``token``; later ones refuse to start.

    Python threads cannot be killed, so the task's thread gets an asynchronous
    ``TaskInterrupted`` (delivered at its next bytecode; a task blocked in native code stops
    when that call returns). Only threads registered for ``token`` are targeted, under the
    lock their task takes to unregister, so no other task is ever hit.
    """
    with _running_lock:
        _stopped.add(token)
        if len(_stopped) > 1000:
            _stopped.clear()
            _stopped.add(token)
        idents = _running.pop(token, set())
        for ident in idents:
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident),
                                                       ctypes.py_object(TaskInterrupted))
    return len(idents)


def running_calls() -> dict[str, int]:  # for tests and debugging
    with _running_lock:
        return {token: len(idents) for token, idents in _running.items()}


if sys.implementation.name != "cpython":  # pragma: no cover
    def interrupt_call(token: str) -> int:
        with _running_lock:
            _stopped.add(token)
        return 0
