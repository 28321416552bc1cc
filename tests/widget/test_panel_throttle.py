"""The Coalescer: bounded flushes, the last update never lost, flushes never overlapping."""

from __future__ import annotations

import threading
import time

from jlcache.widget.throttle import Coalescer


def test_coalescer_bounds_flushes_and_never_loses_the_last_update():
    seen, value = [], {"v": 0}
    c = Coalescer(lambda: seen.append(value["v"]), interval=0.05)
    start = time.monotonic()
    for i in range(1, 10_001):
        value["v"] = i
        c.poke()
        if i % 1000 == 0:
            time.sleep(0.02)
    elapsed = time.monotonic() - start
    deadline = time.monotonic() + 2
    while (not seen or seen[-1] != 10_000) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert seen[-1] == 10_000
    assert 1 <= len(seen) <= elapsed / 0.05 + 3, (len(seen), elapsed)
    c.close()



def test_coalescer_flushes_do_not_overlap():
    active, overlaps = [0], []

    def slow_flush():
        active[0] += 1
        overlaps.append(active[0])
        time.sleep(0.03)
        active[0] -= 1

    c = Coalescer(slow_flush, interval=0.005)
    threads = [threading.Thread(target=lambda: [c.poke() or time.sleep(0.002) for _ in range(50)])
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    time.sleep(0.1)
    c.close()
    assert overlaps and max(overlaps) == 1


def test_every_flush_runs_on_one_thread_and_pokes_start_no_thread():
    """A poke must not start a thread (the poking thread, a job's dispatch loop, would wait
    for it to get the GIL, and in a kernel each new thread opens its own iopub socket)."""
    threads = set()
    c = Coalescer(lambda: threads.add(threading.get_ident()), interval=0.01)
    c.poke()
    time.sleep(0.05)
    before = threading.active_count()
    started = []
    original = threading.Thread.start
    threading.Thread.start = lambda self: started.append(self) or original(self)
    try:
        for _ in range(20):
            c.poke()
            time.sleep(0.02)
    finally:
        threading.Thread.start = original
    c.close()
    assert c.flushes >= 10
    assert len(threads) == 1
    assert started == [] and threading.active_count() <= before


def test_close_ends_the_flushing_thread():
    c = Coalescer(lambda: None, interval=0.01)
    c.poke()
    time.sleep(0.05)
    thread = c._thread
    assert thread is not None and thread.is_alive()
    c.close()
    thread.join(1)
    assert not thread.is_alive()
    c.poke()
    assert c._thread is thread  # a closed coalescer starts nothing
