"""Issue 15's memory items: no wrong value and no needless recompute.

Bound methods key on their object; closure cells a function mutates are its own state;
``check_call_in_cache`` honours the validation callback; a deleted location is recreated;
``MemorizedFunc`` takes joblib's constructor arguments.
"""

from __future__ import annotations

import functools
import logging
import math
import shutil
import stat

import numpy as np
import pytest

from jlcache import events
from jlcache.errors import CacheWarning, NotCachedWarning
from jlcache.memory.memory import MemorizedFunc, Memory


@pytest.fixture
def recorded_events():
    seen: list = []
    unsubscribe = events.subscribe(seen.append)
    yield seen
    unsubscribe()


def apply(getter, key):
    return getter(key)


# --- bound methods (item 1) ----------------------------------------------------------------


def test_a_builtin_bound_method_argument_keys_on_its_object(memory):
    cached = memory.cache(apply)
    assert cached({"a": 1}.get, "a") == 1
    assert cached({"a": 2}.get, "a") == 2
    assert cached({"a": 1}.get, "a") == 1


def test_a_numpy_method_argument_keys_on_its_array(memory):
    cached = memory.cache(apply)
    assert cached(np.arange(3).reshape, (3, 1)).shape == (3, 1)
    assert cached(np.arange(6).reshape, (3, 2)).tolist() == [[0, 1], [2, 3], [4, 5]]
    assert cached(np.arange(5).take, 1) == 1
    assert cached(np.arange(5, 10).take, 1) == 6


class Table:
    def __init__(self, rows):
        self.rows = rows

    def lookup(self, i):
        return self.rows[i]

    @classmethod
    def kind(cls, i):
        return cls.__name__ + str(i)


class OtherTable(Table):
    pass


def test_python_and_class_method_arguments_key_on_their_object(memory):
    cached = memory.cache(apply)
    assert cached(Table([1, 2]).lookup, 0) == 1
    assert cached(Table([5, 2]).lookup, 0) == 5
    assert cached(Table.kind, 0) == "Table0"
    assert cached(OtherTable.kind, 0) == "OtherTable0"


def test_a_cached_bound_method_keys_on_its_object(memory):
    d = {"a": 1}
    get = memory.cache(d.get)
    assert get("a") == 1
    d["a"] = 2                      # same method object, new content
    assert get("a") == 2
    assert memory.cache({"a": 3}.get)("a") == 3
    assert memory.cache(Table([7]).lookup)(0) == 7
    assert memory.cache(Table([8]).lookup)(0) == 8


# --- closure cells the function mutates are its state (item 2) ----------------------------


def _own_state_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "its own state" in r.getMessage()]


def _counts(cached, calls: list, args=(0, 0, 1, 1, 2, 2)) -> list[int]:
    out = []
    for x in args:
        cached(x)
        out.append(len(calls))
    return out


def test_a_closure_list_the_function_appends_to_is_state(memory, caplog):
    calls: list = []

    def f(x):
        calls.append(x)
        return x

    with caplog.at_level(logging.WARNING, logger="jlcache.memory"):
        assert _counts(memory.cache(f), calls) == [1, 1, 2, 2, 3, 3]
    warned = _own_state_warnings(caplog)
    assert len(warned) == 1 and "closure variable calls" in warned[0]


def test_a_closure_counter_the_function_increments_is_state(memory, caplog):
    count = 0

    def f(x):
        nonlocal count
        count += 1
        return x * 2

    with caplog.at_level(logging.WARNING, logger="jlcache.memory"):
        cached = memory.cache(f)
        assert [cached(x) for x in (1, 1, 2, 2)] == [2, 2, 4, 4]
    assert count == 2
    assert len(_own_state_warnings(caplog)) == 1


def test_state_mutated_by_a_helper_through_a_lambda_or_wrapper_is_state(memory, caplog):
    calls: list = []

    def helper(x):
        calls.append(x)
        return x

    def decorate(g):
        @functools.wraps(g)
        def wrapped(*args, **kwargs):
            return g(*args, **kwargs)
        return wrapped

    with caplog.at_level(logging.WARNING, logger="jlcache.memory"):
        assert _counts(memory.cache(lambda x: helper(x)), calls) == [1, 1, 2, 2, 3, 3]
        calls.clear()
        assert _counts(memory.cache(decorate(lambda x: helper(x) + 1)), calls) == [1, 1, 2, 2, 3, 3]
    assert any("of its helper" in m for m in _own_state_warnings(caplog))


