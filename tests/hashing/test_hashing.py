"""Tests of jlcache.hashing.hasher: a canonical, deterministic content hash."""

from __future__ import annotations

import collections
import copy
import dataclasses
import datetime as dt
import decimal
import enum
import fractions
import json
import math
import pathlib
import pickle
import threading
import uuid

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jlcache.errors import UnhashableError
from jlcache.hashing.hasher import Hasher, hash


@dataclasses.dataclass
class Point:
    x: int
    y: list


class Color(enum.Enum):
    RED = 1
    GREEN = 2


Pair = collections.namedtuple("Pair", "a b")


class Plain:
    def __init__(self, **kw):
        self.__dict__.update(kw)


class Slotted:
    __slots__ = ("a", "b")

    def __init__(self, a, b):
        self.a, self.b = a, b


# --- basics ---------------------------------------------------------------------------------


def test_hash_is_32_hex_chars_and_stable_in_process():
    value = (1, 2.5, "abc", None, (3, 4), {"k": [1, 2]}, {1, 2})
    h = hash(value)
    assert len(h) == 32 and int(h, 16) >= 0
    assert hash(value) == h
    assert hash(copy.deepcopy(value)) == h


@pytest.mark.parametrize("a, b", [
    (1, 1.0), (1, True), (0, False), (1.0, True), (0, None), ("1", 1), (b"a", "a"),
    (b"a", bytearray(b"a")), (b"ab", memoryview(b"ab")), ([1], (1,)), ((), []), ({}, set()),
    (set(), frozenset()), ({1}, [1]), ({"a": 1}, [("a", 1)]), (range(3), (0, 1, 2)),
    (0.0, -0.0), (1 + 0j, 1.0), (None, "None"), (Pair(1, 2), (1, 2)), (Color.RED, 1),
    (decimal.Decimal("1.0"), 1.0), (fractions.Fraction(1, 2), 0.5), ("", b""),
    (pathlib.Path("/a"), "/a"), (dt.date(2020, 1, 1), dt.datetime(2020, 1, 1)),
    (np.float64(1.0), 1.0), (np.int64(1), 1), (np.array(1), 1), (np.bool_(True), True),
    (2**64, 2**64 + 1), (-(2**70), 2**70), (Point(1, [2]), {"x": 1, "y": [2]}),
])
def test_distinct_types_and_values_differ(a, b):
    assert hash(a) != hash(b)


@pytest.mark.parametrize("a, b", [
    (("ab", "c"), ("a", "bc")), (("a", ""), ("", "a")), ([[1], 2], [1, [2]]),
    ([b"ab", b"c"], [b"a", b"bc"]), ({"a": "bc"}, {"ab": "c"}), ([(), ()], [((),)]),
    (["a", "b"], ["ab"]), ((1, (2, 3)), ((1, 2), 3)),
])
def test_framing_keeps_boundaries(a, b):
    assert hash(a) != hash(b)


def test_dict_and_set_order_do_not_matter():
    keys = ["b", "a", "c", 3, (1, 2), None, 2.5, frozenset({1})]
    d1 = {k: i for i, k in enumerate(keys)}
    d2 = {k: d1[k] for k in reversed(keys)}
    assert list(d1) != list(d2)
    assert hash(d1) == hash(d2)
    assert hash({"x": 1, "y": 2}) == hash({"y": 2, "x": 1})
    assert hash(set(keys)) == hash(set(reversed(keys)))
    assert hash(frozenset(range(100))) == hash(frozenset(reversed(range(100))))
    assert hash({"x": 1, "y": 2}) != hash({"x": 2, "y": 1})


def test_floats_nan_and_signed_zero():
    assert hash(float("nan")) == hash(float("nan"))
    assert hash(0.0) != hash(-0.0)
    assert hash(math.inf) != hash(-math.inf)


def test_builtin_value_types_hash_by_content():
    values = [
        dt.datetime(2020, 1, 2, 3, 4, 5, 6), dt.datetime(2020, 1, 2, tzinfo=dt.timezone.utc),
        dt.date(2020, 1, 2), dt.time(1, 2, 3), dt.timedelta(days=1, seconds=2),
        decimal.Decimal("3.14"), fractions.Fraction(3, 7), uuid.UUID(int=42),
        pathlib.PurePosixPath("a/b"), range(1, 10, 2), slice(1, None, 2), 3 + 4j,
        10**40, -(10**40), Ellipsis, Color.GREEN, Pair(1, "x"), Point(1, [2, 3]),
        collections.OrderedDict(a=1, b=2), collections.Counter("hello"),
        bytearray(b"xyz"), memoryview(b"xyz"),
    ]
    hashes = [hash(v) for v in values]
    assert hashes == [hash(memoryview(bytes(v)) if isinstance(v, memoryview) else copy.deepcopy(v))
                      for v in values]
    assert len(set(hashes)) == len(values)
    assert hash(dt.datetime(2020, 1, 2, tzinfo=dt.timezone.utc)) != hash(dt.datetime(2020, 1, 2))
    assert hash(collections.OrderedDict(a=1, b=2)) != hash(collections.OrderedDict(b=2, a=1))


