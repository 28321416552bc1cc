"""``Parallel``: joblib's API on top of ``dispatch.Run``.

This module only decides *what* to run with (backend, n_jobs, batching, array sharing,
reporting) from the arguments, the thread's ``parallel_config`` and whether we are already
inside a worker; ``dispatch.Run`` does the running.
"""

from __future__ import annotations

import warnings
from typing import Any

from jlcache.parallel import backends, config
from jlcache.parallel.backends._worker_setup import is_mp_context
from jlcache.parallel.batching import AutoBatcher, FixedBatcher, check_pre_dispatch
from jlcache.parallel.config import Default
from jlcache.parallel.jobs import BackgroundJob, new_job_id

__all__ = ["Parallel"]

_RETURN_AS = ("list", "generator", "generator_unordered")
_FALLS_BACK_TO_SEQUENTIAL = ("loky", "multiprocessing", "threading")


class Parallel:
    """Run ``delayed(f)(...)`` tasks in parallel; joblib-compatible (see docs/parallel.md).

    Differences from joblib, all additive: ``progress=True`` shows a progress bar,
    ``background=True`` returns a ``BackgroundJob`` at once, every call publishes ``job.*``
    events, and tasks calling a ``Memory``-cached function are looked up in the parent first.
    """

    def __init__(self, n_jobs: int | None = None, backend: Any = None, return_as: str = "list",
                 verbose: Any = Default(0), timeout: float | None = None,
                 pre_dispatch: str | int = "2 * n_jobs", batch_size: str | int = "auto",
                 temp_folder: Any = Default(None), max_nbytes: Any = Default("1M"),
                 mmap_mode: Any = Default("r"), prefer: Any = Default(None),
                 require: Any = Default(None), progress: bool = False, background: bool = False,
                 **backend_kwargs: Any) -> None:
        n_jobs = config.check_n_jobs(n_jobs)
        config.validate_choice("return_as", return_as, _RETURN_AS)
        cfg = config.get_config()

        def pick(value: Any, key: str) -> Any:
            return cfg[key] if isinstance(value, Default) else value

        self.n_jobs = n_jobs
        self.return_as = return_as
        self.verbose = pick(verbose, "verbose")
        self.timeout = timeout
        self.pre_dispatch = pre_dispatch
        self.batch_size = batch_size
        self.temp_folder = pick(temp_folder, "temp_folder")
        self.max_nbytes = pick(max_nbytes, "max_nbytes")
        self.mmap_mode = pick(mmap_mode, "mmap_mode")
        self.prefer = pick(prefer, "prefer")
        self.require = pick(require, "require")
        config.validate_choice("prefer", self.prefer, (None, "processes", "threads"))
        config.validate_choice("require", self.require, (None, "sharedmem"))
        if self.prefer == "processes" and self.require == "sharedmem":
            raise ValueError("prefer='processes' and require='sharedmem' are inconsistent: "
                             "processes do not share the caller's memory. Drop one of them "
                             "(require='sharedmem' alone picks threads).")
        self.progress = progress
        self.background = background
        if batch_size != "auto":
            FixedBatcher(batch_size)  # type: ignore[arg-type]  # validates: a bad value raises
        check_pre_dispatch(pre_dispatch)
        from jlcache.parallel.sharing import parse_nbytes

        self._max_nbytes = parse_nbytes(self.max_nbytes)
        self._backend, self._n_jobs = self._resolve_backend(backend, cfg, backend_kwargs)
        self._window(1)  # a bad pre_dispatch expression fails here, not at the first call
        self._managed = False
        self._sharer: Any = None
        self._running = False

    # --- configuration -----------------------------------------------------------------------
    def _resolve_backend(self, backend: Any, cfg: dict, kwargs: dict) -> tuple[Any, int]:
        explicit = backend is not None
        n_jobs = self.n_jobs if self.n_jobs is not None else cfg["n_jobs"]
        if backend is None:
            backend = cfg["backend"]
            kwargs = {**cfg["backend_params"], **kwargs}
        configured = backend is not None
        if backend is None:
            wants_threads = self.prefer == "threads" or self.require == "sharedmem"
            backend = "threading" if wants_threads else backends.default_backend_name()
        if is_mp_context(backend):  # as joblib: a multiprocessing context selects its start method
            backend, kwargs = "multiprocessing", {**kwargs, "context": backend}
        if isinstance(backend, str) and cfg["inner_max_num_threads"]:
            kwargs.setdefault("inner_max_num_threads", cfg["inner_max_num_threads"])
        instance = backends.get_backend(backend, **kwargs)
        if not configured and self.prefer == "processes" and instance.uses_threads:
            # a thread backend was made the default: prefer="processes" still gets processes
            limit = cfg["inner_max_num_threads"]
            instance = backends.get_backend("loky", **({"inner_max_num_threads": limit}
                                                       if limit else {}))
        if self.require == "sharedmem" and not instance.supports_sharedmem:
            if explicit:
                raise ValueError(f"Backend {instance.name!r} does not share memory with the "
                                 "caller, but require='sharedmem' was given; use "
                                 "backend='threading' or drop require.")
            instance = backends.get_backend("threading")
        instance = _degrade_if_nested(instance)
        if n_jobs is None:  # 1 locally; a cluster backend's default is the whole cluster
            n_jobs = instance.default_n_jobs
        n = max(instance.effective_n_jobs(n_jobs), 1)
        if n == 1 and instance.name in _FALLS_BACK_TO_SEQUENTIAL:
            instance = backends.get_backend("sequential")  # as joblib: no pool for one worker
        return instance, max(n, 1)

    def _window(self, n_workers: int) -> int:
        """Batches kept in flight (joblib's ``pre_dispatch``, counted in batches)."""
        if self.timeout is not None:
            return n_workers  # every submitted batch starts at once: timeouts stay honest
        pre = self.pre_dispatch
        if pre == "2 * n_jobs":
            return max(n_workers * self._backend.default_window, 1)
        if pre == "all":
            return 1 << 30
        if isinstance(pre, str):
            import re

            expr = pre.replace("n_jobs", str(n_workers))
            # arithmetic only (joblib evaluates the string; we refuse anything else)
            try:
                if not re.fullmatch(r"[\d\s.+\-*/()]+", expr):
                    raise ValueError(expr)
                pre = eval(expr, {"__builtins__": {}}, {})
            except Exception as exc:
                raise ValueError(f"pre_dispatch={self.pre_dispatch!r} is not an expression of "
                                 "n_jobs like '3 * n_jobs', an int, or 'all'.") from exc
        return max(int(pre), 1)

    # --- context manager ---------------------------------------------------------------------
    def __enter__(self) -> Parallel:
        self._managed = True
        self._n_workers = self._backend.start(self._n_jobs)
        return self

    def __exit__(self, *exc: object) -> None:
        self._managed = False
        try:
            self._backend.stop()
        finally:
            if self._sharer is not None:
                # leaving on an exception: the files are gone before the caller sees it
                self._sharer.close(wait=exc[0] is not None)
                self._sharer = None

    # --- calls -------------------------------------------------------------------------------
    def __call__(self, iterable: Any) -> Any:
        __tracebackhide__ = True  # IPython: the task's frames explain its error
        if self.background:
            job_id = new_job_id()
            job = BackgroundJob(job_id, "")
            job._start(lambda: self._collect_list(self._make_run(iterable, job_id, job)))
            return job
        run = self._make_run(iterable, None, None)
        if self.return_as == "list":
            return self._collect_list(run)
        return _ResultIterator(run, ordered=self.return_as == "generator")

    def _make_run(self, iterable: Any, job_id: str | None, job: BackgroundJob | None) -> Any:
        """The call's ``Run``, its pool started first; ``job_id`` None: a new one, taken
        once the workers are booting (the job registry's imports then overlap with them)."""
        if not hasattr(iterable, "__len__"):
            iterable = iter(iterable)
        backend = self._backend
        window_of = self._window  # validates pre_dispatch before any worker starts
        window_of(1)
        if self.timeout is not None and not backend.supports_timeout:
            from jlcache.errors import ParallelWarning

            warnings.warn(f"The {backend.name!r} backend cannot enforce timeout={self.timeout}; "
                          "it is ignored. Use backend='loky' or 'multiprocessing' to stop "
                          "tasks that run too long.", ParallelWarning, stacklevel=3)
        self._claim()
        try:
            # idempotent: repairs a broken pool. First, so that new workers boot while this
            # process imports the engine's modules and prepares the first batch
            n_workers = backend.start(self._n_jobs)
            if job_id is None:
                job_id = new_job_id()
            from jlcache.parallel.progress import make_reporters

            run_type = _run_type(backend)
            batcher = (AutoBatcher(backend.batch_target, backend.max_batch)
                       if self.batch_size == "auto"
                       else FixedBatcher(self.batch_size))  # type: ignore[arg-type]  # validated
            if self.timeout is not None and backend.supports_timeout and self.batch_size == "auto":
                batcher = FixedBatcher(1)
            run = run_type(
                backend=backend, n_jobs=n_workers, iterable=iterable, batcher=batcher,
                window=window_of(n_workers),
                timeout=self.timeout if backend.supports_timeout else None,
                sharer=self._get_sharer(backend), job=self._job_data(job_id, job),
                reporters=make_reporters(self.progress, self.verbose,
                                         f"Parallel(n_jobs={n_workers})"))
        except BaseException:
            self._release("error")
            raise
        run.backend_release = self._release
        if job is not None:
            job._attach(run)
        run.start()  # on failure, finish() has already called _release
        if job is not None:
            job.description = run.job["func"]
        return run

    def _claim(self) -> None:
        if self._managed:
            return
        if self._running:
            raise RuntimeError(
                "This Parallel object is already running a call (a background job or an "
                "unfinished generator); create another Parallel(...), or use it as "
                "`with Parallel(...) as parallel:` to run several calls on one pool.")
        self._running = True

    def _job_data(self, job_id: str, job: Any) -> dict:
        return {"id": job_id, "backend": self._backend.name, "func": "",
                "background": job is not None}

    def _get_sharer(self, backend: Any) -> Any:
        if backend.remote:
            return backend.make_sharer(self._max_nbytes)
        if backend.uses_threads or self._max_nbytes is None:
            return None
        if self._sharer is None:
            from jlcache.parallel.sharing import ArraySharer

            self._sharer = ArraySharer(self._max_nbytes, self.mmap_mode, self.temp_folder,
                                       by_content=self._managed)
        return self._sharer

    def _release(self, status: str = "done") -> None:
        """End of one call: keep the pool and shared files inside a ``with`` block.

        After a successful call the shared files are removed in the background; after an
        error, Ctrl-C or cancellation they are removed before the exception reaches the
        caller (who may look at, or run out of, ``/dev/shm`` right away).
        """
        sharer = self._sharer
        if not self._managed:
            self._running = False
            self._sharer = None
            try:
                self._backend.stop()
            finally:
                if sharer is not None:
                    sharer.close(wait=status != "done")
        elif sharer is not None:
            sharer.end_call()

    @staticmethod
    def _collect_list(run: Any) -> list:
        __tracebackhide__ = True  # IPython: the task's frames explain its error
        out: list = []
        pending: dict[int, list] = {}
        want = 0
        for idx, results in run.completed():
            if idx != want:
                pending[idx] = results
                continue
            out += results
            want += 1
            while want in pending:
                out += pending.pop(want)
                want += 1
        return out

    def __repr__(self) -> str:
        return f"Parallel(n_jobs={self._n_jobs}, backend={self._backend.name!r})"