def test_partial_and_ignore_with_a_mutated_closure(memory):
    calls: list = []

    def z(x, y=1):
        calls.append(1)
        return x

    cached = memory.cache(functools.partial(z, y=5))
    assert _counts(cached, calls) == [1, 1, 2, 2, 3, 3]
    calls.clear()
    ignoring = memory.cache(z, ignore=["y"])
    ignoring(0, y=1)
    ignoring(0, y=1)
    ignoring(0, y=2)
    assert len(calls) == 1


def test_a_closure_value_changed_by_the_user_still_invalidates(memory, caplog):
    calls: list = []
    scale = 2

    def f(x):
        calls.append(x)
        return x * scale

    cached = memory.cache(f)
    with caplog.at_level(logging.WARNING, logger="jlcache.memory"):
        assert cached(1) == 2
        assert cached(1) == 2
        scale = 3                       # changed by the user, not by the function
        assert cached(1) == 3
    assert len(calls) == 2
    assert all("scale" not in m for m in _own_state_warnings(caplog))


# State the code visibly changes is left out from the first call, so a restart hits.
_OWN_STATE_NOTEBOOK = """
import warnings
from jlcache import Memory
mem = Memory({root!r}, verbose=0)
calls, memo, n = [], {{}}, 0
@mem.cache
def appends(x):
    calls.append(x)
    return x + 1
@mem.cache
def fills(x):
    memo[x] = x * 2
    return memo[x]
@mem.cache
def counts(x):
    global n
    n += 1
    return x * 3
with open({runs!r}, "a") as out:
    out.write(str((appends(1), fills(1), counts(1), appends(1), len(calls), len(memo), n)))
"""


def test_a_restart_hits_functions_that_update_their_own_globals(python, tmp_path):
    runs = tmp_path / "runs.txt"
    notebook = tmp_path / "notebook.py"    # with source, as notebook cells have
    notebook.write_text(_OWN_STATE_NOTEBOOK.format(root=str(tmp_path / "cache"), runs=str(runs)))
    script = f"import runpy; runpy.run_path({str(notebook)!r}, run_name='__main__')"
    python(script)
    python(script)          # a new session: the same calls must all be hits
    assert runs.read_text() == "(2, 2, 3, 2, 1, 1, 1)(2, 2, 3, 2, 0, 0, 0)"


def test_state_left_out_from_the_start_is_announced_once(memory, caplog):
    calls: list = []

    def f(x):
        calls.append(x)
        return x

    cached = memory.cache(f)
    with caplog.at_level(logging.WARNING, logger="jlcache.memory"):
        assert _counts(cached, calls) == [1, 1, 2, 2, 3, 3]
    warned = _own_state_warnings(caplog)
    assert len(warned) == 1 and "closure variable calls" in warned[0]


def test_a_global_the_function_only_reads_is_still_an_input(memory):
    items = [1, 2]
    seen: list = []

    def f(x):
        seen.append(x)              # its own state
        return x + len(items)       # read only: an input

    cached = memory.cache(f)
    assert cached(1) == 3 and cached(1) == 3
    items.append(3)                 # changed by the user
    assert cached(1) == 4
    assert len(seen) == 2


# --- instances of __main__ classes keep the version stable (item 3) -------------------------

_MAIN_CLASSES = """
import abc, dataclasses, functools, sys, typing
from jlcache import Memory
from jlcache.identity.functions import identify

mem = Memory(sys.argv[1])
calls = []

class Result:
    def __init__(self, v):
        self.v = v

@dataclasses.dataclass
class Point:
    x: int
    tags: list = dataclasses.field(default_factory=list)

class Base(abc.ABC):
    @abc.abstractmethod
    def area(self): ...

@functools.total_ordering
class Square(Base):
    def __init__(self, s):
        self.s = s
    def __eq__(self, other):
        return self.s == other.s
    def __lt__(self, other):
        return self.s < other.s
    def area(self):
        return self.s ** 2

T = typing.TypeVar("T")
class Box(typing.Generic[T]):
    def __init__(self, item):
        self.item = item

def make(x, log):
    log.append(x)
    return Result(x), Point(x), Square(x), Box[int](x)

cached = mem.cache(make, ignore=["log"])
versions = set()
for _ in range(3):
    r, p, s, b = cached(2, calls)
    versions.add(identify(make).version)
    isinstance(s, Base); issubclass(int, Base); s >= s; dataclasses.asdict(p)
    typing.get_type_hints(Point); Box[str]
    assert (r.v, p.x, s.area(), b.item) == (2, 2, 4, 2)
print(len(calls), len(versions), sorted(versions)[0], type(r) is Result, type(p) is Point)
"""


