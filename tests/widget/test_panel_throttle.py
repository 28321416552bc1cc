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
