"""Process-level behaviour: crashes, Ctrl-C, shared memory, nesting, timeouts."""

from __future__ import annotations

import glob
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import psutil
import pytest

from jlcache.errors import ParallelWarning, TaskTimeoutError, WorkerCrashedError
from jlcache.parallel import Parallel, delayed
from tests.conftest import REPO


def square(x):
    return x * x


def exit_hard(x, code):
    if x == 1:
        os._exit(code)
    time.sleep(0.05)
    return x


def segfault(x):
    if x == 1:
        import faulthandler

        faulthandler.disable()  # a forked worker inherits pytest's, which would print a dump
        os.kill(os.getpid(), signal.SIGSEGV)
    time.sleep(0.05)
    return x


def test_worker_os_exit_is_reported_and_the_pool_recovers(process_backend):
    with pytest.raises(WorkerCrashedError, match="exited with code 3"):
        Parallel(n_jobs=2, backend=process_backend)(delayed(exit_hard)(i, 3) for i in range(4))
    assert Parallel(n_jobs=2, backend=process_backend)(delayed(square)(i) for i in range(4)) == \
        [0, 1, 4, 9]


def test_worker_segfault_is_reported_and_the_pool_recovers(process_backend):
    with pytest.raises(WorkerCrashedError) as info:
        Parallel(n_jobs=2, backend=process_backend)(delayed(segfault)(i) for i in range(4))
    assert "SIGSEGV" in str(info.value) and "segmentation fault" in str(info.value)
    assert Parallel(n_jobs=2, backend=process_backend)(delayed(square)(i) for i in range(4)) == \
        [0, 1, 4, 9]


def test_crash_inside_a_with_block_then_the_block_still_works(process_backend):
    with Parallel(n_jobs=2, backend=process_backend) as parallel:
        with pytest.raises(WorkerCrashedError):
            parallel(delayed(exit_hard)(i, 5) for i in range(4))
        assert parallel(delayed(square)(i) for i in range(4)) == [0, 1, 4, 9]


def _shm_folders(pid: int) -> list[str]:
    if pid == os.getpid():  # removal happens in a background thread right after the call
        from jlcache.parallel.sharing import wait_for_cleanup

        assert wait_for_cleanup(timeout=5)
    return glob.glob(f"/dev/shm/jlcache-{pid}-*")


def array_info(a):
    return type(a).__name__, getattr(a, "filename", None), float(a[:10].sum())


def fail_with_array(a, i):
    if i == 2:
        raise ValueError("boom")
    return float(a[0])


@pytest.mark.skipif(not os.path.isdir("/dev/shm"), reason="needs /dev/shm")
def test_large_arrays_are_shared_once_and_removed(process_backend):
    arr = np.arange(400_000, dtype=np.float64)  # 3.2 MB > 1M
    out = Parallel(n_jobs=2, backend=process_backend)(delayed(array_info)(arr) for _ in range(8))
    kinds, files, sums = zip(*out, strict=True)
    assert set(kinds) == {"memmap"}
    assert len(set(files)) == 1 and files[0].startswith("/dev/shm/")
    assert set(sums) == {float(arr[:10].sum())}
    assert _shm_folders(os.getpid()) == []
    assert not os.path.exists(files[0])
    # small arrays and max_nbytes=None travel by value
    out = Parallel(n_jobs=2, backend=process_backend, max_nbytes=None)(
        delayed(array_info)(arr) for _ in range(2))
    assert {k for k, _, _ in out} == {"ndarray"}


def test_shared_memory_removed_after_an_error(process_backend):
    arr = np.ones(300_000)
    with pytest.raises(ValueError, match="boom"):
        Parallel(n_jobs=2, backend=process_backend)(delayed(fail_with_array)(arr, i)
                                                    for i in range(6))
    assert _shm_folders(os.getpid()) == []


def test_context_manager_reuses_the_shared_file_for_an_unchanged_array():
    arr = np.arange(300_000, dtype=np.float64)
    with Parallel(n_jobs=2, backend="loky") as parallel:
        first = parallel(delayed(array_info)(arr) for _ in range(2))
        second = parallel(delayed(array_info)(arr) for _ in range(2))
        arr[:10] = 1.0  # changed content: a new file, never stale data
        third = parallel(delayed(array_info)(arr) for _ in range(2))
        assert parallel._sharer.written == 2
    assert first[0][1] == second[0][1] != third[0][1]
    assert third[0][2] == 10.0
    assert _shm_folders(os.getpid()) == []


def inner_backend(x):
    p = Parallel(n_jobs=2)
    inner = Parallel(n_jobs=2, backend="loky")
    return p._backend.name, inner._backend.name, inner(delayed(square)(i) for i in range(x))