def _run_type(backend: Any) -> type:
    """What drives a call: ``InlineRun`` for an inline backend (``n_jobs=1``), else ``Run``."""
    if backend.inline:
        from jlcache.parallel.inline import InlineRun

        return InlineRun
    from jlcache.parallel.dispatch import Run

    return Run


def _degrade_if_nested(backend: Any) -> Any:
    kind = config.worker_kind()
    if kind == "thread":
        return backends.get_backend("sequential")
    if kind == "process" and not backend.uses_threads:
        return backend.nested_backend()
    return backend


class _ResultIterator:
    """The generator returned for ``return_as="generator[_unordered]"``.

    A class (not a bare generator) so that dropping it unstarted still cleans up: the run
    has already dispatched its first batches when ``Parallel(...)`` returns.
    """

    def __init__(self, run: Any, ordered: bool) -> None:
        self._run = run
        self._gen = self._items(run, ordered)

    @staticmethod
    def _items(run: Any, ordered: bool) -> Any:
        pending: dict[int, list] = {}
        want = 0
        for idx, results in run.completed():
            if not ordered:
                yield from results
                continue
            if idx != want:
                pending[idx] = results
                continue
            yield from results
            want += 1
            while want in pending:
                yield from pending.pop(want)
                want += 1

    def __iter__(self) -> _ResultIterator:
        return self

    def __next__(self) -> Any:
        __tracebackhide__ = True  # IPython: the task's frames explain its error
        return next(self._gen)

    def close(self) -> None:
        """Stop the call: queued tasks are cancelled and running workers stopped."""
        self._gen.close()
        self._run.finish("cancelled")

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass
