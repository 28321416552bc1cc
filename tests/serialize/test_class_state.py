"""cloudpickle internals that ``jlcache.serialize.class_state`` relies on (pinned in pyproject)."""

from __future__ import annotations

import io
import pickle

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