def test_nested_parallel_degrades_instead_of_oversubscribing():
    out = Parallel(n_jobs=2, backend="loky")(delayed(inner_backend)(3) for _ in range(2))
    # inside a process worker: processes -> threads
    assert out[0] == ("threading", "threading", [0, 1, 4])
    out = Parallel(n_jobs=2, backend="threading")(delayed(inner_backend)(3) for _ in range(2))
    # inside a thread worker: -> sequential
    assert out[0] == ("sequential", "sequential", [0, 1, 4])


def sleepy(x, delay):
    time.sleep(delay)
    return x


@pytest.mark.parametrize("backend", ["loky", "multiprocessing"])
def test_timeout_names_the_task_and_stops_it(backend):
    t0 = time.monotonic()
    with pytest.raises(TaskTimeoutError, match=r"task #1 \(sleepy\(1, 30\)\)") as info:
        Parallel(n_jobs=2, backend=backend, timeout=0.5)(
            delayed(sleepy)(i, 30 if i == 1 else 0.01) for i in range(3))
    assert isinstance(info.value, TimeoutError)
    assert time.monotonic() - t0 < 5
    assert Parallel(n_jobs=2, backend=backend)(delayed(square)(i) for i in range(3)) == [0, 1, 4]


def test_timeout_on_a_backend_that_cannot_enforce_it_warns():
    with pytest.warns(ParallelWarning, match="cannot enforce timeout"):
        out = Parallel(n_jobs=1, timeout=1)(delayed(square)(i) for i in range(3))
    assert out == [0, 1, 4]


CTRL_C_CHILD = """
    import sys, time
    import numpy as np
    from jlcache.parallel import Parallel, delayed

    def work(a, i):
        time.sleep(30)
        return i

    arr = np.zeros(2_000_000)
    print("ready", flush=True)
    try:
        Parallel(n_jobs=2, backend={backend!r})(delayed(work)(arr, i) for i in range(8))
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        sys.exit(7)
"""


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["loky", "multiprocessing"])
def test_ctrl_c_stops_workers_fast_and_leaves_nothing(backend):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(CTRL_C_CHILD).format(
        backend=backend)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline().strip() == "ready"
        parent = psutil.Process(proc.pid)
        deadline = time.monotonic() + 30
        while len(_workers(parent)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        workers = _workers(parent)
        assert len(workers) >= 2, "the workers never started"
        time.sleep(0.3)  # let the tasks start
        assert _shm_folders(proc.pid), "the array was not shared"
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=10)
        elapsed = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
    out, err = proc.communicate()
    assert code == 7, err
    assert "interrupted" in out
    assert elapsed < 2.0
    _gone, alive = psutil.wait_procs(workers, timeout=1.0)
    assert alive == [], f"orphan workers: {alive}"
    assert _shm_folders(proc.pid) == []


def _workers(parent: psutil.Process) -> list[psutil.Process]:
    """The child's worker processes (not loky's resource tracker)."""
    found = []
    for child in parent.children(recursive=True):
        try:
            cmd = " ".join(child.cmdline())
        except psutil.Error:
            continue
        if "resource_tracker" not in cmd and "semaphore_tracker" not in cmd:
            found.append(child)
    return found


def test_breaking_out_of_a_loky_generator_is_silent_and_keeps_the_pool(python):
    """Short batches finish within the grace (pool kept); long ones are killed, quietly."""
    proc = python("""
        import time
        from jlcache.parallel import Parallel, delayed
        from jlcache.parallel.backends import loky as lb
        def slow(x, s):
            time.sleep(s)
            return x
        if __name__ == "__main__":
            Parallel(n_jobs=2)(delayed(slow)(i, 0) for i in range(2))
            for s, kept in ((0.05, True), (0.05, True), (0.8, False), (0.8, False)):
                pool = lb._pool
                g = Parallel(n_jobs=2, return_as="generator", batch_size=1)(
                    delayed(slow)(i, s) for i in range(40))
                for r in g:
                    if r == 1:
                        break
                g.close()
                assert (lb._pool is pool) == kept, (s, kept)
                assert Parallel(n_jobs=2)(delayed(slow)(i, 0) for i in range(3)) == [0, 1, 2]
            print("OK")
    """)
    assert proc.stdout.strip().endswith("OK")
    assert "Traceback" not in proc.stderr and "InvalidStateError" not in proc.stderr, proc.stderr


def test_a_warm_worker_killed_while_idle_does_not_fail_the_next_call():
    from jlcache.parallel.backends import loky as lb

    Parallel(n_jobs=2)(delayed(square)(i) for i in range(4))  # warm pool
    for proc in list(lb._pool._processes.values()):
        os.kill(proc.pid, signal.SIGKILL)                     # e.g. the out-of-memory killer
    assert Parallel(n_jobs=2)(delayed(square)(i) for i in range(6)) == [0, 1, 4, 9, 16, 25]


def test_a_task_that_crashes_its_worker_is_still_reported_after_the_retry():
    with pytest.raises(WorkerCrashedError, match="exited with code 5"):
        Parallel(n_jobs=2)(delayed(exit_hard)(i, 5) for i in range(2))
