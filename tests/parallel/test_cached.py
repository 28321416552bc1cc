"""Cache-aware dispatch: Memory-cached functions inside Parallel."""

from __future__ import annotations

import _thread
import linecache
import os
import signal
import threading
import time
import uuid

import pytest

from jlcache.parallel import Parallel, delayed


def _counting_square(folder, x):
    # each real computation leaves a file behind, wherever it ran (uuid: a reused worker
    # process computing the same x again must not reopen its earlier file)
    open(os.path.join(folder, f"{x}-{os.getpid()}-{uuid.uuid4().hex}"), "x").close()
    if x == 13 and os.path.exists(os.path.join(folder, "..", "fail13")):
        raise ValueError("13 fails this time")
    return x * x


def _computed(folder):
    return sorted(int(name.split("-")[0]) for name in os.listdir(folder))


@pytest.fixture
def counted(tmp_path):
    folder = tmp_path / "calls"
    folder.mkdir()
    return str(folder)


def test_hits_stay_in_the_parent_and_misses_are_stored(memory, counted, process_backend,
                                                        recorded_events):
    f = memory.cache(_counting_square)
    out = Parallel(n_jobs=2, backend=process_backend)(delayed(f)(counted, i) for i in range(10))
    assert out == [i * i for i in range(10)]
    assert _computed(counted) == list(range(10))
    stores = [e for e in recorded_events if e.name == "cache.store"]
    assert len(stores) == 10
    out = Parallel(n_jobs=2, backend=process_backend)(delayed(f)(counted, i) for i in range(12))
    assert out == [i * i for i in range(12)]
    assert _computed(counted) == list(range(12))  # only 10 and 11 were computed
    # the parent served the others: the same cache, usable directly
    assert f(counted, 3) == 9 and _computed(counted) == list(range(12))


def test_results_before_an_error_stay_cached(memory, counted, tmp_path):
    f = memory.cache(_counting_square)
    (tmp_path / "fail13").touch()
    with pytest.raises(ValueError, match="13 fails"):
        Parallel(n_jobs=2, backend="loky", batch_size=1)(delayed(f)(counted, i) for i in range(16))
    stored = {i for i in range(16) if f.check_call_in_cache(counted, i)}
    assert 13 not in stored and len(stored) >= 5  # the tasks before the error were kept
    before = _computed(counted)
    (tmp_path / "fail13").unlink()
    out = Parallel(n_jobs=2, backend="loky")(delayed(f)(counted, i) for i in range(16))
    assert out == [i * i for i in range(16)]
    computed_again = list(_computed(counted))
    for i in before:
        computed_again.remove(i)
    assert sorted(computed_again) == sorted(set(range(16)) - stored)


def test_all_hits_send_nothing(memory, counted, backend):
    f = memory.cache(_counting_square)
    [f(counted, i) for i in range(5)]
    before = _computed(counted)
    out = Parallel(n_jobs=2, backend=backend)(delayed(f)(counted, i) for i in range(5))
    assert out == [i * i for i in range(5)] and _computed(counted) == before


def test_mixed_cached_and_plain_tasks(memory, counted):
    f = memory.cache(_counting_square)
    f(counted, 2)
    tasks = [delayed(f)(counted, 1), delayed(_counting_square)(counted, 5),
             delayed(f)(counted, 2), delayed(pow)(2, 3)]
    assert Parallel(n_jobs=2, backend="loky")(tasks) == [1, 25, 4, 8]


def _calls_cached(cached, x):
    return cached(x) + 1


def _plain_square(x):
    return x * x


def test_cached_function_called_inside_a_worker_reports_hits_to_the_parent(memory,
                                                                          recorded_events):
    cached = memory.cache(_plain_square)
    out = Parallel(n_jobs=2, backend="loky")(delayed(_calls_cached)(cached, i) for i in range(4))
    assert out == [1, 2, 5, 10]
    recorded_events.clear()
    out = Parallel(n_jobs=2, backend="loky")(delayed(_calls_cached)(cached, i) for i in range(4))
    assert out == [1, 2, 5, 10]
    hits = [e for e in recorded_events if e.name == "cache.hit"]
    misses = [e for e in recorded_events if e.name == "cache.miss"]
    assert len(hits) == 4 and not misses
    assert all(e.data.get("remote") is True for e in hits)


def _call_it(func, *args):
    return func(*args)


_NOTEBOOK_CELL = '''
import os, uuid

def helper(x):
    return x * x

def compute(x):
    open(os.path.join(FOLDER, f"{x}-{os.getpid()}-{uuid.uuid4().hex}"), "x").close()
    return helper(x) + OFFSET
'''


