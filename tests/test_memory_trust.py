"""Issue 15's memory items: no wrong value and no needless recompute.

Bound methods key on their object; closure cells a function mutates are its own state;
``check_call_in_cache`` honours the validation callback; a deleted location is recreated;
``MemorizedFunc`` takes joblib's constructor arguments.
"""

from __future__ import annotations

import numpy as np


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
