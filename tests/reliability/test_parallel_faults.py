"""Process workers that die or run out of memory: a clear error, a working next call, and no
process left behind (``tests/parallel/test_processes.py`` covers the messages of crashes and
Ctrl-C; this file adds memory exhaustion and a census of processes after every fault).
"""

from __future__ import annotations

import os
import resource
import signal
import time

import psutil
import pytest

from jlcache.errors import WorkerCrashedError
from jlcache.parallel import Parallel, delayed
from jlcache.parallel.backends.loky import shutdown_pool
from tests.reliability._helpers import worker_processes

PROCESS_BACKENDS = ["loky", "multiprocessing"]


def square(x):
    return x * x


def allocate(nbytes):
    return len(bytearray(nbytes))


def crash(x, how):
    if x == 1:
        if how == "segfault":
            import faulthandler

            faulthandler.disable()  # a forked worker inherits pytest's, which would print a dump
            os.kill(os.getpid(), signal.SIGSEGV)
        elif how == "exit":
            os._exit(5)
        elif how == "oom-kill":  # what the kernel's out-of-memory killer does
            os.kill(os.getpid(), signal.SIGKILL)
        elif how == "memory":
            # a worker under a memory limit (cgroup, ulimit -v): allocation fails
            used = psutil.Process().memory_info().vms
            resource.setrlimit(resource.RLIMIT_AS, (used + (64 << 20), resource.RLIM_INFINITY))
            return len(bytearray(1 << 30))
    time.sleep(0.05)
    return x


def _no_orphans(before: set[int], backend: str) -> None:
    """No worker beyond the pool the backend keeps warm (the crashed pool's are gone)."""
    # loky keeps one reusable pool of n_jobs workers; the multiprocessing backend shuts its
    # pool down at the end of every call. Resource trackers are per-process singletons.
    allowed = 2 if backend == "loky" else 0
    deadline = time.monotonic() + 5
    while True:
        workers = [p for p in worker_processes() if p.pid not in before]
        if len(workers) <= allowed:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"processes left behind by {backend}: "
                                 f"{[(p.pid, ' '.join(p.cmdline())[-60:]) for p in workers]}")
        time.sleep(0.05)


@pytest.fixture(autouse=True)
def _fresh_pool():
    shutdown_pool()
    yield
    shutdown_pool()


@pytest.mark.parametrize("backend", PROCESS_BACKENDS)
@pytest.mark.parametrize("how, cause", [
    ("segfault", "SIGSEGV"), ("exit", "exited with code 5"), ("oom-kill", "SIGKILL"),
])
def test_a_dying_worker_names_the_cause_and_leaves_no_orphans(backend, how, cause):
    before = {p.pid for p in worker_processes()}
    with pytest.raises(WorkerCrashedError, match=cause):
        Parallel(n_jobs=2, backend=backend)(delayed(crash)(i, how) for i in range(6))
    assert Parallel(n_jobs=2, backend=backend)(delayed(square)(i) for i in range(6)) == \
        [0, 1, 4, 9, 16, 25]
    _no_orphans(before, backend)


def test_an_out_of_memory_kill_suggests_memory_as_the_cause():
    with pytest.raises(WorkerCrashedError) as info:
        Parallel(n_jobs=2)(delayed(crash)(i, "oom-kill") for i in range(4))
    assert "memory" in str(info.value)


@pytest.mark.slow
@pytest.mark.parametrize("backend", PROCESS_BACKENDS)
def test_a_worker_out_of_memory_raises_memoryerror_and_the_next_calls_work(backend):
    before = {p.pid for p in worker_processes()}
    with pytest.raises(MemoryError) as info:
        Parallel(n_jobs=2, backend=backend)(delayed(crash)(i, "memory") for i in range(6))
    assert "task #1" in "".join(getattr(info.value, "__notes__", []))
    # The worker that hit its limit must not serve the next calls (it would fail them all).
    for _ in range(3):
        out = Parallel(n_jobs=2, backend=backend)(delayed(allocate)(100 << 20) for _ in range(4))
        assert out == [100 << 20] * 4
    _no_orphans(before, backend)


CTRL_C_CACHED = """
import sys, time
import numpy as np
from jlcache import Memory
from jlcache.parallel import Parallel, delayed

memory = Memory(sys.argv[1])

@memory.cache
def work(a, i):
    if i >= 4:
        time.sleep(30)
    return float(a[i]) + i

arr = np.arange(2_000_000, dtype=np.float64)   # 16 MB: shared through /dev/shm
print("ready", flush=True)
try:
    Parallel(n_jobs=2, batch_size=1)(delayed(work)(arr, i) for i in range(12))
except KeyboardInterrupt:
    print("interrupted", flush=True)
    sys.exit(7)
"""


@pytest.mark.slow
def test_ctrl_c_during_a_cached_parallel_call_keeps_finished_entries_and_leaves_nothing(tmp_path):
    import glob

    from jlcache.serialize.format import read_value
    from tests.reliability._helpers import census, spawn

    cache = tmp_path / "cache"
    proc = spawn(CTRL_C_CACHED, cache)
    try:
        assert proc.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 60
        while len(census(cache)["entries"]) < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        parent = psutil.Process(proc.pid)
        workers = worker_processes(parent)
        assert len(census(cache)["entries"]) == 4 and workers
        assert glob.glob(f"/dev/shm/jlcache-{proc.pid}-*"), "the array was not shared"
        time.sleep(0.2)  # the slow tasks are running now
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=10)
        elapsed = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
    out, err = proc.communicate()
    assert code == 7 and "interrupted" in out, err
    assert "Warning" not in err
    assert elapsed < 2.0
    _gone, alive = psutil.wait_procs(workers, timeout=1.0)
    assert alive == [], f"orphan workers: {alive}"
    assert glob.glob(f"/dev/shm/jlcache-{proc.pid}-*") == []
    files = census(cache)
    assert files["temporaries"] == [] and len(files["entries"]) == 4
    assert sorted(read_value(p)[0] for p in files["entries"]) == [0.0, 2.0, 4.0, 6.0]
