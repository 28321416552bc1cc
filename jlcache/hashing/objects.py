"""Encodings of structured objects for ``jlcache.hashing.hasher`` (tags ``E p M D n R g G P``).

``hashing`` resolves any type missing from its dispatch table through ``lookup_handler``
(once per type; the answer is cached there). Enum members, dataclasses, namedtuples, paths
and modules have fixed encodings; anything else goes through the reduce protocol pickle
would use, encoded canonically (class by import path + state), so a class defined in a
notebook hashes the same in the next kernel. cloudpickle bytes are the last resort, for
the few types only it knows how to take apart.
"""

from __future__ import annotations

import copyreg
import struct
import sys
import types
from collections import OrderedDict
from typing import Any

from jlcache.errors import UnhashableError
from jlcache.hashing.hasher import (
    _TQ,
    Hasher,
    _dict,
    _encode,
    _enter,
    _str,
    _tagged,
    _tuple,
    _type_name,
)

_DATETIME = struct.Struct("<cHBBBBBIB").pack
_DATE = struct.Struct("<cHBB").pack
_TIME = struct.Struct("<cBBBIB").pack
_TIMEDELTA = struct.Struct("<ciiI").pack


def lookup_handler(cls: type) -> Any:
    """The handler for a type with no exact entry in the dispatch table (subclasses too)."""
    mods = sys.modules
    if "enum" in mods and issubclass(cls, mods["enum"].Enum):
        return _enum
    if "numpy" in mods or "pandas" in mods:
        from jlcache.hashing.arrays import lookup_handler as array_handler

        handler = array_handler(cls)
        if handler is not None:
            return handler
    if hasattr(cls, "__dataclass_fields__"):
        return _dataclass
    if issubclass(cls, tuple) and isinstance(getattr(cls, "_fields", None), tuple):
        return _namedtuple
    if "pathlib" in mods and issubclass(cls, mods["pathlib"].PurePath):
        return _path
    if issubclass(cls, types.ModuleType):
        return _module
    return _object


def stdlib_types(module: Any) -> dict[type, Any]:
    """Exact-type handlers for a stdlib module's value types, added by ``hashing`` once
    someone has imported that module (a Decimal cannot exist before ``decimal``)."""
    return _STDLIB_TYPES[module.__name__](module)


def _datetime(h: Hasher, obj: Any) -> None:
    h._append(_DATETIME(b"t", obj.year, obj.month, obj.day, obj.hour, obj.minute,
                        obj.second, obj.microsecond, obj.fold))
    _encode(h, obj.tzinfo)


def _time(h: Hasher, obj: Any) -> None:
    h._append(_TIME(b"h", obj.hour, obj.minute, obj.second, obj.microsecond, obj.fold))
    _encode(h, obj.tzinfo)


_STDLIB_TYPES: dict[str, Any] = {
    "datetime": lambda m: {
        m.datetime: _datetime, m.time: _time,
        m.date: lambda h, obj: h._append(_DATE(b"d", obj.year, obj.month, obj.day)),
        m.timedelta: lambda h, obj: h._append(_TIMEDELTA(b"e", obj.days, obj.seconds, obj.microseconds)),
    },
    "decimal": lambda m: {m.Decimal: _tagged(b"x", lambda d: (str(d),))},
    "fractions": lambda m: {m.Fraction: _tagged(b"q", lambda q: (q.numerator, q.denominator))},
    "uuid": lambda m: {m.UUID: _tagged(b"u", lambda u: (u.bytes,))},
}


def _qualified(obj: Any) -> str:
    return f"{getattr(obj, '__module__', None)}:{obj.__qualname__}"


def _global(h: Hasher, func: Any) -> None:
    """A class or function named in a reduce tuple: by import path (values are hashed, not code)."""
    if isinstance(getattr(func, "__qualname__", None), str):
        h._append(b"g")
        _str(h, _qualified(func))
    else:
        _encode(h, func)


def _enum(h: Hasher, obj: Any) -> None:
    h._append(b"E")
    _global(h, type(obj))
    if obj.name is None:
        _encode(h, obj.value)
    else:
        _str(h, obj.name)


def _path(h: Hasher, obj: Any) -> None:
    h._append(b"p")
    _str(h, type(obj).__name__)
    _str(h, str(obj))


def _module(h: Hasher, obj: types.ModuleType) -> None:
    h._append(b"M")
    _tuple(h, (obj.__name__, str(getattr(obj, "__version__", ""))))


def _dataclass(h: Hasher, obj: Any) -> None:
    if not _enter(h, obj):
        return
    state = dict(getattr(obj, "__dict__", {}))
    for field in sys.modules["dataclasses"].fields(obj):
        if field.name not in state and hasattr(obj, field.name):
            state[field.name] = getattr(obj, field.name)
    h._append(b"D")
    _global(h, type(obj))
    _dict(h, state)
    del h._active[id(obj)]


def _namedtuple(h: Hasher, obj: tuple) -> None:
    h._append(b"n")
    _global(h, type(obj))
    _tuple(h, type(obj)._fields)  # type: ignore[attr-defined]
    _tuple(h, obj)


def _object(h: Hasher, obj: Any) -> None:
    """Anything else, through the reduce protocol pickle would use, encoded canonically."""
    cls = type(obj)
    try:
        reducer = copyreg.dispatch_table.get(cls)
        rv = reducer(obj) if reducer is not None else obj.__reduce_ex__(5)
    except Exception as exc:
        _pickled(h, obj, exc)
        return
    if isinstance(rv, str):  # a module-level singleton, pickled by name
        h._append(b"G")
        _str(h, f"{getattr(obj, '__module__', None) or cls.__module__}:{rv}")
        return
    if not _enter(h, obj):
        return
    func, args, state, listitems, dictitems = (*rv, None, None, None)[:5]
    h._append(_TQ(b"R", len(rv)))
    if func is copyreg.__newobj__ or func is copyreg.__newobj_ex__:  # type: ignore[attr-defined]
        _global(h, args[0])
        args = args[1:]
    else:
        _global(h, func)
    _encode(h, args)
    _encode(h, state)
    _encode(h, None if listitems is None else list(listitems))
    if dictitems is not None:
        dictitems = list(dictitems) if issubclass(cls, OrderedDict) else dict(dictitems)
    _encode(h, dictitems)
    del h._active[id(obj)]


def _pickled(h: Hasher, obj: Any, reduce_error: Exception) -> None:
    """Last resort: the cloudpickle bytes (it knows a few types the reduce protocol does not)."""
    import cloudpickle

    try:
        data = cloudpickle.dumps(obj, protocol=5)
    except Exception as exc:
        error = UnhashableError(
            f"cannot hash a value of type {_type_name(obj)}: {exc or reduce_error}. A cache key "
            "is built from the content of each argument, and this object exposes none (it "
            "cannot be pickled either). Leave the argument out of the key (ignore=[...]) or "
            "pass something that describes it instead (e.g. a path rather than an open file).")
        error.jlcache_type = type(obj)  # type: ignore[attr-defined]
        raise error from exc
    h._append(b"P")
    _str(h, _type_name(obj))
    h._append(_TQ(b"P", len(data)))
    h._feed(data)
