"""Function identity: what changes a function's version, and what must not.

Functions under test are defined from real source files in ``tmp_path`` (so that
``inspect``/``linecache`` find their source, as for a module or a notebook cell) and
exec'd into a fresh namespace named ``__main__``, as a notebook's functions are.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

from jlcache.identity import source as _source
from jlcache.identity.functions import (
    FunctionIdentity,
    bound_state,
    function_token,
    identify,
    unwrap,
)

_counter = itertools.count()


def define(tmp_path: Path, src: str, ns: dict | None = None) -> dict:
    """Exec ``src`` from a real, uniquely named file into ``ns`` (a new ``__main__``)."""
    path = tmp_path / f"cell_{next(_counter)}.py"
    path.write_text(textwrap.dedent(src))
    ns = {"__name__": "__main__"} if ns is None else ns
    exec(compile(path.read_text(), str(path), "exec"), ns)
    return ns


def version(tmp_path: Path, src: str, name: str = "f") -> str:
    return identify(define(tmp_path, src)[name]).version


class _FakeMemorized:
    """Stands in for jlcache's MemorizedFunc: the contract marker plus ``.func``."""

    _jlcache_memorized = True

    def __init__(self, func):
        self.func = func

    def __call__(self, *args, **kwargs):
        return self.func(*args, **kwargs)


class _FakeMemory:
    def cache(self, func=None, **_options):
        if func is None:
            return self.cache
        return _FakeMemorized(func)


# --- the dataclass ------------------------------------------------------------------------

def test_identity_fields_and_name(tmp_path):
    ident = identify(define(tmp_path, "def f(x):\n    return x\n")["f"])
    assert isinstance(ident, FunctionIdentity)
    assert (ident.module, ident.qualname, ident.name) == ("__main__", "f", "__main__.f")
    assert len(ident.version) == 16 and int(ident.version, 16) >= 0
    assert len(ident.code_hash) == 32 and len(ident.deps_hash) == 32


# --- requirement 1: normalized source -----------------------------------------------------

BASE = """
def f(x, y=2):
    z = x * y
    return [z + i for i in range(3)]
"""

COSMETIC = {
    "comments": """
        def f(x, y=2):  # the function
            # multiply
            z = x * y
            return [z + i for i in range(3)]  # done
        """,
    "docstring": '''
        def f(x, y=2):
            """Added a docstring."""
            z = x * y
            return [z + i for i in range(3)]
        ''',
    "blank lines and indent": """


        def f(x, y=2):

              z = x * y

              return [z + i for i in range(3)]
        """,
    "reformat": """
        def f(x,
              y = 2):
            z = (x
                 *y)
            return [ z+i
                     for i in range( 3 ) ]
        """,
    "jlcache decorator": """
        @memory.cache(ignore=["y"])
        def f(x, y=2):
            z = x * y
            return [z + i for i in range(3)]
        """,
}

REAL_EDITS = {
    "constant": BASE.replace("range(3)", "range(4)"),
    "operator": BASE.replace("x * y", "x + y"),
    "default": BASE.replace("y=2", "y=3"),
    "renamed local": BASE.replace("z", "w"),
    "other decorator": "@register\n" + BASE.strip() + "\n",
    "nested docstring kept out, nested code kept in": BASE.replace(
        "    z = x * y", "    def inner():\n        return 1\n    z = x * y"),
}


@pytest.mark.parametrize("kind", sorted(COSMETIC))
def test_cosmetic_edits_keep_the_version(tmp_path, kind):
    ns = {"__name__": "__main__", "memory": _FakeMemory()}
    f = define(tmp_path, COSMETIC[kind], ns)["f"]
    assert identify(unwrap(f)).version == version(tmp_path, BASE)


@pytest.mark.parametrize("kind", sorted(REAL_EDITS))
def test_real_edits_change_the_version(tmp_path, kind):
    ns = {"__name__": "__main__", "register": lambda func: func}
    f = define(tmp_path, REAL_EDITS[kind], ns)["f"]
    assert identify(f).version != version(tmp_path, BASE)


def test_reverting_an_edit_gives_the_old_version_back(tmp_path):
    v1 = version(tmp_path, BASE)
    v2 = version(tmp_path, REAL_EDITS["operator"])
    v3 = version(tmp_path, BASE)
    assert v1 == v3 != v2


