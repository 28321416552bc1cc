"""What process workers start with: ``initializer``/``initargs`` and native thread caps
(joblib parity, issue 15 items 6 and 8). Real worker processes throughout."""

from __future__ import annotations

import inspect
import multiprocessing
import os
import re
import time
from pathlib import Path

import numpy as np
import pytest

from jlcache.errors import WorkerCrashedError
from jlcache.parallel import (
    Parallel,
    cpu_count,
    delayed,
    effective_n_jobs,
    parallel_backend,
    parallel_config,
)
from tests.conftest import REPO

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
_INIT = None  # what the initializer set in this worker


# --- worker-side helpers ---------------------------------------------------------------------

def record_init(log: str, tag: str) -> None:
    """The initializer: remember ``tag`` in the worker and log one line per run."""
    global _INIT
    _INIT = tag
    with open(log, "a") as f:
        f.write(f"{os.getpid()} {tag}\n")


def meet(folder: str, n: int) -> tuple[int, str | None]:
    """Return once ``n`` different workers are inside this function: all of them ran a task."""
    Path(folder, str(os.getpid())).touch()
    deadline = time.monotonic() + 30
    while len(os.listdir(folder)) < n and time.monotonic() < deadline:
        time.sleep(0.01)
    return os.getpid(), _INIT


def get_env(name: str) -> str | None:
    return os.environ.get(name)


def failing_init() -> None:
    raise RuntimeError("bad initializer")


