"""A value's pickle: arrays pulled out as raw regions, string columns as arrays, notebook
classes by value (guarded), and a clear error naming the part that cannot be pickled.

``format`` lays the pickle and the arrays out in a file; this module decides what goes in
the pickle. ``_restore_array``/``_restore_strings`` are named by pickles under their public
path ``jlcache.serialize``: keep them importable there.
"""

from __future__ import annotations

import io
import pickle
import reprlib
import sys
from typing import Any

from jlcache.errors import UnpicklableValueError
from jlcache.serialize import reader as _reader
from jlcache.serialize.class_state import guard, reduce_descriptor

_pickler_class: Any = None


def _restore_array(index: int) -> Any:
    """Referenced by name (``jlcache.serialize.format._restore_array``) from every pickle with arrays."""
    sources = getattr(_reader.local, "sources", None)
    if not sources:
        raise pickle.UnpicklingError(
            "This pickle refers to arrays stored next to it in a jlcache file; load the "
            "file with jlcache.load, not pickle.loads."
        )
    return sources[-1].get(index)


def _restore_strings(index: int) -> Any:
    """Referenced by name (``jlcache.serialize._restore_strings``) from pickles holding an
    object array of strings stored as a fixed-width array (``serialize.strings``)."""
    from jlcache.serialize.strings import restore

    return restore(_restore_array(index))


# Pickles name these functions by their public path, which stays put when modules move
# inside the package (format-1 files written before the serialize package existed use it too).
_restore_array.__module__ = "jlcache.serialize"
_restore_strings.__module__ = "jlcache.serialize"


def _make_pickler_class() -> Any:
    import cloudpickle  # lambdas, local classes and notebook functions inside values

    class _ArrayPickler(cloudpickle.CloudPickler):
        def __init__(self, file: Any, arrays: list) -> None:
            super().__init__(file, protocol=5)
            self._arrays = arrays
            np = sys.modules.get("numpy")  # no numpy loaded: the value cannot hold an array
            self._array_types = (np.ndarray, np.memmap) if np is not None else ()

        def reducer_override(self, obj: Any) -> Any:
            if type(obj) in self._array_types:
                if not obj.dtype.hasobject:
                    self._arrays.append(obj)
                    return _restore_array, (len(self._arrays) - 1,)
                if obj.dtype.kind == "O" and obj.size >= 1024:
                    from jlcache.serialize.strings import encode

                    encoded = encode(obj)  # a string column: one array, not n pickles
                    if encoded is not None:
                        self._arrays.append(encoded)
                        return _restore_strings, (len(self._arrays) - 1,)
            rv = reduce_descriptor(obj)
            if rv is not None:
                return rv
            rv = super().reducer_override(obj)
            return guard(rv, obj) if isinstance(obj, type) else rv

    return _ArrayPickler


def _dumps(value: Any) -> tuple[bytes, list]:
    global _pickler_class
    if _pickler_class is None:
        _pickler_class = _make_pickler_class()
    buf = io.BytesIO()
    arrays: list = []
    try:
        _pickler_class(buf, arrays).dump(value)
    except (MemoryError, KeyboardInterrupt):
        raise
    except Exception as exc:
        raise UnpicklableValueError(_explain_unpicklable(value, exc)) from exc
    return buf.getvalue(), arrays


def _children(obj: Any) -> list[tuple[str, Any]]:
    if isinstance(obj, dict):
        return [(f"[{reprlib.repr(k)}]", v) for k, v in obj.items()]
    if isinstance(obj, (list, tuple)):
        return [(f"[{i}]", v) for i, v in enumerate(obj)]
    if isinstance(obj, (set, frozenset)):
        return [(" (an element)", v) for v in obj]
    state = getattr(obj, "__dict__", None)
    if isinstance(state, dict) and not isinstance(obj, type):
        return [(f".{k}", v) for k, v in state.items()]
    return []


def _find_unpicklable(value: Any, budget: int = 200) -> tuple[str, Any]:
    """Descend into the first child that fails to pickle: names the object really at fault."""
    import cloudpickle

    where, obj = "the value", value
    for _ in range(50):
        for label, child in _children(obj):
            budget -= 1
            if budget < 0:
                return where, obj
            try:
                cloudpickle.dumps(child, protocol=5)
            except Exception:
                where, obj = where + label, child
                break
        else:
            return where, obj
    return where, obj


def _explain_unpicklable(value: Any, exc: Exception) -> str:
    try:
        where, obj = _find_unpicklable(value)
    except Exception:  # the diagnosis must never hide the real error
        where, obj = "the value", value
    kind = type(obj)
    return (
        f"Cannot pickle {where}, an object of type {kind.__module__}.{kind.__qualname__}: "
        f"{type(exc).__name__}: {exc}. Objects tied to this process (open files, locks, "
        "sockets, generators, database connections) cannot be stored; store plain data "
        "instead (for example convert that part, or leave it out of what is returned)."
    )
