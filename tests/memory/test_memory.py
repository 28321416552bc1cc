"""The joblib-compatible cache API: Memory, MemorizedFunc, MemorizedResult, NotMemorizedFunc.

Counting computations: a cached function that read a global counter would change its own
key (globals it reads are part of its identity), so the functions here receive their
counter as an ignored argument ``calls``.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import logging
import pickle
import threading
import time
import warnings

import cloudpickle
import numpy as np
import pytest

from jlcache import events, stats
from jlcache.errors import NotCachedWarning, UnhashableError
from jlcache.memory.memorized import _LOCKS
from jlcache.memory.memory import (
    MISS,
    MemorizedFunc,
    MemorizedResult,
    Memory,
    NotMemorizedFunc,
    NotMemorizedResult,
    expires_after,
)
from jlcache.store.layout import parse_age


def entries(memory: Memory) -> int:
    return len(memory.store.entries("functions"))


def double(x, calls=None):
    """Double x."""
    if calls is not None:
        calls.append(x)
    return 2 * x


@pytest.fixture
def recorded():
    """Every event published during the test."""
    seen: list[events.Event] = []
    unsubscribe = events.subscribe(seen.append)
    yield seen
    unsubscribe()


# -- the snippets ----------------------------------------------------------------------


def test_np_square_with_mmap_returns_memmap(cache_dir):
    memory = Memory(cache_dir, mmap_mode="r")
    square = memory.cache(np.square)
    x = np.arange(10**5)
    first = square(x)
    second = square(x)
    assert isinstance(second, np.memmap)
    assert isinstance(first, np.memmap)  # the first call is reloaded, as joblib does
    np.testing.assert_array_equal(second, x**2)
    assert entries(memory) == 1


def test_ignored_argument_does_not_change_the_key(memory):
    @memory.cache(ignore=["debug", "calls"])
    def g(x, debug=False, calls=None):
        calls.append(x)
        return x + 1

    calls: list = []
    assert g(1, calls=calls) == 2
    assert g(1, debug=True, calls=calls) == 2
    assert calls == [1]


def test_call_and_shelve_get_clear_then_keyerror(memory):
    g = memory.cache(double, ignore=["calls"])
    ref = g.call_and_shelve(2)
    assert isinstance(ref, MemorizedResult)
    assert ref.get() == 4
    ref.clear()
    with pytest.raises(KeyError, match="cleared") as info:
        ref.get()
    assert "call_and_shelve" in str(info.value)
    assert not g.check_call_in_cache(2)


def test_shelved_result_is_picklable_and_loads_elsewhere(memory):
    g = memory.cache(double, ignore=["calls"])
    ref = g.call_and_shelve(5)
    clone = pickle.loads(pickle.dumps(ref))
    assert clone.get() == 10
    calls: list = []
    before = stats.snapshot()[("functions", ref._ref.group, ref._ref.version)].hits
    assert g.call_and_shelve(5, calls=calls).get() == 10
    assert calls == []  # shelving a cached call does not recompute
    assert stats.snapshot()[("functions", ref._ref.group, ref._ref.version)].hits == before + 1


# -- Memory options ----------------------------------------------------------------------------


def test_location_none_disables_caching(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    memory = Memory(None)
    assert memory.store is None
    f = memory.cache(double)
    assert isinstance(f, NotMemorizedFunc)
    calls: list = []
    assert f(2, calls=calls) == 4 and f(2, calls=calls) == 4
    assert calls == [2, 2]
    assert f.call(3) == (6, {})
    shelved = f.call_and_shelve(4)
    assert isinstance(shelved, NotMemorizedResult) and shelved.get() == 8
    shelved.clear()
    with pytest.raises(KeyError, match="cleared"):
        shelved.get()
    assert f.check_call_in_cache(2) is False
    assert memory.eval(double, 7) == 14
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("as_path", [True, False])
def test_str_and_path_locations_share_the_cache(cache_dir, as_path):
    first = Memory(cache_dir if as_path else str(cache_dir)).cache(double, ignore=["calls"])
    second = Memory(str(cache_dir) if as_path else cache_dir).cache(double, ignore=["calls"])
    first(3)
    calls: list = []
    assert second(3, calls=calls) == 6
    assert calls == []


def test_memory_pickles_by_location_and_options(cache_dir):
    memory = Memory(cache_dir, mmap_mode="r", compress=3, bytes_limit="1M")
    clone = pickle.loads(pickle.dumps(memory))
    assert (clone.location, clone.mmap_mode, clone.compress, clone.bytes_limit) == (
        cache_dir, "r", 3, 1024**2)
    assert clone.store.location == memory.store.location


def test_unknown_backend_and_bad_mmap_mode_are_refused(cache_dir):
    with pytest.raises(ValueError, match="backend"):
        Memory(cache_dir, backend="s3")
    with pytest.raises(ValueError, match="mmap_mode"):
        Memory(cache_dir, mmap_mode="x")
    with pytest.raises(ValueError, match="callable"):
        Memory(cache_dir).cache(double, cache_validation_callback=3)
    with pytest.raises(ValueError, match="compress"):
        Memory(cache_dir, compress="bogus")


def test_eval_goes_through_the_cache(memory):
    assert memory.eval(double, 4) == 8
    assert memory.cache(double).check_call_in_cache(4)
    assert memory.eval(double, x=4) == 8
    assert entries(memory) == 1


def test_verbose_logs_instead_of_printing(cache_dir, caplog, capsys):
    memory = Memory(cache_dir, verbose=1)
    f = memory.cache(double)
    with caplog.at_level(logging.INFO, logger="jlcache"):
        f(1)
        f(1)
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("jlcache")]
    assert any("miss" in m for m in messages) and any("hit" in m for m in messages)
    assert capsys.readouterr().out == ""


# -- argument binding --------------------------------------------------------------------------


def test_defaults_are_bound_so_equivalent_calls_share_one_entry(memory):
    @memory.cache(ignore=["calls"])
    def f(x=1, calls=None):
        calls.append(x)
        return x

    calls: list = []
    f(1, calls=calls)
    f(x=1, calls=calls)
    f(calls=calls)
    assert calls == [1]
    assert entries(memory) == 1


def test_varargs_and_varkwargs(memory):
    @memory.cache(ignore=["calls"])
    def f(a, *rest, calls, **opts):
        calls.append((a, rest, opts))
        return a + sum(rest) + sum(opts.values())

    calls: list = []
    assert f(1, 2, 3, calls=calls, p=4, q=5) == 15
    assert f(1, 2, 3, q=5, p=4, calls=calls) == 15  # keyword order does not matter
    assert f(1, 2, 3, calls=calls, p=4, q=6) == 16
    assert f(1, 2, calls=calls, p=4, q=5) == 12
    assert len(calls) == 3


def test_ignore_a_name_collected_by_kwargs(memory):
    @memory.cache(ignore=["verbose", "calls"])
    def f(x, **opts):
        opts["calls"].append(x)
        return x

    calls: list = []
    f(1, verbose=True, calls=calls)
    f(1, verbose=False, calls=calls)
    f(1, calls=calls)
    assert calls == [1]
    assert f.cache_key(1, verbose=True, calls=[]).key == f.cache_key(1, calls=[5]).key
    assert f.cache_key(1, other=1, calls=[]).key != f.cache_key(1, calls=[]).key


def plain(a, b, *, c=3):
    return a + b + c


@pytest.mark.parametrize("args, kwargs", [((1,), {}), ((1, 2, 3), {}), ((1, 2), {"d": 4}),
                                          ((1, 2), {"a": 1}), ((), {})])
def test_wrong_arguments_raise_the_functions_own_typeerror(memory, args, kwargs):
    cached = memory.cache(plain)
    with pytest.raises(TypeError) as expected:
        plain(*args, **kwargs)
    with pytest.raises(TypeError) as got:
        cached(*args, **kwargs)
    assert str(got.value) == str(expected.value)
    assert entries(memory) == 0


def test_ignore_names_that_are_not_parameters_raise_valueerror(memory):
    with pytest.raises(ValueError, match=r"\['verbsoe'\]"):
        memory.cache(plain, ignore=["verbsoe"])


def test_unhashable_argument_error_names_the_argument(memory):
    class Opaque:
        def __reduce__(self):
            raise TypeError("no state")

    f = memory.cache(plain)
    with pytest.raises(UnhashableError, match="'b'") as info:
        f(1, Opaque())
    assert isinstance(info.value, TypeError)
    assert "Opaque" in str(info.value)


# -- what is and is not cached -----------------------------------------------------------------


def test_exceptions_are_never_cached(memory):
    @memory.cache(ignore=["calls"])
    def flaky(x, calls):
        calls.append(x)
        if len(calls) == 1:
            raise RuntimeError("first time fails")
        return x

    calls: list = []
    with pytest.raises(RuntimeError):
        flaky(1, calls)
    assert entries(memory) == 0
    assert len(_LOCKS) == 0  # the failed computation released its key
    assert flaky(1, calls) == 1
    assert flaky(1, calls) == 1
    assert len(calls) == 2


def test_none_is_a_cached_value(memory):
    @memory.cache(ignore=["calls"])
    def nothing(x, calls):
        calls.append(x)

    calls: list = []
    assert nothing(1, calls) is None and nothing(1, calls) is None
    assert calls == [1]
    assert repr(MISS) == "MISS" and pickle.loads(pickle.dumps(MISS)) is MISS


def test_unpicklable_output_is_returned_with_a_warning(memory):
    @memory.cache(ignore=["calls"])
    def make_lock(x, calls):
        calls.append(x)
        return threading.Lock()

    calls: list = []
    with pytest.warns(NotCachedWarning, match="lock") as record:
        out = make_lock(1, calls)
    assert hasattr(out, "acquire")
    assert "pickle" in str(record[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once per function, not on every call
        make_lock(1, calls)
        make_lock(2, calls)
    assert len(calls) == 3 and entries(memory) == 0
    assert len(str(record[0].message).replace(make_lock.__qualname__, "")) < 250


def test_a_single_ignore_name_as_a_string_is_one_name(memory):
    @memory.cache(ignore="debug")
    def g(x, debug=False):
        return x

    assert g(1, debug=True) == 1 and g.ignore == ["debug"]
    assert g.check_call_in_cache(1, debug=False) and entries(memory) == 1
    with pytest.raises(ValueError, match=r"\['y'\], which is not a parameter"):
        memory.cache(double, ignore="y")


def test_call_forces_recompute_and_returns_joblib_metadata(memory):
    f = memory.cache(double, ignore=["calls"])
    calls: list = []
    f(3, calls=calls)
    out, meta = f.call(3, calls=calls)
    assert out == 6 and calls == [3, 3]
    assert set(meta) >= {"duration", "time", "input_args"}
    assert meta["input_args"] == {"x": "3"}
    assert abs(meta["time"] - time.time()) < 60


def test_cache_validation_callback_receives_metadata_and_can_force_recompute(memory):
    seen: list[dict] = []
    valid = [True]

    def callback(metadata):
        seen.append(metadata)
        return valid[0]

    f = memory.cache(double, ignore=["calls"], cache_validation_callback=callback)
    calls: list = []
    f(2, calls=calls)
    assert seen == []  # only consulted on a hit
    f(2, calls=calls)
    assert calls == [2] and seen[0]["input_args"] == {"x": "2"}
    valid[0] = False
    f(2, calls=calls)
    assert calls == [2, 2]


def test_expires_after(memory, monkeypatch):
    f = memory.cache(double, ignore=["calls"], cache_validation_callback=expires_after(minutes=1))
    calls: list = []
    f(1, calls=calls)
    f(1, calls=calls)
    assert calls == [1]
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 61)  # a minute and a second later
    f(1, calls=calls)
    assert calls == [1, 1]
    f(1, calls=calls)  # the recomputed entry is fresh again
    assert calls == [1, 1]
    assert expires_after(days=1)({"time": real_time() - 3600})
    assert not expires_after(hours=0.5)({"time": real_time() - 3600})


# -- query, clear, evict -----------------------------------------------------------------------


def test_check_call_in_cache_is_a_pure_query(memory, recorded):
    f = memory.cache(double)
    assert f.check_call_in_cache(4) is False
    f(4)
    recorded.clear()
    path = f.cache_key(4).path
    atime = path.stat().st_atime_ns
    before = stats.snapshot()
    assert f.check_call_in_cache(4) is True
    assert recorded == [] and stats.snapshot() == before
    assert path.stat().st_atime_ns == atime


def test_cache_key_tells_which_entry(memory):
    f = memory.cache(double)
    key = f.cache_key(5)
    assert not key.path.exists()
    f(5)
    assert key.path.exists() and str(key) == str(key.path)
    assert key.group.endswith("double") and key.version and key.key
    assert key == f.cache_key(x=5)
    assert key.key != f.cache_key(6).key


def test_clear_function_removes_all_its_versions_only(memory, recorded):
    ns1: dict = {}
    ns2: dict = {}
    exec("def h(x):\n    return x + 1\n", ns1)
    exec("def h(x):\n    return x + 2\n", ns2)
    h1, h2 = memory.cache(ns1["h"]), memory.cache(ns2["h"])
    other = memory.cache(double)
    h1(1), h2(1), other(1)
    assert entries(memory) == 3
    h1.clear()
    assert not h1.check_call_in_cache(1) and not h2.check_call_in_cache(1)
    assert other.check_call_in_cache(1)
    assert any(e.name == "cache.clear" for e in recorded)
    memory.clear(warn=False)
    assert entries(memory) == 0


def test_reduce_size_by_items_bytes_and_age(memory):
    f = memory.cache(double)
    for i in range(5):
        f(i)
        time.sleep(0.01)
    f(0)  # most recently used
    memory.reduce_size(items_limit=3)
    assert entries(memory) == 3
    assert f.check_call_in_cache(0)
    memory.reduce_size(bytes_limit=1)
    assert entries(memory) <= 1
    f(7)
    memory.reduce_size(age_limit=datetime.timedelta(days=1))
    assert f.check_call_in_cache(7)
    memory.reduce_size(age_limit="1d")
    assert f.check_call_in_cache(7)
    time.sleep(0.05)
    memory.reduce_size(age_limit=datetime.timedelta(seconds=0.01))
    assert entries(memory) == 0


@pytest.mark.parametrize(("age", "seconds"), [
    ("30s", 30), ("15m", 900), ("2h", 7200), ("1d", 86400), ("1w", 604800), ("1.5h", 5400),
    (" 2 D", 172800), ("3600", 3600), (90, 90), (0.5, 0.5),
    (datetime.timedelta(minutes=2), 120), (None, None),
])
def test_age_limits_accept_units(age, seconds):
    assert parse_age(age) == seconds


@pytest.mark.parametrize("age", ["1y", "d", "", "-1d", [1]])  # True: a TypeError (test_memory_trust)
def test_an_unknown_age_limit_names_the_accepted_forms(memory, age):
    with pytest.raises(ValueError, match=r"age_limit .* not understood.*'1d'"):
        memory.reduce_size(age_limit=age)


def test_bytes_limit_is_enforced_after_each_store(cache_dir):
    memory = Memory(cache_dir, bytes_limit="300K")
    f = memory.cache(np.ones)
    for i in range(6):
        f(10_000 + i)  # ~80 KB each
        time.sleep(0.01)
    assert memory.store.size() <= 300 * 1024
    assert f.check_call_in_cache(10_005)
    assert not f.check_call_in_cache(10_000)


# -- kinds of callables ------------------------------------------------------------------------


def test_async_functions_are_awaitable_and_cached(memory):
    @memory.cache(ignore=["calls"])
    async def fetch(x, calls):
        calls.append(x)
        await asyncio.sleep(0)
        return x * 10

    calls: list = []
    assert asyncio.run(fetch(1, calls)) == 10
    assert asyncio.run(fetch(1, calls)) == 10
    assert calls == [1]
    out, meta = asyncio.run(fetch.call(1, calls))
    assert out == 10 and "duration" in meta and calls == [1, 1]


class Scaler:
    def __init__(self, factor):
        self.factor = factor

    def scale(self, x, calls=None):
        calls.append(x)
        return x * self.factor

    def __call__(self, x, calls=None):
        calls.append(x)
        return x + self.factor


def test_bound_methods_and_callable_objects_key_on_instance_state(memory):
    calls: list = []
    two, three = Scaler(2), Scaler(3)
    s2 = memory.cache(two.scale, ignore=["calls"])
    s3 = memory.cache(three.scale, ignore=["calls"])
    assert s2(5, calls=calls) == 10 and s3(5, calls=calls) == 15 and s2(5, calls=calls) == 10
    assert len(calls) == 2
    c2 = memory.cache(two, ignore=["calls"])
    assert c2(5, calls=calls) == 7 and c2(5, calls=calls) == 7 and len(calls) == 3


def test_cache_decorator_on_a_method_in_a_class_body(cache_dir):
    memory = Memory(cache_dir)

    class Model:
        def __init__(self, w):
            self.w = w

        @memory.cache(ignore=["calls"])
        def predict(self, x, calls=None):
            calls.append(x)
            return self.w * x

    calls: list = []
    assert Model(2).predict(3, calls=calls) == 6
    assert Model(2).predict(3, calls=calls) == 6
    assert Model(4).predict(3, calls=calls) == 12
    assert len(calls) == 2
    bound = Model(2).predict
    assert bound.check_call_in_cache(3) and not bound.check_call_in_cache(4)
    ref, value = bound._lookup((3,), {})  # what Parallel's cache-aware dispatch calls
    assert value == 6
    ref, value = bound._lookup((5,), {})
    bound._store(ref, bound.func(5, calls=calls), 0.1, (5,), {})
    assert bound(5, calls=calls) == 10 and len(calls) == 3


def test_partials_and_lambdas(memory):
    calls: list = []
    add = functools.partial(plain, 10)
    f = memory.cache(add)
    assert f(1) == 14 and f(1, c=0) == 11
    g = memory.cache(functools.partial(plain, 20))
    assert g(1) == 24  # another partial: another key
    sq = memory.cache(lambda x, calls: calls.append(x) or x * x, ignore=["calls"])
    cube = memory.cache(lambda x, calls: calls.append(x) or x**3, ignore=["calls"])
    assert sq(3, calls) == 9 and cube(3, calls) == 27 and sq(3, calls) == 9
    assert calls == [3, 3]


def test_same_named_functions_do_not_collide(memory):
    ns1: dict = {}
    ns2: dict = {}
    exec("def f(x):\n    return x + 1\n", ns1)
    exec("def f(x):\n    return x * 100\n", ns2)
    a, b = memory.cache(ns1["f"]), memory.cache(ns2["f"])
    assert a(2) == 3 and b(2) == 200 and a(2) == 3 and b(2) == 200
    assert a.cache_key(2).group == b.cache_key(2).group
    assert a.cache_key(2).version != b.cache_key(2).version
    assert entries(memory) == 2


def test_editing_a_helper_in_a_module_file_recomputes(memory, tmp_path):
    import importlib.util
    import linecache

    path = tmp_path / "helpers_mod.py"
    source = "def helper(x):\n    return x + {n}\n\ndef work(x, calls):\n    calls.append(x)\n    return helper(x)\n"
    path.write_text(source.format(n=1))
    spec = importlib.util.spec_from_file_location("helpers_mod", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    work = memory.cache(module.work, ignore=["calls"])
    calls: list = []
    assert work(1, calls) == 2 and work(1, calls) == 2 and len(calls) == 1

    def redefine(n):
        path.write_text(source.format(n=n))
        linecache.checkcache(str(path))
        exec(compile(path.read_text(), str(path), "exec"), module.__dict__)

    redefine(5)
    assert work(1, calls) == 6 and len(calls) == 2
    redefine(1)  # reverting the edit finds the old entry again
    assert work(1, calls) == 2 and len(calls) == 2


def test_caching_a_cached_function_unwraps_it(memory):
    once = memory.cache(double)
    twice = memory.cache(once)
    assert twice.func is double
    once(2)
    assert twice.check_call_in_cache(2)


def test_memorized_func_built_directly_from_a_location(memory):
    f = MemorizedFunc(double, memory.location)  # as joblib.memory.MemorizedFunc(func, location)
    f(3)
    assert memory.cache(double).check_call_in_cache(3)


def test_wrapper_looks_like_the_function(memory):
    f = memory.cache(double)
    assert isinstance(f, MemorizedFunc)
    assert f.__name__ == "double" and f.__doc__ == "Double x." and f.__wrapped__ is double
    assert f.func is double
    assert "double" in repr(f)


def test_memorized_func_pickles_to_the_same_entries(memory):
    f = memory.cache(double, ignore=["calls"])
    f(8)
    for dumps in (pickle.dumps, cloudpickle.dumps):
        clone = pickle.loads(dumps(f))
        assert clone.cache_key(8) == f.cache_key(8)
        calls: list = []
        assert clone(8, calls=calls) == 16 and calls == []


def test_an_unpickled_copy_keeps_the_identity_resolved_when_pickled(memory, monkeypatch):
    # a worker may not resolve the same identity (no notebook source there): the copy uses
    # the one pinned at pickling time and never calls identify itself
    f = memory.cache(double, ignore=["calls"])
    f(8)
    payload = cloudpickle.dumps(f)
    key8, version = f.cache_key(8), f.cache_key(9).version

    def no_identify(func):
        raise AssertionError("identify must not run in an unpickled copy")

    monkeypatch.setattr("jlcache.memory.memorized.identify", no_identify)
    clone = pickle.loads(payload)
    assert clone.cache_key(8) == key8
    calls: list = []
    assert clone(8, calls=calls) == 16 and calls == []
    assert clone(9, calls=calls) == 18 and calls == [9]  # a miss stores under the same version
    again = pickle.loads(pickle.dumps(clone))  # re-pickling a copy keeps the pinned identity
    assert again.cache_key(9).version == version


def test_a_cached_method_bound_to_an_instance_pickles(cache_dir):
    memory = Memory(cache_dir)

    class Model:
        def __init__(self, w):
            self.w = w

        @memory.cache
        def predict(self, x):
            return self.w * x

    bound = Model(3).predict
    assert bound(2) == 6
    clone = cloudpickle.loads(cloudpickle.dumps(bound))
    assert clone.cache_key(2).path == bound.cache_key(2).path and clone.check_call_in_cache(2)
    assert clone(2) == 6 and clone.__self__.w == 3


# -- concurrency, events, private API ----------------------------------------------------------


def test_compute_once_across_16_threads(memory):
    calls: list = []
    started = threading.Barrier(16)

    @memory.cache(ignore=["calls"])
    def slow(x, calls):
        calls.append(x)
        time.sleep(0.2)
        return x * 2

    results: list = []

    def worker():
        started.wait()
        results.append(slow(21, calls))

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [42] * 16
    assert calls == [21]
    assert len(_LOCKS) == 0  # per-key locks are removed once nobody waits on them


def test_events_and_stats(memory, recorded):
    f = memory.cache(double)
    f(1)
    f(1)
    names = [e.name for e in recorded]
    assert names == ["cache.miss", "cache.store", "cache.hit"]
    hit = recorded[-1].data
    key = f.cache_key(1)
    assert (hit["kind"], hit["group"], hit["version"], hit["key"]) == (
        "functions", key.group, key.version, key.key)
    assert hit["func"].endswith("double") and hit["duration"] >= 0
    on_disk = key.path.stat().st_blocks * 512  # sizes are bytes on disk everywhere
    assert recorded[1].data["bytes"] == on_disk == memory.store.entries("functions")[0].disk
    assert hit["bytes"] == recorded[1].data["bytes"]  # from the read itself, no extra stat
    recorded.clear()
    f.call_and_shelve(1)  # a hit through the metadata only
    assert [e.name for e in recorded] == ["cache.hit"]
    assert recorded[0].data["bytes"] == on_disk
    counts = stats.snapshot()[("functions", key.group, key.version)]
    assert (counts.hits, counts.misses, counts.stores) >= (1, 1, 1)
    assert stats.current_versions("functions")[key.group] == key.version


def test_listed_entries_summarize_their_arguments(memory):
    f = memory.cache(double, ignore=["calls"])
    f(3)
    f(x=[1, 2])
    assert sorted(e.args for e in memory.store.entries("functions")) == ["x=3", "x=[1, 2]"]


def test_private_lookup_and_store(memory):
    f = memory.cache(double)
    ref, value = f._lookup((4,), {})
    assert value is MISS
    f._store(ref, 8, 0.5, (4,), {})
    ref2, value = f._lookup((), {"x": 4})
    assert ref2 == ref and value == 8
    assert f._jlcache_memorized is True
    with pytest.raises(TypeError):
        f._lookup((1, 2, 3), {})


def test_compressed_values_with_mmap_mode_warn_once_and_load(python, cache_dir):
    # A fresh process: the warning is once per process, whatever ran before in this one.
    child = python(f"""
        import warnings
        import numpy as np
        from jlcache import Memory
        memory = Memory({str(cache_dir)!r}, mmap_mode="r", compress=3)
        f = memory.cache(np.arange)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            values = [f(1000), f(1000), f(2000)]
        assert not any(isinstance(v, np.memmap) for v in values)
        assert values[0].sum() == values[1].sum() == 499500, values
        print(len(caught), caught[0].message if caught else "")
    """)
    count, message = child.stdout.split(" ", 1)
    assert count == "1" and "memory-mapped" in message


def test_version_is_marked_current_at_creation_and_described_once_on_disk(memory):
    stats.reset()
    f = memory.cache(double)
    key = f.cache_key(1)
    assert stats.current_versions("functions") == {key.group: key.version}
    assert memory.store.read_info("functions", key.group, key.version) == {}
    f(1)
    info = memory.store.read_info("functions", key.group, key.version)
    assert info["qualname"] == "double" and info["module"] == double.__module__
    assert info["signature"] == "double(x, calls=None)"
    assert info["first_line"] == "def double(x, calls=None):"
    assert Memory(memory.location).stats() == stats.snapshot()
    stats.reset()
    f(1)  # a live cached function marks its version again after a reset
    assert stats.current_versions("functions") == {key.group: key.version}


def test_per_function_verbose_and_mmap_override(cache_dir, caplog):
    memory = Memory(cache_dir, mmap_mode="r")
    f = memory.cache(np.ones, mmap_mode=None, verbose=1)
    with caplog.at_level(logging.INFO, logger="jlcache"):
        f(10)
    assert not isinstance(f(10), np.memmap)
    assert any("np" in r.getMessage() or "ones" in r.getMessage() for r in caplog.records)
    assert isinstance(memory.cache(np.ones)(10), np.memmap)


def test_a_hit_writes_nothing(memory):
    f = memory.cache(double)
    f(1)
    memory.store.flush()
    before = {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in memory.store.location.rglob("*")}
    for _ in range(20):
        f(1)
    after = {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in memory.store.location.rglob("*")}
    assert after == before


def test_async_function_without_a_cache_location(tmp_path):
    async def fetch(x):
        return x + 1

    f = Memory(None).cache(fetch)
    assert isinstance(f, NotMemorizedFunc)
    assert asyncio.run(f(1)) == 2
    assert asyncio.run(f.call(1)) == (2, {})
    assert asyncio.run(f.call_and_shelve(1)).get() == 2


@pytest.mark.parametrize("compress", [True, 3, "lz4", ("zlib", 1)])
def test_compressed_entries_round_trip_and_are_smaller(tmp_path, compress):
    plain_f = Memory(tmp_path / "plain").cache(np.zeros)
    packed_f = Memory(tmp_path / "packed", compress=compress).cache(np.zeros)
    np.testing.assert_array_equal(packed_f(100_000), plain_f(100_000))
    np.testing.assert_array_equal(packed_f(100_000), np.zeros(100_000))  # a hit
    assert packed_f.cache_key(100_000).path.stat().st_size * 10 < plain_f.cache_key(100_000).path.stat().st_size


# --- functions that mutate a global they read (F4) ---------------------------------------

_MUTATING_SRC = """
STATS = {"calls": 0}
LOG = []
SCALE = 2
def load(x):
    STATS["calls"] += 1
    LOG.append(x)
    return x * SCALE
