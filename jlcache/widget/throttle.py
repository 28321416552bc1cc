"""Coalescing: however many events arrive, the browser gets at most ~5 updates a second.

A 100,000-task job publishes 100,000 progress events; each one only pokes the
``Coalescer``, which wakes its one flushing thread unless a flush is already pending::

    engine thread(s) --poke()--> [pending? return] --> wake --> flusher thread: wait out the
                                                               interval, flush() (never overlapping)

One long-lived thread, not a timer thread per flush: starting a thread makes the poking
thread (the job's own dispatch loop) wait until the new thread holds the GIL, and in a
kernel each new thread opens its own socket to send its first message; both cost the job
milliseconds per flush.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

__all__ = ["Coalescer"]

_log = logging.getLogger(__name__)


class Coalescer:
    """Runs ``flush`` at most once per ``interval`` seconds, however often it is poked.

    ``poke`` is on the engine's hot path (one call per event), so when a flush is already
    pending it returns after reading one attribute, and otherwise only sets an event. A poke
    that arrives while a flush runs asks for the next one, so the last update is never lost.
    The flushing thread starts at ``start`` or the first poke and ends at ``close``.
    """

    def __init__(self, flush: Callable[[], None], interval: float = 0.2,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._flush, self.interval, self._clock = flush, interval, clock
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._pending = False
        self._closed = False
        self._last = float("-inf")
        self._thread: threading.Thread | None = None
        self.flushes = 0

    def start(self) -> None:
        """Start the flushing thread now (else the first poke does), so that no event of a
        job waits for a thread to start."""
        with self._lock:
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._loop, name="jlcache-panel-flush",
                                                daemon=True)
                self._thread.start()

    def poke(self) -> None:
        """Ask for a flush soon; cheap when one is already pending."""
        if self._pending or self._closed:
            return
        self._pending = True
        if self._thread is None:
            self.start()
        self._wake.set()

    def _loop(self) -> None:
        while True:
            self._wake.wait()
            delay = self._last + self.interval - self._clock()
            if self._stop.wait(max(0.0, delay)) or self._closed:
                return
            self._wake.clear()
            self._pending = False  # a poke from here on asks for the next flush
            self._last = self._clock()
            self.flushes += 1
            try:
                self._flush()
            except Exception:  # a failing flush must not end the panel's updates
                _log.exception("panel flush failed")

    def close(self) -> None:
        """Stop the flushing thread (a flush under way finishes) and ignore later pokes."""
        with self._lock:
            self._closed = True
        self._stop.set()
        self._wake.set()