def test_objects_hash_by_state_not_identity():
    assert hash(Plain(a=1, b=[2])) == hash(Plain(b=[2], a=1))
    assert hash(Plain(a=1)) != hash(Plain(a=2))
    assert hash(Slotted(1, 2)) == hash(Slotted(1, 2))
    assert hash(Slotted(1, 2)) != hash(Slotted(2, 1))
    assert hash(Point(1, [2])) != hash(Point(1, [3]))
    shared = [1, 2]
    assert hash([shared, shared]) == hash([shared, list(shared)])  # no pickle-memo artefacts


def test_long_plain_sequences_match_content():
    floats = [i / 7 for i in range(5000)]
    assert hash(floats) == hash(list(floats))
    assert hash(floats) != hash(floats[:-1])
    assert hash(floats) != hash(tuple(floats))
    assert hash(list(range(100))) != hash([float(i) for i in range(100)])
    pairs = [(i, str(i)) for i in range(100)]
    assert hash(pairs) == hash(copy.deepcopy(pairs))
    assert hash(pairs) != hash([(i, str(i + 1)) for i in range(100)])


def test_cycles_terminate_and_compare_by_structure():
    a = [1]
    a.append(a)
    b = [1]
    b.append(b)
    c = [2]
    c.append(c)
    assert hash(a) == hash(b) != hash(c)
    d: dict = {"x": 1}
    d["self"] = d
    assert len(hash(d)) == 32
    obj = Plain(x=1)
    obj.me = obj
    assert hash(obj) == hash(copy.deepcopy(obj))
    arr = np.empty(1, dtype=object)
    arr[0] = arr
    assert len(hash(arr)) == 32


def test_deep_nesting_raises_unhashable_not_recursion_error():
    x: list = []
    for _ in range(100_000):
        x = [x]
    with pytest.raises(UnhashableError, match="nested"):
        hash(x)


def test_unhashable_object_names_its_type():
    with pytest.raises(UnhashableError, match=r"_thread\.lock.*ignore=") as info:
        hash(threading.Lock())
    assert isinstance(info.value, TypeError)
    with pytest.raises(TypeError, match=r"generator.*found inside a dict"):
        hash({"gen": (i for i in range(3))})


def test_hash_name_compatibility():
    assert len(hash([1, 2], hash_name="md5")) == 32
    assert len(hash([1, 2], hash_name="sha1")) == 40
    assert hash([1, 2], hash_name="md5") != hash([1, 2])
    with pytest.raises(ValueError, match="xxh3_128"):
        hash(1, hash_name="nope")


def test_hasher_streams_and_frames_raw_bytes():
    h1 = Hasher().update(1).update("a")
    h2 = Hasher().update(1).update("a")
    assert h1.hexdigest() == h2.hexdigest() == h1.hexdigest()
    assert Hasher().update_raw(b"a", b"bc").hexdigest() != Hasher().update_raw(b"ab", b"c").hexdigest()
    big = np.arange(10**6)
    assert Hasher().update(big).update(2).hexdigest() == Hasher().update(big.copy()).update(2).hexdigest()


def test_functions_hash_by_the_registered_identity_token(monkeypatch):
    import jlcache.hashing.hasher as hashing
    import jlcache.identity.functions as identity

    assert hashing._callable_token is identity.function_token, "identity registers itself"

    def f(x):
        return x + 1

    calls = []

    def fake_token(func):
        calls.append(func)
        return "tok-" + func.__name__

    monkeypatch.setattr(hashing, "_callable_token", fake_token)
    assert hash(f) == hash(f) != hash(len)
    assert calls[:2] == [f, f]
    monkeypatch.undo()
    assert hash(lambda x: x + 1) != hash(lambda x: x + 2)
    assert hash([f, 1]) == hash([f, 1])


# --- numpy ------------------------------------------------------------------------------------


