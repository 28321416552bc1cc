"""The forms a batch travels in (``jlcache.parallel.wire``): one function as argument
columns, argument tuples, or a list of tasks. Errors, keyword arguments and mixed batches
must behave exactly as with one task per batch."""

from __future__ import annotations

import pytest

from jlcache.parallel import Parallel, delayed
from jlcache.parallel.tasks import RemoteTraceback, run_batch
from jlcache.parallel.wire import take, to_tasks

N_JOBS = 2


def fail_at(x, bad=-1):
    if x == bad:
        raise ValueError(f"failed on {x}")
    return x


def add(a, b=0):
    return a + b


def neg(x):
    return -x


def no_args():
    return 42


# --- the forms --------------------------------------------------------------------------------
def test_one_function_without_kwargs_is_kept_as_arguments_only():
    taken = take(iter([delayed(add)(i, 1) for i in range(5)]), 10)
    assert taken.tasks is None and taken.func is add and taken.arglist == [(i, 1) for i in range(5)]
    assert taken.wire(columns=True) == ("cols", add, [[0, 1, 2, 3, 4], [1, 1, 1, 1, 1]])
    assert taken.wire(columns=False) == ("args", add, [(i, 1) for i in range(5)])
    assert taken.task(3) == (add, (3, 1), {})


def test_a_mixed_batch_keeps_every_task_in_its_position():
    tasks = [delayed(add)(1), delayed(add)(2), delayed(add)(3, b=4), delayed(neg)(5), "bad"]
    taken = take(iter(tasks), 10)
    assert taken.as_tasks() == tasks


def test_take_stops_at_the_batch_size_and_at_the_end():
    it = iter([delayed(add)(i) for i in range(5)])
    assert len(take(it, 3)) == 3 and len(take(it, 3)) == 2 and take(it, 3) is None


def test_arguments_of_different_lengths_travel_as_tuples():
    taken = take(iter([delayed(add)(1), delayed(add)(1, 2)]), 10)
    wire = taken.wire(columns=True)
    assert wire == ("args", add, [(1,), (1, 2)])
    assert to_tasks(wire) == [(add, (1,), {}), (add, (1, 2), {})]


def test_a_failure_inside_a_column_batch_keeps_the_results_before_it():
    out = run_batch(("cols", fail_at, [list(range(10)), [6] * 10]))
    assert out.position == 6 and out.results == list(range(6))
    assert isinstance(out.exc, ValueError)


# --- end to end, every backend ----------------------------------------------------------------
@pytest.mark.parametrize("bad", [0, 137, 399])
def test_an_error_inside_a_big_batch_names_the_task(backend, bad):
    with pytest.raises(ValueError, match=f"failed on {bad}") as info:
        Parallel(n_jobs=N_JOBS, backend=backend, batch_size=200)(
            delayed(fail_at)(i, bad) for i in range(400))
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert f"task #{bad} (fail_at({bad}, {bad}))" in notes
    if backend in ("loky", "multiprocessing"):
        assert isinstance(info.value.__cause__, RemoteTraceback)
        assert 'raise ValueError(f"failed on {x}")' in str(info.value.__cause__)


def test_an_error_in_a_batch_of_varying_arity_names_the_task(backend):
    tasks = [delayed(fail_at)(i, 55) if i % 2 else delayed(fail_at)(i) for i in range(100)]
    with pytest.raises(ValueError, match="failed on 55") as info:
        Parallel(n_jobs=N_JOBS, backend=backend, batch_size=100)(tasks)
    assert "task #55 (fail_at(55, 55))" in "\n".join(info.value.__notes__)


def test_kwargs_and_mixed_functions_inside_one_batch(backend):
    tasks = []
    for i in range(300):
        tasks.append(delayed(add)(i, b=i) if i % 3 == 0 else
                     delayed(neg)(i) if i % 3 == 1 else delayed(add)(i))
    expected = [2 * i if i % 3 == 0 else -i if i % 3 == 1 else i for i in range(300)]
    out = Parallel(n_jobs=N_JOBS, backend=backend, batch_size=100)(tasks)
    assert out == expected


def test_functions_without_arguments(backend):
    out = Parallel(n_jobs=N_JOBS, backend=backend, batch_size=50)(
        delayed(no_args)() for _ in range(120))
    assert out == [42] * 120


def test_a_bad_task_in_the_middle_of_a_batch_is_named_before_it_runs(backend):
    tasks = [delayed(add)(i) for i in range(30)] + ["abc"] + [delayed(add)(i) for i in range(9)]
    with pytest.raises(TypeError, match=r"got str 'abc' at position 30"):
        Parallel(n_jobs=N_JOBS, backend=backend, batch_size=40)(tasks)


def test_shared_argument_objects_stay_shared_inside_a_batch(process_backend):
    shared = [1, 2, 3]
    out = Parallel(n_jobs=N_JOBS, backend=process_backend, batch_size=10)(
        delayed(id)(shared) for _ in range(10))
    assert len(set(out)) == 1  # one object in the worker, as when each task is pickled alone


def test_an_error_raised_by_the_callers_generator_is_not_blamed_on_a_task(backend):
    def tasks():
        for i in range(300):
            if i == 250:
                raise LookupError("the input ran out of data")
            yield delayed(add)(i)

    with pytest.raises(LookupError, match="ran out of data") as info:
        Parallel(n_jobs=N_JOBS, backend=backend, batch_size=100)(tasks())
    assert not any("raised by task" in note for note in getattr(info.value, "__notes__", []))
