"""Load: many processes and threads hammering one cache directory.

Each child imports a module holding the cached function (the same identity everywhere),
calls it on keys that overlap with every other child, and checks each value against what
the key must produce. Children run with cache warnings as errors, so a corrupt read, a
failed store or a torn entry fails the test instead of being papered over by a recompute.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from jlcache import Memory
from tests.reliability._helpers import census, child_env, finish, spawn

LOAD_MODULE = '''
import os
import numpy as np
from jlcache import Memory

memory = Memory(os.environ["JLC_CACHE"], mmap_mode=os.environ.get("JLC_MMAP") or None,
                bytes_limit=os.environ.get("JLC_LIMIT") or None)


def expected_array(k):
    return np.arange(k * 100, k * 100 + 400 + k, dtype=np.int64)


@memory.cache
def work(k):
    return {"k": k, "square": k * k, "array": expected_array(k), "text": "v" * (k % 7)}
'''

CALLER = """
import sys
import numpy as np
import loadmod

me, calls, keys = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
for i in range(calls):
    k = (i * 7 + me * 3) % keys   # every child visits every key, in a different order
    value = loadmod.work(k)
    assert value["k"] == k and value["square"] == k * k, (k, value)
    assert value["text"] == "v" * (k % 7), (k, value)
    assert np.array_equal(value["array"], loadmod.expected_array(k)), k
print("ok")
"""


def _run_load(tmp_path: Path, processes: int, calls: int, keys: int,
              limit: str | None = None) -> Path:
    (tmp_path / "loadmod.py").write_text(LOAD_MODULE)
    cache = tmp_path / "cache"
    Memory(cache)  # create the location once, as a user's first cell would
    procs = [
        spawn(CALLER, me, calls, keys,
              env=child_env(tmp_path, JLC_CACHE=str(cache), JLC_MMAP="r" if me % 2 else "",
                            JLC_LIMIT=limit or ""))
        for me in range(processes)
    ]
    assert finish(procs) == ["ok\n"] * processes
    return cache


@pytest.mark.slow
def test_8_processes_x_500_calls_on_overlapping_keys(tmp_path):
    cache = _run_load(tmp_path, processes=8, calls=500, keys=60)
    files = census(cache)
    assert files["temporaries"] == [] and files["other"] == []
    assert len(files["entries"]) == 60  # one entry per key, whoever stored it last
    memory = Memory(cache)
    assert len(memory.store.entries("functions")) == 60


@pytest.mark.slow
def test_8_processes_with_constant_eviction(tmp_path):
    # ~4 KB per entry against a 24 KB limit: almost every store evicts something.
    cache = _run_load(tmp_path, processes=8, calls=200, keys=40, limit="24K")
    files = census(cache)
    assert files["temporaries"] == [] and files["other"] == []
    assert 0 < len(files["entries"]) < 40


def test_16_threads_on_one_missing_key_compute_once(memory):
    calls: list = []
    gate = threading.Barrier(16)

    @memory.cache(ignore=["calls"])
    def slow(x, calls):
        calls.append(x)
        time.sleep(0.2)
        return {"x": x, "list": [x] * 3}

    results: list = []

    def caller() -> None:
        gate.wait()
        results.append(slow(5, calls))

    threads = [threading.Thread(target=caller) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [{"x": 5, "list": [5, 5, 5]}] * 16
    assert calls == [5]


def test_16_threads_compute_once_even_when_the_value_cannot_be_stored(memory):
    calls: list = []
    gate = threading.Barrier(16)

    @memory.cache(ignore=["calls"])
    def unstorable(x, calls):
        calls.append(x)
        time.sleep(0.2)
        return (x, threading.Lock())  # a lock cannot be pickled: computed, returned, not stored

    results: list = []

    def caller() -> None:
        gate.wait()
        results.append(unstorable(3, calls)[0])

    threads = [threading.Thread(target=caller) for _ in range(16)]
    with pytest.warns(Warning, match="cannot be pickled"):
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert results == [3] * 16
    assert calls == [3]


WRITER_FOR = """
import sys, time
import loadmod

deadline, n = time.time() + float(sys.argv[1]), 0
while time.time() < deadline:
    k = n % 40
    assert loadmod.work(k)["k"] == k
    n += 1
print(n)
"""
CLEARER = """
import sys, time
from jlcache import Memory

memory, deadline, n = Memory(sys.argv[1]), time.time() + float(sys.argv[2]), 0
while time.time() < deadline:
    memory.clear()   # what the panel's "clear all" does in another kernel, 20 times a second
    n += 1
    time.sleep(0.05)
print(n)
"""


@pytest.mark.slow
def test_writers_racing_a_process_that_clears_everything(tmp_path):
    (tmp_path / "loadmod.py").write_text(LOAD_MODULE)
    cache = tmp_path / "cache"
    Memory(cache)
    env = child_env(tmp_path, JLC_CACHE=str(cache))
    procs = [spawn(WRITER_FOR, 2.5, env=env) for _ in range(3)]
    procs.append(spawn(CLEARER, cache, 2.5, env=env))
    counts = [int(out) for out in finish(procs)]  # no warning: a cleared directory is recreated
    assert min(counts) > 10
    assert census(cache)["temporaries"] == []