def test_nested_docstrings_and_class_docstrings_are_ignored(tmp_path):
    plain = """
        def f():
            def g():
                return 1
            class K:
                a = 1
            return g, K
        """
    documented = '''
        def f():
            def g():
                """inner doc"""
                return 1
            class K:
                """class doc"""
                a = 1
            return g, K
        '''
    assert version(tmp_path, plain) == version(tmp_path, documented)


def test_same_named_functions_are_different_versions(tmp_path):
    ns = define(tmp_path, "def f(x):\n    return x + 1\n")
    first = identify(ns["f"])
    define(tmp_path, "def f(x):\n    return x - 1\n", ns)          # a redefinition
    second = identify(ns["f"])
    assert first.name == second.name and first.version != second.version


def test_reassigning_code_changes_the_version(tmp_path):
    ns = define(tmp_path, "def f(x):\n    return x + 1\ndef g(x):\n    return x * 5\n")
    before = identify(ns["f"]).version
    ns["f"].__code__ = ns["g"].__code__
    assert identify(ns["f"]).version != before


# --- lambdas ------------------------------------------------------------------------------

def test_lambdas_on_one_line_with_different_bodies_differ(tmp_path):
    ns = define(tmp_path, "fs = [lambda x: x + 1, lambda x: x * 2, lambda x: x + 1]\n")
    a, b, c = (identify(f) for f in ns["fs"])
    assert a.version != b.version
    assert a.version == c.version                  # same body, same code: same identity
    assert a.qualname == "<lambda>"


def test_nested_lambdas_on_one_line_resolve_to_their_own_node(tmp_path):
    ns = define(tmp_path, "outer = lambda y: (lambda z: z * y)\n")
    inner = ns["outer"](3)
    assert identify(inner).code_hash != identify(ns["outer"]).code_hash
    # the inner lambda's hash comes from its own source node, not the structural fallback
    assert identify(inner).code_hash != _source.structural_hash(inner.__code__)


def test_lambda_hash_ignores_formatting(tmp_path):
    one = define(tmp_path, "g = lambda x:x+1\n")["g"]
    two = define(tmp_path, "h = (lambda x :  x + 1)  # spaced\n")["h"]
    assert identify(one).code_hash == identify(two).code_hash


# --- without source -----------------------------------------------------------------------

def test_exec_of_a_string_uses_the_structural_hash():
    ns1: dict = {"__name__": "__main__"}
    ns2: dict = {"__name__": "__main__"}
    exec("def f(x):\n    return x + 1\n", ns1)
    exec("def f(x):\n    return x + 2\n", ns2)
    ident = identify(ns1["f"])
    assert ident.code_hash == _source.structural_hash(ns1["f"].__code__)
    assert ident.version != identify(ns2["f"]).version
    again: dict = {"__name__": "__main__"}
    exec("def f(x):\n    return x + 1\n", again)
    assert identify(again["f"]).version == ident.version


NO_SOURCE_CHILD = """
    import json
    from jlcache.identity.functions import identify
    ns = {"__name__": "__main__"}
    exec("def f(x):\\n    return x in {'a', 'b', 'c', 'd'} or x in frozenset({1.5, 2})\\n"
         "g = lambda y: (y, f)\\n", ns)
    print(json.dumps([identify(ns["f"]).version, identify(ns["g"]).version]))
"""


def test_no_source_code_is_stable_across_processes_and_hash_seeds(python):
    outs = [json.loads(python(NO_SOURCE_CHILD, env={"PYTHONHASHSEED": seed}).stdout)
            for seed in ("1", "2")]
    assert outs[0] == outs[1]


def test_stale_source_falls_back_to_the_structural_hash(tmp_path):
    path = tmp_path / "stale.py"
    path.write_text("def f(x):\n    return x + 1\n")
    ns = {"__name__": "__main__"}
    exec(compile(path.read_text(), str(path), "exec"), ns)
    path.write_text("def f(value, other):\n    return value + other + 1000\n")  # not re-run
    assert identify(ns["f"]).code_hash == _source.structural_hash(ns["f"].__code__)


# --- requirement 2: dependencies ----------------------------------------------------------

CALLER = """
def f(x):
    return helper(x) + 1
"""


