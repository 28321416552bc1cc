"""Short, human-readable descriptions of tasks for error messages and events."""

from __future__ import annotations

import reprlib
from typing import Any

from jlcache.errors import UnpicklableTaskError

__all__ = ["describe_func", "describe_task", "timeout_consequence", "unpicklable_error",
           "unpicklable_result_note"]

_repr = reprlib.Repr()
_repr.maxstring = 40
_repr.maxother = 40
_repr.maxlist = _repr.maxtuple = _repr.maxdict = _repr.maxset = 4


def describe_func(func: Any) -> str:
    """``module.qualname`` of a function (or of what a partial / MemorizedFunc wraps)."""
    seen = 0
    while seen < 5 and not hasattr(func, "__qualname__"):
        inner = getattr(func, "func", None)
        if inner is None:
            break
        func, seen = inner, seen + 1
    qualname = getattr(func, "__qualname__", None) or type(func).__qualname__
    module = getattr(func, "__module__", None)
    return f"{module}.{qualname}" if module and module != "builtins" else qualname


def describe_task(task: Any) -> str:
    """``f(1, 'a', key=...)`` with long values abbreviated."""
    try:
        func, args, kwargs = task
    except (TypeError, ValueError):
        return _repr.repr(task)
    parts = [_repr.repr(a) for a in args[:6]]
    if len(args) > 6:
        parts.append("...")
    parts += [f"{k}={_repr.repr(v)}" for k, v in list(kwargs.items())[:6]]
    name = describe_func(func).rsplit(".", 1)[-1]
    return f"{name}({', '.join(parts)})"


def _pickle_error(obj: Any) -> BaseException | None:
    import cloudpickle

    try:
        cloudpickle.dumps(obj, protocol=5)
    except Exception as exc:
        return exc
    return None


def unpicklable_error(tasks: list, start: int, cause: BaseException) -> UnpicklableTaskError:
    """Find which part of which task cannot be pickled, and say so."""
    hint = ("Objects such as locks, open files, sockets, generators and database connections "
            "cannot be sent to another process: create them inside the function, pass what "
            "is needed to rebuild them, or use backend='threading'.")
    for offset, task in enumerate(tasks):
        try:
            func, args, kwargs = task
        except (TypeError, ValueError):
            return UnpicklableTaskError(
                f"Task #{start + offset} is not a (function, args, kwargs) tuple: "
                f"{_repr.repr(task)}. Build tasks with delayed(f)(...).")
        where = f"task #{start + offset} ({describe_task(task)})"
        err = _pickle_error(func)
        if err is not None:
            return UnpicklableTaskError(
                f"The function {describe_func(func)} of {where} cannot be pickled to send it "
                f"to a worker process: {type(err).__name__}: {err}. {hint}")
        named = [(f"positional argument {i}", a) for i, a in enumerate(args)]
        named += [(f"keyword argument {k!r}", v) for k, v in kwargs.items()]
        for label, value in named:
            err = _pickle_error(value)
            if err is not None:
                return UnpicklableTaskError(
                    f"The {label} of {where}, of type {type(value).__module__}."
                    f"{type(value).__qualname__}, cannot be pickled to send it to a worker "
                    f"process: {type(err).__name__}: {err}. {hint}")
    return UnpicklableTaskError(
        f"Tasks #{start}-#{start + len(tasks) - 1} could not be pickled to send them to a worker "
        f"process: {type(cause).__name__}: {cause}. {hint}")


def unpicklable_result_note(tasks: list, start: int, backend: str) -> str:
    """The note added to the error of a worker that could not pickle a batch's results."""
    if len(tasks) == 1:
        which = f"task #{start} ({describe_task(tasks[0])})"
    else:
        which = (f"one of tasks #{start}-#{start + len(tasks) - 1} "
                 f"({describe_task(tasks[0])}, ...)")
    return (f"jlcache: raised while pickling the result of {which} on the {backend!r} "
            "backend, to send it back from the worker process. Return picklable values (not "
            "locks, open files, generators, connections), or use backend='threading'.")


def timeout_consequence(in_process: bool) -> str:
    """What became of the tasks that ran past ``timeout`` (threads cannot be stopped)."""
    if in_process:
        return ("Threads cannot be stopped: the running tasks keep running in the background "
                "(holding their memory, and a CPU if they compute) until they return, but do "
                "not keep Python from exiting. Use backend='loky' or 'multiprocessing' to have "
                "timed-out tasks stopped, raise the timeout, or split the work into smaller "
                "tasks.")
    return "The running tasks were stopped; raise the timeout or split the work into smaller tasks."