def thread_setup(_=None) -> tuple[dict, int | None]:
    """The worker's thread-cap variables and the number of threads its BLAS really uses."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    a = np.ones((64, 64))
    a @ a  # makes sure the BLAS thread pool is initialised
    blas = [m["num_threads"] for m in threadpoolctl.threadpool_info() if m["user_api"] == "blas"]
    return {v: os.environ.get(v) for v in THREAD_VARS}, (blas[0] if blas else None)


def slow_thread_setup(_=None):
    time.sleep(0.5)
    return thread_setup()


# --- helpers ---------------------------------------------------------------------------------

def init_runs(log: Path) -> list[tuple[int, str]]:
    if not log.exists():
        return []
    return [(int(pid), tag) for pid, tag in (line.split() for line in log.read_text().split("\n")
                                             if line)]


def run_meeting(tmp_path: Path, name: str, n_jobs: int, **kwargs) -> list[tuple[int, str]]:
    folder = tmp_path / name
    folder.mkdir()
    return Parallel(n_jobs=n_jobs, batch_size=1, **kwargs)(
        delayed(meet)(str(folder), n_jobs) for _ in range(n_jobs))


@pytest.fixture
def no_thread_vars(monkeypatch):
    """Deterministic defaults: none of the thread-cap variables set in the caller."""
    for var in (*THREAD_VARS, "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
                "NUMBA_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        monkeypatch.delenv(var, raising=False)


def parent_blas_threads() -> int:
    threadpoolctl = pytest.importorskip("threadpoolctl")
    a = np.ones((64, 64))
    a @ a
    blas = [m["num_threads"] for m in threadpoolctl.threadpool_info() if m["user_api"] == "blas"]
    if not blas:
        pytest.skip("numpy is not linked to a BLAS that threadpoolctl knows")
    return blas[0]


# --- initializer -----------------------------------------------------------------------------

@pytest.mark.parametrize("via", ["Parallel", "parallel_config", "parallel_backend"])
def test_initializer_runs_once_in_every_worker(process_backend, via, tmp_path):
    log = tmp_path / "init.log"
    params = {"initializer": record_init, "initargs": (str(log), "ready")}
    if via == "Parallel":
        out = run_meeting(tmp_path, "m", 2, backend=process_backend, **params)
    else:
        context = parallel_config if via == "parallel_config" else parallel_backend
        with context(process_backend, n_jobs=2, **params):
            out = run_meeting(tmp_path, "m", 2)
    assert {tag for _, tag in out} == {"ready"}, "a task ran in a worker that was not initialized"
    runs = init_runs(log)
    assert {pid for pid, _ in out} <= {pid for pid, _ in runs}
    assert len(runs) == len({pid for pid, _ in runs}), f"an initializer ran twice: {runs}"


def test_loky_reuses_workers_while_the_initializer_is_the_same(tmp_path):
    log = tmp_path / "init.log"
    pids = set()
    for i in range(3):
        out = run_meeting(tmp_path, f"m{i}", 2, backend="loky", initializer=record_init,
                          initargs=(str(log), "same"))
        pids |= {pid for pid, _ in out}
    assert len(pids) == 2, "the workers should have been reused"
    assert sorted(pid for pid, _ in init_runs(log)) == sorted(pids)  # once per worker in all


def test_loky_starts_fresh_workers_when_the_initargs_change(tmp_path):
    log = tmp_path / "init.log"
    pids = set()
    for i in range(3):
        out = run_meeting(tmp_path, f"m{i}", 2, backend="loky", initializer=record_init,
                          initargs=(str(log), f"tag{i}"))
        assert {tag for _, tag in out} == {f"tag{i}"}
        pids |= {pid for pid, _ in out}
    assert len(pids) == 6, "each new initializer setup should get its own workers"


def test_a_with_block_initializes_each_worker_once_across_calls(process_backend, tmp_path):
    log = tmp_path / "init.log"
    with Parallel(n_jobs=2, batch_size=1, backend=process_backend, initializer=record_init,
                  initargs=(str(log), "block")) as parallel:
        pids = set()
        for i in range(2):
            folder = tmp_path / f"m{i}"
            folder.mkdir()
            out = parallel(delayed(meet)(str(folder), 2) for _ in range(2))
            assert {tag for _, tag in out} == {"block"}
            pids |= {pid for pid, _ in out}
    assert sorted(pid for pid, _ in init_runs(log)) == sorted(pids)


def test_a_lambda_initializer_works_with_a_spawn_context():
    # plain pickle (the standard library's way under spawn) cannot send a lambda
    out = Parallel(n_jobs=2, backend=multiprocessing.get_context("spawn"),
                   initializer=lambda v: os.environ.__setitem__("JLC_INIT", v),
                   initargs=("set",))(delayed(get_env)("JLC_INIT") for _ in range(3))
    assert out == ["set"] * 3


def test_bad_initializer_arguments_are_explained(process_backend):
    with pytest.raises(TypeError, match="initializer must be a callable"):
        Parallel(n_jobs=2, backend=process_backend, initializer="setup")
    with pytest.raises(TypeError, match=r"initargs must be a tuple.*initargs=\(value,\)"):
        Parallel(n_jobs=2, backend=process_backend, initializer=record_init, initargs="x")


def test_an_initializer_that_raises_is_named_in_the_crash_error(process_backend):
    with pytest.raises(WorkerCrashedError, match=r"initializer .*failing_init"):
        Parallel(n_jobs=2, backend=process_backend, initializer=failing_init)(
            delayed(abs)(i) for i in range(4))
    # the next call without it works again
    assert Parallel(n_jobs=2, backend=process_backend)(delayed(abs)(-i) for i in range(3)) \
        == [0, 1, 2]


# --- thread caps -----------------------------------------------------------------------------

@pytest.mark.parametrize("n_jobs", [2, -1])
def test_loky_workers_get_joblibs_default_thread_cap(n_jobs, no_thread_vars):
    parent = parent_blas_threads()
    expected = max(cpu_count() // effective_n_jobs(n_jobs), 1)
    if effective_n_jobs(n_jobs) == 1:
        pytest.skip("one worker runs in the caller")
    out = Parallel(n_jobs=n_jobs, backend="loky")(delayed(thread_setup)(i) for i in range(2))
    for env, blas in out:
        assert env == dict.fromkeys(THREAD_VARS, str(expected))
        assert blas == min(expected, parent)


def test_a_thread_variable_set_by_the_user_wins(monkeypatch, no_thread_vars):
    Parallel(n_jobs=2, backend="loky")(delayed(abs)(i) for i in range(2))  # a running pool
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "3")
    out = Parallel(n_jobs=2, backend="loky")(delayed(thread_setup)(i) for i in range(2))
    default = str(max(cpu_count() // 2, 1))
    for env, _ in out:
        assert env == {"OMP_NUM_THREADS": default, "OPENBLAS_NUM_THREADS": "3",
                       "MKL_NUM_THREADS": default}
    with parallel_config("loky", inner_max_num_threads=1):  # explicit beats the environment
        out = Parallel(n_jobs=2)(delayed(thread_setup)(i) for i in range(2))
    assert all(env["OPENBLAS_NUM_THREADS"] == "1" for env, _ in out)


@pytest.mark.parametrize("context", [parallel_config, parallel_backend])
def test_inner_max_num_threads_applies_to_an_already_running_pool(context, no_thread_vars):
    parent = parent_blas_threads()
    default = max(cpu_count() // 2, 1)
    first = Parallel(n_jobs=2, backend="loky")(delayed(thread_setup)(i) for i in range(2))
    assert {env["OMP_NUM_THREADS"] for env, _ in first} == {str(default)}
    with context("loky", inner_max_num_threads=2):
        inside = Parallel(n_jobs=2)(delayed(thread_setup)(i) for i in range(2))
    assert {env["OMP_NUM_THREADS"] for env, _ in inside} == {"2"}
    assert {blas for _, blas in inside} == {min(2, parent)}
    after = Parallel(n_jobs=2, backend="loky")(delayed(thread_setup)(i) for i in range(2))
    assert {env["OMP_NUM_THREADS"] for env, _ in after} == {str(default)}


def test_another_cap_while_a_background_job_uses_the_pool(no_thread_vars):
    default = str(max(cpu_count() // 2, 1))
    job = Parallel(n_jobs=2, backend="loky", background=True)(
        delayed(slow_thread_setup)(i) for i in range(4))
    with parallel_config("loky", inner_max_num_threads=3):
        inside = Parallel(n_jobs=2)(delayed(thread_setup)(i) for i in range(2))
    assert {env["OMP_NUM_THREADS"] for env, _ in inside} == {"3"}
    assert {env["OMP_NUM_THREADS"] for env, _ in job.result(timeout=60)} == {default}


@pytest.mark.parametrize("backend", ["loky", "spawn"])
def test_no_blas_crash_or_freeze_in_workers_after_blas_ran_in_the_caller(backend):
    rng = np.random.RandomState(0)
    a = rng.randn(600, 600)
    expected = a @ a.T  # starts the caller's BLAS thread pool first
    if backend == "spawn":
        backend = multiprocessing.get_context("spawn")
    out = Parallel(n_jobs=2, backend=backend, timeout=120)(delayed(np.dot)(a, a.T)
                                                           for _ in range(2))
    for got in out:
        np.testing.assert_allclose(got, expected)


def test_the_loky_internals_we_rely_on_are_there():
    """jlcache/parallel/backends/loky.py uses private loky API; pyproject pins loky for it.

    If this fails after a loky upgrade, check the private names listed in loky.py's
    docstring against the new loky, then move the pin in pyproject.toml.
    """
    import loky
    from loky.reusable_executor import _ReusablePoolExecutor
    from packaging.specifiers import SpecifierSet

    pin = re.search(r'"loky([^"]*)"', (REPO / "pyproject.toml").read_text()).group(1)
    assert loky.__version__ in SpecifierSet(pin), f"loky {loky.__version__} is outside {pin}"
    params = inspect.signature(_ReusablePoolExecutor.__init__).parameters
    assert {"max_workers", "timeout", "initializer", "initargs", "env"} <= set(params)
    assert callable(getattr(_ReusablePoolExecutor, "_resize", None))
    assert callable(getattr(_ReusablePoolExecutor, "_ensure_executor_running", None))
    from loky.backend.process import LokyProcess  # tasks._settle_loky_worker's check
    assert LokyProcess.__name__ == "LokyProcess"
    pool = _ReusablePoolExecutor(max_workers=1, timeout=5)
    try:
        assert pool._max_workers == 1 and isinstance(pool._processes, dict)
        assert pool._pending_work_items == {}
        assert pool._flags.broken is None and pool._flags.shutdown is False
        pool._resize(2)
        assert pool._max_workers == 2
    finally:
        pool.shutdown(wait=True)
    assert pool._flags.shutdown


def test_a_pool_with_queued_work_is_not_resized_under_a_new_call():
    """loky's resize waits for every queued task: a call must not hang on leftovers (work
    submitted outside any call, e.g. by a caller interrupted between submit and release)."""
    from jlcache.parallel.backends import loky as lb

    lb.shutdown_pool()
    setup = (300, tuple(sorted(lb.thread_limit_env(1, None).items())), None, ())
    pool, shared = lb._acquire(1, setup)
    leftover = pool.submit(time.sleep, 3)
    lb._release(pool)
    t0 = time.monotonic()
    again, _ = lb._acquire(2, setup)
    try:
        assert time.monotonic() - t0 < 2, "waited for the queued task"
        assert again is pool and shared
    finally:
        lb._release(again)
        leftover.result(timeout=30)
        lb.shutdown_pool()


def test_a_new_loky_pool_starts_its_workers_before_the_first_task():
    """A worker boots in ~100 ms: starting it with the pool overlaps that with the caller's
    own preparation of the first batch (issue 14, cold first call)."""
    from jlcache.parallel.backends.loky import LokyBackend, shutdown_pool

    shutdown_pool()
    backend = LokyBackend()
    try:
        assert backend.start(2) == 2
        assert len(backend._pool._processes) == 2  # nothing submitted yet
    finally:
        backend.stop()


def _freeze_state(_: int) -> tuple[int, bool]:
    """In a worker: how many objects the cyclic GC ignores, and whether a cycle made by the
    task itself is still collected."""
    import gc
    import weakref

    class Node:
        pass

    a, b = Node(), Node()
    a.other, b.other = b, a
    gone = weakref.ref(a)
    del a, b
    gc.collect()
    return gc.get_freeze_count(), gone() is None


def test_a_loky_worker_exempts_its_start_up_objects_from_the_cyclic_gc():
    """loky runs a full gc.collect() after a worker's first task (its memory baseline),
    before that worker takes its next batch: ~5 ms of every cold first call, paid by each
    worker. Frozen start-up objects make it cheap; the tasks' own garbage is still collected."""
    import gc

    from jlcache.parallel.backends.loky import shutdown_pool

    shutdown_pool()
    out = Parallel(n_jobs=2, backend="loky", batch_size=1)(
        delayed(_freeze_state)(i) for i in range(4))
    assert all(count > 1000 for count, _ in out), out
    assert all(collected for _, collected in out), out
    assert gc.get_freeze_count() == 0  # never the caller's objects