def test_cached_notebook_function_has_the_parents_identity_in_workers(memory, counted):
    # a function defined in a notebook cell: its source exists in the parent only (IPython
    # keeps cells in linecache), so a worker resolving identity itself would get another
    # version. Called inside tasks (not through cache-aware dispatch), the workers must
    # still use the parent's entries.
    filename = f"<ipython-input-{uuid.uuid4().hex[:8]}>"
    linecache.cache[filename] = (len(_NOTEBOOK_CELL), None, _NOTEBOOK_CELL.splitlines(True),
                                 filename)
    namespace = {"__name__": "__main__", "FOLDER": counted, "OFFSET": 1}
    exec(compile(_NOTEBOOK_CELL, filename, "exec"), namespace)
    cached = memory.cache(namespace["compute"])
    out = Parallel(n_jobs=2, backend="loky")(delayed(_call_it)(cached, x) for x in range(6))
    assert out == [x * x + 1 for x in range(6)]
    assert _computed(counted) == list(range(6))
    assert [cached(x) for x in range(6)] == out  # the parent finds what the workers stored
    assert _computed(counted) == list(range(6))  # no recomputation
    group = memory.store.location / "functions" / cached.cache_key(0).group
    assert len([p for p in group.iterdir() if p.is_dir()]) == 1  # one version on disk
    again = Parallel(n_jobs=2, backend="loky")(delayed(_call_it)(cached, x) for x in range(6))
    assert again == out and _computed(counted) == list(range(6))


_INTERRUPT_SEEN = threading.Event()


def _interrupted_at(folder, x, at, how):
    if x == at:
        if how == "raise":
            raise KeyboardInterrupt
        if how == "interrupt_main":  # what a notebook interrupt does to the main thread
            _thread.interrupt_main()
            for _ in range(10**8):  # the interrupt lands here, inside the task
                pass
        if how == "sigint":  # a real SIGINT; the main thread waits for results meanwhile
            # to the main thread, as a terminal's Ctrl-C lands: os.kill() would let the kernel
            # pick any thread, and one blocked in this wait would delay the interrupt
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
            # finish this task only once the caller has seen the interrupt, however loaded the
            # machine: the task then returns into a call that has already stopped
            _INTERRUPT_SEEN.wait(30)
    return _counting_square(folder, x)


@pytest.mark.parametrize(("backend", "how"), [("sequential", "raise"), ("threading", "raise"),
                                              ("sequential", "interrupt_main"),
                                              ("threading", "sigint")])
def test_an_interrupt_keeps_the_finished_items_of_its_batch_cached(memory, counted, backend, how):
    f = memory.cache(_interrupted_at)
    _INTERRUPT_SEEN.clear()
    try:
        with pytest.raises(KeyboardInterrupt):
            Parallel(n_jobs=2, backend=backend, batch_size=100)(
                delayed(f)(counted, x, 7, how) for x in range(100))
    finally:
        _INTERRUPT_SEEN.set()
    deadline = time.monotonic() + 5  # a stopped thread stores what it finished when it returns
    while not f.check_call_in_cache(counted, 6, 7, how) and time.monotonic() < deadline:
        time.sleep(0.02)
    cached = [x for x in range(100) if f.check_call_in_cache(counted, x, 7, how)]
    assert cached[:7] == list(range(7)) and len(cached) <= 8  # only what finished before
    before = _computed(counted)
    out = Parallel(n_jobs=2, backend=backend)(delayed(f)(counted, x, -1, how) for x in range(3))
    assert out == [0, 1, 4] and _computed(counted) == sorted([*before, 0, 1, 2])  # next call works


def test_an_interrupt_stops_dispatching_in_process_batches(memory, counted):
    # sequential runs each batch as it is submitted: with every batch dispatched at once,
    # an interrupted batch must stop the call before the later batches run
    f = memory.cache(_interrupted_at)
    pulled: list = []

    def tasks():
        for x in range(40):
            pulled.append(x)
            yield delayed(f)(counted, x, 3, "raise")

    with pytest.raises(KeyboardInterrupt):
        Parallel(n_jobs=1, backend="sequential", batch_size=1, pre_dispatch="all")(tasks())
    assert _computed(counted) == [0, 1, 2] and pulled == [0, 1, 2, 3]
    assert [x for x in range(40) if f.check_call_in_cache(counted, x, 3, "raise")] == [0, 1, 2]


def _array(n):
    import numpy as np

    return np.arange(n, dtype=float)


@pytest.mark.parametrize("backend_name", ["threading", "loky"])
def test_mmap_mode_results_have_the_direct_calls_type_on_every_run(tmp_path, backend_name):
    """Issue 12 item 6: same call, same type: the first run (misses, stored as they come
    back) returns the memmaps a direct call returns, not the workers' writable arrays."""
    import numpy as np

    from jlcache import Memory

    memory = Memory(tmp_path / "cache", mmap_mode="r")
    f = memory.cache(_array)
    direct = f(100)  # a miss: the direct call returns the stored memmap
    assert isinstance(direct, np.memmap) and not direct.flags.writeable
    runs = [Parallel(n_jobs=2, backend=backend_name)(delayed(f)(n) for n in (10, 20, 30))
            for _ in range(2)]
    for run in runs:  # first run: misses; second run: hits
        assert [type(a) for a in run] == [np.memmap] * 3
        assert not any(a.flags.writeable for a in run)
    assert [a.tolist() for a in runs[0]] == [a.tolist() for a in runs[1]]
