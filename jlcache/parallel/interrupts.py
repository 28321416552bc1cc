"""Waiting for results without losing a Ctrl-C.

A signal that reaches the main thread just *before* it starts a blocking lock wait does not
interrupt that wait: CPython runs the Python-level handler (which raises
``KeyboardInterrupt``) only when the thread returns to the interpreter, here when the next
result arrives, which can be minutes later. Waiting in short slices bounds that delay to one
slice, so Ctrl-C stops a call within a fraction of a second however the signal was timed.
"""

from __future__ import annotations

import queue
import time
from typing import Any

__all__ = ["SLICE", "get_interruptibly"]

SLICE = 0.2  # seconds: the longest a Ctrl-C can wait to be noticed


def get_interruptibly(q: queue.SimpleQueue, wait: float | None) -> Any:
    """``q.get(timeout=wait)``, waiting at most ``SLICE`` at a time (``queue.Empty`` when
    ``wait`` runs out, as ``get`` would)."""
    deadline = None if wait is None else time.monotonic() + wait
    while True:
        left = SLICE if deadline is None else min(SLICE, deadline - time.monotonic())
        try:
            return q.get(timeout=max(left, 0.0))
        except queue.Empty:
            if deadline is not None and time.monotonic() >= deadline:
                raise
