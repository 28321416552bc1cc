"""Content hashing: a canonical, framed, type-tagged byte stream fed into xxh3-128.

Why not pickle, as joblib does: a pickle depends on object identity (``[a, a]`` and
``[a, copy(a)]`` differ), on dict insertion order, and with cloudpickle on a random
class-tracker id for every class defined in a notebook, so the same value hashes
differently in the next kernel. Here every value is written as *tag + framing + payload*
and each encoding is self-delimiting, so a concatenation can be split only one way
(``("ab", "c")`` and ``("a", "bc")`` differ), and the stream never depends on ids,
addresses or ``PYTHONHASHSEED``.

Flow: ``Hasher.update`` looks up ``type(obj)`` in ``_DISPATCH`` (one dict lookup on the hot
path); an unknown type is resolved once by ``_lookup_handler`` and cached. Small encodings
are collected in a list and joined into one digest update; large buffers (arrays, bytes) go
straight to the digest. This module holds the framing, the dispatch and the builtin types;
``_hash_objects`` the structured objects (reduce protocol, cloudpickle fallback, stdlib
value types) and ``_hash_arrays`` numpy and pandas. Both import this module, and it imports
them only on first use: types of numpy, pandas, datetime, decimal, fractions and uuid are
registered once someone else has imported those modules (``sys.modules``), so importing
this module stays cheap. The grammar of all three is listed here, in one place, so that
every tag stays unique.

Grammar (all integers little-endian; ``Q`` = u64, ``q`` = i64):
  ``N`` None, ``T``/``F`` bools, ``i``+q int, ``I``+Q+bytes big int, ``f``+double,
  ``c``+2 doubles, ``s``/``b``/``y``+Q+bytes str/bytes/bytearray, ``(``/``[``+Q+items,
  ``{``+Q+(key, value)... sorted, ``S``/``Z``+Q+sorted elements, ``@``+Q back-reference to
  an enclosing container (cycles), ``A`` arrays (``m`` prefix: a memmap with
  ``coerce_mmap=False``), ``a`` numpy scalars, ``J``/``K``/``L`` pandas Index/Series/
  DataFrame, ``R`` objects through their reduce protocol (``g`` names a class/function in
  it), ``X`` functions and classes (their ``identity.function_token``), ``U`` types with a
  registered reduction (``register``), ``w`` raw frames.
  Every tag is unique, so no two encodings share a prefix.
"""

from __future__ import annotations

import marshal
import struct
import sys
import types
from functools import partial
from itertools import chain
from typing import Any

import xxhash

from jlcache.errors import UnhashableError

__all__ = ["Hasher", "hash"]

_TQ = struct.Struct("<cQ").pack  # tag + u64 length / count
_Tq = struct.Struct("<cq").pack  # tag + i64
_Td = struct.Struct("<cd").pack
_Tdd = struct.Struct("<cdd").pack
_FLUSH_PARTS = 4096  # pending small encodings joined into one digest update
_MAX_CACHED_TYPES = 4096  # bound on _DISPATCH growth from classes made in loops


def _hashlib(name: str):
    import hashlib

    return getattr(hashlib, name)()


_ALGORITHMS = {
    "xxh3_128": xxhash.xxh3_128,
    "md5": partial(_hashlib, "md5"),
    "sha1": partial(_hashlib, "sha1"),
}