def test_editing_a_helper_changes_the_callers_version(tmp_path):
    ns = define(tmp_path, CALLER + "def helper(x):\n    return x * 2\n")
    v1 = identify(ns["f"]).version
    define(tmp_path, "def helper(x):\n    # a comment only\n    return x * 2\n", ns)
    assert identify(ns["f"]).version == v1
    define(tmp_path, "def helper(x):\n    return x * 3\n", ns)
    v2 = identify(ns["f"]).version
    define(tmp_path, "def helper(x):\n    return x * 2\n", ns)
    assert v2 != v1 and identify(ns["f"]).version == v1
    assert identify(ns["f"]).code_hash == identify(define(tmp_path, CALLER)["f"]).code_hash


def test_helpers_are_followed_recursively(tmp_path):
    src = CALLER + "def helper(x):\n    return deeper(x)\ndef deeper(x):\n    return x * {k}\n"
    assert version(tmp_path, src.format(k=2)) != version(tmp_path, src.format(k=3))


def test_global_values_count_by_content(tmp_path):
    ns = define(tmp_path, "K = 3\nTABLE = [1, 2]\nUNRELATED = 0\n"
                          "def f(x):\n    return x * K + sum(TABLE)\n")
    v1 = identify(ns["f"]).version
    ns["UNRELATED"] = 99
    assert identify(ns["f"]).version == v1
    ns["K"] = 4
    v2 = identify(ns["f"]).version
    assert v2 != v1
    ns["TABLE"].append(3)                           # mutated in place
    assert identify(ns["f"]).version != v2
    ns["K"], ns["TABLE"] = 3, [1, 2]
    assert identify(ns["f"]).version == v1


def test_numpy_array_global_counts_by_content(tmp_path):
    ns = define(tmp_path, "def f(x):\n    return W @ x\n", {"__name__": "__main__",
                                                          "W": np.eye(3)})
    v1 = identify(ns["f"]).version
    ns["W"][0, 0] = 2.0
    assert identify(ns["f"]).version != v1


def test_helper_reading_a_global_propagates_to_the_caller(tmp_path):
    ns = define(tmp_path, CALLER + "SCALE = 2\ndef helper(x):\n    return x * SCALE\n")
    v1 = identify(ns["f"]).version
    ns["SCALE"] = 5
    assert identify(ns["f"]).version != v1


def test_modules_count_by_name_and_version_only(tmp_path):
    src = "import math\nimport numpy as np\ndef f(x):\n    return np.linalg.norm(x) + math.pi\n"
    ns = define(tmp_path, src)
    v1 = identify(ns["f"]).version
    assert identify(define(tmp_path, src)["f"]).version == v1
    ns["np"] = math                                   # another module under the same name
    assert identify(ns["f"]).version != v1


def test_installed_functions_count_by_name(tmp_path):
    ns = define(tmp_path, "from math import sqrt\ndef f(x):\n    return sqrt(x)\n")
    v1 = identify(ns["f"]).version
    ns["sqrt"] = math.cos
    assert identify(ns["f"]).version != v1
    ns["sqrt"] = math.sqrt
    assert identify(ns["f"]).version == v1


def test_user_module_helpers_are_followed(tmp_path, monkeypatch):
    pkg = tmp_path / "userpkg"
    pkg.mkdir()
    modname = f"jlc_user_utils_{next(_counter)}"
    (pkg / f"{modname}.py").write_text("def helper(x):\n    return x + 1\n")
    monkeypatch.syspath_prepend(str(pkg))
    ns = define(tmp_path, f"import {modname} as utils\ndef f(x):\n    return utils.helper(x)\n")
    v1 = identify(ns["f"]).version
    define(tmp_path, "def helper(x):\n    return x + 2\n", vars(ns["utils"]))
    assert identify(ns["f"]).version != v1
    monkeypatch.delitem(sys.modules, modname)


def test_closure_cells_count(tmp_path):
    ns = define(tmp_path, "def make(k):\n    def f(x):\n        return x * k\n    return f\n")
    a, b, c = ns["make"](1), ns["make"](2), ns["make"](1)
    assert identify(a).version != identify(b).version
    assert identify(a).version == identify(c).version
    assert identify(a).qualname == "make.<locals>.f"


