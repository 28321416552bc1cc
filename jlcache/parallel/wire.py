"""Taking a batch of tasks from the user's iterable, and the form it travels in.

Taking: with 100,000 tiny tasks, *holding* each batch's ``(func, args, kwargs)`` tuples until
the batch returns costs the parent more than everything else it does: every task tuple is a
GC-tracked container, and tens of thousands of them alive at once make the cyclic collector
traverse them again and again (measured: ~300 ns per task with 16k-task batches, as much as
the user's own ``delayed(f)(i) for i in ...``). ``take`` therefore keeps only the argument
tuples when the tasks of a batch call one function without keyword arguments - the common
case - and lets each task tuple die as soon as it is read. Any other batch is kept as its
list of tasks, positions unchanged.

The wire (what ``tasks._execute`` runs, pickled for process workers):

- ``("cols", func, columns)``: one function, no keyword arguments, every task with the same
  number (>= 1) of positional arguments: one list per argument. A list of ints pickles ~4x
  faster than a list of 1-tuples, and the worker runs ``map(func, *columns)`` in C.
- ``("args", func, arglist)``: one function, no keyword arguments, argument tuples as given.
- a list of ``(func, args, kwargs)`` tasks: anything else.
"""

from __future__ import annotations

import reprlib
from itertools import islice
from operator import itemgetter
from typing import Any

__all__ = ["Taken", "check_task", "compact", "take", "to_tasks"]

_first = itemgetter(0)
_second = itemgetter(1)
_third = itemgetter(2)
_END = object()


class Taken:
    """The tasks of one batch: ``func`` + ``arglist`` (one function, no kwargs) or ``tasks``."""

    __slots__ = ("arglist", "func", "tasks")

    def __init__(self, func: Any, arglist: list | None, tasks: list | None) -> None:
        self.func, self.arglist, self.tasks = func, arglist, tasks

    def __len__(self) -> int:
        return len(self.tasks if self.tasks is not None else self.arglist)  # type: ignore[arg-type]

    def task(self, position: int) -> Any:
        """The task at ``position`` (rebuilt for the compact form: for messages only)."""
        if self.tasks is not None:
            return self.tasks[position]
        return (self.func, self.arglist[position], {})  # type: ignore[index]

    def as_tasks(self) -> list:
        if self.tasks is not None:
            return self.tasks
        func = self.func
        return [(func, args, {}) for args in self.arglist]  # type: ignore[union-attr]

    def wire(self, columns: bool) -> Any:
        """What a worker runs; ``columns``: transpose the arguments (process workers)."""
        if self.tasks is not None:
            return compact(self.tasks, columns)
        return _compact_form(self.func, self.arglist, columns)  # type: ignore[arg-type]


def take(it: Any, n: int) -> Taken | None:
    """Up to ``n`` tasks from ``it`` (None when it is exhausted); see the module docstring."""
    first = next(it, _END)
    if first is _END:
        return None
    if type(first) is not tuple or len(first) != 3 or first[2]:
        return Taken(None, None, [first, *islice(it, n - 1)])
    func, args, _ = first
    arglist = [args]
    append = arglist.append
    rest = islice(it, n - 1)
    for task in rest:
        try:
            f, a, k = task
        except (TypeError, ValueError):  # not a task: _check_task names it
            return _general(func, arglist, task, rest)
        if f is not func or k:
            return _general(func, arglist, task, rest)
        append(a)
    return Taken(func, arglist, None)


def _general(func: Any, arglist: list, task: Any, rest: Any) -> Taken:
    """A batch that turned out mixed: every task so far, this one, then the rest as they are."""
    tasks: list = [(func, args, {}) for args in arglist]
    tasks.append(task)
    tasks.extend(rest)
    return Taken(None, None, tasks)


def _compact_form(func: Any, arglist: list, columns: bool) -> tuple:
    if columns:
        try:
            arity = set(map(len, arglist))
        except TypeError:  # an args object without len(): send it as it is
            arity = set()
        if len(arity) == 1 and (k := arity.pop()) >= 1:
            if k == 1:
                return ("cols", func, [list(map(_first, arglist))])
            return ("cols", func, [list(map(itemgetter(j), arglist)) for j in range(k)])
    return ("args", func, arglist)


def compact(batch: list, columns: bool = True) -> Any:
    """The compact wire form of a list of tasks when they share one function and have no
    keyword arguments (C-level checks over the batch), else the list itself."""
    try:
        if len(set(map(_first, batch))) == 1 and not any(map(_third, batch)):
            return _compact_form(batch[0][0], list(map(_second, batch)), columns)
    except TypeError:  # an unhashable callable: send the tasks as they are
        pass
    return batch


def to_tasks(wire: Any) -> list:
    """The tasks a wire object stands for (error messages: which task, which argument)."""
    if type(wire) is not tuple:
        return wire
    tag, func, data = wire
    arglist = list(zip(*data, strict=True)) if tag == "cols" else data
    return [(func, args, {}) for args in arglist]


def check_task(task: Any, position: int) -> None:
    """Reject what is not a ``delayed(f)(...)`` task with an error that says so (joblib
    fails later with "cannot unpack non-iterable int object")."""
    if type(task) is tuple and len(task) == 3 and callable(task[0]):
        return
    if (isinstance(task, (tuple, list)) and len(task) == 3 and callable(task[0])
            and isinstance(task[1], (tuple, list)) and isinstance(task[2], dict)):
        return
    raise TypeError(
        f"Parallel expects tasks made with delayed(f)(...); got {type(task).__name__} "
        f"{reprlib.repr(task)} at position {position}. Wrap the call: delayed(f)(x) "
        "instead of f(x), so that f runs in the workers."
    )
