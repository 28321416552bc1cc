"""The dask backend against a real ``distributed.LocalCluster`` (2 worker processes, loopback)."""

from __future__ import annotations

import sys
import threading
import time
import traceback

import pytest

try:  # as a package module or as a top-level one, however pytest imports this file
    from . import conftest_cluster as cluster  # type: ignore[attr-defined]
except ImportError:
    import conftest_cluster as cluster  # type: ignore[no-redef]

from jlcache import Parallel, delayed, events, parallel_config

# fixtures must be names of this module for pytest to find them
dask_cluster = cluster.dask_cluster
dask_client = cluster.dask_client
idle_dask = cluster.idle_dask
Boom, array_info, beat, double, fail_on = (cluster.Boom, cluster.array_info, cluster.beat,
                                           cluster.double, cluster.fail_on)
record_run, slow_double, worker_pid = cluster.record_run, cluster.slow_double, cluster.worker_pid
assert_no_task_beating, wait_until = cluster.assert_no_task_beating, cluster.wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(120)]


def _worker_pids(client) -> set[int]:
    import os

    return set(client.run(os.getpid).values())


def _task_stream(client):
    import distributed

    return distributed.get_task_stream(client)


def _no_call_task_left(client) -> bool:
    """Nothing is processing on any worker, and the scheduler forgot every task of ours."""
    return not any(client.processing().values())


# ----------------------------------------------------------------------- results, order


def test_uses_current_client_and_keeps_order(idle_dask):
    with parallel_config("dask"):
        out = Parallel()(delayed(slow_double)(i, 0.002) for i in range(60))
    assert out == [2 * i for i in range(60)]
    pids = Parallel(backend="dask", batch_size=1)(delayed(worker_pid)(i) for i in range(8))
    assert set(pids) <= _worker_pids(idle_dask)
    assert sys.modules["os"].getpid() not in pids


def test_explicit_client_and_scheduler_address(idle_dask):
    with parallel_config("dask", client=idle_dask):
        assert Parallel()(delayed(double)(i) for i in range(5)) == [0, 2, 4, 6, 8]
    address = idle_dask.scheduler.address
    with parallel_config("dask", scheduler_host=address):
        assert Parallel()(delayed(double)(i) for i in range(5)) == [0, 2, 4, 6, 8]
    with parallel_config("dask", address=address):
        assert Parallel()(delayed(double)(i) for i in range(3)) == [0, 2, 4]
    from jlcache.parallel.backends import dask as dask_backend

    own = dask_backend._clients.pop(address)  # the client jlcache opened for that address
    assert own is not idle_dask
    own.close()


def test_generators(idle_dask):
    tasks = [delayed(slow_double)(i, 0.05 if i % 2 else 0.0) for i in range(12)]
    gen = Parallel(backend="dask", return_as="generator")(tasks)
    assert not isinstance(gen, list)
    assert list(gen) == [2 * i for i in range(12)]
    unordered = list(Parallel(backend="dask", return_as="generator_unordered")(tasks))
    assert sorted(unordered) == [2 * i for i in range(12)]


def test_empty_input(idle_dask):
    assert Parallel(backend="dask")([]) == []


def test_error_is_original_type_with_remote_traceback(idle_dask):
    with pytest.raises(Boom, match="item 3 is bad") as info:
        Parallel(backend="dask", batch_size=1)(delayed(fail_on)(i) for i in range(6))
    assert type(info.value) is Boom
    text = "".join(traceback.format_exception(info.value))
    assert "fail_on" in text and "raise Boom" in text, text
    assert wait_until(lambda: _no_call_task_left(idle_dask), 10)


# -------------------------------------------------------------------------- cancellation


def test_closing_generator_cancels_queued_and_running_tasks(idle_dask, tmp_path):
    tasks = [delayed(beat)(str(tmp_path), i, 0.0 if i == 0 else 30.0) for i in range(20)]
    gen = Parallel(backend="dask", return_as="generator", batch_size=1)(tasks)
    assert next(gen) == 0
    assert wait_until(lambda: len(list(tmp_path.glob("*.beat"))) >= 2, 10)
    gen.close()
    assert wait_until(lambda: _no_call_task_left(idle_dask), 5), idle_dask.processing()
    assert_no_task_beating(tmp_path)
    started = {p.name for p in tmp_path.glob("*.beat")}
    assert len(started) <= 4, f"queued tasks started after the generator closed: {started}"


def test_keyboard_interrupt_from_progress_callback_cancels(idle_dask, tmp_path):
    interrupted_at = []

    def interrupt(event):
        if event.name == "job.progress" and event.data.get("done", 0) >= 1:
            interrupted_at.append(time.monotonic())
            raise KeyboardInterrupt

    # the first task outlives the 0.2 s progress throttle, so a job.progress event follows it
    tasks = [delayed(beat)(str(tmp_path), i, 0.4 if i == 0 else 30.0) for i in range(20)]
    unsubscribe = events.subscribe(interrupt)
    try:
        with pytest.raises(KeyboardInterrupt):
            Parallel(backend="dask", batch_size=1)(tasks)
    finally:
        unsubscribe()
    assert time.monotonic() - interrupted_at[0] < 5, "the call did not return promptly"
    assert wait_until(lambda: _no_call_task_left(idle_dask), 5), idle_dask.processing()
    assert_no_task_beating(tmp_path)