"""


def test_function_mutating_its_own_globals_computes_once(memory, caplog):
    ns: dict = {"__name__": "qa_mutating"}
    exec(compile(_MUTATING_SRC, "<qa-mutating>", "exec"), ns)
    f = memory.cache(ns["load"])
    with caplog.at_level(logging.WARNING, logger="jlcache.memory"):
        results = [f(1) for _ in range(5)]
    assert results == [2] * 5
    assert ns["STATS"]["calls"] == 1
    warned = [r.getMessage() for r in caplog.records if "modifies the global" in r.getMessage()]
    assert len(warned) == 1 and "LOG, STATS" in warned[0]
    versions = list((memory.store.location / "functions").glob("*/*"))
    assert len([v for v in versions if v.is_dir()]) == 1


def test_user_change_to_an_unmutated_global_still_invalidates(memory, caplog):
    ns: dict = {"__name__": "qa_mutating2"}
    exec(compile(_MUTATING_SRC, "<qa-mutating2>", "exec"), ns)
    f = memory.cache(ns["load"])
    with caplog.at_level(logging.WARNING, logger="jlcache.memory"):
        assert f(1) == 2
        assert f(1) == 2
        ns["SCALE"] = 3                    # changed by the user, not by the function
        assert f(1) == 3
        ns["STATS"]["calls"] = 100         # the function's own state: not part of the key
        assert f(1) == 3
    assert ns["STATS"]["calls"] == 100