def test_defaults_count(tmp_path):
    src = "def f(x, k=K, *, j=J):\n    return x * k * j\n"
    a = define(tmp_path, src, {"__name__": "__main__", "K": 1, "J": 1})["f"]
    b = define(tmp_path, src, {"__name__": "__main__", "K": 2, "J": 1})["f"]
    c = define(tmp_path, src, {"__name__": "__main__", "K": 1, "J": 2})["f"]
    assert len({identify(a).version, identify(b).version, identify(c).version}) == 3


def test_unhashable_global_counts_by_type_only(tmp_path):
    ns = define(tmp_path, "def f(x):\n    with LOCK:\n        return x\n",
                {"__name__": "__main__", "LOCK": threading.Lock()})
    v1 = identify(ns["f"]).version                     # no error: still cacheable
    ns["LOCK"] = threading.Lock()
    assert identify(ns["f"]).version == v1
    ns["LOCK"] = threading.RLock()
    assert identify(ns["f"]).version != v1


def test_recursion_and_mutual_recursion_terminate_and_are_order_independent(tmp_path):
    src = """
        def fact(n):
            return 1 if n <= 1 else n * fact(n - 1)
        def ping(n):
            return n and pong(n - 1)
        def pong(n):
            return n and ping(n - 1)
        """
    ns1, ns2 = define(tmp_path, src), define(tmp_path, src)
    first = [identify(ns1[n]).version for n in ("fact", "ping", "pong")]
    second = [identify(ns2[n]).version for n in ("pong", "ping", "fact")][::-1]
    assert first == second
    assert first[1] != first[2]
    edited = define(tmp_path, src.replace("n and ping(n - 1)", "n and ping(n - 2)"))
    assert identify(edited["ping"]).version != first[1]   # the edit reaches through the cycle


def test_a_global_that_refers_back_to_the_function_does_not_recurse(tmp_path):
    ns = define(tmp_path, "def f(x):\n    return REGISTRY['f'](x - 1) if x else 0\n")
    ns["REGISTRY"] = {"f": ns["f"], "g": [ns["f"]]}
    v1 = identify(ns["f"]).version
    assert identify(ns["f"]).version == v1
    assert len(function_token(ns["f"])) == 32


def test_cached_helper_is_followed_through_the_memorized_wrapper(tmp_path):
    ns = define(tmp_path, CALLER + "@memory.cache\ndef helper(x):\n    return x * 2\n",
                {"__name__": "__main__", "memory": _FakeMemory()})
    v1 = identify(ns["f"]).version
    define(tmp_path, "@memory.cache\ndef helper(x):\n    return x * 3\n", ns)
    assert identify(ns["f"]).version != v1


def test_user_class_used_by_a_function_counts_by_its_code(tmp_path):
    src = """
        class Point:
            scale = {s}
            def norm(self):
                return self.x * self.scale
        def f(p):
            return Point.norm(p)
        """
    assert version(tmp_path, src.format(s=1)) != version(tmp_path, src.format(s=2))
    edited = src.replace("self.x * self.scale", "self.x + self.scale")
    assert version(tmp_path, src.format(s=1)) != version(tmp_path, edited.format(s=1))


# --- requirement 5: partial, methods, callable objects, builtins --------------------------

METHODS = """
class C:
    def __init__(self, k):
        self.k = k
    def m(self, x):
        return self.h(x) * self.k
    def h(self, x):
        return x + 1
    def __call__(self, x):
        return x * self.k
"""


def test_partial_is_its_function_plus_bound_arguments(tmp_path):
    f = define(tmp_path, "def f(x, y, z=0):\n    return x + y + z\n")["f"]
    p = functools.partial(f, 1, z=2)
    assert identify(p) == identify(f)
    assert bound_state(p) == ((1,), {"z": 2})
    assert bound_state(f) == ()
    assert function_token(p) != function_token(functools.partial(f, 2, z=2))
    assert unwrap(functools.partial(p, 5)) is f


def test_bound_method_is_identified_by_its_class_code(tmp_path):
    ns = define(tmp_path, METHODS)
    obj = ns["C"](2)
    ident = identify(obj.m)
    assert ident.qualname == "C.m"
    assert bound_state(obj.m) == (obj,)
    assert unwrap(obj.m) is ns["C"].__dict__["m"]
    assert identify(ns["C"](5).m) == ident            # the instance goes in the call key
    other = define(tmp_path, METHODS.replace("return x + 1", "return x + 2"))
    assert identify(other["C"](2).m).version != ident.version   # self.h() edited


