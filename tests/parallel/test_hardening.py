"""Abandoned threads, nesting after fork, exact dtypes, recursion, cleanup and bad arguments
(issues 10 and 15): each test names a behaviour that once failed."""

from __future__ import annotations

import os
import subprocess
import threading
import time

import numpy as np
import pytest

from jlcache.errors import TaskTimeoutError
from jlcache.parallel import Parallel, delayed, parallel_config
from tests.conftest import run_python
from tests.parallel.conftest import BACKENDS, PROCESS_BACKENDS

# --- threads that cannot be stopped ---------------------------------------------------------


def test_a_timed_out_threading_task_does_not_keep_python_from_exiting():
    code = """
        import threading
        from jlcache.errors import TaskTimeoutError
        from jlcache.parallel import Parallel, delayed

        def never_returns(i):
            threading.Event().wait()

        try:
            Parallel(n_jobs=2, backend="threading", timeout=1)(
                delayed(never_returns)(i) for i in range(2))
        except TaskTimeoutError as exc:
            print(exc)
    """
    try:
        proc = run_python(code, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("the interpreter did not exit: it waits for the abandoned thread")
    assert "did not finish within timeout=1" in proc.stdout
    assert "were stopped" not in proc.stdout  # false for threads
    assert "cannot be stopped" in proc.stdout and "background" in proc.stdout


def test_the_threading_timeout_message_says_the_tasks_keep_running():
    release = threading.Event()
    try:
        with pytest.raises(TaskTimeoutError, match="keep running in the background") as info:
            Parallel(n_jobs=2, backend="threading", timeout=0.5)(
                delayed(release.wait)(60) for _ in range(2))
        assert "backend='loky'" in str(info.value)
    finally:
        release.set()


def _signal_then_wait(started, release):
    started.release()
    release.wait(60)


def test_a_dropped_threading_generator_does_not_delay_the_next_call():
    started, release = threading.Semaphore(0), threading.Event()
    try:
        gen = Parallel(n_jobs=2, backend="threading", return_as="generator", batch_size=1)(
            delayed(_signal_then_wait)(started, release) for _ in range(10))
        for _ in range(2):  # both threads of the pool now run a task that will be abandoned
            assert started.acquire(timeout=30)
        del gen
        t0 = time.monotonic()
        out = Parallel(n_jobs=2, backend="threading")(delayed(abs)(-i) for i in range(10))
        elapsed = time.monotonic() - t0
        assert out == list(range(10))
        assert elapsed < 5, f"the next call waited {elapsed:.1f}s for abandoned tasks"
    finally:
        release.set()


# --- nesting in forked workers ----------------------------------------------------------------


def _nested(child_backend):
    return sum(Parallel(n_jobs=2, backend=child_backend)(delayed(abs)(-i) for i in range(4)))


@pytest.mark.parametrize("child_backend", BACKENDS)
@pytest.mark.parametrize("parent_backend", PROCESS_BACKENDS)
def test_nested_parallel_in_workers_after_a_threading_call(parent_backend, child_backend):
    # a threading call first leaves a warm thread pool, which a forked worker inherits
    # without its threads
    assert Parallel(n_jobs=2, backend="threading")(delayed(abs)(-i) for i in range(4)) == \
        [0, 1, 2, 3]
    try:
        out = Parallel(n_jobs=2, backend=parent_backend, timeout=60)(
            delayed(_nested)(child_backend) for _ in range(3))
    except TaskTimeoutError:
        pytest.fail("the nested Parallel in the worker hung")
    assert out == [6, 6, 6]


# --- arrays keep their exact dtype ----------------------------------------------------------


def _byteorder(x):
    return x, x.dtype.byteorder, isinstance(x, np.memmap)


@pytest.mark.parametrize("max_nbytes", [1, None])
@pytest.mark.parametrize("byteorder", ["<", ">", "="])
def test_arrays_come_back_from_workers_with_their_byte_order(process_backend, byteorder,
                                                              max_nbytes):
    x = np.arange(6).reshape((2, 3)).view(f"{byteorder}i4")
    out = Parallel(n_jobs=2, backend=process_backend, max_nbytes=max_nbytes)(
        delayed(_byteorder)(x) for _ in range(3))
    for returned, order_in_worker, was_memmap in out:
        assert was_memmap == (max_nbytes == 1)  # the case under test really was memmapped
        assert order_in_worker == x.dtype.byteorder
        assert returned.dtype == x.dtype and returned.dtype.str == x.dtype.str
        assert type(returned) is np.ndarray  # a worker's memmap comes back as a plain array
        np.testing.assert_array_equal(returned, x)


# --- unbounded recursion ----------------------------------------------------------------------


def _recurse():
    return Parallel()(delayed(_recurse)() for _ in range(2))


def _recurse_with_tblib():
    from tblib import pickling_support

    pickling_support.install()  # as dask does: exceptions are then pickled with tracebacks
    return _recurse()


@pytest.mark.parametrize("backend", ["threading", "loky"])
def test_unbounded_recursive_parallel_raises_recursion_error(backend):
    with parallel_config(backend, n_jobs=2), pytest.raises(RecursionError):
        _recurse()


def test_recursion_error_survives_a_worker_that_pickles_tracebacks():
    pytest.importorskip("tblib")
    with parallel_config("loky", n_jobs=2), pytest.raises(RecursionError) as info:
        Parallel()(delayed(_recurse_with_tblib)() for _ in range(2))
    assert "could not be pickled" not in str(info.value)


# --- shared arrays are gone before an error reaches the caller ------------------------------


def _fail_on_one(arr, i):
    if i == 1:
        raise ValueError("task 1 failed")
    time.sleep(0.3)
    return float(arr[0])


def test_shared_files_are_removed_before_the_error_reaches_the_caller(process_backend,
                                                                      tmp_path):
    arr = np.ones(100_000)
    with pytest.raises(ValueError, match="task 1 failed"):
        Parallel(n_jobs=2, backend=process_backend, temp_folder=str(tmp_path), max_nbytes=1,
                 batch_size=1)(delayed(_fail_on_one)(arr, i) for i in range(4))
    assert os.listdir(tmp_path) == []


def test_shared_files_of_a_with_block_are_removed_when_it_ends_in_an_error(tmp_path):
    arr = np.ones(100_000)
    parallel = Parallel(n_jobs=2, backend="loky", temp_folder=str(tmp_path), max_nbytes=1,
                        batch_size=1)
    with pytest.raises(ValueError, match="task 1 failed"), parallel:
        parallel(delayed(_fail_on_one)(arr, i) for i in range(4))
    assert os.listdir(tmp_path) == []


# --- arguments and results --------------------------------------------------------------------


@pytest.mark.parametrize("batch_size, error", [
    (10**20, ValueError), (0, ValueError), (-3, ValueError), ("big", ValueError),
    (2.5, TypeError), (True, TypeError), (None, TypeError),
])
def test_a_bad_batch_size_is_named(batch_size, error):
    with pytest.raises(error, match="batch_size"):
        Parallel(n_jobs=2, backend="threading", batch_size=batch_size)


def test_numpy_ints_are_valid_batch_sizes():
    out = Parallel(n_jobs=2, backend="threading", batch_size=np.int64(3))(
        delayed(abs)(-i) for i in range(7))
    assert out == list(range(7))


@pytest.mark.parametrize("pre_dispatch, error", [
    (0, ValueError), (-1, ValueError), (2.5, TypeError), (True, TypeError),
    (None, TypeError), ("import os", ValueError),
])
def test_a_bad_pre_dispatch_is_named_when_parallel_is_built(pre_dispatch, error):
    with pytest.raises(error, match="pre_dispatch"):
        Parallel(n_jobs=2, backend="threading", pre_dispatch=pre_dispatch)


def _lock_on_three(i):
    return threading.Lock() if i == 3 else i


def test_an_unpicklable_result_names_its_task(process_backend):
    with pytest.raises(Exception, match=r"_thread\.lock") as info:
        Parallel(n_jobs=2, backend=process_backend, batch_size=1)(
            delayed(_lock_on_three)(i) for i in range(6))
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "task #3 (_lock_on_three(3))" in notes
    assert "result" in notes and process_backend in notes
