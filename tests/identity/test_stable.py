"""Repeated identifications (``identity.stable``): served from a snapshot only while every
object the function reads is the one it read; any rebinding is seen on the next call."""

from __future__ import annotations

import itertools
import json
import textwrap
from pathlib import Path

import pytest

from jlcache.identity.functions import _entry, identify
from jlcache.identity.own_state import exclude_state

_counter = itertools.count()


def define(tmp_path: Path, src: str) -> dict:
    """Exec ``src`` from a real file into a fresh ``__main__`` namespace (a notebook's)."""
    path = tmp_path / f"cell_{next(_counter)}.py"
    path.write_text(textwrap.dedent(src))
    ns: dict = {"__name__": "__main__"}
    exec(compile(path.read_text(), str(path), "exec"), ns)
    return ns


def snapshotted(func) -> bool:
    identify(func)
    return _entry(func).snap is not None


def fresh_version(func) -> str:
    """The version computed the full way (no snapshot), to compare the fast path with."""
    _entry(func).snap = None
    _entry(func).last = None
    return identify(func).version


SRC = """
    import json
    N = 3
    NAME = "x"
    PAIR = (1, "a")
    def helper(v):
        return v * N
    def f(x, k=2):
        return helper(x) + len(NAME) + k + PAIR[0] + len(json.dumps(x))
"""


def test_a_function_reading_only_fixed_values_is_snapshotted_and_served_as_is(tmp_path):
    ns = define(tmp_path, SRC)
    f = ns["f"]
    first = identify(f)
    assert snapshotted(f)
    assert identify(f) is first


@pytest.mark.parametrize("change", [
    "ns['N'] = 4",                                  # a global read by a helper
    "ns['NAME'] = 'y'",                             # a global read by the function
    "ns['PAIR'] = (2, 'a')",                        # a tuple rebound
    "ns['helper'] = define(tmp_path, 'def helper(v):\\n    return v')['helper']",
    "f.__defaults__ = (5,)",                        # defaults replaced
    "f.__kwdefaults__ = {'z': 1}",                  # keyword-only defaults set
    "ns['helper'].__code__ = (lambda v: v - 1).__code__",  # a helper's code replaced
    "ns['json'] = __import__('pickle')",            # a module rebound
    "monkeypatch.setattr(json, '__version__', 'other')",  # an installed module's version
    "ns['len'] = lambda v: 0",                      # a builtin shadowed by a new global
])
def test_any_rebinding_is_seen_on_the_next_call(tmp_path, monkeypatch, change):
    ns = define(tmp_path, SRC)
    f = ns["f"]
    before = identify(f).version
    assert snapshotted(f)
    exec(change, {"ns": ns, "f": f, "define": define, "tmp_path": tmp_path, "json": json,
                  "monkeypatch": monkeypatch})
    after = identify(f).version
    assert after != before
    assert after == fresh_version(f)


def test_a_closure_cell_rebound_is_seen_on_the_next_call(tmp_path):
    ns = define(tmp_path, """
        def make():
            scale = 2
            def f(x):
                return x * scale
            def set_scale(v):
                nonlocal scale
                scale = v
            return f, set_scale
        f, set_scale = make()
    """)
    f = ns["f"]
    before = identify(f).version
    assert snapshotted(f)
    ns["set_scale"](3)
    assert identify(f).version != before


@pytest.mark.parametrize("value", ["[1, 2]", "{'a': 1}", "object()", "(1, [2])"])
def test_a_function_reading_mutable_data_is_never_snapshotted(tmp_path, value):
    ns = define(tmp_path, f"""
        DATA = {value}
        def f(x):
            return DATA, x
    """)
    f = ns["f"]
    assert not snapshotted(f)
    if isinstance(ns["DATA"], list):
        before = identify(f).version
        ns["DATA"].append(3)  # mutated in place: the same object, another content
        assert identify(f).version != before


def test_helper_cycles_and_methods_are_not_snapshotted(tmp_path):
    ns = define(tmp_path, """
        def f(n):
            return g(n - 1) if n else 0
        def g(n):
            return f(n)
        class C:
            def m(self):
                return 1
    """)
    assert not snapshotted(ns["f"])
    assert not snapshotted(ns["C"].m)


def test_excluding_mutated_state_drops_the_snapshots_that_rely_on_it(tmp_path):
    ns = define(tmp_path, """
        N = 1
        def helper():
            return N
        def f():
            return helper()
    """)
    f = ns["f"]
    before = identify(f).version
    assert snapshotted(f)
    exclude_state([(ns["helper"], "N")])
    assert _entry(f).snap is not None  # still there, but no longer vouching
    assert identify(f).version != before  # helper's identity no longer includes N


def test_an_identification_through_a_method_does_not_change_what_the_snapshot_vouches_for(
        tmp_path):
    ns = define(tmp_path, """
        def f(self):
            return 1
        class C:
            X = 5
        C.m = f
    """)
    f = ns["f"]
    alone = identify(f)
    assert snapshotted(f)
    through_method = identify(ns["C"]().m)  # reached through C: its owner class counts
    assert through_method.version != alone.version
    assert identify(f) == alone and identify(f).version == fresh_version(f)
