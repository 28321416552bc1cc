"""The backend interface: what the engine needs from a pool of workers.

The engine (``jlcache.parallel.dispatch``) owns batching, ordering, errors, events, array
sharing and cancellation. A backend only has to run ``fn(*args)`` somewhere and hand back a
``concurrent.futures.Future``. Capabilities are declared as class attributes, so the engine
never needs ``isinstance`` checks::

    class MyBackend(ParallelBackendBase):
        name = "mine"
        uses_threads = True            # tasks run in this process (no pickling, no sharing)

        def start(self, n_jobs):
            self._pool = concurrent.futures.ThreadPoolExecutor(n_jobs)
            return n_jobs

        def submit(self, fn, *args):
            return self._pool.submit(fn, *args)

        def stop(self):
            self._pool.shutdown(wait=False)

    register_parallel_backend("mine", MyBackend)

Lifecycle per ``Parallel`` call (or per ``with Parallel(...)`` block): ``effective_n_jobs``,
``start``, any number of ``submit``, then ``stop`` (normal end) or ``abort`` (error, Ctrl-C,
timeout, closed generator) followed by ``stop``.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

__all__ = ["ParallelBackendBase"]


class ParallelBackendBase:
    """Base class of every backend; subclass it and ``register_parallel_backend`` the class.

    Capability flags (class attributes, override as needed):

    - ``uses_threads``: tasks run in this process. The engine then passes task objects
      directly (no pickling, no array sharing) and a stop flag checked between tasks.
    - ``supports_sharedmem``: tasks see the caller's memory (``require="sharedmem"``).
    - ``supports_timeout``: per-task ``timeout`` can be enforced (else the engine warns).
    - ``supports_generator``: results can be consumed while the call runs.
    - ``supports_cancel``: ``abort`` can stop *running* tasks (e.g. by killing workers).
    - ``remote``: workers may be on other machines (no shared filesystem or ``/dev/shm``).
    - ``default_window``: batches kept in flight per worker (the engine's ``pre_dispatch``).
    - ``inline``: no workers at all: the engine runs each task in the caller's thread as it
      pulls it from the iterable, and never calls ``submit`` (the sequential backend).

    Tuning attributes: ``default_n_jobs`` is what ``n_jobs=None`` means (1 locally; a
    cluster backend uses -1, the whole cluster, whose size is the user's choice), and
    ``batch_target`` the seconds of work an automatic batch aims at (longer on a cluster,
    where each task round trip costs milliseconds), and ``max_batch`` the most tasks an
    automatic batch holds (a thread pool gains nothing from huge batches, which only hold
    more task arguments in memory).
    """

    name = "base"
    uses_threads = False
    supports_sharedmem = False
    supports_timeout = False
    supports_generator = True
    supports_cancel = False
    remote = False
    default_window = 2
    inline = False
    default_n_jobs = 1
    batch_target = 0.05
    max_batch = 100_000

    def __init__(self, nesting_level: int | None = None,
                 inner_max_num_threads: int | None = None, **backend_kwargs: Any) -> None:
        self.nesting_level = nesting_level or 0
        self.inner_max_num_threads = inner_max_num_threads
        self.backend_kwargs = backend_kwargs

    # --- sizing ------------------------------------------------------------------------------
    def effective_n_jobs(self, n_jobs: int) -> int:
        """Workers this backend will actually use for ``n_jobs`` (already validated != 0)."""
        from jlcache.parallel.config import cpu_count

        if n_jobs < 0:
            return max(cpu_count() + 1 + n_jobs, 1)
        return n_jobs

    # --- lifecycle ---------------------------------------------------------------------------
    def start(self, n_jobs: int) -> int:
        """Make ``n_jobs`` workers available (may be lazy); return how many there are."""
        return n_jobs

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        """Run ``fn(*args)`` on a worker; the returned future carries its result or exception."""
        raise NotImplementedError(f"{type(self).__name__} must implement submit(fn, *args)")

    def stop(self) -> None:
        """The call (or ``with`` block) is over: release what is not meant to be reused."""

    def abort(self) -> None:
        """Stop running tasks as fast as possible; the next ``start`` must work again."""

    def make_sharer(self, max_nbytes: int | None) -> Any:
        """Where large arguments go instead of into every batch's pickle (None: nowhere).

        Process backends get the engine's ``/dev/shm`` sharer without overriding this. A
        ``remote`` backend returns an object with ``reduce(obj) -> (callable, args) | None``
        (a pickle reduction, e.g. a reference to data put once in a cluster's store) and
        ``close()``; with ``accepts_any = True`` it is offered every object, not only arrays.
        """
        return None

    # --- nesting and errors ------------------------------------------------------------------
    def nested_backend(self) -> ParallelBackendBase:
        """The backend a ``Parallel`` call *inside* one of this backend's tasks should use."""
        if self.uses_threads:
            from jlcache.parallel.backends.sequential import SequentialBackend

            return SequentialBackend(nesting_level=self.nesting_level + 1)
        from jlcache.parallel.backends.threads import ThreadingBackend

        return ThreadingBackend(nesting_level=self.nesting_level + 1)

    def crash_error(self, exc: BaseException) -> BaseException | None:
        """Turn a backend-specific "the pool died" exception into ``WorkerCrashedError``.

        Return None when ``exc`` is not about a dead worker (the engine re-raises it as is).
        """
        return None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
