"""Automatic batch size: group tiny tasks so that per-batch overhead stops mattering.

Start at one task per batch; after each batch, the worker-measured time per task (a moving
average) says how many tasks fit in ``TARGET`` seconds. Near the end of an input of known
length, batches shrink so that every worker still gets a share (no worker left computing
one big last batch while the others idle). The parent's own cost per task (pulling from the
iterable, pickling) also caps the size, so that building a batch never starves the workers. Growth is bounded per step so that a few
suspiciously fast first tasks cannot produce one giant batch.
"""

from __future__ import annotations

import sys
from numbers import Integral
from typing import Any

__all__ = ["AutoBatcher", "FixedBatcher", "check_batch_size", "check_pre_dispatch"]

TARGET = 0.05          # seconds of work per batch: ~0.1-0.5% overhead, good balance
PARENT_TARGET = 0.01   # seconds the parent spends building one batch (keeps the pipeline full)
MAX_GROWTH = 16        # a batch is at most this many times the largest measured one
MAX_BATCH = 100_000


def _is_int(value: Any) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def check_batch_size(size: Any) -> int:
    """``batch_size`` as an int, or a TypeError/ValueError naming it (never islice's)."""
    if isinstance(size, str):
        raise ValueError(f"batch_size={size!r} is not valid: use 'auto' or a positive int.")
    if not _is_int(size):
        raise TypeError(f"batch_size must be 'auto' or a positive int, got "
                        f"{type(size).__name__} {size!r}.")
    if size < 1:
        raise ValueError(f"batch_size={size!r} is not valid: use 'auto' or a positive int.")
    if size > sys.maxsize:
        raise ValueError(f"batch_size={size!r} is too large: the largest is sys.maxsize "
                         f"({sys.maxsize}); a batch_size above the number of tasks already "
                         "sends them all in one batch.")
    return int(size)


def check_pre_dispatch(value: Any) -> None:
    """``pre_dispatch`` is ``'all'``, an expression of ``n_jobs`` (checked when the call
    starts, where ``n_jobs`` is known) or a positive int."""
    if isinstance(value, str):
        return
    if not _is_int(value):
        raise TypeError(f"pre_dispatch must be a positive int, 'all' or an expression of "
                        f"n_jobs like '2 * n_jobs', got {type(value).__name__} {value!r}.")
    if value < 1:
        raise ValueError(f"pre_dispatch={value!r} is not valid: at least one batch must be "
                         "dispatched; use a positive int, 'all' or e.g. '2 * n_jobs'.")


class FixedBatcher:
    """``batch_size=K``: always K."""

    def __init__(self, size: int) -> None:
        self.size = check_batch_size(size)

    def next_size(self, remaining: int | None, n_jobs: int) -> int:
        return self.size

    def record(self, n_tasks: int, duration: float) -> None:
        pass

    def record_parent(self, n_tasks: int, duration: float) -> None:
        pass


class AutoBatcher:
    """Adapts to measured durations; see the module docstring."""

    def __init__(self, target: float = TARGET, max_batch: int = MAX_BATCH) -> None:
        self.target = target
        self.max_batch = max_batch
        self.per_task: float | None = None
        self.parent_per_task = 0.0
        self.largest_measured = 1

    def next_size(self, remaining: int | None, n_jobs: int) -> int:
        if self.per_task is None:
            return 1
        # the slower of the two sides sets the pace: the worker running a batch, or the
        # parent pulling tasks from the user's iterable and pickling them
        per_task = max(self.per_task, self.parent_per_task * self.target / PARENT_TARGET)
        ideal = int(self.target / per_task) if per_task > 0 else self.max_batch
        size = min(max(ideal, 1), self.largest_measured * MAX_GROWTH, self.max_batch)
        if remaining is not None:
            # leave about two batches per worker for the tail
            size = min(size, max(remaining // (2 * n_jobs), 1))
        return size

    def record(self, n_tasks: int, duration: float) -> None:
        if n_tasks <= 0:
            return
        per_task = duration / n_tasks
        if self.per_task is None:
            self.per_task = per_task
        else:  # weight by batch size: big batches are better measurements
            w = min(n_tasks / (n_tasks + self.largest_measured), 0.8)
            self.per_task = (1 - w) * self.per_task + w * per_task
        self.largest_measured = max(self.largest_measured, n_tasks)

    def record_parent(self, n_tasks: int, duration: float) -> None:
        """Parent-side cost of building and sending a batch (only big batches are telling)."""
        if n_tasks >= 64:
            self.parent_per_task = duration / n_tasks
