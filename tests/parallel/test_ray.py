"""The ray backend against a real local ray (``num_cpus=2``, no dashboard)."""

from __future__ import annotations

import sys
import time
import traceback

import pytest

try:  # as a package module or as a top-level one, however pytest imports this file
    from . import conftest_cluster as cluster  # type: ignore[attr-defined]
except ImportError:
    import conftest_cluster as cluster  # type: ignore[no-redef]

from jlcache import Parallel, delayed, events, parallel_config

# fixtures must be names of this module for pytest to find them
ray_session = cluster.ray_session
Boom, array_info, beat, fail_on = cluster.Boom, cluster.array_info, cluster.beat, cluster.fail_on
record_run, slow_double, worker_pid = cluster.record_run, cluster.slow_double, cluster.worker_pid
assert_no_task_beating, wait_until = cluster.assert_no_task_beating, cluster.wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(180)]


# ----------------------------------------------------------------------- results, order


def test_results_in_order_on_ray_workers(ray_session):
    import os

    out = Parallel(backend="ray")(delayed(slow_double)(i, 0.002) for i in range(40))
    assert out == [2 * i for i in range(40)]
    with parallel_config("ray"):
        pids = Parallel(n_jobs=2, batch_size=1)(delayed(worker_pid)(i) for i in range(6))
    assert os.getpid() not in pids


def test_generators(ray_session):
    tasks = [delayed(slow_double)(i, 0.05 if i % 2 else 0.0) for i in range(10)]
    assert list(Parallel(backend="ray", return_as="generator")(tasks)) == [2 * i for i in range(10)]
    unordered = list(Parallel(backend="ray", return_as="generator_unordered")(tasks))
    assert sorted(unordered) == [2 * i for i in range(10)]


def test_error_is_original_type_with_remote_traceback(ray_session):
    with pytest.raises(Boom, match="item 3 is bad") as info:
        Parallel(backend="ray", batch_size=1)(delayed(fail_on)(i) for i in range(6))
    assert type(info.value) is Boom
    text = "".join(traceback.format_exception(info.value))
    assert "fail_on" in text and "raise Boom" in text, text


# -------------------------------------------------------------------------- cancellation


def test_closing_generator_cancels_tasks_on_the_cluster(ray_session, tmp_path):
    tasks = [delayed(beat)(str(tmp_path), i, 0.0 if i == 0 else 30.0) for i in range(12)]
    gen = Parallel(backend="ray", n_jobs=2, return_as="generator", batch_size=1)(tasks)
    assert next(gen) == 0
    assert wait_until(lambda: len(list(tmp_path.glob("*.beat"))) >= 2, 20)
    gen.close()
    assert_no_task_beating(tmp_path, settle=10)
    started = {p.name for p in tmp_path.glob("*.beat")}
    assert len(started) <= 4, f"queued tasks started after the generator closed: {started}"


def test_keyboard_interrupt_from_progress_callback_cancels(ray_session, tmp_path):
    interrupted_at = []

    def interrupt(event):
        if event.name == "job.progress" and event.data.get("done", 0) >= 1:
            interrupted_at.append(time.monotonic())
            raise KeyboardInterrupt

    # the first task outlives the 0.2 s progress throttle, so a job.progress event follows it
    tasks = [delayed(beat)(str(tmp_path), i, 0.4 if i == 0 else 30.0) for i in range(12)]
    unsubscribe = events.subscribe(interrupt)
    try:
        with pytest.raises(KeyboardInterrupt):
            Parallel(backend="ray", n_jobs=2, batch_size=1)(tasks)
    finally:
        unsubscribe()
    assert time.monotonic() - interrupted_at[0] < 5, "the call did not return promptly"
    assert_no_task_beating(tmp_path, settle=10)


# ----------------------------------------------------------------- events, args, caching


def test_progress_events_and_auto_batching(ray_session, tmp_path):
    seen = []
    unsubscribe = events.subscribe(lambda e: seen.append(e) if e.name.startswith("job.") else None)
    try:
        out = Parallel(backend="ray")(delayed(record_run)(str(tmp_path), i) for i in range(2000))
    finally:
        unsubscribe()
    assert out == [i * i for i in range(2000)]
    assert seen[0].name == "job.start" and seen[0].data["backend"] == "ray"
    assert seen[-1].name == "job.end" and seen[-1].data["status"] == "done"
    # one file per item; batches: tasks that ran in the same worker process share a pid
    assert len(list(tmp_path.iterdir())) == 2000


