"""Loading a cached value must never rewrite a class that already exists in this process.

cloudpickle pickles classes of ``__main__`` (notebook cells) by value, tagged with a
tracker id, and on loading reuses the live class with that id but still sets every
attribute of the pickled copy on it: a cache hit replaced the methods of the notebook's
own class with copies (other code objects, other globals). The class's identity, and so
the version of every cached function that uses it, changed after the first hit, and a
method the user had patched since was silently reverted.

``guard`` rewrites cloudpickle's reduce tuple for such a class so that loading applies the
state only to a class this load created (one unknown to the process); an existing class
is used as it is. Pickles name ``make_class``/``set_class_state`` by their public path,
``jlcache.serialize.format.make_class``: keep them there.

It relies on cloudpickle internals (``_make_skeleton_class``, ``_make_skeleton_enum``,
``_class_setstate``, ``_DYNAMIC_CLASS_TRACKER_BY_ID``): cloudpickle is pinned to the versions
this was checked against, and ``tests/serialize/test_class_state.py`` fails if they change.
"""

from __future__ import annotations

import functools
import sys
import weakref
from typing import Any

__all__ = ["guard", "make_cached_property", "make_class", "reduce_descriptor", "set_class_state"]

# Classes built by a load in progress whose state is still to be applied.
_FRESH: weakref.WeakSet = weakref.WeakSet()


def guard(rv: Any) -> Any:
    """cloudpickle's reduce tuple for a class, with the state applied only to new classes."""
    cp = sys.modules.get("cloudpickle.cloudpickle")
    if cp is None or not (isinstance(rv, tuple) and len(rv) == 6):
        return rv
    if rv[5] is not getattr(cp, "_class_setstate", None):
        return rv
    if rv[0] is getattr(cp, "_make_skeleton_class", None):
        tracker = rv[1][4]
    elif rv[0] is getattr(cp, "_make_skeleton_enum", None):
        tracker = rv[1][5]
    else:                                     # a cloudpickle we do not know: unchanged
        return rv
    return (make_class, (rv[0], tracker, rv[1]), rv[2], rv[3], rv[4], set_class_state)


def make_class(maker: Any, tracker_id: str | None, args: tuple) -> type:
    """The live class with this tracker id, or a new skeleton (remembered as fresh)."""
    from cloudpickle import cloudpickle as cp

    known = cp._DYNAMIC_CLASS_TRACKER_BY_ID.get(tracker_id) if tracker_id is not None else None
    cls = maker(*args)
    if known is None or cls is not known:
        _FRESH.add(cls)
    return cls


def set_class_state(cls: type, state: Any) -> type:
    """Fill a class this load created; leave a class the process already had untouched."""
    if cls in _FRESH:
        from cloudpickle import cloudpickle as cp

        _FRESH.discard(cls)
        cp._class_setstate(cls, state)
    return cls


def reduce_descriptor(obj: Any) -> tuple | None:
    """A reduce tuple for a class attribute that cannot be pickled as it is, else None.

    On Python 3.11 (not 3.12+) ``functools.cached_property`` holds an ``RLock``, so a
    notebook class using one (pickled by value, descriptor included) made every value of
    that class uncacheable. What the descriptor needs is its function and attribute name.
    """
    if type(obj) is functools.cached_property and hasattr(obj, "lock"):
        return make_cached_property, (obj.func, obj.attrname, obj.__doc__)
    return None


def make_cached_property(func: Any, attrname: str | None, doc: str | None) -> Any:
    """Rebuild a ``cached_property`` (its ``__set_name__`` has run: the class already exists)."""
    prop = functools.cached_property(func)
    prop.attrname = attrname
    prop.__doc__ = doc
    return prop


# Referenced by name from pickles: a public path that stays put when modules move.
make_class.__module__ = set_class_state.__module__ = "jlcache.serialize"
make_cached_property.__module__ = "jlcache.serialize"