class Hasher:
    """Streams framed values into one digest; ``hash`` is ``Hasher().update(obj).hexdigest()``.

    Callers that key one thing by several values (arguments, bound state, a version)
    feed them one by one instead of building a tuple first. A hasher whose ``update``
    raised must be discarded: the stream may hold part of the failed value.
    """

    __slots__ = ("_active", "_append", "_coerce_mmap", "_factory", "_h", "_parts")

    def __init__(self, hash_name: str = "xxh3_128", coerce_mmap: bool = True) -> None:
        try:
            self._factory = _ALGORITHMS[hash_name]
        except KeyError:
            raise ValueError(f"unknown hash_name {hash_name!r}: jlcache supports "
                             f"{sorted(_ALGORITHMS)}; use the default 'xxh3_128' unless you need "
                             "joblib's names") from None
        self._h: Any = None  # created on the first large buffer; small values hashed in one shot
        self._parts: list[bytes] = []
        self._append = self._parts.append
        self._active: dict[int, int] = {}  # id -> depth of containers being encoded (cycles)
        self._coerce_mmap = coerce_mmap

    def update(self, obj: object) -> Hasher:
        try:
            _encode(self, obj)
        except RecursionError:
            raise UnhashableError(
                f"cannot hash a {_type_name(obj)}: it is nested more deeply than Python's "
                "recursion limit allows. Flatten it, or leave it out of the key "
                "(ignore=[...])") from None
        except UnhashableError as exc:
            inner = getattr(exc, "jlcache_type", None)
            if inner is not None and inner is not type(obj) and exc.args:
                exc.args = (f"{exc.args[0]} (found inside a {_type_name(obj)})",)
                exc.jlcache_type = type(obj)  # type: ignore[attr-defined]
            raise
        finally:
            self._active.clear()
        return self

    def update_raw(self, tag: bytes, data: bytes | bytearray | memoryview) -> Hasher:
        """Frame already-canonical bytes under a caller-chosen tag (no type dispatch)."""
        self._append(_TQ(b"w", len(tag)) + bytes(tag))
        data = memoryview(data).cast("B")
        self._append(_TQ(b"w", data.nbytes))
        self._feed(data)
        return self

    def hexdigest(self) -> str:
        if self._h is None and self._factory is xxhash.xxh3_128:
            data = b"".join(self._parts)
            self._parts[:] = (data,)
            return xxhash.xxh3_128_hexdigest(data)
        return str(self._flush().hexdigest())

    def digest(self) -> bytes:
        return bytes(self._flush().digest())

    def _flush(self) -> Any:
        """The running digest with every pending part fed into it."""
        if self._h is None:
            self._h = self._factory()  # type: ignore[operator]
        if self._parts:
            self._h.update(b"".join(self._parts))
            self._parts.clear()
        return self._h

    def _feed(self, buf: Any) -> None:
        """Large buffers skip the join: flush what is pending, then hash the buffer in place."""
        self._flush().update(buf)


def hash(obj: object, hash_name: str = "xxh3_128", coerce_mmap: bool = True) -> str:
    """Content hash of ``obj`` as hex (32 chars for xxh3_128/md5, 40 for sha1).

    Equal content gives the same hash in any process on any machine; ``coerce_mmap=False``
    makes an ``np.memmap`` differ from the ndarray with the same content (joblib's option).
    Raises ``UnhashableError`` (a ``TypeError``) for objects with no readable content.
    """
    if type(obj) is tuple and hash_name == "xxh3_128" and len(obj) < 32:
        parts = [_TUPLE_HEADERS[len(obj)]]
        if _plain_tuple(parts.append, obj, 3):  # argument tuples: no Hasher, no dispatch
            return xxhash.xxh3_128_hexdigest(b"".join(parts))
    h = Hasher(hash_name, coerce_mmap)
    h.update(obj)
    if h._h is None and h._factory is xxhash.xxh3_128:  # the common case, one C call
        return xxhash.xxh3_128_hexdigest(b"".join(h._parts))
    return h.hexdigest()


_TUPLE_HEADERS = [_TQ(b"(", n) for n in range(32)]


def _plain_tuple(append: Any, obj: tuple, depth: int) -> bool:
    """Encode a short tuple of str/int/float/bool/None (and such tuples) exactly as ``_items``
    and ``_tuple`` do; False (``append`` then holds junk) for anything else."""
    for x in obj:
        t = type(x)
        if t is str:
            data = x.encode("utf-8", "surrogatepass")
            append(_TQ(b"s", len(data)))
            append(data)
        elif t is int:
            try:
                append(_Tq(b"i", x))
            except struct.error:
                return False
        elif t is float:
            append(_Td(b"f", x))
        elif x is None:
            append(b"N")
        elif t is bool:
            append(b"T" if x else b"F")
        elif t is tuple and depth and len(x) < 32:
            append(_TUPLE_HEADERS[len(x)])
            if not _plain_tuple(append, x, depth - 1):
                return False
        else:
            return False
    return True


# --- dispatch --------------------------------------------------------------------------------


def _encode(h: Hasher, obj: object) -> None:
    f = _DISPATCH.get(type(obj))
    if f is None:
        f = _resolve(type(obj))
    f(h, obj)


def _resolve(cls: type):
    handler = _lookup_handler(cls)
    if len(_DISPATCH) < _MAX_CACHED_TYPES:
        _DISPATCH[cls] = handler
    return handler


def _register_loaded_modules() -> None:
    """Handlers for types of modules someone imported (a Decimal cannot exist before ``decimal``)."""
    for name in [name for name in _LAZY_TYPES if name in sys.modules]:
        _DISPATCH.update(_LAZY_TYPES.pop(name)(sys.modules[name]))


def _lookup_handler(cls: type):
    _register_loaded_modules()
    if cls in _DISPATCH:
        return _DISPATCH[cls]
    if issubclass(cls, type):
        return _function
    from jlcache.hashing.objects import lookup_handler  # imports this module: not at the top

    return lookup_handler(cls)


def _type_name(obj: object) -> str:
    cls = type(obj)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


# --- atoms -----------------------------------------------------------------------------------


