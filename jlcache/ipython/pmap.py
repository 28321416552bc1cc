"""``%pmap``: map a function over an iterable with ``Parallel``, from one line.

``FUNC`` and ``ITERABLE`` are two Python expressions written one after the other. They are
split at the *first* whitespace such that the text before it and the text after it both parse
as expressions: ``lambda x: x**2 range(10)`` splits after ``x**2`` (``lambda x:`` alone does
not parse), ``f [1, 2]`` after ``f``. Write ``(expr)`` around FUNC if a shorter prefix would
parse on its own and that is not what you mean.

Errors name the item that failed: ``Parallel`` re-raises the worker's exception with its
traceback attached and a note naming the task (``raised by task #7 (f(7))``); the task index
is the item's index in ITERABLE. An error raised before ``Parallel`` asks for the first task
(an unknown backend option, a dask backend with no ``Client``, a pool that cannot start) is
the backend's setup failing, not FUNC: it becomes ``BackendSetupError``, which the magic shows
as a ``UsageError``. With ``--bg`` the backend starts in the job's thread, so such an error
is raised by the job's ``result()`` instead.
"""

from __future__ import annotations

import ast
from typing import Any

__all__ = ["BackendSetupError", "run_pmap", "split_expressions"]


class BackendSetupError(Exception):
    """The parallel backend could not be set up; no task ran."""


def split_expressions(text: str) -> tuple[str, str] | None:
    """``"FUNC ITERABLE"`` -> ``(FUNC, ITERABLE)``, or ``None`` if no split parses."""
    text = text.strip()
    for i, char in enumerate(text):
        if not char.isspace() or (i and text[i - 1].isspace()):
            continue
        left, right = text[:i], text[i:].strip()
        if _parses(left) and _parses(right):
            return left, right
    return None


def _parses(expr: str) -> bool:
    try:
        ast.parse(expr.strip(), mode="eval")
    except (SyntaxError, ValueError):
        return False
    return bool(expr.strip())


def run_pmap(func: Any, items: list, *, n_jobs: int, backend: str | None, memory: Any,
             memo: bool, ordered: bool, batch_size: int | str, progress: bool,
             background: bool) -> Any:
    """Build the ``Parallel`` call; returns the results (or the background job handle)."""
    from jlcache.parallel import Parallel, delayed

    return_as = "list" if ordered else "generator_unordered"
    options: dict[str, Any] = {"n_jobs": n_jobs, "backend": backend, "batch_size": batch_size,
                               "progress": progress}
    if background:
        options["background"] = True
        return_as = "list"
    if memo:
        func = func if getattr(func, "_jlcache_memorized", False) else memory.cache(func)
    calls = _Calls(delayed(func), items)
    try:
        parallel = Parallel(return_as=return_as, **options)
        out = parallel(calls)
        if not (background or return_as == "list"):
            out = list(out)
    except Exception as exc:
        if calls.started:
            raise
        which = f"the {backend!r} parallel backend" if backend else "the parallel backend"
        raise BackendSetupError(f"{which} could not be set up, so nothing ran: "
                                f"{type(exc).__name__}: {exc}") from exc
    return out


class _Calls:
    """The tasks of one ``%pmap``: built lazily, but sized, so ``job.start`` knows the total."""

    __slots__ = ("_call", "_items", "started")

    def __init__(self, call: Any, items: list) -> None:
        self._call, self._items = call, items
        self.started = False  # set when Parallel, its backend started, asks for the tasks

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Any:
        self.started = True
        return map(self._call, self._items)
