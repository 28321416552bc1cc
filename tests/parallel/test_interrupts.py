"""Waiting for results in slices: the same answers as ``SimpleQueue.get``, and a Ctrl-C that
the main thread receives while it waits is raised within a slice."""

from __future__ import annotations

import queue
import signal
import threading
import time

import pytest

from jlcache.parallel.interrupts import SLICE, get_interruptibly


def test_returns_what_arrives_and_times_out_like_get() -> None:
    q: queue.SimpleQueue = queue.SimpleQueue()
    threading.Timer(0.5, q.put, ("late",)).start()  # longer than a slice: several waits
    assert get_interruptibly(q, None) == "late"
    t0 = time.monotonic()
    with pytest.raises(queue.Empty):
        get_interruptibly(q, 0.3)
    assert 0.3 <= time.monotonic() - t0 < 0.3 + 2 * SLICE


def test_a_sigint_during_a_long_wait_is_raised_at_once() -> None:
    q: queue.SimpleQueue = queue.SimpleQueue()
    main = threading.main_thread().ident
    threading.Timer(0.3, signal.pthread_kill, (main, signal.SIGINT)).start()
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        get_interruptibly(q, None)  # nothing ever arrives
    assert time.monotonic() - t0 < 0.3 + 1.0