def _int(h: Hasher, obj: int) -> None:
    try:
        h._append(_Tq(b"i", obj))
    except struct.error:  # beyond 64 bits: two's complement, length-prefixed
        n = (obj.bit_length() + 8) // 8
        h._append(_TQ(b"I", n) + obj.to_bytes(n, "little", signed=True))


def _str(h: Hasher, obj: str) -> None:
    data = obj.encode("utf-8", "surrogatepass")
    h._append(_TQ(b"s", len(data)))
    h._append(data)


def _buffer(tag: bytes):
    def encode(h: Hasher, obj: Any) -> None:
        h._append(_TQ(tag, len(obj)))
        if len(obj) < 65536:
            h._append(bytes(obj))
        else:
            h._feed(obj)
    return encode


def _memoryview(h: Hasher, obj: memoryview) -> None:
    h._append(b"v")
    _encode(h, (obj.format, obj.shape))
    h._append(_TQ(b"v", obj.nbytes))
    h._feed(obj if obj.c_contiguous else obj.tobytes())


_NoneType = type(None)
_ATOMS = frozenset({_NoneType, bool, int, float, complex, str, bytes})
_ATOMS_AND_TUPLES = _ATOMS | {tuple}


def _items(h: Hasher, items: Any) -> None:
    """Encode a run of values; the common atoms are inlined (no call per element)."""
    append = h._append
    for x in items:
        t = type(x)
        if t is str:
            data = x.encode("utf-8", "surrogatepass")
            append(_TQ(b"s", len(data)))
            append(data)
            continue
        if t is int:
            try:
                append(_Tq(b"i", x))
                continue
            except struct.error:
                pass
        elif t is float:
            append(_Td(b"f", x))
            continue
        elif t is _NoneType:
            append(b"N")
            continue
        f = _DISPATCH.get(t)
        if f is None:
            f = _resolve(t)
        f(h, x)


def _marshalable(obj: tuple | list) -> bool:
    """Atoms and tuples of atoms only: marshal (format 2: no refs) encodes them canonically."""
    kinds = set(map(type, obj))
    if kinds <= _ATOMS:
        return True
    return kinds <= _ATOMS_AND_TUPLES and all(_marshalable(x) for x in obj if type(x) is tuple)


def _long_plain(h: Hasher, obj: tuple | list) -> bool:
    """Long runs of plain data go through marshal in C (a list of a million floats)."""
    if not _marshalable(obj):
        return False
    _marshal(h, obj)
    return True


def _marshal(h: Hasher, obj: tuple | list) -> None:
    data = marshal.dumps(obj, 2)
    h._append(_TQ(b"j", len(data)))
    if len(data) > 65536:
        h._feed(data)
    else:
        h._append(data)


def _tuple(h: Hasher, obj: tuple) -> None:
    if len(obj) < 32 or not _long_plain(h, obj):
        h._append(_TQ(b"(", len(obj)))
        _items(h, obj)


def _list(h: Hasher, obj: list) -> None:
    if len(obj) >= 32 and _long_plain(h, obj):
        return
    active, oid = h._active, id(obj)
    if oid in active:
        h._append(_TQ(b"@", active[oid]))
        return
    active[oid] = len(active)
    h._append(_TQ(b"[", len(obj)))
    for start in range(0, len(obj), 1024):
        _items(h, obj[start:start + 1024] if len(obj) > 1024 else obj)
        if len(h._parts) > _FLUSH_PARTS:
            h._flush()
    del active[oid]


_SORTABLE = (str, int, bytes)  # exact types with a total order: sort values, no digests


def _sub_digest(h: Hasher, obj: object) -> bytes:
    """The digest of one key or element, for ordering unordered containers canonically."""
    sub = Hasher.__new__(Hasher)
    sub._h, sub._parts, sub._active, sub._coerce_mmap = xxhash.xxh3_128(), [], h._active, h._coerce_mmap
    sub._append = sub._parts.append
    _encode(sub, obj)
    return sub.digest()


def _dict(h: Hasher, obj: dict) -> None:
    active, oid = h._active, id(obj)
    if oid in active:
        h._append(_TQ(b"@", active[oid]))
        return
    active[oid] = len(active)
    h._append(_TQ(b"{", len(obj)))
    kinds = set(map(type, obj))
    if len(kinds) == 1 and kinds.pop() in _SORTABLE:
        items = sorted(obj.items())
        if len(items) >= 16 and set(map(type, obj.values())) <= _ATOMS:
            _marshal(h, items)  # keys are plain too: one C call for the whole dict
        else:
            _items(h, chain.from_iterable(items))
    else:
        pairs = sorted(((_sub_digest(h, k), v) for k, v in obj.items()), key=_first)
        for d, v in pairs:
            h._append(d)
            _encode(h, v)
    del active[oid]
    if len(h._parts) > _FLUSH_PARTS:
        h._flush()


