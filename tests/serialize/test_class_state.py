"""cloudpickle internals that ``jlcache.serialize.class_state`` relies on (pinned in pyproject)."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import cloudpickle
from cloudpickle import cloudpickle as cp

from jlcache.serialize import class_state


def test_the_cloudpickle_internals_we_wrap_still_exist() -> None:
    for name in ("_make_skeleton_class", "_make_skeleton_enum", "_class_setstate",
                 "_DYNAMIC_CLASS_TRACKER_BY_ID"):
        assert hasattr(cp, name), f"cloudpickle {cloudpickle.__version__} has no {name}"


def test_a_dynamic_class_reduces_to_the_shape_guard_expects() -> None:
    ns: dict = {}
    exec("class Dyn:\n    x = 1\n", ns)
    rv = cp.Pickler(io.BytesIO()).reducer_override(ns["Dyn"])
    assert len(rv) == 6 and rv[0] is cp._make_skeleton_class and rv[5] is cp._class_setstate
    guarded = class_state.guard(rv)
    assert guarded[0] is class_state.make_class and guarded[5] is class_state.set_class_state


def test_pickles_name_the_helpers_by_their_public_path() -> None:
    data = pickle.dumps(class_state.make_class)
    assert b"jlcache.serialize" in data and b"class_state" not in data
    assert pickle.loads(data) is class_state.make_class



# A notebook class with a cached_property (on Python 3.11 the descriptor holds an RLock,
# which made every value of such a class uncacheable).
AREA = """
import functools, warnings
import jlcache
warnings.simplefilter("error")
runs = []
class Area:
    def __init__(self, side):
        self.side = side
    @functools.cached_property
    def value(self):
        "The area, computed once per instance."
        runs.append(self.side)
        return self.side ** 2
"""


def test_a_value_whose_class_has_a_cached_property_is_cached(python, tmp_path) -> None:
    script = AREA + f"""
mem = jlcache.Memory({str(tmp_path / 'cache')!r}, verbose=0)
calls = []
@mem.cache
def make(side):
    calls.append(side)
    return Area(side)
a = make(3)
print(len(calls), a.value, a.value, "value" in vars(a), type(a).value.__doc__)
"""
    first = python(script).stdout.split()
    assert first[:4] == ["1", "9", "9", "True"]
    # a restart hits (the function's own list `calls` is state, not an input) and the
    # loaded instance's cached_property still computes once and caches on the instance
    assert python(script).stdout.split() == ["0", *first[1:]]
    assert first[4:] == ["The", "area,", "computed", "once", "per", "instance."]


def test_a_cached_property_class_unknown_to_the_loading_process_is_rebuilt(python,
                                                                            tmp_path) -> None:
    path = str(tmp_path / "area.jlc")
    python(AREA + f"jlcache.dump(Area(4), {path!r})")
    out = python(f"""
import jlcache
a = jlcache.load({path!r})
print(a.value, a.value, type(a).__name__, "value" in vars(a))
""").stdout.split()
    assert out == ["16", "16", "Area", "True"]  # cached on the instance after the first read


# A later session defining the same classes gets its own classes back from a stored value.
CLASSES = """
import dataclasses, enum, jlcache
@dataclasses.dataclass
class Result:
    score: float
    def label(self):
        return {label!r}
class Color(enum.Enum):
    RED = 1
    BLUE = 2
"""


def _session(python, path: str, label: str, body: str) -> list[str]:
    script = CLASSES.format(label=label) + body
    notebook = Path(path).with_suffix(f".{label}.py")  # with source, like a notebook cell
    notebook.write_text(script)
    return python(f"import runpy; runpy.run_path({str(notebook)!r}, run_name='__main__')"
                  ).stdout.split()


def test_a_new_session_gets_its_own_unchanged_classes_back(python, tmp_path) -> None:
    path = str(tmp_path / "value.jlc")
    _session(python, path, "old", f"jlcache.dump([Result(1.5), Color.BLUE], {path!r})")
    out = _session(python, path, "old", f"""
r, c = jlcache.load({path!r})
print(type(r) is Result, r == Result(1.5), isinstance(r, Result), c is Color.BLUE, r.label())
""")
    assert out == ["True", "True", "True", "True", "old"]


def test_an_edited_class_gets_the_stored_copy_with_its_old_code(python, tmp_path) -> None:
    path = str(tmp_path / "value.jlc")
    _session(python, path, "old", f"jlcache.dump(Result(1.5), {path!r})")
    out = _session(python, path, "new", f"""
r = jlcache.load({path!r})
print(type(r) is Result, type(r).__name__, r.score, r.label())
""")
    assert out == ["False", "Result", "1.5", "old"]