def test_background_job_cancel(idle_dask, tmp_path):
    try:
        job = Parallel(backend="dask", background=True, batch_size=1)(
            delayed(beat)(str(tmp_path), i, 30.0) for i in range(10))
    except TypeError:
        pytest.skip("Parallel(background=True) is not available in this build")
    assert wait_until(lambda: len(list(tmp_path.glob("*.beat"))) >= 2, 10)
    job.cancel()
    assert wait_until(job.done, 10)
    assert wait_until(lambda: _no_call_task_left(idle_dask), 5), idle_dask.processing()
    assert_no_task_beating(tmp_path)


# ------------------------------------------------------------------ events and batching


def test_progress_events_and_auto_batching(idle_dask):
    seen = []
    unsubscribe = events.subscribe(lambda e: seen.append(e) if e.name.startswith("job.") else None)
    try:
        with _task_stream(idle_dask) as stream:
            out = Parallel(backend="dask")(delayed(double)(i) for i in range(3000))
    finally:
        unsubscribe()
    assert out == [2 * i for i in range(3000)]
    names = [e.name for e in seen]
    assert names[0] == "job.start" and names[-1] == "job.end"
    assert seen[0].data["backend"] == "dask"
    assert seen[-1].data["status"] == "done" and seen[-1].data["done"] == 3000
    assert len(stream.data) < 300, f"{len(stream.data)} cluster tasks for 3000 tiny items"


# --------------------------------------------------------------------------- large args


def test_large_argument_scattered_once_per_call(idle_dask, monkeypatch):
    np = pytest.importorskip("numpy")
    arr = np.arange(400_000, dtype="float64")  # 3.2 MB > max_nbytes=1M
    calls = []
    real_scatter = type(idle_dask).scatter

    def spy(self, data, *args, **kwargs):
        calls.append((data, kwargs))
        return real_scatter(self, data, *args, **kwargs)

    monkeypatch.setattr(type(idle_dask), "scatter", spy)
    out = Parallel(backend="dask", batch_size=1)(delayed(array_info)(arr, i) for i in range(10))
    assert [o[1:] for o in out] == [(float(arr.sum()), i) for i in range(10)]
    big = [c for c in calls if c[0] is arr or (isinstance(c[0], (list, tuple)) and any(x is arr for x in c[0]))]
    assert len(big) == 1, f"scattered {len(big)} times"
    assert big[0][1].get("broadcast", False) is False
    calls.clear()
    Parallel(backend="dask", batch_size=1)(delayed(array_info)(arr[:10], i) for i in range(4))
    assert not calls, "small arguments should travel with their task"
    small = arr[:10].copy()
    out = Parallel(backend="dask", scatter=[small])(delayed(array_info)(small, i) for i in range(4))
    assert [o[1] for o in out] == [float(small.sum())] * 4
    assert [c[0] for c in calls] == [small], "scatter=[obj] sends obj once, whatever its size"


# ----------------------------------------------------------------------------- caching


