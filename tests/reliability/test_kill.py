"""Writers that die (SIGKILL) or stall (SIGSTOP) at random points while storing.

Writers are forked from the test process (a fork costs milliseconds; a fresh interpreter
would cost half a second per round) and store values of a few megabytes in a loop, so a
random kill lands in every phase: computing, pickling, writing the temporary, renaming.
"""

from __future__ import annotations

import os
import random
import signal
import time
import warnings
from pathlib import Path

import numpy as np
import psutil
import pytest

from jlcache import Memory
from jlcache.serialize.format import read_value
from tests.reliability._helpers import census

KEYS = 6
SIZES = [1_000, 400_000, 900_000, 50, 600_000, 1_200_000]  # int32 elements: up to ~5 MB


def blob(k):
    return {"k": k, "a": np.full(SIZES[k], k, dtype=np.int32)}


def _check(value, k) -> None:
    assert value["k"] == k
    assert value["a"].shape == (SIZES[k],) and (value["a"] == k).all()


def _fork_writer(location: Path) -> int:
    """A child that stores every key again and again until it is killed."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            f = Memory(location).cache(blob)
            n = 0
            while True:
                f.call(n % KEYS)
                n += 1
        except BaseException:
            code = 2
        finally:
            os._exit(code)
    return pid


def _kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


def _wait_stopped(pid: int, timeout: float = 5.0) -> None:
    """Block until ``pid`` is in the stopped state: SIGSTOP is delivered asynchronously."""
    deadline = time.monotonic() + timeout
    while psutil.Process(pid).status() != psutil.STATUS_STOPPED:
        if time.monotonic() > deadline:
            pytest.fail(f"process {pid} did not stop within {timeout} s of SIGSTOP")
        time.sleep(0.0005)


def _entries_all_valid(cache: Path) -> int:
    """Every entry file reads back whole and right; returns how many there are."""
    entries = census(cache)["entries"]
    for path in entries:
        value, _ = read_value(path)
        _check(value, value["k"])
    return len(entries)


@pytest.mark.slow
def test_writers_killed_at_random_points_leave_only_whole_entries(tmp_path):
    cache = tmp_path / "cache"
    f = Memory(cache).cache(blob)
    f(0)  # the version directory exists from the start, as in a used cache
    rng = random.Random(1234)
    leftovers = 0
    for round_ in range(50):
        pid = _fork_writer(cache)
        time.sleep(rng.uniform(0.0, 0.06))
        _kill(pid)
        leftovers += len(census(cache)["temporaries"])
        if round_ % 10 == 9:  # check as we go: a torn entry would show up here
            _entries_all_valid(cache)
    assert leftovers > 0, "no kill ever landed during a write: the test did not test"

    # Every key either loads correctly or is a clean miss, silently (warnings are errors).
    fresh = Memory(cache).cache(blob)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for k in range(KEYS):
            _check(fresh(k), k)
    assert _entries_all_valid(cache) == KEYS


@pytest.mark.slow
def test_temporaries_of_dead_writers_are_swept_by_the_next_store_and_by_reduce_size(tmp_path):
    cache = tmp_path / "cache"
    Memory(cache).cache(blob)(0)
    rng = random.Random(99)

    def leave_temporaries() -> list[Path]:
        for _ in range(40):
            pid = _fork_writer(cache)
            time.sleep(rng.uniform(0.005, 0.05))
            _kill(pid)
            temps = census(cache)["temporaries"]
            if temps:
                return temps
        pytest.fail("no writer was ever killed during a write")

    leave_temporaries()
    Memory(cache).cache(blob).call(1)  # a new process's first store sweeps its directory
    assert census(cache)["temporaries"] == []

    leave_temporaries()
    Memory(cache).reduce_size(bytes_limit="1G")  # evicts nothing, sweeps everything
    assert census(cache)["temporaries"] == []
    assert _entries_all_valid(cache) >= 1


@pytest.mark.slow
def test_a_stalled_live_writer_keeps_its_temporary_and_finishes(tmp_path):
    cache = tmp_path / "cache"
    memory = Memory(cache)
    f = memory.cache(blob)
    f(0)
    version_dir = f.cache_key(0).path.parent
    for _attempt in range(20):
        pid = _fork_writer(cache)
        mine = f"-{pid}.tmp"
        deadline = time.monotonic() + 2.0
        stopped = None
        while time.monotonic() < deadline and stopped is None:
            names = [n for n in os.listdir(version_dir) if n.endswith(mine)]
            if names:
                os.kill(pid, signal.SIGSTOP)
                _wait_stopped(pid)  # kill() returns before the child has really stopped
                still = [n for n in names if (version_dir / n).exists()]
                if still:
                    stopped = version_dir / still[0]
                else:
                    os.kill(pid, signal.SIGCONT)
        if stopped is None:
            _kill(pid)
            continue
        try:
            time.sleep(0.05)
            assert memory.store.sweep_temporaries() == 0
            memory.reduce_size(bytes_limit="1G")
            Memory(cache).cache(blob).call(3)  # a store in the same directory sweeps it
            assert stopped.exists(), "a live writer's temporary was removed under it"
            os.kill(pid, signal.SIGCONT)
            deadline = time.monotonic() + 10
            while stopped.exists() and time.monotonic() < deadline:
                time.sleep(0.001)
            assert not stopped.exists()
        finally:
            _kill(pid)
        _entries_all_valid(cache)
        return
    pytest.fail("never caught the writer holding a temporary")
