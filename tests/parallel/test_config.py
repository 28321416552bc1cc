"""parallel_config / parallel_backend, n_jobs semantics, the backend registry."""

from __future__ import annotations

import threading
from concurrent.futures import Future

import pytest

from jlcache.errors import BackendUnavailableError
from jlcache.parallel import (
    Parallel,
    ParallelBackendBase,
    cpu_count,
    delayed,
    effective_n_jobs,
    parallel_backend,
    parallel_config,
    register_parallel_backend,
)
from jlcache.parallel.config import get_config


def double(x):
    return 2 * x


def test_n_jobs_semantics():
    assert effective_n_jobs(None) == 1
    assert effective_n_jobs(3) == 3
    assert effective_n_jobs(-1) == cpu_count()
    assert effective_n_jobs(-2) == max(cpu_count() - 1, 1)
    with pytest.raises(ValueError, match="n_jobs == 0"):
        effective_n_jobs(0)
    with pytest.raises(ValueError, match="n_jobs must be an int"):
        Parallel(n_jobs="two")


@pytest.mark.parametrize("n_jobs", ["2", 2.0, " 2 "])
def test_n_jobs_from_a_config_string_or_float_is_converted_like_joblib(n_jobs):
    assert effective_n_jobs(n_jobs) == 2
    assert Parallel(n_jobs=n_jobs, backend="threading")(delayed(abs)(-i) for i in range(3)) == \
        [0, 1, 2]


def test_timeout_and_crash_errors_are_the_types_joblib_users_catch():
    import multiprocessing
    from concurrent.futures.process import BrokenProcessPool

    from jlcache.errors import TaskTimeoutError, WorkerCrashedError

    assert issubclass(TaskTimeoutError, multiprocessing.TimeoutError)
    assert issubclass(TaskTimeoutError, TimeoutError)
    assert issubclass(WorkerCrashedError, BrokenProcessPool)
    assert issubclass(WorkerCrashedError, RuntimeError)


def test_none_means_one_job_and_sequential():
    p = Parallel()
    assert p._n_jobs == 1 and p._backend.name == "sequential"


def test_config_sets_backend_and_n_jobs_for_parallel():
    with parallel_config("threading", n_jobs=2):
        p = Parallel()
        assert (p._backend.name, p._n_jobs) == ("threading", 2)
        assert p(delayed(double)(i) for i in range(5)) == [0, 2, 4, 6, 8]
    assert Parallel()._backend.name == "sequential"


def test_config_nests_and_inherits_unset_values():
    with parallel_config("threading", n_jobs=3, max_nbytes=None):
        with parallel_config(n_jobs=2):
            cfg = get_config()
            assert (cfg["backend"], cfg["n_jobs"], cfg["max_nbytes"]) == ("threading", 2, None)
            assert Parallel()._max_nbytes is None
        assert get_config()["n_jobs"] == 3
    assert get_config()["backend"] is None


def test_explicit_parallel_arguments_win_over_config():
    with parallel_config("threading", n_jobs=2):
        p = Parallel(n_jobs=2, backend="loky")
        assert p._backend.name == "loky"


def test_config_is_thread_local():
    seen = {}

    def other_thread():
        seen["backend"] = get_config()["backend"]

    with parallel_config("threading", n_jobs=2):
        t = threading.Thread(target=other_thread)
        t.start()
        t.join()
    assert seen["backend"] is None


def test_legacy_parallel_backend_yields_backend_and_n_jobs():
    with parallel_backend("threading", n_jobs=2) as pair:
        assert pair == ("threading", 2)
        assert Parallel()._backend.name == "threading"


def test_prefer_and_require_pick_threads():
    assert Parallel(n_jobs=2, prefer="threads")._backend.name == "threading"
    assert Parallel(n_jobs=2, require="sharedmem")._backend.name == "threading"
    with pytest.raises(ValueError, match="sharedmem"):
        Parallel(n_jobs=2, backend="loky", require="sharedmem")
    with parallel_config("loky"):  # a configured process backend gives way to sharedmem
        assert Parallel(n_jobs=2, require="sharedmem")._backend.name == "threading"


def test_unknown_backend_lists_the_known_ones():
    with pytest.raises(ValueError, match="loky"):
        Parallel(n_jobs=2, backend="nope")
    with pytest.raises(ValueError, match="Unknown parallel backend"):
        parallel_config("nope")


class InlineBackend(ParallelBackendBase):
    """A third-party backend: runs batches in a thread per batch and counts them."""

    name = "inline"
    uses_threads = True
    submitted = 0

    def submit(self, fn, *args):
        type(self).submitted += 1
        future: Future = Future()

        def body():
            try:
                future.set_result(fn(*args))
            except Exception as exc:
                future.set_exception(exc)

        threading.Thread(target=body).start()
        return future


def test_register_a_third_party_backend():
    register_parallel_backend("inline", InlineBackend)
    before = InlineBackend.submitted
    out = Parallel(n_jobs=2, backend="inline")(delayed(double)(i) for i in range(10))
    assert out == [2 * i for i in range(10)]
    assert InlineBackend.submitted > before
    with parallel_config("inline", n_jobs=2):
        assert Parallel()._backend.name == "inline"


def test_register_make_default():
    from jlcache.parallel import backends

    old = backends.default_backend_name()
    try:
        register_parallel_backend("inline-default", InlineBackend, make_default=True)
        assert Parallel(n_jobs=2)._backend.name == "inline"
    finally:
        backends._default[0] = old


def test_dask_and_ray_are_lazy_with_install_hint(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed
    with pytest.raises(BackendUnavailableError, match=r"jlcache\[ray\]"):
        Parallel(n_jobs=2, backend="ray")


def test_import_is_clean(python):
    proc = python("""
        import sys, jlcache.parallel
        heavy = [m for m in ("numpy", "loky", "cloudpickle", "IPython", "ipywidgets", "dask",
                             "ray", "joblib") if m in sys.modules]
        print(heavy)
    """)
    assert proc.stdout.strip() == "[]"


@pytest.mark.parametrize("pre_dispatch", ["all", "3 * n_jobs", 5])
def test_pre_dispatch_forms(pre_dispatch):
    out = Parallel(n_jobs=2, backend="threading", pre_dispatch=pre_dispatch)(
        delayed(double)(i) for i in range(50))
    assert out == [2 * i for i in range(50)]


def test_bad_pre_dispatch_and_batch_size_are_explained():
    with pytest.raises(ValueError, match="pre_dispatch"):
        Parallel(n_jobs=2, backend="threading", pre_dispatch="import os")([delayed(double)(1)])
    with pytest.raises(ValueError, match="batch_size"):
        Parallel(batch_size=0)
    with pytest.raises(ValueError, match="max_nbytes"):
        Parallel(max_nbytes="lots")


def test_verbose_reports_on_stderr(capsys):
    Parallel(n_jobs=2, backend="threading", verbose=11)(delayed(double)(i) for i in range(5))
    err = capsys.readouterr().err
    assert "Parallel(n_jobs=2)" in err and "done: 5 tasks, 0 errors" in err
