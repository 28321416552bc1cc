"""Bridged ``joblib.Parallel`` calls: joblib's results and configuration, jlcache's jobs.

Each test states what joblib itself does (checked against joblib where that is cheap) and
that the bridged call does the same, while running as a jlcache job.
"""

from __future__ import annotations

import os
import time
from concurrent.futures.process import BrokenProcessPool

import joblib
import numpy as np
import pytest
from joblib import Parallel, delayed, parallel_backend, parallel_config

from tests.bridge._helpers import jobs_in


def slow_square(i):
    time.sleep(0.03 * (i % 3))  # later tasks may finish first
    return i * i


def fail_on_three(i):
    if i == 3:
        raise KeyError(f"no {i}")
    return i


def active_joblib_backend(_):
    backend, _ = joblib.parallel.get_active_backend()
    return type(backend).__name__, backend.nesting_level


def nested_call(i):
    return Parallel(n_jobs=2)(delayed(abs)(-j) for j in range(i + 2))


def array_kind(a):
    return type(a).__name__, getattr(a, "mode", None), float(a.sum())


def the_job(seen):
    (job,) = jobs_in(seen).values()
    return job


@pytest.mark.parametrize("backend", ["loky", "threading"])
@pytest.mark.parametrize("return_as", ["list", "generator", "generator_unordered"])
def test_results_and_their_order_are_joblibs(bridged, backend, return_as):
    out = Parallel(n_jobs=2, backend=backend, return_as=return_as, batch_size=1)(
        delayed(slow_square)(i) for i in range(9))
    expected = [i * i for i in range(9)]
    if return_as == "list":
        assert out == expected
    elif return_as == "generator":
        assert not isinstance(out, list) and list(out) == expected
    else:
        assert sorted(out) == expected


def test_a_call_is_a_jlcache_job_with_start_progress_and_end(bridged, recorded_events):
    assert Parallel(n_jobs=2)([delayed(slow_square)(i) for i in range(6)]) == \
        [i * i for i in range(6)]
    job = the_job(recorded_events)
    (start_name, start), *_, (end_name, end) = job
    assert (start_name, start["backend"], start["n_jobs"], start["total"]) == \
        ("job.start", "loky", 2, 6)
    assert start["func"].endswith("test_semantics.slow_square")
    assert [n for n, _ in job[1:-1]] and all(n == "job.progress" for n, _ in job[1:-1])
    assert (end_name, end["status"], end["done"], end["errors"]) == ("job.end", "done", 6, 0)


def test_when_joblib_cannot_know_the_total_it_grows_then_the_final_total_shows(
        bridged, recorded_events):
    def tasks():
        for _ in range(14):
            yield delayed(time.sleep)(0.06)

    Parallel(n_jobs=2, backend="threading", batch_size=1)(tasks())
    job = the_job(recorded_events)
    assert job[0][1]["total"] is None
    progress = [d for n, d in job if n == "job.progress"]
    unknown = [d["done"] for d in progress if d["total"] is None]
    assert unknown and unknown == sorted(unknown) and unknown[-1] > 0, progress
    assert progress[-1]["done"] == progress[-1]["total"] == 14


def test_a_tasks_exception_is_reraised_with_its_type_as_joblib_does(bridged):
    with parallel_config(backend="threading"), pytest.raises(KeyError) as threaded:
        Parallel(n_jobs=2)(delayed(fail_on_three)(i) for i in range(8))
    with pytest.raises(KeyError) as in_process:
        Parallel(n_jobs=2)(delayed(fail_on_three)(i) for i in range(8))
    assert threaded.value.args == in_process.value.args == ("no 3",)
    with pytest.raises(KeyError) as sequential:
        Parallel(n_jobs=1)(delayed(fail_on_three)(i) for i in range(8))
    assert sequential.value.args == ("no 3",)


def test_a_crashed_worker_is_explained_as_jlcache_explains_it(bridged):
    from jlcache.errors import WorkerCrashedError

    with pytest.raises(WorkerCrashedError, match="exited with code 3") as info:
        Parallel(n_jobs=2)(delayed(os._exit)(3) for _ in range(2))
    assert isinstance(info.value, BrokenProcessPool)  # what joblib's error is too
    assert Parallel(n_jobs=2)(delayed(abs)(-i) for i in range(3)) == [0, 1, 2]


def test_require_sharedmem_tasks_really_share_the_callers_state(bridged, recorded_events):
    shared: list = []
    Parallel(n_jobs=2, require="sharedmem")(delayed(shared.append)(i) for i in range(20))
    assert sorted(shared) == list(range(20))
    assert the_job(recorded_events)[0][1]["backend"] == "threading"


@pytest.mark.parametrize("how", ["prefer", "parallel_config", "parallel_backend"])
def test_a_caller_who_asks_joblib_for_threads_gets_threads(bridged, recorded_events, how):
    tasks = [delayed(active_joblib_backend)(i) for i in range(4)]
    if how == "prefer":
        Parallel(n_jobs=2, prefer="threads")(tasks)
    elif how == "parallel_config":
        with parallel_config(backend="threading", n_jobs=2):
            Parallel()(tasks)
    else:
        with parallel_backend("threading", n_jobs=2):
            Parallel()(tasks)
    start = the_job(recorded_events)[0][1]
    assert (start["backend"], start["n_jobs"]) == ("threading", 2)


