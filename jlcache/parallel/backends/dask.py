"""``backend="dask"``: run batches on a ``distributed`` cluster through the user's ``Client``.

The client is, in order: ``client=`` given to ``parallel_config``/``Parallel``, a client
connected to ``scheduler_host=``/``address=`` (created once per address and reused), or the
current client (``distributed.get_client()``, what ``Client(...)`` registers). Without any of
them this backend refuses to run: starting a cluster is the user's decision (it takes memory,
ports and processes), so the error says how to start one instead of doing it silently.

Per call (``start`` .. ``stop``/``abort``) the backend owns a token, its futures and a
``RemoteSharer`` that scatters each large argument once (``client.scatter(broadcast=False)``)
and lets dask move it between workers. ``abort`` cancels queued tasks on the scheduler
(``client.cancel(force=True)``) and interrupts running ones in their worker threads
(``_remote.interrupt_call``), so nothing of the call keeps a worker busy.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import CancelledError, Future
from functools import partial
from typing import Any

from jlcache.errors import BackendUnavailableError, WorkerCrashedError
from jlcache.parallel.backends._remote import RemoteSharer, interrupt_call, run_on_worker
from jlcache.parallel.backends.base import ParallelBackendBase

__all__ = ["NO_CLIENT_MESSAGE", "DaskBackend"]

NO_CLIENT_MESSAGE = (
    "backend='dask' needs a dask.distributed Client, and none is running in this process. "
    "jlcache does not start a cluster on its own. Start one first, e.g. for a local cluster:\n"
    "    from dask.distributed import Client\n"
    "    client = Client()            # or Client('tcp://scheduler-address:8786')\n"
    "then run Parallel(backend='dask') again; or pass one explicitly with "
    "parallel_config('dask', client=client) or parallel_config('dask', "
    "scheduler_host='tcp://scheduler-address:8786')."
)

_clients_lock = threading.Lock()
_clients: dict[str, Any] = {}  # scheduler address -> Client we created (reused by later calls)


def _distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise BackendUnavailableError(
            f"backend='dask' needs the 'distributed' package, which is not installed ({exc}). "
            "Install it with `pip install jlcache[dask]`.") from exc
    return distributed


def _client_for(address: str) -> Any:
    distributed = _distributed()
    with _clients_lock:
        client = _clients.get(address)
        if client is None or client.status in ("closed", "closing"):
            client = _clients[address] = distributed.Client(address, set_as_default=False)
        return client


def _current_client() -> Any:
    distributed = _distributed()
    try:
        return distributed.get_client()
    except ValueError as exc:
        raise ValueError(NO_CLIENT_MESSAGE) from exc


def _bridge(target: Future, fut: Any) -> None:
    """dask future done -> ``concurrent.futures.Future`` the engine waits on."""
    if target.done():
        return
    try:
        if fut.status == "finished":
            target.set_result(fut.result())
        elif fut.status == "cancelled":
            target.set_exception(CancelledError("the dask task was cancelled"))
        else:
            exc = fut.exception()
            target.set_exception(exc if exc is not None else RuntimeError(fut.status))
    except BaseException as exc:  # e.g. the result could not be fetched
        if not target.done():
            target.set_exception(exc)


class DaskBackend(ParallelBackendBase):
    """Batches as dask tasks on an existing cluster; see the module docstring."""

    name = "dask"
    supports_timeout = True   # a timed-out call is aborted: its tasks are stopped
    supports_cancel = True
    remote = True
    default_window = 2
    default_n_jobs = -1       # n_jobs=None: the whole cluster (its size is the user's choice)
    # seconds of work per auto-sized batch: a cluster task costs a scheduler round trip
    # (~1-5 ms locally, more over a network), so batches are longer than locally
    batch_target = 0.2

    def __init__(self, nesting_level: int | None = None, inner_max_num_threads: int | None = None,
                 client: Any = None, scheduler_host: str | None = None,
                 address: str | None = None, scatter: Any = None, **submit_kwargs: Any) -> None:
        super().__init__(nesting_level, inner_max_num_threads)
        _distributed()
        if client is not None and (scheduler_host or address):
            raise ValueError("parallel_config('dask', ...) takes either client= or "
                             "scheduler_host=/address=, not both.")
        self._client_arg = client
        self._address = scheduler_host or address
        self.submit_kwargs = submit_kwargs  # e.g. resources=, retries=, priority=
        if scatter is not None and not isinstance(scatter, (list, tuple)):
            raise TypeError(f"scatter= must be a list or tuple of objects to send to the "
                            f"cluster once per call, got {type(scatter).__name__}.")
        self._pinned = list(scatter or ())  # sent once per call whatever their size
        self.max_nbytes: int | None = 1024**2
        self._client: Any = None
        self._token = ""
        self._futures: dict[str, Any] = {}
        self._counter = itertools.count()
        self._sharer: RemoteSharer | None = None
        self._lock = threading.Lock()

    # --- the client ----------------------------------------------------------------------
    @property
    def client(self) -> Any:
        if self._client is None:
            if self._client_arg is not None:
                self._client = self._client_arg
            elif self._address:
                self._client = _client_for(self._address)
            else:
                self._client = _current_client()
        return self._client

    def _cluster_threads(self) -> int:
        client = self.client
        threads = sum(client.nthreads().values())
        if threads == 0:  # a cluster that is still starting (or scaling from zero)
            try:
                client.wait_for_workers(1, timeout=30)
            except Exception as exc:
                raise RuntimeError(
                    f"The dask cluster at {client.scheduler.address} has no workers after 30 s. "
                    "Check that workers are running and can reach the scheduler, or scale the "
                    "cluster up (cluster.scale(n)).") from exc
            threads = sum(client.nthreads().values())
        return max(threads, 1)

    # --- sizing and lifecycle ------------------------------------------------------------
    def effective_n_jobs(self, n_jobs: int) -> int:
        """The cluster's thread count; an explicit positive ``n_jobs`` caps tasks in flight.

        ``n_jobs=None`` (``default_n_jobs = -1``) and negative values mean "the whole
        cluster", as in joblib's dask backend: on a cluster its size is the user's choice.
        """
        if n_jobs >= 1:
            return n_jobs
        threads = self._cluster_threads()
        return max(threads + 1 + n_jobs, 1)

    def start(self, n_jobs: int) -> int:
        self.client  # noqa: B018 - fail here, before anything is dispatched
        with self._lock:
            self._token = uuid.uuid4().hex[:12]
            self._futures = {}
        return n_jobs

    def make_sharer(self, max_nbytes: int | None) -> RemoteSharer:
        """The engine's hook for large arguments: scatter them once per call (not /dev/shm)."""
        self.max_nbytes = max_nbytes
        if self._sharer is None:
            self._sharer = RemoteSharer(self._scatter, max_nbytes)
            for obj in self._pinned:
                self._sharer.pin(obj)
        self._sharer.max_nbytes = max_nbytes
        return self._sharer

    def _scatter(self, obj: Any) -> Any:
        # hash=False: a fresh key per call, so a mutated array is never served stale
        return self.client.scatter(obj, broadcast=False, hash=False, direct=False)

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        keys, refs = self._sharer.take() if self._sharer is not None else ((), ())
        key = f"jlcache-batch-{self._token}-{next(self._counter)}"
        fut = self.client.submit(run_on_worker, self._token, keys, fn, args, *refs, key=key,
                                 pure=False, **self.submit_kwargs)
        with self._lock:
            self._futures[key] = fut
        target: Future = Future()
        target.set_running_or_notify_cancel()  # cancel() -> False: the engine calls abort()
        fut.add_done_callback(partial(self._done, key, target))
        return target

    def _done(self, key: str, target: Future, fut: Any) -> None:
        _bridge(target, fut)
        with self._lock:  # a held future pins its result in worker memory: let it go
            self._futures.pop(key, None)

    def stop(self) -> None:
        with self._lock:
            self._futures = {}  # dropping the futures lets the scheduler forget them
            sharer, self._sharer = self._sharer, None
        if sharer is not None:
            sharer.close()

    def abort(self) -> None:
        """Cancel queued tasks on the scheduler, then interrupt the ones still running."""
        with self._lock:
            futures = list(self._futures.values())
        client, token = self._client, self._token
        if client is None or not token:
            return
        try:
            if futures:
                client.cancel(futures, force=True)
            client.run(interrupt_call, token)
        except Exception:  # the cluster went away: nothing is left running on it anyway
            pass

    # --- errors --------------------------------------------------------------------------
    def crash_error(self, exc: BaseException) -> BaseException | None:
        try:
            from distributed.scheduler import KilledWorker
        except ImportError:  # pragma: no cover
            return None
        if not isinstance(exc, KilledWorker):
            return None
        return WorkerCrashedError(
            "A dask worker died while running a task of this call, more than the scheduler's "
            "allowed-failures times (distributed.scheduler.allowed-failures). Likely cause: the "
            "task used too much memory (the nanny restarts workers over their memory limit) or "
            "crashed in native code. Check the worker logs (client.get_worker_logs()), give "
            f"workers more memory, or run the task with backend='sequential'.\n({exc})")