@pytest.mark.parametrize("backend", ["multiprocessing", "threading"])
def test_other_backends_freeze_nothing(backend):
    """Only loky workers run that collection; a multiprocessing worker (or the caller, for
    threads) keeps the interpreter's default."""
    import gc

    # a fresh multiprocessing worker starts at 0; threads share the caller's count, which
    # other code in this process (a library, an earlier test) may have set: it must not move
    before = 0 if backend == "multiprocessing" else gc.get_freeze_count()
    out = Parallel(n_jobs=2, backend=backend)(delayed(_freeze_state)(i) for i in range(2))
    assert [frozen for frozen, _ in out] == [before, before]
    assert backend != "threading" or gc.get_freeze_count() == before


def test_a_call_starts_the_pool_before_registering_its_job(monkeypatch):
    """The job registry (and the engine's remaining imports) come after the workers are
    started, so they overlap with the workers' boot instead of delaying it."""
    from jlcache.parallel import core
    from jlcache.parallel.backends import loky as lb

    lb.shutdown_pool()
    seen = []
    real = core.new_job_id

    def spy() -> str:
        seen.append(lb._pool is not None and len(lb._pool._processes))
        return real()

    monkeypatch.setattr(core, "new_job_id", spy)
    assert Parallel(n_jobs=2, backend="loky")(delayed(abs)(-i) for i in range(3)) == [0, 1, 2]
    assert seen == [2]