def test_callable_object_is_its_class_call(tmp_path):
    ns = define(tmp_path, METHODS)
    obj = ns["C"](3)
    ident = identify(obj)
    assert ident.qualname == "C.__call__"
    assert bound_state(obj) == (obj,)
    assert unwrap(obj) is ns["C"].__dict__["__call__"]
    edited = define(tmp_path, METHODS.replace("return x * self.k", "return x - self.k"))
    assert identify(edited["C"](3)).version != ident.version


def test_method_cached_in_its_class_body(tmp_path):
    src = """
        class Model:
            @memory.cache
            def predict(self, x):
                return x * self.w + helper()
            def helper_method(self):
                return 1
        def helper():
            return 0
        """
    ns = define(tmp_path, src, {"__name__": "__main__", "memory": _FakeMemory()})
    cached = ns["Model"].__dict__["predict"]
    plain = unwrap(cached)
    assert plain.__qualname__ == "Model.predict"
    ident = identify(cached)
    assert ident.qualname == "Model.predict" and identify(plain) == ident
    edited = define(tmp_path, src.replace("return 1", "return 2"),
                    {"__name__": "__main__", "memory": _FakeMemory()})
    assert identify(edited["Model"].__dict__["predict"]).version != ident.version


def test_builtins_and_ufuncs_are_identified_by_name(tmp_path):
    square = identify(np.square)
    assert (square.module, square.qualname) == ("numpy", "square")
    assert square.version != identify(np.sqrt).version
    assert identify(len).name == "builtins.len"
    assert identify(math.sqrt).name == "math.sqrt"
    assert len(function_token(np.square)) == 32
    assert bound_state(np.square) == ()


def test_unwrap_follows_chains(tmp_path):
    ns = define(tmp_path, METHODS + "def f(x):\n    return x\n")
    f = ns["f"]
    assert unwrap(f) is f
    assert unwrap(_FakeMemorized(functools.partial(_FakeMemorized(f), 1))) is f
    assert unwrap(np.square) is np.square
    assert unwrap(ns["C"]) is ns["C"]


# --- requirement 4: across processes ------------------------------------------------------

MODULE = '''
import dataclasses
import enum
import numpy as np

SCALE = {"b": 2.0, "a": 1.0}
NAMES = frozenset({"x", "y", "z"})

def helper(v):
    """helper doc"""
    return v * SCALE["a"] if v in NAMES else v

def f(v, w=(1, 2)):
    return np.sum(helper(v)) + len({"p", "q"})

ops = [lambda q: q + 1, lambda q: q - 1]

class Color(enum.Enum):
    RED = 1
    BLUE = 2

@dataclasses.dataclass
class Box:
    size: float = 1.0
    tags: tuple = ("a", "b")
    def area(self, c=Color.RED):
        return self.size ** 2 if c is Color.RED else helper(self.size)
'''

CHILD = """
import json, sys
sys.path.insert(0, {path!r})
import {mod} as m
from jlcache.identity.functions import identify
print(json.dumps([identify(x).version for x in (m.f, m.helper, *m.ops, m.Box().area, m.Box)]))
"""


def test_same_code_has_the_same_version_in_new_processes(tmp_path, python):
    mod = f"jlc_ident_mod_{next(_counter)}"
    (tmp_path / f"{mod}.py").write_text(MODULE)
    code = CHILD.format(path=str(tmp_path), mod=mod)
    runs = [json.loads(python(code, env={"PYTHONHASHSEED": s}).stdout) for s in ("0", "7")]
    assert runs[0] == runs[1]
    assert len(set(runs[0])) == 6


# --- with the real Memory and hash ---------------------------------------------------------

def test_real_memorized_functions_and_cached_methods(tmp_path, memory):
    src = """
        class Model:
            def __init__(self, w):
                self.w = w
            @memory.cache
            def predict(self, x):
                return x * self.w
        def f(x):
            return x + 1
        """
    ns = define(tmp_path, src, {"__name__": "__main__", "memory": memory})
    f = ns["f"]
    cached = memory.cache(f)
    assert unwrap(cached) is f and identify(cached) == identify(f)
    assert bound_state(cached) == ()
    model = ns["Model"](3)
    bound = model.predict                          # jlcache's own bound wrapper
    assert identify(bound).qualname == "Model.predict"
    assert identify(bound) == identify(ns["Model"].__dict__["predict"])
    assert bound_state(bound) == (model,)
    assert bound(2) == 6 and bound(2) == 6