def _first(pair: tuple) -> Any:
    return pair[0]


def _set(tag: bytes):
    def encode(h: Hasher, obj: Any) -> None:
        h._append(_TQ(tag, len(obj)))
        kinds = set(map(type, obj))
        if len(kinds) == 1 and kinds.pop() in _SORTABLE:
            _items(h, sorted(obj))
        else:
            h._append(b"".join(sorted(_sub_digest(h, x) for x in obj)))
    return encode


def _tagged(tag: bytes, parts):
    """Values fully described by a tuple of simpler values (ranges, fractions, ...)."""
    def encode(h: Hasher, obj: Any) -> None:
        h._append(tag)
        _tuple(h, parts(obj))
    return encode


def _constant(tag: bytes):
    return lambda h, obj: h._append(tag)


# How functions, methods and classes hash: by the token of what they *are* (their code and
# dependencies), which ``jlcache.identity`` computes and registers when it is imported.
# Identity itself hashes the data a function reads, so the two cannot import each other:
# hashing defines the slot, identity fills it (``jlcache.hash`` always loads identity).
_callable_token: Any = None


def register_callable_token(token: Any) -> None:
    """Make ``token(callable) -> str`` the content of every function, method and class."""
    global _callable_token
    _callable_token = token


def _function(h: Hasher, obj: Any) -> None:
    token = _callable_token
    if token is None:
        from jlcache.errors import UnhashableError

        raise UnhashableError(
            f"jlcache.hashing cannot hash {obj!r} on its own: functions and classes are hashed "
            "by their identity (their code and what it depends on), which jlcache.identity "
            "provides. Use jlcache.hash, or import jlcache.identity before hashing.")
    h._append(b"X")
    _str(h, token(obj))


def register(cls: type, reduce: Any) -> None:
    """Hash instances of ``cls`` (exactly that class) as ``reduce(obj)`` would hash.

    For types whose content is not in their attributes (handles, proxies, caches), or whose
    default hash is too slow: ``register(Point, lambda p: (p.x, p.y))``. The class's
    qualified name is part of the hash, so two types reducing to equal values still differ.
    """
    if not isinstance(cls, type) or not callable(reduce):
        raise TypeError("register(cls, reduce) takes a class and a function of one instance, "
                        f"got {type(cls).__name__} and {type(reduce).__name__}.")
    name = f"{cls.__module__}.{cls.__qualname__}"

    def encode(h: Hasher, obj: Any) -> None:
        h._append(b"U")
        _str(h, name)
        _encode(h, reduce(obj))

    _DISPATCH[cls] = encode


def _enter(h: Hasher, obj: object) -> bool:
    """Register ``obj`` as being encoded; False (and a back-reference written) on a cycle."""
    active, oid = h._active, id(obj)
    if oid in active:
        h._append(_TQ(b"@", active[oid]))
        return False
    active[oid] = len(active)
    return True


_DISPATCH: dict[type, Any] = {
    type(None): _constant(b"N"),
    bool: lambda h, obj: h._append(b"T" if obj else b"F"),
    int: _int,
    float: lambda h, obj: h._append(_Td(b"f", obj)),
    complex: lambda h, obj: h._append(_Tdd(b"c", obj.real, obj.imag)),
    str: _str,
    bytes: _buffer(b"b"),
    bytearray: _buffer(b"y"),
    memoryview: _memoryview,
    tuple: _tuple,
    list: _list,
    dict: _dict,
    set: _set(b"S"),
    frozenset: _set(b"Z"),
    range: _tagged(b"r", lambda r: (r.start, r.stop, r.step)),
    slice: _tagged(b"l", lambda s: (s.start, s.stop, s.step)),
    type(Ellipsis): _constant(b"."),
    type(NotImplemented): _constant(b"!"),
    **dict.fromkeys(
        (types.FunctionType, types.MethodType, types.BuiltinFunctionType, type, partial,
         types.MethodWrapperType, types.WrapperDescriptorType, types.MethodDescriptorType,
         types.ClassMethodDescriptorType), _function),
}


def _numpy_types(np: Any) -> dict[type, Any]:
    from jlcache.hashing.arrays import numpy_types  # imports this module: not at the top

    return numpy_types(np)


def _stdlib_types(module: Any) -> dict[type, Any]:
    from jlcache.hashing.objects import stdlib_types  # imports this module: not at the top

    return stdlib_types(module)


# Types of modules jlcache does not import itself; registered once the module is loaded.
_LAZY_TYPES: dict[str, Any] = {
    "numpy": _numpy_types,
    **dict.fromkeys(("datetime", "decimal", "fractions", "uuid"), _stdlib_types),
}
