"""Tasks and the code that runs a batch of them on a worker.

A task is a plain ``(func, args, kwargs)`` tuple and a batch is a list of tasks: no
per-task objects, locks or callbacks, because with 100,000 tiny tasks the parent's
per-task Python work *is* the cost. A batch travels in one of the forms of
``jlcache.parallel.wire``. A worker runs a whole batch and returns
``(results, duration, events)``, or a ``TaskFailure`` for the first task that raised.

Process workers receive the batch as cloudpickle bytes (``run_pickled``): pickling happens in
the parent, where an unpicklable argument can be named precisely.
"""

from __future__ import annotations

import pickle
import sys
import traceback
from collections.abc import Callable
from time import perf_counter
from typing import Any

from jlcache.parallel import config

__all__ = ["RemoteTraceback", "TaskFailure", "delayed", "run_batch", "run_pickled"]

Task = tuple  # (func, args, kwargs)


def delayed(function: Callable[..., Any]) -> Callable[..., Task]:
    """Capture a call for ``Parallel``: ``delayed(f)(x, y=1)`` -> ``(f, (x,), {"y": 1})``.

    Deliberately tiny: it runs once per task in user generators, so it neither uses
    ``functools.wraps`` nor sets ``__wrapped__`` (giving the closure a ``__dict__`` makes
    ``delayed(f)(x)`` 40% slower). The wrapped function is ``delayed(f)(...)[0]``.
    """

    def delayed_function(*args: Any, **kwargs: Any) -> Task:
        return function, args, kwargs

    return delayed_function


class RemoteTraceback(Exception):
    """The traceback of an error raised in a worker process (set as the error's ``__cause__``)."""

    def __init__(self, tb: str) -> None:
        super().__init__(tb)
        self.tb = tb

    def __str__(self) -> str:
        return self.tb


class TaskFailure:
    """The first task of a batch that raised: its position, the exception, its traceback."""

    __slots__ = ("durations", "events", "exc", "frames", "position", "results", "tb")

    def __init__(self, position: int, exc: BaseException, tb: str, results: list,
                 durations: list | None, events: list | None) -> None:
        self.position, self.exc, self.tb = position, exc, tb
        self.results, self.durations, self.events = results, durations, events
        self.frames: list | None = None  # a worker's frames outside jlcache (tracebacks)

    def __getstate__(self) -> tuple:
        return (self.position, self.exc, self.tb, self.results, self.durations, self.events,
                self.frames)

    def __setstate__(self, state: tuple) -> None:
        (self.position, self.exc, self.tb, self.results, self.durations, self.events,
         self.frames) = state


def _execute(batch: Any, results: list, durations: list | None, stop: list | None) -> None:
    """Run the tasks into caller-owned lists (so a failure knows how many finished).

    The untimed, unstoppable loop - the process workers' case - has nothing in it but the call.
    """
    append = results.append
    if type(batch) is tuple:  # compact forms (jlcache.parallel.wire)
        tag, func, data = batch
        if durations is None:
            if stop is None and tag == "cols":  # extend keeps the results before a failure
                results.extend(map(func, *data))
            elif stop is None:
                for args in data:
                    append(func(*args))
            else:
                for args in (zip(*data, strict=True) if tag == "cols" else data):
                    if stop[0]:
                        break
                    append(func(*args))
            return
        batch = [(func, args, {}) for args in (zip(*data, strict=True) if tag == "cols" else data)]
    if durations is None and stop is None:
        for func, args, kwargs in batch:
            append(func(*args, **kwargs))
    elif durations is None:
        for func, args, kwargs in batch:
            if stop[0]:  # type: ignore[index]
                break
            append(func(*args, **kwargs))
    else:
        for func, args, kwargs in batch:
            if stop is not None and stop[0]:
                break
            t0 = perf_counter()
            append(func(*args, **kwargs))
            durations.append(perf_counter() - t0)