def test_numpy_dtype_shape_order_and_content_matter():
    a = np.arange(12, dtype=np.float64).reshape(3, 4)
    assert hash(a) == hash(a.copy())
    assert hash(a) != hash(a.astype(np.float32))
    assert hash(a) != hash(a.astype(">f8"))  # byte order
    assert hash(a) != hash(a.reshape(4, 3)) != hash(a.ravel())
    assert hash(a) != hash(np.asfortranarray(a))  # memory layout is part of the key (as joblib)
    assert hash(a) != hash(a[::-1].copy())
    b = a.copy()
    b[2, 3] += 1e-12
    assert hash(a) != hash(b)


def test_numpy_non_contiguous_views_equal_their_copies():
    a = np.random.default_rng(0).random((600, 2000))  # 9.6 MB: the chunked path
    for view in (a[:, ::3], a[::2], a.T[::5], a[10:20, 5:7], a[:, 1]):
        assert not view.flags.c_contiguous or view.ndim == 1
        assert hash(view) == hash(np.ascontiguousarray(view))
    wide = np.zeros((2, 2**20 * 3))  # rows bigger than the chunk: recursion into rows
    wide[1, -2] = 1  # an element the strided view keeps
    assert hash(wide[:, ::2]) == hash(wide[:, ::2].copy())
    assert hash(wide[:, ::2]) != hash(np.zeros((2, 2**20 * 3))[:, ::2])


def test_numpy_memmap_hashes_like_ndarray(tmp_path):
    a = np.arange(1000, dtype=np.int32)
    m = np.memmap(tmp_path / "a.dat", dtype=np.int32, mode="w+", shape=a.shape)
    m[:] = a
    assert hash(m) == hash(a)
    assert hash(m, coerce_mmap=False) != hash(a)
    assert hash([m, 1]) == hash([a, 1])
    del m


@pytest.mark.parametrize("a, b", [
    (np.array(1.0), np.array([1.0])), (np.empty((0, 3)), np.empty((3, 0))),
    (np.empty(0), np.empty(0, dtype=np.int64)),
    (np.array(["2020-01-01"], "M8[D]"), np.array(["2020-01-02"], "M8[D]")),
    (np.array(["2020-01-01"], "M8[D]"), np.array(["2020-01-01"], "M8[s]")),
    (np.zeros(2, dtype=[("a", "<i4"), ("b", "<f8")]), np.zeros(2, dtype=[("x", "<i4"), ("b", "<f8")])),
    (np.array([1, "a"], dtype=object), np.array([1, "b"], dtype=object)),
    (np.array(["ab", "c"]), np.array(["a", "bc"])),
])
def test_numpy_edge_cases_differ(a, b):
    assert hash(a) != hash(b)
    assert hash(a) == hash(copy.deepcopy(a))


def test_numpy_object_arrays_hash_elements():
    a = np.array([1, "x", None, (2, 3)], dtype=object)
    assert hash(a) == hash(pickle.loads(pickle.dumps(a)))
    assert hash(a) != hash(np.array([1, "x", None, (2, 4)], dtype=object))


def test_numpy_scalars_and_ufuncs():
    assert hash(np.float32(1.5)) != hash(np.float64(1.5))
    assert hash(np.float64(1.5)) == hash(np.float64(1.5))
    assert hash(np.str_("ab")) != hash("ab")
    assert hash(np.sqrt) == hash(np.sqrt) != hash(np.square)


# --- pandas -----------------------------------------------------------------------------------


def _frame():
    return pd.DataFrame({
        "x": [1, 2, 3], "y": ["a", "b", "c"], "z": pd.Categorical(["u", "v", "u"]),
        "t": pd.date_range("2020", periods=3, tz="UTC"), "i": pd.array([1, None, 3], dtype="Int64"),
        "f": [0.5, np.nan, 2.0],
    }, index=pd.Index([10, 20, 30], name="k"))


def test_pandas_equal_frames_hash_equal():
    df = _frame()
    assert hash(df) == hash(df.copy()) == hash(pickle.loads(pickle.dumps(df)))
    assert hash(df) == hash(pd.DataFrame({c: df[c] for c in df.columns}))
    assert hash(df["x"]) == hash(df["x"].copy())
    assert hash(df.index) == hash(pd.Index([10, 20, 30], name="k"))
    assert hash(pd.RangeIndex(3)) == hash(pd.Index([0, 1, 2]))


@pytest.mark.parametrize("change", [
    lambda d: d.assign(x=[1, 2, 4]), lambda d: d.astype({"x": "int32"}), lambda d: d.rename(columns={"x": "w"}),
    lambda d: d.set_axis([10, 20, 31]), lambda d: d.iloc[::-1], lambda d: d.rename_axis("j"),
    lambda d: d[["y", "x", "z", "t", "i", "f"]], lambda d: d.assign(z=pd.Categorical(["u", "v", "v"])),
])
def test_pandas_content_changes_change_the_hash(change):
    assert hash(change(_frame())) != hash(_frame())


