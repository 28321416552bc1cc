"""Coalescing: however many events arrive, the browser gets at most ~10 updates a second.

A 100,000-task job publishes 100,000 progress events; each one only pokes the
``Coalescer``, which schedules one flush on a timer thread unless one is already pending::

    engine thread(s) --poke()--> [pending? return] --> Timer(delay) --> flush() (never overlapping)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["Coalescer"]


class Coalescer:
    """Runs ``flush`` at most once per ``interval`` seconds, however often it is poked.

    ``poke`` is on the engine's hot path (one call per event), so when a flush is already
    scheduled it returns after reading one attribute. A poke that arrives while a flush
    runs schedules the next one, so the last update is never lost.
    """

    def __init__(self, flush: Callable[[], None], interval: float = 0.1,
                 timer: Callable[..., Any] = threading.Timer, clock: Callable[[], float] = time.monotonic) -> None:
        self._flush, self.interval, self._timer_factory, self._clock = flush, interval, timer, clock
        self._lock = threading.Lock()
        self._run_lock = threading.Lock()  # flushes never overlap, even when one is slow
        self._pending = False
        self._closed = False
        self._last = float("-inf")
        self._timer: Any = None
        self.flushes = 0

    def poke(self) -> None:
        """Ask for a flush soon; cheap when one is already pending."""
        if self._pending or self._closed:
            return
        with self._lock:
            if self._pending or self._closed:
                return
            self._pending = True
            delay = max(0.0, self._last + self.interval - self._clock())
            self._timer = self._timer_factory(delay, self._run)
            self._timer.daemon = True
            self._timer.start()

    def _run(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._pending = False
            self._last = self._clock()
        with self._run_lock:
            self.flushes += 1
            self._flush()

    def close(self) -> None:
        """Cancel a pending flush and ignore later pokes."""
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
