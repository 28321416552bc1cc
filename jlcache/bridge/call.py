"""What ``joblib.Parallel.__call__`` runs while the bridge is on.

joblib's ``Parallel.__init__`` has already resolved everything the caller and the active
``joblib.parallel_config`` asked for: the backend (``prefer="threads"``, ``require=
"sharedmem"``, a ``parallel_backend("threading")`` block, the nesting level), ``n_jobs``
(``None`` -> the config's, then the backend's default), ``max_nbytes``/``mmap_mode``/
``temp_folder``. The bridge reads that resolution and runs the call on jlcache's engine
with the matching jlcache backend:

======================  ===================  ====================================
joblib backend           jlcache backend      notes
======================  ===================  ====================================
LokyBackend              ``loky``             the pool shared with jlcache.Parallel
MultiprocessingBackend   ``multiprocessing``
ThreadingBackend         ``threading``
SequentialBackend        ``sequential``       also any backend with n_jobs == 1
anything else            (joblib's own)       dask, ray, third-party: ``observe``
======================  ===================  ====================================

``n_jobs`` is counted by the joblib backend itself (``effective_n_jobs``), so joblib's own
rules and warnings apply (``-1`` = all CPUs, 1 inside a daemon process...). Calls made
inside a bridged task (nested calls) are left to joblib, as are all calls while the bridge
is off.
"""

from __future__ import annotations

import sys
from typing import Any

from jlcache.bridge import switch
from jlcache.bridge.tasks import InJoblibContext, in_bridged_task

__all__ = ["bridged_call", "engine_backend_name"]

_ENGINE_BACKENDS: dict[type, str] = {}


def bridged_call(self: Any, iterable: Any) -> Any:
    """joblib's ``Parallel.__call__`` while the bridge is on (installed by ``switch``)."""
    original = switch.original_call()
    if not switch.is_bridged() or in_bridged_task() or (self._backend.nesting_level or 0) > 0:
        return original(self, iterable)  # off, or a nested call: joblib's own, as joblib runs it
    name = engine_backend_name(self._backend)
    if name is None:
        from jlcache.bridge.observe import run_observed

        return run_observed(original, self, iterable, _progress(self.n_jobs))
    return _run_on_engine(self, iterable, name)


def engine_backend_name(joblib_backend: Any) -> str | None:
    """The jlcache backend that runs what this joblib backend would (None: keep joblib's).

    Exact classes only: a subclass of a joblib backend is someone's own backend.
    """
    if not _ENGINE_BACKENDS:
        import joblib.parallel as jp

        _ENGINE_BACKENDS.update({jp.LokyBackend: "loky", jp.ThreadingBackend: "threading",
                                 jp.MultiprocessingBackend: "multiprocessing",
                                 jp.SequentialBackend: "sequential"})
    return _ENGINE_BACKENDS.get(type(joblib_backend))


def _run_on_engine(parallel: Any, iterable: Any, name: str) -> Any:
    from jlcache.parallel import backends
    from jlcache.parallel.core import Parallel

    joblib_backend = parallel._backend
    n_jobs = 1 if name == "sequential" else joblib_backend.effective_n_jobs(parallel.n_jobs)
    if n_jobs == 1:
        name = "sequential"  # as joblib: no pool for one worker
    options: dict[str, Any] = {}
    inner = getattr(joblib_backend, "inner_max_num_threads", None)
    if inner and name in ("loky", "multiprocessing"):
        options["inner_max_num_threads"] = inner
    nested = None if name == "sequential" else joblib_backend.get_nested_backend()
    kwargs = parallel._backend_kwargs
    engine = Parallel(n_jobs=n_jobs, backend=backends.get_backend(name, **options),
                      return_as=parallel.return_as, verbose=parallel.verbose,
                      timeout=parallel.timeout, pre_dispatch=parallel.pre_dispatch,
                      batch_size=parallel.batch_size, temp_folder=kwargs.get("temp_folder"),
                      max_nbytes=kwargs.get("max_nbytes"), mmap_mode=kwargs.get("mmap_mode"),
                      prefer=None, require=None, progress=_progress(n_jobs))
    return engine(wrap_tasks(iterable, nested))


def _progress(n_jobs: int) -> bool:
    """A bar for this call? ``progress=None`` (the default) means: for calls with several
    workers, inside a Jupyter kernel. scikit-learn makes many one-worker calls (a forest's
    ``predict`` with ``n_jobs=None``): they are jobs in the panel, but a bar for each would
    bury the cell's output."""
    setting = switch.progress_setting()
    if setting is not None:
        return setting
    if n_jobs == 1:
        return False
    if "ipykernel" not in sys.modules:
        return False
    get = getattr(sys.modules.get("IPython"), "get_ipython", None)
    shell = get() if get else None
    return getattr(shell, "kernel", None) is not None


def wrap_tasks(iterable: Any, nested: tuple | None) -> Any:
    """The caller's tasks with each function run in joblib's nested context.

    Lazy (a generator stays a generator: joblib's ``pre_dispatch`` laziness is kept), and
    sized when the input is, so the job's total is known up front when joblib would know it.
    """
    backend, n_jobs = nested if nested else (None, None)
    last: list = [None, None]  # the previous task's function and its wrapper

    def wrap(task: Any) -> Any:
        try:
            func, args, kwargs = task
        except (TypeError, ValueError):
            return task  # not a delayed() task: the engine explains what is wrong with it
        if getattr(func, "_jlcache_memorized", False) is True:
            return task  # keep cache-aware dispatch (hits never leave this process)
        if func is not last[0]:
            last[0], last[1] = func, InJoblibContext(func, backend, n_jobs)
        return (last[1], args, kwargs)

    if hasattr(iterable, "__len__"):
        return _SizedTasks(iterable, wrap)
    return _Tasks(iterable, wrap)


class _Tasks:
    __slots__ = ("_iterable", "_wrap")

    def __init__(self, iterable: Any, wrap: Any) -> None:
        self._iterable, self._wrap = iterable, wrap

    def __iter__(self) -> Any:
        return map(self._wrap, self._iterable)


class _SizedTasks(_Tasks):
    __slots__ = ()

    def __len__(self) -> int:
        return len(self._iterable)