def test_pandas_series_name_and_multiindex():
    s = pd.Series([1, 2], name="a")
    assert hash(s) != hash(s.rename("b"))
    mi = pd.MultiIndex.from_tuples([(1, "a"), (2, "b")], names=["n", "s"])
    assert hash(mi) == hash(pd.MultiIndex.from_arrays([[1, 2], ["a", "b"]], names=["n", "s"]))
    assert hash(mi) != hash(pd.MultiIndex.from_tuples([(1, "a"), (2, "c")], names=["n", "s"]))


# --- processes --------------------------------------------------------------------------------

_CHILD = """
import collections, dataclasses, json, sys
import numpy as np, pandas as pd
from jlcache import hash

class Local:
    def __init__(self):
        self.tags = {"b", "a", "c"}
        self.data = {"x": 1, ("t", 1): 2.5}

@dataclasses.dataclass
class DC:
    s: frozenset

def helper(x):
    return x * 2

values = {
    "strings_set": {"alpha", "beta", "gamma", "delta"},
    "dict": {"k%d" % i: i for i in range(50)},
    "mixed_keys": {1: "a", "b": 2, (3, "c"): None, frozenset({"x", "y"}): 1.5},
    "array": np.arange(100, dtype=np.float32).reshape(10, 10)[:, ::2],
    "frame": pd.DataFrame({"a": [1.5, 2.5], "b": ["x", "y"]}),
    "local_object": Local(),
    "dataclass": DC(frozenset({"p", "q"})),
    "nested": [({"z", "y"}, b"bytes"), 10**30, -0.0, None, True],
    "functions": [helper, len, lambda y: y + 1],
}
print(json.dumps({k: hash(v) for k, v in values.items()}))
"""


def test_deterministic_across_processes_and_hash_seeds(python):
    runs = [json.loads(python(_CHILD, env={"PYTHONHASHSEED": seed}).stdout) for seed in ("1", "2")]
    assert runs[0] == runs[1]
    # values that do not involve classes defined in the child also match this process
    assert runs[0]["strings_set"] == hash({"alpha", "beta", "gamma", "delta"})
    assert runs[0]["array"] == hash(np.arange(100, dtype=np.float32).reshape(10, 10)[:, ::2])
    assert runs[0]["frame"] == hash(pd.DataFrame({"a": [1.5, 2.5], "b": ["x", "y"]}))


def test_types_of_modules_imported_later_hash_as_usual(python):
    out = python("""
        from jlcache.hashing.hasher import hash
        hash((1, "warm up the dispatch table"))
        import datetime, decimal, fractions, uuid
        print(hash([decimal.Decimal("1.5"), fractions.Fraction(1, 3), datetime.date(2020, 1, 2),
                    uuid.UUID(int=7)]))
    """).stdout.strip()
    assert out == hash([decimal.Decimal("1.5"), fractions.Fraction(1, 3), dt.date(2020, 1, 2),
                        uuid.UUID(int=7)])


def test_import_does_not_import_numpy_or_pandas(python):
    python("""
        import sys
        import jlcache.hashing.hasher as h
        assert len(h.hash((1, "a", {2: None}))) == 32
        assert "numpy" not in sys.modules and "pandas" not in sys.modules, sorted(sys.modules)
    """)


# --- properties -------------------------------------------------------------------------------

_atoms = (st.none() | st.booleans() | st.integers() | st.integers(min_value=-(2**80), max_value=2**80)
          | st.floats(allow_nan=False) | st.text(max_size=8) | st.binary(max_size=8)
          | st.complex_numbers(allow_nan=False))
_keys = st.none() | st.booleans() | st.integers() | st.text(max_size=5) | st.binary(max_size=4)
values = st.recursive(
    _atoms,
    lambda inner: (st.lists(inner, max_size=5) | st.tuples(inner, inner)
                   | st.lists(inner, max_size=40).map(tuple)
                   | st.dictionaries(_keys, inner, max_size=5) | st.frozensets(_keys, max_size=5)
                   | st.sets(_keys, max_size=5)),
    max_leaves=20,
)


def canonical(v):
    """A structural description in which equal descriptions mean equal values and types."""
    t = type(v)
    if t is float:
        return ("float", v.hex())
    if t is complex:
        return ("complex", v.real.hex(), v.imag.hex())
    if t in (list, tuple):
        return (t.__name__, tuple(canonical(x) for x in v))
    if t is dict:
        return ("dict", tuple(sorted((repr(canonical(k)), canonical(x)) for k, x in v.items())))
    if t in (set, frozenset):
        return (t.__name__, tuple(sorted(repr(canonical(x)) for x in v)))
    return (t.__name__, repr(v))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values)