def test_hash_of_a_function_follows_its_identity(tmp_path):
    from jlcache.hashing.hasher import hash as content_hash

    ns = define(tmp_path, CALLER + "def helper(x):\n    return x * 2\n")
    h1 = content_hash([ns["f"], 1])
    define(tmp_path, "def helper(x):\n    return x * 3\n", ns)
    assert content_hash([ns["f"], 1]) != h1
    define(tmp_path, "def helper(x):\n    return x * 2\n", ns)
    assert content_hash([ns["f"], 1]) == h1


def test_installed_python_functions_are_identified_by_name_and_version(monkeypatch):
    import json as json_module

    ident = identify(json_module.dumps)
    assert ident.name == "json.dumps"
    # its globals are not followed: installed code changes only with its package version
    monkeypatch.setattr(json_module, "_default_encoder", json_module.JSONEncoder(indent=3))
    assert identify(json_module.dumps) == ident
    assert identify(functools.partial(json_module.dumps, indent=2)) == ident


@pytest.mark.parametrize("wrap", ["functools.lru_cache(maxsize=None)", "np.vectorize"])
def test_helpers_behind_c_level_wrappers_are_followed(tmp_path, wrap):
    src = "import functools\nimport numpy as np\n" + CALLER + (
        "def _helper(x):\n    return x * {k}\nhelper = " + wrap + "(_helper)\n")
    assert version(tmp_path, src.format(k=2)) != version(tmp_path, src.format(k=3))
    assert version(tmp_path, src.format(k=2)) == version(tmp_path, src.format(k=2))


def test_identify_looks_through_lru_cache(tmp_path):
    ns = define(tmp_path, "import functools\n@functools.lru_cache\ndef f(x):\n    return x\n")
    assert identify(ns["f"]).name == "__main__.f"
    assert unwrap(ns["f"]) is ns["f"].__wrapped__


# --- attributes added to a class at run time do not change it (issue 15, item 3) ----------

_RUNTIME_CLASSES = """
import abc, dataclasses, functools, typing

class Base(abc.ABC):
    @abc.abstractmethod
    def area(self): ...

T = typing.TypeVar("T")

@dataclasses.dataclass
class Shape(Base, typing.Generic[T]):
    side: int = 1
    def area(self):
        return self.side ** 2
    @functools.cached_property
    def doubled(self):
        return self.side * 2
    @functools.singledispatchmethod
    def scale(self, k):
        return self.side * k
    @scale.register
    def _(self, k: str):
        return k * self.side
    halve = functools.partialmethod(scale, 0.5)

def f():
    return Shape(2).area()
"""


def _use_at_run_time(ns: dict) -> None:
    import dataclasses
    import typing

    shape = ns["Shape"](3)
    shape.__reduce_ex__(2)                      # what pickling does: __slotnames__ on the class
    isinstance(shape, ns["Base"]), issubclass(int, ns["Base"])   # abc caches
    shape.doubled, shape.scale(2), shape.scale("x"), shape.halve()  # functools caches
    dataclasses.fields(shape), dataclasses.asdict(shape)
    ns["Shape"][int], typing.get_type_hints(ns["Shape"])


def test_attributes_added_at_run_time_keep_the_class_version(tmp_path):
    ns = define(tmp_path, _RUNTIME_CLASSES)
    before = identify(ns["f"]).version
    _use_at_run_time(ns)
    assert identify(ns["f"]).version == before


@pytest.mark.parametrize("edit", [
    ("return self.side * 2", "return self.side * 3"),          # a cached_property's body
    ("return self.side * k", "return self.side * k + 1"),      # a singledispatchmethod's body
    ("return k * self.side", "return k * (self.side + 1)"),    # one of its registered bodies
    ("scale, 0.5)", "scale, 0.25)"),                           # a partialmethod's arguments
])
def test_functools_members_count_by_their_code(tmp_path, edit):
    before = identify(define(tmp_path, _RUNTIME_CLASSES)["f"]).version
    after = identify(define(tmp_path, _RUNTIME_CLASSES.replace(*edit))["f"]).version
    assert before != after
