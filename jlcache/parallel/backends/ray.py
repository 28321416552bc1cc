"""``backend="ray"``: run batches as ray tasks on the running ray instance.

If this process is not connected to ray yet, the backend calls ``ray.init(address=...)``
(``address=`` from ``parallel_config("ray", address=...)``, else ``$RAY_ADDRESS``, else
whatever ``ray.init()`` finds): it connects to a cluster that is already running on this
machine, or starts a local one with one worker per CPU and no dashboard. That is logged
(logger ``jlcache.parallel``), and the instance stays up for later calls, as when the user
calls ``ray.init()`` themselves; ``ray.shutdown()`` stops it.

Per call the backend owns a token, its object refs and a ``RemoteSharer`` that puts each large
argument in the object store once (``ray.put``). ``abort`` cancels every task of the call
with ``ray.cancel(ref, force=True)``: queued tasks are dropped, running ones have their
worker process killed (ray starts a fresh one), so nothing keeps computing.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import CancelledError, Future
from functools import partial
from typing import Any

from jlcache.errors import BackendUnavailableError, WorkerCrashedError
from jlcache.parallel.backends._remote import RemoteSharer, run_on_worker
from jlcache.parallel.backends.base import ParallelBackendBase

__all__ = ["RayBackend"]

_log = logging.getLogger("jlcache.parallel")
_init_lock = threading.Lock()
_remote_fn: Any = None


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise BackendUnavailableError(
            f"backend='ray' needs the 'ray' package, which is not installed ({exc}). "
            "Install it with `pip install jlcache[ray]`.") from exc
    return ray


def ensure_ray(address: str | None = None, **init_kwargs: Any) -> Any:
    """The ray module, connected: reuse the user's ``ray.init``, else connect or start one."""
    ray = _ray()
    with _init_lock:
        if not ray.is_initialized():
            target = address or os.environ.get("RAY_ADDRESS")
            if target is None:
                init_kwargs.setdefault("include_dashboard", False)
            _log.warning("jlcache: ray is not initialised in this process; calling ray.init(%s) "
                         "(connects to a running cluster, or starts a local one). Call "
                         "ray.init(...) yourself first to choose its options.",
                         f"address={target!r}" if target else "")
            ray.init(address=target, **init_kwargs)
    return ray


def _remote_function(ray: Any) -> Any:
    global _remote_fn
    if _remote_fn is None:
        # no retries: a task that crashed its worker must surface, not silently run again
        _remote_fn = ray.remote(max_retries=0)(run_on_worker)
    return _remote_fn


def _bridge(target: Future, ray_future: Future) -> None:
    if target.done():
        return
    try:
        target.set_result(ray_future.result())
    except BaseException as exc:
        if not target.done():
            target.set_exception(exc)


def _cancel(ray: Any, refs: list) -> None:
    for ref in reversed(refs):  # later refs are the queued ones: drop them first
        try:
            ray.cancel(ref, force=True)
        except Exception:  # already finished, or the cluster went away
            pass