def _picklable(exc: BaseException) -> BaseException:
    """``exc`` itself if it survives the trip back to the caller, else a stand-in.

    Its traceback also travels as text, so a second attempt goes without it (and without
    its chain): a library that pickles tracebacks (``tblib``, installed by dask) fails on
    the 1,000 frames of a ``RecursionError``, which must still arrive as a RecursionError.
    """
    for _ in range(2):
        try:
            pickle.loads(pickle.dumps(exc))
            return exc
        except Exception:
            exc.__traceback__ = None
            exc.__cause__ = exc.__context__ = None
    return RuntimeError(f"{type(exc).__module__}.{type(exc).__qualname__}: {exc} "
                        "(the original exception could not be pickled back to the caller)")


def run_batch(batch: list, stop: list | None = None, timed: bool = False,
              thread_worker: bool = False) -> Any:
    """Run a batch in this process (threads, sequential): events reach subscribers directly.

    The exception of a failing task is returned with its real ``__traceback__``. That
    includes ``KeyboardInterrupt`` (Ctrl-C lands in the task when it runs in the main
    thread): the parent then stores the results finished before it and re-raises it.
    """
    if thread_worker:
        config.set_thread_worker(True)
    results: list = []
    durations: list | None = [] if timed else None
    t0 = perf_counter()
    try:
        _execute(batch, results, durations, stop)
    except BaseException as exc:  # returned to the parent, which re-raises it
        if stop is not None and not isinstance(exc, Exception):
            stop[0] = True  # Ctrl-C: no further batch of this call may start
        return TaskFailure(len(results), exc, "", results, durations, None)
    finally:
        if thread_worker:
            config.set_thread_worker(False)
    return results, perf_counter() - t0, durations, None


_result_reducer = [False]  # set once numpy's arrays are sent back exactly (see sharing)


def _failure(exc: BaseException, results: list, durations: list | None,
             events: list | None) -> TaskFailure:
    """A worker's error with its traceback as text and as frames, both without jlcache's
    own frames (they explain nothing about the user's error)."""
    from jlcache.parallel.tracebacks import user_frames, without_jlcache_frames

    tb = exc.__traceback__
    text = "".join(traceback.format_exception(type(exc), exc, without_jlcache_frames(tb)))
    failure = TaskFailure(len(results), _picklable(exc), text, results, durations, events)
    failure.frames = user_frames(tb)
    return failure


_settled = [False]  # this process's start-up objects were handled (see _settle_loky_worker)


def _settle_loky_worker() -> None:
    """Once, before a loky worker's first batch: move what it holds so far (interpreter,
    loky, cloudpickle: ~100k objects) out of the cyclic collector's reach.

    loky measures a worker's baseline memory after its first task with a full
    ``gc.collect()`` (~5 ms in a fresh worker, more on a busy machine), before the worker
    takes its next batch - on the critical path of every first call. Frozen, those objects
    cost that collection nothing, nor any later one. They are still freed by reference
    counting; only cycles among them (start-up garbage, e.g. from a pool initializer) would
    stay, and start-up modules live as long as the worker anyway. The batch's own objects
    come later and are collected as usual. Only loky workers: other process backends run no
    such collection, and a dask or ray worker is a long-lived process not ours to freeze.
    Measured: the tail of a cold 1k-task call (first task to last result) 8.7 -> 6.5 ms.
    """
    _settled[0] = True
    process = sys.modules.get("multiprocessing.process")
    if process is not None and type(process.current_process()).__name__ == "LokyProcess":
        import gc

        gc.freeze()


def run_pickled(payload: bytes, timed: bool = False) -> Any:
    """Run a cloudpickled batch in a worker process, capturing the events it publishes."""
    if not _settled[0]:
        _settle_loky_worker()
    from jlcache import events

    config.mark_process_worker()
    results: list = []
    durations: list | None = [] if timed else None
    with events.capture() as bucket:
        t0 = perf_counter()
        try:
            _execute(pickle.loads(payload), results, durations, None)
        except BaseException as exc:  # SystemExit too: report it instead of killing the worker
            return _failure(exc, results, durations, list(bucket) or None)
    if not _result_reducer[0] and "numpy" in sys.modules:
        _result_reducer[0] = True
        from jlcache.parallel.sharing import install_result_reducer

        install_result_reducer()
    return results, perf_counter() - t0, durations, bucket or None
