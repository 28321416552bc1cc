"""Mixed writers: processes and threads calling cached functions while others evict and clear.

The adversarial probe's ~56k mixed calls found no wrong value and no leftover temporary;
this keeps that true. Three caller processes run four threads each over three cached
functions (small values, arrays read back memory-mapped in some processes, keyword
arguments) on overlapping keys. One more process calls the same functions from two threads
while its main thread, through the *same* ``Memory``, evicts with ``reduce_size`` (items,
bytes and age limits in turn) and clears everything now and then, so the in-process
caches of a ``Memory`` are raced too. Every child treats cache warnings as errors and checks
every value it gets against what the key must produce.
"""

from __future__ import annotations

import pytest

from jlcache import Memory
from tests.reliability._helpers import census, child_env, finish, spawn

MIX_MODULE = '''
import os
import numpy as np
from jlcache import Memory

memory = Memory(os.environ["JLC_CACHE"], mmap_mode=os.environ.get("JLC_MMAP") or None)


def expected_block(k):
    return np.arange(k, k + 300 + 17 * k, dtype=np.float64) * 0.5


@memory.cache
def small(k):
    return {"k": k, "cube": k ** 3, "tag": f"small-{k}"}


@memory.cache
def block(k):
    return expected_block(k)


@memory.cache
def labelled(k, *, sep="-", times=2):
    return sep.join([str(k)] * times)


def check(n):
    """One call chosen by ``n``; raises if the value is not the one its key must give."""
    k = (n * 7) % 23
    which = n % 3
    if which == 0:
        value = small(k)
        assert value == {"k": k, "cube": k ** 3, "tag": f"small-{k}"}, (k, value)
    elif which == 1:
        value = block(k)
        assert np.array_equal(value, expected_block(k)), k
    else:
        times = 1 + k % 3
        value = labelled(k, sep=":", times=times)
        assert value == ":".join([str(k)] * times), (k, value)


def hammer(seconds, offset, counts):
    import time
    deadline, n = time.time() + seconds, offset
    while time.time() < deadline:
        check(n)
        n += 1
    counts.append(n - offset)
'''

CALLER = """
import sys, threading
import mixmod

seconds, me = float(sys.argv[1]), int(sys.argv[2])
counts, errors = [], []

def run(t):
    try:
        mixmod.hammer(seconds, 1000 * (4 * me + t), counts)
    except BaseException as exc:
        errors.append(repr(exc))

threads = [threading.Thread(target=run, args=(t,)) for t in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
assert not errors, errors
print(sum(counts))
"""

EVICTOR = """
import sys, threading, time
import mixmod

seconds = float(sys.argv[1])
memory, counts, errors = mixmod.memory, [], []

def run(t):
    try:
        mixmod.hammer(seconds, 7 + t, counts)
    except BaseException as exc:
        errors.append(repr(exc))

threads = [threading.Thread(target=run, args=(t,)) for t in range(2)]
for t in threads:
    t.start()
deadline, rounds = time.time() + seconds, 0
while time.time() < deadline:
    step = rounds % 4
    if step == 0:
        memory.reduce_size(items_limit=rounds % 15)
    elif step == 1:
        memory.reduce_size(bytes_limit="8K")
    elif step == 2:
        memory.reduce_size(age_limit=0.05)
    else:
        memory.clear(warn=False)
    rounds += 1
    time.sleep(0.01)
for t in threads:
    t.join()
assert not errors, errors
print(sum(counts), rounds)
"""


@pytest.mark.slow
def test_callers_in_processes_and_threads_racing_eviction_and_clear(tmp_path):
    (tmp_path / "mixmod.py").write_text(MIX_MODULE)
    cache = tmp_path / "cache"
    Memory(cache)  # the location exists before the race, as after a user's first cell
    seconds = 3.0
    procs = [spawn(CALLER, seconds, me,
                   env=child_env(tmp_path, JLC_CACHE=str(cache), JLC_MMAP="r" if me == 1 else ""))
             for me in range(3)]
    procs.append(spawn(EVICTOR, seconds, env=child_env(tmp_path, JLC_CACHE=str(cache))))
    outs = finish(procs)   # any wrong value, exception or cache warning in a child fails here
    calls = [int(out.split()[0]) for out in outs]
    rounds = int(outs[-1].split()[1])
    assert min(calls) > 20 and rounds > 20, (calls, rounds)  # all of them really raced
    files = census(cache)
    assert files["temporaries"] == [], files["temporaries"]
    assert files["other"] == [], files["other"]
    # What survived is whole: read back strictly (a corrupt entry would warn, an error here)
    verify = spawn("import mixmod\nfor n in range(69):\n    mixmod.check(n)\nprint('ok')",
                   env=child_env(tmp_path, JLC_CACHE=str(cache)))
    assert finish([verify]) == ["ok\n"]