def _cancel_until_done(ray: Any, refs: list, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    pending = refs
    try:
        while pending and time.monotonic() < deadline:
            _, pending = ray.wait(pending, num_returns=len(pending), timeout=0.25,
                                  fetch_local=False)
            _cancel(ray, pending)
    except Exception:  # ray shut down meanwhile: nothing left to cancel
        pass


class RayBackend(ParallelBackendBase):
    """Batches as ray tasks; see the module docstring."""

    name = "ray"
    supports_timeout = True   # a timed-out call is aborted: its tasks are cancelled
    supports_cancel = True
    remote = True
    default_n_jobs = -1       # n_jobs=None: the whole cluster (its size is the user's choice)
    # seconds of work per auto-sized batch: a cluster task costs a scheduler round trip
    # (~1-5 ms locally, more over a network), so batches are longer than locally
    batch_target = 0.2

    def __init__(self, nesting_level: int | None = None, inner_max_num_threads: int | None = None,
                 address: str | None = None, ray_remote_args: dict | None = None,
                 init_kwargs: dict | None = None, **kwargs: Any) -> None:
        super().__init__(nesting_level, inner_max_num_threads)
        _ray()
        self.address = address
        self.init_kwargs = dict(init_kwargs or {})
        self.remote_args = {**(ray_remote_args or {}), **kwargs}  # e.g. num_cpus=, resources=
        self.max_nbytes: int | None = 1024**2
        self._token = ""
        self._refs: dict[int, Any] = {}
        self._counter = itertools.count()
        self._sharer: RemoteSharer | None = None
        self._lock = threading.Lock()
        self._ray: Any = None

    @property
    def ray(self) -> Any:
        if self._ray is None:
            self._ray = ensure_ray(self.address, **self.init_kwargs)
        return self._ray

    def effective_n_jobs(self, n_jobs: int) -> int:
        """The cluster's CPUs for ``n_jobs=None`` or negative; an explicit positive ``n_jobs``
        caps the tasks in flight instead."""
        if n_jobs >= 1:
            return n_jobs
        cpus = int(self.ray.cluster_resources().get("CPU", 1)) or 1
        return max(cpus + 1 + n_jobs, 1)

    def start(self, n_jobs: int) -> int:
        self.ray  # noqa: B018 - connect (or start ray) before anything is dispatched
        with self._lock:
            self._token = uuid.uuid4().hex[:12]
            self._refs = {}
        return n_jobs

    def make_sharer(self, max_nbytes: int | None) -> RemoteSharer:
        """The engine's hook for large arguments: ``ray.put`` them once per call."""
        self.max_nbytes = max_nbytes
        if self._sharer is None:
            self._sharer = RemoteSharer(self.ray.put, max_nbytes)
        self._sharer.max_nbytes = max_nbytes
        return self._sharer

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        keys, refs = self._sharer.take() if self._sharer is not None else ((), ())
        remote = _remote_function(self.ray)
        if self.remote_args:
            remote = remote.options(**self.remote_args)
        ref = remote.remote(self._token, keys, fn, args, *refs)
        n = next(self._counter)
        with self._lock:
            self._refs[n] = ref
        target: Future = Future()
        target.set_running_or_notify_cancel()  # cancel() -> False: the engine calls abort()
        ref.future().add_done_callback(partial(self._done, n, target))
        return target

    def _done(self, n: int, target: Future, ray_future: Future) -> None:
        _bridge(target, ray_future)
        with self._lock:  # a held ref pins its result in the object store: let it go
            self._refs.pop(n, None)

    def stop(self) -> None:
        with self._lock:
            self._refs = {}
            sharer, self._sharer = self._sharer, None
        if sharer is not None:
            sharer.close()

    def abort(self) -> None:
        """Cancel every task of the call: queued ones first, then kill the running ones."""
        with self._lock:
            refs = list(self._refs.values())
        ray = self._ray
        if ray is None or not refs:
            return
        _cancel(ray, refs)
        # ray.cancel is best effort: a task being handed to a worker at that moment can miss
        # it. Keep cancelling what has not ended for a few seconds, off the caller's thread.
        threading.Thread(target=_cancel_until_done, args=(ray, refs), daemon=True,
                         name="jlcache-ray-cancel").start()

    def crash_error(self, exc: BaseException) -> BaseException | None:
        ray = self._ray
        if ray is None:
            return None
        rex = ray.exceptions
        if isinstance(exc, (rex.TaskCancelledError, CancelledError)):
            return None
        if isinstance(exc, (rex.WorkerCrashedError, rex.NodeDiedError)) or (
                isinstance(exc, rex.RayTaskError) and not isinstance(exc.cause, Exception)):
            return WorkerCrashedError(
                "A ray worker process died while running a task of this call. Likely cause: "
                "the task used too much memory (ray's memory monitor kills such workers), or a "
                "crash in native code. Check `ray status` and the worker logs, or run the task "
                f"with backend='sequential' to see the error in this process.\n({exc})")
        return None