def test_n_jobs_none_and_minus_one_mean_what_they_mean_in_joblib(bridged, recorded_events):
    Parallel()(delayed(abs)(-i) for i in range(3))          # None: 1 (sequential)
    Parallel(n_jobs=-1)(delayed(abs)(-i) for i in range(3))  # all CPUs
    with parallel_config(n_jobs=2):
        Parallel()(delayed(abs)(-i) for i in range(3))       # the config's n_jobs
    starts = [job[0][1] for job in jobs_in(recorded_events).values()]
    cpus = joblib.cpu_count()
    assert [(s["backend"], s["n_jobs"]) for s in starts] == \
        [("sequential", 1), ("loky" if cpus > 1 else "sequential", cpus), ("loky", 2)]


@pytest.mark.parametrize("backend", ["loky", "threading"])
def test_nested_calls_in_workers_see_joblibs_nested_backend_and_are_not_jobs(
        bridged, recorded_events, backend):
    with parallel_config(backend=backend):
        seen = Parallel(n_jobs=2)(delayed(active_joblib_backend)(i) for i in range(2))
        nested = Parallel(n_jobs=2)(delayed(nested_call)(i) for i in range(3))
    assert seen == [("ThreadingBackend", 1)] * 2  # what joblib's own batches set up
    assert nested == [list(range(i + 2)) for i in range(3)]
    assert len(jobs_in(recorded_events)) == 2, "only the two outer calls are jobs"


def test_nested_threading_matches_plain_joblib():
    plain = Parallel(n_jobs=2, backend="threading")(
        delayed(active_joblib_backend)(i) for i in range(2))
    import jlcache

    with jlcache.bridge_joblib(progress=False):
        bridged = Parallel(n_jobs=2, backend="threading")(
            delayed(active_joblib_backend)(i) for i in range(2))
    assert bridged == plain


@pytest.mark.parametrize("options, kind", [
    ({}, ("memmap", "r")),                         # joblib's defaults: 1M, read-only map
    ({"mmap_mode": "c"}, ("memmap", "c")),
    ({"max_nbytes": None}, ("ndarray", None)),     # sharing off: a copy
    ({"max_nbytes": "10M"}, ("ndarray", None)),    # under the threshold
])
def test_max_nbytes_and_mmap_mode_are_honoured(bridged, options, kind):
    big = np.ones(300_000)  # 2.4 MB
    out = Parallel(n_jobs=2, **options)(delayed(array_kind)(big) for _ in range(2))
    assert out == [(*kind, 300_000.0)] * 2


def test_one_pool_of_workers_shared_with_jlcache_parallel(bridged):
    import jlcache
    from jlcache.parallel.backends import loky

    jlcache.Parallel(n_jobs=2)(jlcache.delayed(abs)(-i) for i in range(2))
    pool_pids = set(loky._pool._processes)
    pids = Parallel(n_jobs=2, batch_size=1)(delayed(os.getpid)() for _ in range(8))
    assert set(pids) <= pool_pids and loky._pool is not None
    assert set(loky._pool._processes) == pool_pids, "no new workers were started"


def test_timeout_raises_a_timeout_error_as_joblib(bridged):
    with pytest.raises(TimeoutError):
        Parallel(n_jobs=2, backend="threading", timeout=0.1)(
            delayed(time.sleep)(0.6) for _ in range(2))


class MyThreads(joblib.parallel.ThreadingBackend):
    """A third-party joblib backend (a subclass of one of joblib's)."""

    used = 0

    def submit(self, func, callback=None):
        MyThreads.used += 1
        return super().submit(func, callback)


def test_a_backend_jlcache_has_no_twin_for_runs_on_joblib_and_is_still_a_job(
        bridged, recorded_events):
    joblib.register_parallel_backend("my-threads", MyThreads)
    with parallel_config(backend="my-threads", n_jobs=2):
        out = Parallel()(delayed(slow_square)(i) for i in range(8))
        gen = list(Parallel(return_as="generator")(delayed(slow_square)(i) for i in range(4)))
    assert out == [i * i for i in range(8)] and gen == [i * i for i in range(4)]
    assert MyThreads.used > 0, "joblib's driver ran the tasks on that backend"
    first, second = jobs_in(recorded_events).values()
    assert first[0][1]["backend"] == "mythreads (joblib)"
    assert first[0][1]["func"].endswith("slow_square")
    assert first[-1] == ("job.end", first[-1][1]) and first[-1][1]["status"] == "done"
    assert first[-2][1]["done"] == first[-2][1]["total"] == 8
    assert second[-1][1]["status"] == "done" and second[-1][1]["done"] == 4


def test_a_caller_who_asks_joblib_for_dask_gets_joblibs_dask_as_a_job(
        bridged, recorded_events):
    distributed = pytest.importorskip("distributed")
    from distributed import get_worker

    def where(i):
        return i, get_worker().address is not None

    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2,
                            dashboard_address=None), parallel_config(backend="dask"):
        out = Parallel()(delayed(where)(i) for i in range(6))
    assert out == [(i, True) for i in range(6)], "the tasks ran on dask workers"
    (job,) = jobs_in(recorded_events).values()
    assert job[0][1]["backend"] == "dask (joblib)"
    assert (job[-1][1]["status"], job[-1][1]["done"]) == ("done", 6)


@pytest.mark.parametrize("progress", [True, False])
def test_progress_true_shows_a_bar_for_every_call_and_false_none(capsys, progress):
    import jlcache

    with jlcache.bridge_joblib(progress=progress):
        Parallel(n_jobs=2, prefer="threads")(delayed(abs)(-i) for i in range(4))
        Parallel(n_jobs=1)(delayed(abs)(-i) for i in range(4))
    err = capsys.readouterr().err
    assert err.count(" done\n") == (2 if progress else 0), err