def test_large_argument_put_once_per_call(ray_session, monkeypatch):
    np = pytest.importorskip("numpy")
    arr = np.arange(400_000, dtype="float64")  # 3.2 MB > max_nbytes=1M
    puts = []
    real_put = ray_session.put

    def spy(value, *args, **kwargs):
        puts.append(value)
        return real_put(value, *args, **kwargs)

    monkeypatch.setattr(ray_session, "put", spy)
    out = Parallel(backend="ray", batch_size=1)(delayed(array_info)(arr, i) for i in range(8))
    assert [o[1:] for o in out] == [(float(arr.sum()), i) for i in range(8)]
    assert sum(p is arr for p in puts) == 1, f"put {sum(p is arr for p in puts)} times"


def test_cached_function_second_run_sends_no_tasks(ray_session, memory, tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    cached = memory.cache(record_run)
    first = Parallel(backend="ray")(delayed(cached)(str(runs), i) for i in range(12))
    assert first == [i * i for i in range(12)]
    assert len(list(runs.iterdir())) == 12
    submitted = []
    from jlcache.parallel.backends import ray as ray_backend

    real_submit = ray_backend.RayBackend.submit

    def counting_submit(self, fn, *args):
        submitted.append(fn)
        return real_submit(self, fn, *args)

    ray_backend.RayBackend.submit = counting_submit
    try:
        second = Parallel(backend="ray")(delayed(cached)(str(runs), i) for i in range(12))
    finally:
        ray_backend.RayBackend.submit = real_submit
    assert second == first
    assert len(list(runs.iterdir())) == 12, "a cached item was recomputed on a worker"
    assert submitted == [], f"{len(submitted)} batches reached ray on a full hit"


# ------------------------------------------------------------------------ availability


def test_missing_extra_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ImportError, match=r"jlcache\[ray\]"):
        Parallel(backend="ray")(delayed(abs)(-1) for _ in range(2))


@pytest.mark.slow
def test_starts_a_local_ray_when_none_is_running(python, tmp_path):
    proc = python("""
        import logging, os
        os.environ["RAY_AUTH_MODE"] = "disabled"
        logging.basicConfig(level=logging.WARNING)
        import ray
        from jlcache import Parallel, delayed
        assert not ray.is_initialized()
        print(Parallel(backend="ray", n_jobs=2)(delayed(abs)(-i) for i in range(4)))
        print("initialized", ray.is_initialized())
        ray.shutdown()
    """, timeout=150)
    assert "[0, 1, 2, 3]" in proc.stdout and "initialized True" in proc.stdout
    assert "ray is not initialised" in proc.stderr


# ------------------------------------------------------- object storage (issue 16)


def test_ray_workers_read_and_write_an_s3_cache_directly(ray_session, s3_server, s3_url):
    """Ray tasks open the s3:// cache themselves (nothing shared but the server); the parent
    then hits what they wrote, and a cached function given to ``Parallel`` stores from the
    parent into the same bucket."""
    import os

    from jlcache import Memory

    options = s3_server.options()
    tasks = [delayed(cluster.cached_on_s3)(s3_url, options, i) for i in range(6)]
    first = Parallel(backend="ray", n_jobs=2, batch_size=1)(tasks)
    assert [value for value, _, _ in first] == [i * i for i in range(6)]
    assert os.getpid() not in {pid for _, pid, _ in first}
    assert Parallel(backend="ray", n_jobs=2, batch_size=1)(tasks) == first
    memory = Memory(s3_url, storage_options=options)
    cached = memory.cache(cluster.computed_where)
    assert [cached(i) for i in range(6)] == first, "the parent missed entries workers wrote"
    more = Parallel(backend="ray", n_jobs=2)(delayed(cached)(i) for i in range(4, 10))
    assert more[:2] == first[4:] and [v for v, _, _ in more[2:]] == [i * i for i in range(6, 10)]
    assert len(memory.store.entries("functions")) == 10