def test_cached_function_second_run_sends_no_tasks(idle_dask, memory, tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    cached = memory.cache(record_run)
    first = Parallel(backend="dask")(delayed(cached)(str(runs), i) for i in range(20))
    assert first == [i * i for i in range(20)]
    assert len(list(runs.iterdir())) == 20
    with _task_stream(idle_dask) as stream:
        second = Parallel(backend="dask")(delayed(cached)(str(runs), i) for i in range(20))
    assert second == first
    assert len(list(runs.iterdir())) == 20, "a cached item was recomputed on a worker"
    assert stream.data == [], f"{len(stream.data)} tasks reached the cluster on a full hit"
    # half new items: only those reach the cluster
    third = Parallel(backend="dask")(delayed(cached)(str(runs), i) for i in range(10, 30))
    assert third == [i * i for i in range(10, 30)]
    assert len(list(runs.iterdir())) == 30


# ------------------------------------------------------------------------ availability


def test_no_client_explains_how_to_start_one(python):
    proc = python("""
        import distributed, psutil, os
        from jlcache import Parallel, delayed
        try:
            Parallel(backend="dask")(delayed(abs)(-i) for i in range(3))
        except Exception as exc:
            print(type(exc).__name__, exc)
        print("children", len(psutil.Process(os.getpid()).children(recursive=True)))
    """)
    assert "Client()" in proc.stdout and "dask.distributed" in proc.stdout, proc.stdout
    assert "children 0" in proc.stdout, "a cluster was started without being asked for"


def test_missing_extra_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    monkeypatch.setitem(sys.modules, "dask.distributed", None)
    with pytest.raises(ImportError, match=r"jlcache\[dask\]"):
        Parallel(backend="dask")(delayed(abs)(-1) for _ in range(2))
    with pytest.raises(ImportError, match=r"jlcache\[dask\]"), parallel_config("dask"):
        Parallel()(delayed(abs)(-1) for _ in range(2))


def test_import_jlcache_imports_neither_dask_nor_ray(python):
    proc = python("""
        import sys, jlcache, jlcache.parallel
        print(sorted(m for m in ("dask", "distributed", "ray") if m in sys.modules))
    """)
    assert proc.stdout.strip() == "[]"


def test_threads_left_clean(idle_dask):
    before = threading.active_count()
    for _ in range(3):
        Parallel(backend="dask")(delayed(double)(i) for i in range(10))
    assert threading.active_count() <= before + 1


def test_workers_writing_a_shared_cache_directly(idle_dask, cache_dir, tmp_path):
    """Mode 2: a task calls a cached function itself (the cache dir is on a shared filesystem)."""
    runs = tmp_path / "runs"
    runs.mkdir()
    hits = []
    unsubscribe = events.subscribe(
        lambda e: hits.append(e.data) if e.name == "cache.hit" else None)
    try:
        args = [(str(cache_dir), str(runs), i) for i in range(8)]
        first = Parallel(backend="dask")(delayed(cluster.cached_on_worker)(*a) for a in args)
        assert first == [i * i for i in range(8)]
        assert len(list(runs.iterdir())) == 8
        assert not hits
        second = Parallel(backend="dask")(delayed(cluster.cached_on_worker)(*a) for a in args)
    finally:
        unsubscribe()
    assert second == first
    assert len(list(runs.iterdir())) == 8, "workers recomputed entries they had stored"
    assert len(hits) == 8 and all(h.get("remote") for h in hits), hits


# ------------------------------------------------------- object storage (issue 16)


def test_workers_read_and_write_an_s3_cache_directly(idle_dask, s3_server, s3_url):
    """Tasks open the s3:// cache themselves (nothing shared but the server): a second run
    hits on the workers, and the parent then hits what the workers wrote."""
    import os

    from jlcache import Memory

    options = s3_server.options()
    hits = []
    unsubscribe = events.subscribe(
        lambda e: hits.append(e.data) if e.name == "cache.hit" else None)
    try:
        tasks = [delayed(cluster.cached_on_s3)(s3_url, options, i) for i in range(8)]
        first = Parallel(backend="dask", batch_size=1)(tasks)
        assert [value for value, _, _ in first] == [i * i for i in range(8)]
        assert {pid for _, pid, _ in first} <= _worker_pids(idle_dask)
        assert not hits
        second = Parallel(backend="dask", batch_size=1)(tasks)
        assert second == first, "workers recomputed entries they had stored in the bucket"
        assert len(hits) == 8 and all(h.get("remote") for h in hits), hits
        memory = Memory(s3_url, storage_options=options)
        in_parent = [memory.cache(cluster.computed_where)(i) for i in range(8)]
    finally:
        unsubscribe()
    assert in_parent == first, "the parent did not hit the entries the workers wrote"
    assert len(hits) == 16 and not any(h.get("remote") for h in hits[8:])
    assert os.getpid() not in {pid for _, pid, _ in in_parent}
    assert len(memory.store.entries("functions")) == 8


def test_parent_side_caching_on_an_s3_location(idle_dask, s3_server, s3_url):
    """A cached function given to ``Parallel``: the parent looks up and stores in the bucket,
    workers only compute the misses."""
    from jlcache import Memory

    memory = Memory(s3_url, storage_options=s3_server.options())
    cached = memory.cache(cluster.computed_where)
    first = Parallel(backend="dask")(delayed(cached)(i) for i in range(12))
    assert [value for value, _, _ in first] == [i * i for i in range(12)]
    assert {pid for _, pid, _ in first} <= _worker_pids(idle_dask)
    assert len(memory.store.entries("functions")) == 12
    with _task_stream(idle_dask) as stream:
        second = Parallel(backend="dask")(delayed(cached)(i) for i in range(12))
    assert second == first
    assert stream.data == [], f"{len(stream.data)} tasks reached the cluster on a full hit"
    fresh = Memory(s3_url, storage_options=s3_server.options()).cache(cluster.computed_where)
    third = Parallel(backend="dask")(delayed(fresh)(i) for i in range(8, 16))
    assert third[:4] == first[8:], "another Memory on the same bucket missed stored entries"
    assert [value for value, _, _ in third[4:]] == [i * i for i in range(12, 16)]
    assert len(memory.store.entries("functions")) == 16


def test_a_cached_function_shipped_in_a_task_stores_from_the_worker(idle_dask, s3_server,
                                                                     s3_url):
    """The notebook pattern: a cached function made in the parent, called inside a plain
    task, travels with its S3 ``Memory``; the worker stores, the parent then hits."""
    from jlcache import Memory

    memory = Memory(s3_url, storage_options=s3_server.options())
    cached = memory.cache(cluster.computed_where)
    first = Parallel(backend="dask")(delayed(cluster.call)(cached, i) for i in range(6))
    assert {pid for _, pid, _ in first} <= _worker_pids(idle_dask)
    assert len(memory.store.entries("functions")) == 6, "the workers did not store"
    assert [cached(i) for i in range(6)] == first