def _versions_on_disk(location) -> list[str]:
    return sorted(p.name for p in (location / "functions").glob("*/*") if p.is_dir())


def test_instances_of_main_classes_do_not_change_the_version(tmp_path, python):
    script = tmp_path / "script.py"
    script.write_text(_MAIN_CLASSES)
    location = tmp_path / "cache"
    run = lambda: python(f"import runpy, sys; sys.argv[1:] = [{str(location)!r}]; "  # noqa: E731
                         f"runpy.run_path({str(script)!r}, run_name='__main__')").stdout.split()
    first = run()
    assert first[:2] == ["1", "1"]                 # computed once, one version in this session
    assert first[3:] == ["True", "True"]           # hits return the session's own classes
    second = run()                                  # the next session: a hit, same version
    assert second[:3] == ["0", "1", first[2]]
    assert second[3:] == ["True", "True"]          # the new session's own classes too
    assert len(_versions_on_disk(location)) == 1


# --- check_call_in_cache honours the validation callback (item 4) ---------------------------


def double(x):
    return 2 * x


@pytest.mark.parametrize("valid", [True, False])
def test_check_call_in_cache_asks_the_validation_callback(memory, valid, recorded_events):
    seen: list = []

    def callback(meta):
        seen.append(meta)
        return valid

    cached = memory.cache(double, cache_validation_callback=callback)
    assert cached.check_call_in_cache(2) is False
    assert cached(2) == 4
    path = cached.cache_key(2).path
    before = path.stat()
    recorded_events.clear()
    assert cached.check_call_in_cache(2) is valid
    assert seen and seen[-1]["input_args"] == {"x": "2"}     # joblib's metadata shape
    after = path.stat()                                       # a pure query: nothing deleted
    assert (after.st_ino, after.st_mtime_ns, after.st_atime_ns) == (
        before.st_ino, before.st_mtime_ns, before.st_atime_ns)
    assert recorded_events == []


def test_check_call_in_cache_of_a_direct_memorized_func(tmp_path):
    func = MemorizedFunc(double, tmp_path / "c", cache_validation_callback=lambda _: False)
    func(2)
    assert func.check_call_in_cache(2) is False
    assert func.cache_key(2).path.exists()


# --- a deleted location is recreated (item 5) ------------------------------------------------


def test_a_deleted_location_is_recreated_and_caches_again(memory, cache_dir):
    calls: list = []
    cached = memory.cache(double_logged, ignore=["calls"])
    assert cached(1, calls) == 2
    shutil.rmtree(cache_dir)                          # rm -rf under a live Memory
    assert cached(1, calls) == 2                      # recomputed, no NotCachedWarning
    assert cached(1, calls) == 2                      # and cached again
    assert len(calls) == 2
    assert (cache_dir / "FORMAT").exists()
    assert stat.S_IMODE(cache_dir.stat().st_mode) == 0o700      # as created at the start
    cached.clear(warn=False)
    shutil.rmtree(cache_dir)
    assert memory.cache(double_logged, ignore=['calls'])(2, calls) == 4
    assert memory.cache(double_logged, ignore=['calls'])(2, calls) == 4
    assert len(calls) == 3


def test_a_recreated_location_gets_the_start_checks(tmp_path):
    location = tmp_path / "c"
    cached = Memory(location).cache(double_logged)
    cached(1, [])
    shutil.rmtree(location)
    location.write_text("not a cache")                # now a file: refused, as at the start
    with pytest.warns(CacheWarning) as caught:
        assert cached(1, []) == 2                     # computed and returned, not stored
    assert any(isinstance(w.message, NotCachedWarning) for w in caught)
    assert location.read_text() == "not a cache"


def double_logged(x, calls):
    calls.append(x)
    return 2 * x


# --- wrong arguments raise the plain call's TypeError (issue 10, item 6) --------------------


class NoInit:
    pass


class WithInit:
    def __init__(self, x, *, y=1):
        self.x = x


