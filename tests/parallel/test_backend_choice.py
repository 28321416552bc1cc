"""Which backend a Parallel call gets: hints and constraints, multiprocessing contexts, and
the public backend classes users subclass (joblib parity, issue 15 items 9, 11, 15)."""

from __future__ import annotations

import multiprocessing
import os

import pytest

import jlcache
from jlcache.parallel import Parallel, delayed, parallel_config, register_parallel_backend

# set at run time in the caller: a forked worker inherits it, a spawned one imports the module
START_MARK = "imported"


def start_mark(_):
    return START_MARK, os.getpid()


def test_prefer_processes_and_require_sharedmem_are_inconsistent():
    with pytest.raises(ValueError, match="prefer='processes' and require='sharedmem'"):
        Parallel(n_jobs=2, prefer="processes", require="sharedmem")
    # the same when one of them comes from the configuration, as in joblib
    with parallel_config(prefer="processes"), pytest.raises(ValueError, match="inconsistent"):
        Parallel(n_jobs=2, require="sharedmem")
    with parallel_config(require="sharedmem"), pytest.raises(ValueError, match="inconsistent"):
        Parallel(n_jobs=2, prefer="processes")


@pytest.mark.parametrize("backend", ["loky", "multiprocessing"])
def test_an_explicit_process_backend_with_require_sharedmem_is_refused(backend):
    with pytest.raises(ValueError, match="does not share memory"):
        Parallel(n_jobs=2, backend=backend, require="sharedmem")


def test_prefer_processes_overrides_a_thread_backend_made_the_default():
    from jlcache.parallel import backends

    old = backends.default_backend_name()
    try:
        register_parallel_backend("threads-default", jlcache.ThreadingBackend, make_default=True)
        assert Parallel(n_jobs=2)._backend.name == "threading"
        assert Parallel(n_jobs=2, prefer="processes")._backend.name == "loky"
        with parallel_config("threading"):  # a configured backend is kept, as in joblib
            assert Parallel(n_jobs=2, prefer="processes")._backend.name == "threading"
    finally:
        backends._default[0] = old


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_a_multiprocessing_context_is_a_backend(method):
    globals()["START_MARK"] = "set in the caller"
    try:
        ctx = multiprocessing.get_context(method)
        parallel = Parallel(n_jobs=2, backend=ctx)
        assert parallel._backend.name == "multiprocessing"
        out = parallel(delayed(start_mark)(i) for i in range(4))
    finally:
        globals()["START_MARK"] = "imported"
    marks = {mark for mark, _ in out}
    assert marks == {"imported"}, "workers were forked, not started with " + method
    assert all(pid != os.getpid() for _, pid in out)


def test_a_multiprocessing_context_in_parallel_config():
    with parallel_config(backend=multiprocessing.get_context("spawn"), n_jobs=2):
        parallel = Parallel()
        assert parallel._backend.name == "multiprocessing"
        assert parallel(delayed(abs)(-i) for i in range(3)) == [0, 1, 2]


def test_a_fork_context_forks():
    globals()["START_MARK"] = "set in the caller"
    try:
        out = Parallel(n_jobs=2, backend=multiprocessing.get_context("fork"))(
            delayed(start_mark)(i) for i in range(2))
    finally:
        globals()["START_MARK"] = "imported"
    assert {mark for mark, _ in out} == {"set in the caller"}


def test_a_wrong_backend_type_is_explained():
    with pytest.raises(TypeError, match="multiprocessing context"):
        Parallel(n_jobs=2, backend=3.5)
    with pytest.raises(TypeError, match="context must be"):
        jlcache.MultiprocessingBackend(context=3)


def test_backend_classes_are_public_in_jlcache_and_jlcache_parallel():
    import jlcache.parallel as jp
    from jlcache.parallel.backends.base import ParallelBackendBase

    names = ["ParallelBackendBase", "ThreadingBackend", "LokyBackend",
             "MultiprocessingBackend", "SequentialBackend"]
    for name in names:
        cls = getattr(jlcache, name)
        assert cls is getattr(jp, name)
        assert issubclass(cls, ParallelBackendBase)
        assert name in jlcache.__all__ and name in jp.__all__
    assert Parallel(n_jobs=2, backend="threading")._backend.__class__ is jlcache.ThreadingBackend


class CountingThreads(jlcache.ThreadingBackend):
    """What joblib users do: subclass a built-in backend to add bookkeeping."""

    name = "counting-threads"
    batches = 0

    def submit(self, fn, *args):
        type(self).batches += 1
        return super().submit(fn, *args)


def test_a_subclass_of_a_public_backend_registers_and_runs():
    register_parallel_backend("counting-threads", CountingThreads)
    before = CountingThreads.batches
    with parallel_config("counting-threads", n_jobs=2):
        out = Parallel()(delayed(abs)(-i) for i in range(20))
    assert out == list(range(20))
    assert CountingThreads.batches > before
    # an instance works as the backend too, as in joblib
    assert Parallel(n_jobs=2, backend=CountingThreads())(delayed(abs)(-1) for _ in range(2)) \
        == [1, 1]


def test_loky_backend_parameters_use_joblibs_names():
    assert jlcache.LokyBackend(idle_worker_timeout=5).idle_timeout == 5
    assert jlcache.LokyBackend(idle_timeout=7).idle_timeout == 7
    with pytest.raises(ValueError, match="idle_worker_timeout"):
        jlcache.LokyBackend(timeout=3)


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
def test_a_bad_inner_max_num_threads_is_explained(bad):
    with pytest.raises(ValueError, match="inner_max_num_threads must be a positive int"):
        parallel_config("loky", inner_max_num_threads=bad)
    with pytest.raises(ValueError, match="inner_max_num_threads"):
        Parallel(n_jobs=2, backend="loky", inner_max_num_threads=bad)
