"""Turning the joblib bridge on and off, for the whole process or for a ``with`` block.

The mechanism is one method: ``joblib.Parallel.__call__`` is replaced by
``jlcache.bridge.call.bridged_call`` while the bridge is on, and the original function
object is put back when it is turned off. Why this and not a registered joblib backend
(``register_parallel_backend(..., make_default=True)``): a backend only sees batches that
joblib's own driver hands it, so the call would keep joblib's 10 ms polling loop, its
Ctrl-C path and its own worker pool for ``prefer="threads"``, ``parallel_config("threading")``
and nested calls; replacing ``__call__`` runs the whole call on jlcache's engine (events,
progress, cancellation, crash reports, the shared pool) after joblib has resolved its own
configuration (``parallel_config`` blocks, ``prefer``/``require``, nesting, ``n_jobs``),
which the bridge reads from the ``Parallel`` object. Those attributes are private to joblib,
so ``check_joblib`` verifies them when the bridge is turned on, and the supported joblib
versions are pinned in ``pyproject.toml`` (extra ``joblib``).

The state is process-wide on purpose (joblib's ``parallel_config`` is thread-local): a
call made by scikit-learn in any thread is bridged.
"""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["SUPPORTED_JOBLIB", "bridge_joblib", "check_joblib", "is_bridged", "original_call",
           "progress_setting"]

SUPPORTED_JOBLIB = ">=1.5,<1.7"  # keep in sync with the `joblib` extra in pyproject.toml

# what the bridge reads from a joblib.Parallel object after its __init__ resolved the config
_PARALLEL_ATTRS = ("_backend", "_backend_kwargs", "n_jobs", "return_as", "batch_size",
                   "pre_dispatch", "timeout", "verbose")
_BACKEND_KWARGS = ("max_nbytes", "mmap_mode", "temp_folder")
_BACKEND_CLASSES = ("LokyBackend", "ThreadingBackend", "MultiprocessingBackend",
                    "SequentialBackend")

_lock = threading.RLock()
_state: dict[str, Any] = {"on": False, "progress": None, "original": None, "checked": False}


def is_bridged() -> bool:
    """True while ``joblib.Parallel`` calls run on jlcache's engine."""
    return bool(_state["on"])


def progress_setting() -> bool | None:
    """``progress`` given to ``bridge_joblib`` (None: a bar only inside a Jupyter kernel)."""
    return _state["progress"]


def original_call() -> Any:
    """joblib's own ``Parallel.__call__`` (what runs when a call is not bridged)."""
    return _state["original"]


class bridge_joblib:
    """Run every ``joblib.Parallel`` call in this process on jlcache's engine.

    ``bridge_joblib()`` turns the bridge on, ``bridge_joblib(False)`` turns it off, and
    ``with bridge_joblib():`` bridges only inside the block: leaving it restores the state
    before it (also when the block raises). Like ``parallel_config``, the setting takes
    effect when the object is created.

    ``progress``: show a progress bar for every bridged call (True), never (False), or only
    when running inside a Jupyter kernel (None, the default); the panel shows bridged jobs
    either way. Turning the bridge on imports joblib and raises ``ImportError`` if it is
    not installed; turning it off never imports it.
    """

    def __init__(self, enabled: bool = True, *, progress: bool | None = None) -> None:
        if not isinstance(enabled, bool):
            raise TypeError(f"bridge_joblib(enabled=...) takes True or False, got "
                            f"{type(enabled).__name__} {enabled!r}.")
        if progress is not None and not isinstance(progress, bool):
            raise TypeError(f"bridge_joblib(progress=...) takes True, False or None (a bar "
                            f"only in a notebook), got {type(progress).__name__} {progress!r}.")
        with _lock:
            self._previous = (_state["on"], _state["progress"])
            _apply(enabled, progress)
        self.enabled = enabled

    def __enter__(self) -> bridge_joblib:
        return self

    def __exit__(self, *exc: object) -> None:
        self.restore()

    def restore(self) -> None:
        """Put back the state from before this object was created."""
        with _lock:
            _apply(*self._previous)

    def __repr__(self) -> str:
        return f"<jlcache joblib bridge: {'on' if is_bridged() else 'off'}>"


def _apply(on: bool, progress: bool | None) -> None:
    if on:
        joblib_parallel = _import_joblib_parallel()
        if not _state["checked"]:
            check_joblib()
            _state["checked"] = True
        _install(joblib_parallel.Parallel)
    else:
        _uninstall()
    _state["on"], _state["progress"] = on, progress


def _import_joblib_parallel() -> Any:
    try:
        import joblib.parallel
    except ImportError as exc:
        raise ImportError(f"jlcache.bridge_joblib() needs joblib, which is not installed "
                          f"({exc}). Install it with `pip install 'joblib{SUPPORTED_JOBLIB}'` "
                          "(scikit-learn installs it too).") from exc
    return joblib.parallel


def _install(parallel_cls: type) -> None:
    from jlcache.bridge.call import bridged_call

    current = parallel_cls.__dict__.get("__call__")
    if current is bridged_call or _state["original"] is not None:
        return  # installed, or still called through a function someone installed after ours
    _state["original"] = current
    parallel_cls.__call__ = bridged_call  # type: ignore[method-assign]


def _uninstall() -> None:
    """Put joblib's own ``__call__`` back, unless someone patched it after us.

    In that case their function stays; ours, still called through theirs, passes every
    call straight to joblib because the state says off.
    """
    original = _state["original"]
    if original is None:
        return  # never installed (joblib may not even be imported)
    import joblib.parallel

    from jlcache.bridge.call import bridged_call

    cls = joblib.parallel.Parallel
    if cls.__dict__.get("__call__") is bridged_call:
        cls.__call__ = original
        _state["original"] = None


def check_joblib() -> None:
    """Fail clearly if this joblib lacks the private attributes the bridge reads."""
    import joblib
    import joblib.parallel as jp

    problems = [f"joblib.parallel.{name}" for name in _BACKEND_CLASSES if not hasattr(jp, name)]
    try:
        probe = jp.Parallel(n_jobs=1)
    except Exception as exc:  # pragma: no cover - a joblib that cannot build Parallel(n_jobs=1)
        problems.append(f"Parallel(n_jobs=1) ({exc})")
    else:
        problems += [f"Parallel.{a}" for a in _PARALLEL_ATTRS if not hasattr(probe, a)]
        kwargs = getattr(probe, "_backend_kwargs", None)
        if isinstance(kwargs, dict):
            problems += [f"Parallel._backend_kwargs[{k!r}]" for k in _BACKEND_KWARGS
                         if k not in kwargs]
        backend = getattr(probe, "_backend", None)
        for method in ("effective_n_jobs", "get_nested_backend"):
            if backend is not None and not callable(getattr(backend, method, None)):
                problems.append(f"ParallelBackendBase.{method}")
    if "__call__" not in jp.Parallel.__dict__:
        problems.append("Parallel.__call__")
    if problems:
        raise RuntimeError(
            f"jlcache's joblib bridge does not support joblib {joblib.__version__}: it lacks "
            f"{', '.join(problems)}. The bridge supports joblib{SUPPORTED_JOBLIB}; install a "
            "supported joblib, or leave the bridge off (joblib then works as usual).")