class FromDict(dict):
    pass


def two(x, y):
    return x + y


_BAD_CALLS = [
    (NoInit, (1,), {}),
    (WithInit, (), {}),
    (WithInit, (1, 2), {}),
    (WithInit, (1,), {"z": 3}),
    (FromDict, (1, 2, 3), {}),
    (functools.partial(two, 1), (2, 3), {}),
    (functools.partial(two, x=1), (1,), {}),
    (functools.partial(WithInit, 1), (2,), {}),
    (math.sqrt, (), {}),
    (math.sqrt, (1, 2), {}),
    (sorted, (), {}),
    (str.upper, (), {}),
    ([].append, (), {}),
    (divmod, (1,), {}),
]


@pytest.mark.parametrize(("func", "args", "kwargs"), _BAD_CALLS,
                         ids=[str(i) for i in range(len(_BAD_CALLS))])
def test_a_wrong_call_raises_the_plain_calls_type_error(memory, func, args, kwargs):
    with pytest.raises(TypeError) as plain:
        func(*args, **kwargs)
    with pytest.raises(TypeError) as cached:
        memory.cache(func)(*args, **kwargs)
    assert str(cached.value) == str(plain.value)


# --- wrong option types name the parameter (issue 10, item 6) --------------------------------


@pytest.mark.parametrize("ignore", [5, 0, False, True, 1.5, [1], ("x", None)])
def test_cache_rejects_an_ignore_that_is_not_names(memory, ignore):
    with pytest.raises(TypeError, match="ignore"):
        memory.cache(ignore=ignore)
    with pytest.raises(TypeError, match="ignore"):
        memory.cache(double, ignore=ignore)
    with pytest.raises(TypeError, match="ignore"):
        Memory(None).cache(double, ignore=ignore)


def test_backend_options_must_be_a_dict(cache_dir):
    with pytest.raises(TypeError, match="backend_options"):
        Memory(cache_dir, backend_options="x")
    assert Memory(cache_dir, backend_options={"a": 1}).backend_options == {"a": 1}


@pytest.mark.parametrize(("name", "value", "error"), [
    ("items_limit", False, TypeError),
    ("items_limit", True, TypeError),
    ("items_limit", 1.5, TypeError),
    ("items_limit", -1, ValueError),
    ("bytes_limit", True, TypeError),
    ("bytes_limit", False, TypeError),
    ("bytes_limit", "lots", ValueError),
    ("bytes_limit", -5, ValueError),
    ("age_limit", float("nan"), ValueError),
    ("age_limit", True, TypeError),
    ("age_limit", -1, ValueError),
])
def test_reduce_size_validates_each_limit_naming_it(memory, name, value, error):
    cached = memory.cache(double)
    cached(1)
    with pytest.raises(error, match=name):
        memory.reduce_size(**{name: value})
    assert cached.check_call_in_cache(1)                # nothing was evicted
    with pytest.raises(error, match=name):
        Memory(None).reduce_size(**{name: value})      # the same answer without a location


# --- MemorizedFunc takes joblib's constructor (issue 15, item 16) ----------------------------


def test_memorized_func_has_joblibs_signature():
    import inspect

    import joblib.memory

    ours = list(inspect.signature(MemorizedFunc.__init__).parameters.values())
    theirs = list(inspect.signature(joblib.memory.MemorizedFunc.__init__).parameters.values())
    assert [(p.name, p.kind, p.default) for p in ours] == [
        (p.name, p.kind, p.default) for p in theirs]


def test_memorized_func_built_positionally_like_joblib(tmp_path):
    calls: list = []
    func = MemorizedFunc(double_logged, str(tmp_path / "c"), "local", ["calls"], None, 3, 0)
    assert func.ignore == ["calls"]
    assert func(1, calls) == func(1, calls) == 2
    assert len(calls) == 1
    assert func._memory.compress == 3
    assert MemorizedFunc(double, tmp_path / "c", timestamp=5.0).timestamp == 5.0


def test_memorized_func_rejects_what_joblib_would_not_store(tmp_path):
    with pytest.raises(ValueError, match="backend"):
        MemorizedFunc(double, tmp_path / "c", backend="s3")
    with pytest.raises(TypeError, match="location"):
        MemorizedFunc(double, None)
    with pytest.raises(ValueError, match="compress"):
        MemorizedFunc(double, Memory(tmp_path / "c"), compress=3)