def test_equal_values_hash_equal(v):
    h = hash(v)
    assert hash(copy.deepcopy(v)) == h
    assert hash(pickle.loads(pickle.dumps(v))) == h
    if isinstance(v, dict):
        assert hash(dict(reversed(list(v.items())))) == h


_seen: dict = {}


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(values, min_size=10, max_size=40))
def test_distinct_values_never_collide(batch):
    for v in batch:
        c, h = repr(canonical(v)), hash(v)
        assert _seen.setdefault(h, c) == c, f"collision: {c} and {_seen[h]}"


def test_a_large_systematic_set_never_collides():
    base = ([None, True, False] + list(range(-300, 300)) + [i / 4 for i in range(-300, 300)]
            + [str(i) for i in range(300)] + [bytes([i]) for i in range(256)] + ["", b"", 0.0, -0.0])
    derived = ([(x,) for x in base] + [[x] for x in base] + [{x} for x in base]
               + [(x, x) for x in base] + [{"k": x} for x in base] + [{x: None} for x in base[:600]])
    everything = base + derived
    canon = {repr(canonical(v)) for v in everything}
    hashes = {hash(v) for v in everything}
    assert len(hashes) == len(canon) > 5000


# --- bound methods hash the object they are bound to (issue 15, item 1) -------------------


class _WithMethods:
    def __init__(self, v):
        self.v = v

    def get(self):
        return self.v

    @classmethod
    def make(cls):
        return cls(0)


class _OtherWithMethods(_WithMethods):
    pass


def test_builtin_bound_methods_hash_their_object():
    assert hash([1].append) != hash([2].append)
    assert hash({"a": 1}.get) != hash({"a": 2}.get)
    assert hash({"a": 1}.get) == hash({"a": 1}.get)
    assert hash(collections.deque(range(10)).extend) != hash(collections.deque(range(9)).extend)
    s = "abc"
    assert hash(s.upper) == hash("abc".upper) != hash("abd".upper)
    assert hash((1).__add__) != hash((2).__add__)  # a method-wrapper


def test_methods_of_c_extension_types_hash_their_object():
    a, b = np.arange(3), np.arange(4)
    assert hash(a.sum) != hash(b.sum)
    assert hash(a.sum) == hash(np.arange(3).sum)


def test_python_and_class_methods_hash_their_object():
    assert hash(_WithMethods(1).get) != hash(_WithMethods(2).get)
    assert hash(_WithMethods(1).get) == hash(_WithMethods(1).get)
    assert hash(_WithMethods.make) != hash(_OtherWithMethods.make)


def test_unbound_builtins_still_hash_by_name():
    assert hash(len) == hash(len)
    assert hash(list.append) != hash(list.extend)
    assert hash(dict.fromkeys) != hash(collections.OrderedDict.fromkeys)


# --- registration: identity fills in callables, users can register their types --------------


def test_hashing_alone_refuses_functions_and_says_what_to_do(python) -> None:
    python("""
        import sys
        from jlcache.hashing import hash
        from jlcache.errors import UnhashableError
        assert "jlcache.identity" not in sys.modules
        assert hash((1, "a")) == hash((1, "a"))
        try:
            hash(len)
        except UnhashableError as exc:
            assert "jlcache.hash" in str(exc) and "jlcache.identity" in str(exc)
        else:
            raise AssertionError("hashed a function without its identity")
        import jlcache
        assert jlcache.hash(len) == hash(len)  # jlcache.hash plugged identity in
    """)


def test_register_hashes_a_type_by_its_reduction() -> None:
    from jlcache.hashing import register

    class Handle:
        def __init__(self, key, cache):
            self.key, self.cache = key, cache

    register(Handle, lambda obj: obj.key)
    assert hash(Handle("a", object())) == hash(Handle("a", object()))
    assert hash(Handle("a", None)) != hash(Handle("b", None))
    assert hash(Handle("a", None)) != hash("a"), "the type is part of the hash"


def test_register_checks_its_arguments() -> None:
    from jlcache.hashing import register

    with pytest.raises(TypeError, match="register"):
        register("Handle", lambda obj: obj)  # type: ignore[arg-type]


_plain = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=5).map(tuple), max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(st.lists(_plain, max_size=6).map(tuple))
def test_the_fast_path_for_plain_tuples_hashes_as_the_general_encoder(value):
    """Argument tuples skip the Hasher; the bytes they hash must be the general encoding's."""
    assert hash(value) == Hasher().update(value).hexdigest()
