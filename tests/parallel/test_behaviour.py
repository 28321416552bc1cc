"""The shared behaviour suite: the same expectations on every backend."""

from __future__ import annotations

import math
import time

import pytest

from jlcache.errors import UnpicklableTaskError
from jlcache.parallel import Parallel, delayed
from jlcache.parallel.tasks import RemoteTraceback

N_JOBS = 2


def square(x):
    return x * x


def slow_identity(x, delay):
    time.sleep(delay)
    return x


def fail_on(x, bad):
    if x == bad:
        raise KeyError(f"bad item {x}")
    return x


def with_kwargs(a, b=0, *, c=1):
    return a + b * c


class CustomError(Exception):
    pass


def raise_custom(x):
    raise CustomError(f"custom {x}")


def test_results_keep_input_order(backend):
    out = Parallel(n_jobs=N_JOBS, backend=backend)(delayed(square)(i) for i in range(200))
    assert out == [i * i for i in range(200)]


def test_order_kept_when_later_tasks_finish_first(backend):
    delays = [0.05, 0.0, 0.03, 0.0, 0.0, 0.01]
    out = Parallel(n_jobs=N_JOBS, backend=backend, batch_size=1)(
        delayed(slow_identity)(i, d) for i, d in enumerate(delays))
    assert out == list(range(len(delays)))


def test_keyword_arguments_and_mixed_functions(backend):
    tasks = [delayed(with_kwargs)(1, 2, c=3), delayed(square)(4), delayed(with_kwargs)(5)]
    assert Parallel(n_jobs=N_JOBS, backend=backend)(tasks) == [7, 16, 5]


def test_builtin_function_from_the_issue(backend):
    out = Parallel(n_jobs=N_JOBS, backend=backend)(delayed(math.sqrt)(i**2) for i in range(10))
    assert out == [float(i) for i in range(10)]


def test_empty_input_gives_empty_list(backend):
    assert Parallel(n_jobs=N_JOBS, backend=backend)([]) == []
    assert Parallel(n_jobs=N_JOBS, backend=backend)(x for x in []) == []
    assert list(Parallel(n_jobs=N_JOBS, backend=backend, return_as="generator")([])) == []


def test_error_keeps_original_type_and_names_the_task(backend):
    with pytest.raises(KeyError, match="bad item 7") as info:
        Parallel(n_jobs=N_JOBS, backend=backend)(delayed(fail_on)(i, 7) for i in range(20))
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "task #7" in notes and "fail_on(7, 7)" in notes


def test_error_carries_the_worker_traceback(backend):
    with pytest.raises(CustomError) as info:
        Parallel(n_jobs=N_JOBS, backend=backend)(delayed(raise_custom)(i) for i in range(3))
    exc = info.value
    if backend in ("multiprocessing", "loky"):
        assert isinstance(exc.__cause__, RemoteTraceback)
        assert "raise_custom" in str(exc.__cause__)
        assert 'raise CustomError(f"custom {x}")' in str(exc.__cause__)
    else:  # same process: the real traceback, frames of the task included
        import traceback

        frames = [f.name for f in traceback.extract_tb(exc.__traceback__)]
        assert "raise_custom" in frames


def test_next_call_works_after_an_error(backend):
    with pytest.raises(KeyError):
        Parallel(n_jobs=N_JOBS, backend=backend)(delayed(fail_on)(i, 0) for i in range(10))
    assert Parallel(n_jobs=N_JOBS, backend=backend)(delayed(square)(i) for i in range(5)) == \
        [0, 1, 4, 9, 16]


def test_generator_yields_in_order(backend):
    gen = Parallel(n_jobs=N_JOBS, backend=backend, return_as="generator")(
        delayed(square)(i) for i in range(30))
    assert not isinstance(gen, list)
    assert list(gen) == [i * i for i in range(30)]


def test_generator_unordered_yields_every_result(backend):
    delays = [0.4, 0.0, 0.0, 0.0]
    gen = Parallel(n_jobs=N_JOBS, backend=backend, return_as="generator_unordered",
                   batch_size=1)(delayed(slow_identity)(i, d) for i, d in enumerate(delays))
    out = list(gen)
    assert sorted(out) == [0, 1, 2, 3]
    if backend not in ("sequential",):
        assert out[0] != 0  # the slow first task does not hold back the others


