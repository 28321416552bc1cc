"""Cache-aware dispatch: Memory-cached functions inside Parallel."""

from __future__ import annotations

import os
import uuid

import pytest

from jlcache.parallel import Parallel, delayed


def _counting_square(folder, x):
    # each real computation leaves a file behind, wherever it ran (uuid: a reused worker
    # process computing the same x again must not reopen its earlier file)
    open(os.path.join(folder, f"{x}-{os.getpid()}-{uuid.uuid4().hex}"), "x").close()
    if x == 13 and os.path.exists(os.path.join(folder, "..", "fail13")):
        raise ValueError("13 fails this time")
    return x * x


def _computed(folder):
    return sorted(int(name.split("-")[0]) for name in os.listdir(folder))


@pytest.fixture
def counted(tmp_path):
    folder = tmp_path / "calls"
    folder.mkdir()
    return str(folder)


def test_hits_stay_in_the_parent_and_misses_are_stored(memory, counted, process_backend,
                                                        recorded_events):
    f = memory.cache(_counting_square)
    out = Parallel(n_jobs=2, backend=process_backend)(delayed(f)(counted, i) for i in range(10))
    assert out == [i * i for i in range(10)]
    assert _computed(counted) == list(range(10))
    stores = [e for e in recorded_events if e.name == "cache.store"]
    assert len(stores) == 10
    out = Parallel(n_jobs=2, backend=process_backend)(delayed(f)(counted, i) for i in range(12))
    assert out == [i * i for i in range(12)]
    assert _computed(counted) == list(range(12))  # only 10 and 11 were computed
    # the parent served the others: the same cache, usable directly
    assert f(counted, 3) == 9 and _computed(counted) == list(range(12))


def test_results_before_an_error_stay_cached(memory, counted, tmp_path):
    f = memory.cache(_counting_square)
    (tmp_path / "fail13").touch()
    with pytest.raises(ValueError, match="13 fails"):
        Parallel(n_jobs=2, backend="loky", batch_size=1)(delayed(f)(counted, i) for i in range(16))
    stored = {i for i in range(16) if f.check_call_in_cache(counted, i)}
    assert 13 not in stored and len(stored) >= 5  # the tasks before the error were kept
    before = _computed(counted)
    (tmp_path / "fail13").unlink()
    out = Parallel(n_jobs=2, backend="loky")(delayed(f)(counted, i) for i in range(16))
    assert out == [i * i for i in range(16)]
    computed_again = list(_computed(counted))
    for i in before:
        computed_again.remove(i)
    assert sorted(computed_again) == sorted(set(range(16)) - stored)


def test_all_hits_send_nothing(memory, counted, backend):
    f = memory.cache(_counting_square)
    [f(counted, i) for i in range(5)]
    before = _computed(counted)
    out = Parallel(n_jobs=2, backend=backend)(delayed(f)(counted, i) for i in range(5))
    assert out == [i * i for i in range(5)] and _computed(counted) == before


def test_mixed_cached_and_plain_tasks(memory, counted):
    f = memory.cache(_counting_square)
    f(counted, 2)
    tasks = [delayed(f)(counted, 1), delayed(_counting_square)(counted, 5),
             delayed(f)(counted, 2), delayed(pow)(2, 3)]
    assert Parallel(n_jobs=2, backend="loky")(tasks) == [1, 25, 4, 8]


def _calls_cached(cached, x):
    return cached(x) + 1


def _plain_square(x):
    return x * x


def test_cached_function_called_inside_a_worker_reports_hits_to_the_parent(memory,
                                                                          recorded_events):
    cached = memory.cache(_plain_square)
    out = Parallel(n_jobs=2, backend="loky")(delayed(_calls_cached)(cached, i) for i in range(4))
    assert out == [1, 2, 5, 10]
    recorded_events.clear()
    out = Parallel(n_jobs=2, backend="loky")(delayed(_calls_cached)(cached, i) for i in range(4))
    assert out == [1, 2, 5, 10]
    hits = [e for e in recorded_events if e.name == "cache.hit"]
    misses = [e for e in recorded_events if e.name == "cache.miss"]
    assert len(hits) == 4 and not misses
    assert all(e.data.get("remote") is True for e in hits)
