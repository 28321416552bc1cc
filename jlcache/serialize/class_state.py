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
``jlcache.serialize.make_class``: keep them there.

A class from an earlier session has a tracker id this process never saw; cloudpickle would
build a copy, so ``isinstance(r, Result)`` and a dataclass's ``==`` failed after a restart.
The pickle therefore also records the class's module, qualname and version (its code, as
``jlcache.hash`` sees it), and a load uses the session's own class of that name when its
version matches; an edited class still gets the stored copy, with the code it was stored with.

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


def guard(rv: Any, cls: type | None = None) -> Any:
    """cloudpickle's reduce tuple for a class, with the state applied only to new classes.

    With ``cls``, the pickle also records where the class lives and its version, so that a
    later session that defines the same class (unchanged) gets its own class back.
    """
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
    origin = _origin(cls) if cls is not None else None
    return (make_class, (rv[0], tracker, rv[1], origin), rv[2], rv[3], rv[4], set_class_state)


def _origin(cls: type) -> tuple[str, str, str] | None:
    """``(module, qualname, version)`` of a class a later session can look up by name."""
    module, qualname = getattr(cls, "__module__", None), getattr(cls, "__qualname__", "")
    if not isinstance(module, str) or not isinstance(qualname, str) or "<locals>" in qualname:
        return None
    if _resolve(module, qualname) is not cls:  # not reachable by its name: nothing to match
        return None
    try:
        return module, qualname, _version(cls)
    except Exception:                          # a class we cannot hash: no match later
        return None


def _resolve(module: str, qualname: str) -> Any:
    obj: Any = sys.modules.get(module)
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    return obj


def _version(cls: type) -> str:
    from jlcache.identity import hash as identity_hash  # classes by their code

    return identity_hash(cls)


def make_class(maker: Any, tracker_id: str | None, args: tuple,
               origin: tuple[str, str, str] | None = None) -> type:
    """The live class with this tracker id; else the session's own class of that name when
    it is the same version (a restart: isinstance and == keep working); else a new skeleton
    (remembered as fresh)."""
    from cloudpickle import cloudpickle as cp

    known = cp._DYNAMIC_CLASS_TRACKER_BY_ID.get(tracker_id) if tracker_id is not None else None
    if known is None and origin is not None:
        live = _resolve(origin[0], origin[1])
        if isinstance(live, type) and _same_version(live, origin[2]):
            return live
    cls = maker(*args)
    if known is None or cls is not known:
        _FRESH.add(cls)
    return cls


def _same_version(live: type, version: str) -> bool:
    try:
        return _version(live) == version
    except Exception:
        return False


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