def test_closing_an_unfinished_generator_cancels_the_rest(backend, tmp_path):
    gen = Parallel(n_jobs=N_JOBS, backend=backend, return_as="generator", batch_size=1)(
        delayed(_touch_and_sleep)(str(tmp_path), i, 0.3) for i in range(12))
    assert next(gen) == 0
    gen.close()
    time.sleep(0.5)
    started = len(list(tmp_path.iterdir()))
    assert started < 12
    # workers are free: a quick call finishes quickly
    t0 = time.monotonic()
    assert Parallel(n_jobs=N_JOBS, backend=backend)(delayed(square)(i) for i in range(4)) == \
        [0, 1, 4, 9]
    assert time.monotonic() - t0 < 5
    time.sleep(0.4)
    assert len(list(tmp_path.iterdir())) == started  # nothing of the closed call ran later


def _touch_and_sleep(folder, i, delay):
    import os

    open(os.path.join(folder, f"t{i}"), "w").close()
    time.sleep(delay)
    return i


def test_lambdas_and_local_functions(backend):
    offset = 10

    def local(x):
        return x + offset

    assert Parallel(n_jobs=N_JOBS, backend=backend)(delayed(local)(i) for i in range(5)) == \
        [10, 11, 12, 13, 14]
    assert Parallel(n_jobs=N_JOBS, backend=backend)(
        delayed(lambda x: x * 3)(i) for i in range(5)) == [0, 3, 6, 9, 12]


def test_plain_task_tuples_are_accepted(backend):
    assert Parallel(n_jobs=N_JOBS, backend=backend)([(square, (3,), {})]) == [9]


def test_values_instead_of_delayed_tasks_say_to_use_delayed(backend):
    with pytest.raises(TypeError, match=r"delayed\(f\)\(\.\.\.\); got int 0 at position 0\. "
                                        r"Wrap the call: delayed\(f\)\(x\)"):
        Parallel(n_jobs=N_JOBS, backend=backend)(square(i) for i in range(3))


def test_a_bad_task_after_good_ones_is_named_by_position(backend):
    # Each batch's first task is checked (one check per batch keeps tiny tasks cheap).
    tasks = [delayed(square)(i) for i in range(3)] + ["oops"]
    with pytest.raises(TypeError, match=r"got str 'oops' at position 3"):
        Parallel(n_jobs=N_JOBS, backend=backend, batch_size=1)(tasks)


def test_context_manager_reuses_workers(backend):
    with Parallel(n_jobs=N_JOBS, backend=backend) as parallel:
        first = parallel(delayed(square)(i) for i in range(10))
        second = parallel(delayed(square)(i) for i in range(10, 20))
    assert first + second == [i * i for i in range(20)]


def test_context_manager_survives_an_error(backend):
    with Parallel(n_jobs=N_JOBS, backend=backend) as parallel:
        with pytest.raises(KeyError):
            parallel(delayed(fail_on)(i, 1) for i in range(6))
        assert parallel(delayed(square)(i) for i in range(3)) == [0, 1, 4]


def test_many_tiny_tasks_with_auto_batching(backend):
    n = 20_000
    assert Parallel(n_jobs=N_JOBS, backend=backend)(delayed(square)(i) for i in range(n)) == \
        [i * i for i in range(n)]


def test_unpicklable_argument_is_named(process_backend):
    import threading

    lock = threading.Lock()
    with pytest.raises(UnpicklableTaskError) as info:
        Parallel(n_jobs=N_JOBS, backend=process_backend)(
            delayed(with_kwargs)(1, b=lock) for _ in range(3))
    msg = str(info.value)
    assert "keyword argument 'b'" in msg and "lock" in msg and "task #0" in msg
    assert "backend='threading'" in msg


def test_unpicklable_function_is_named(process_backend):
    import threading

    lock = threading.Lock()

    def uses_lock(x):
        with lock:
            return x

    with pytest.raises(UnpicklableTaskError, match="uses_lock"):
        Parallel(n_jobs=N_JOBS, backend=process_backend)(delayed(uses_lock)(i) for i in range(3))


@pytest.mark.parametrize("n_jobs", [0])
def test_n_jobs_zero_is_an_error(backend, n_jobs):
    with pytest.raises(ValueError, match="n_jobs == 0"):
        Parallel(n_jobs=n_jobs, backend=backend)


def test_unknown_return_as_is_an_error():
    with pytest.raises(ValueError, match="return_as"):
        Parallel(return_as="dict")


def test_one_parallel_object_runs_one_call_at_a_time():
    parallel = Parallel(n_jobs=2, backend="threading", return_as="generator")
    gen = parallel(delayed(square)(i) for i in range(10))
    with pytest.raises(RuntimeError, match="already running"):
        parallel(delayed(square)(i) for i in range(3))
    assert list(gen) == [i * i for i in range(10)]
    assert list(parallel(delayed(square)(i) for i in range(3))) == [0, 1, 4]
