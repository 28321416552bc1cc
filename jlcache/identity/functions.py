"""What a function *is*: its normalized code plus everything it depends on.

``identify(f)`` answers "which version of ``f`` is this?" so that the cache can keep the
entries of different versions apart and find them again in a new process::

    version = H(code_hash, deps_hash)
    code_hash = normalized source (jlcache.identity.source), or a structural code-object hash
    deps_hash = H(tokens of: globals read, closure cells, defaults, owner class)

The static half (code hash, which globals are read) is cached per code object; every call
re-reads only the *current values* of the referenced globals, so a redefined helper or a
changed global changes the version while a cosmetic edit does not.

Tokens of referenced values:

=============================================  ===========================================
user function (``__main__``, a cell, a          its own version, recursively; a function
module that is not installed)                   already being identified -> its name only
user class                                      bases + methods' versions + plain data
module                                          name + ``__version__`` (a user module also
                                                the attributes read on it: ``utils.helper``)
builtin / installed function or class           module + qualname + package version
anything else                                   ``jlcache.hashing.hasher.hash`` of the value; if it
                                                cannot be hashed, its type only
=============================================  ===========================================

Cycles (``f`` calls ``g`` calls ``f``) are cut by a per-thread set of the functions and
classes being identified; the token of a cut edge is the name, so the result depends only
on the code, never on the order in which functions were first identified.
"""

from __future__ import annotations

import builtins
import functools
import threading
import types
from collections.abc import Callable
from typing import Any

import xxhash

from jlcache.hashing import register_callable_token
from jlcache.identity import stable
from jlcache.identity.callables import bound_state, is_memorized, is_method_like, user_wrapped
from jlcache.identity.callables import target as _target
from jlcache.identity.entries import _ENTRIES, FunctionIdentity, _Entry, _entry
from jlcache.identity.origin import (
    external_token,
    is_user_class,
    is_user_function,
    is_user_module,
    is_user_module_name,
)

__all__ = ["FunctionIdentity", "bound_state", "function_token", "identify", "unwrap"]

_MISSING = object()
_BUILTINS = builtins.__dict__
_FunctionType = types.FunctionType
_partial = functools.partial
_SCALARS = {int: "i", float: "f", bool: "b", type(None): "n", str: "s", bytes: "y",
            complex: "c"}
_CONTAINERS = frozenset({dict, list, tuple, set, frozenset})
_SKIPPED_CLASS_ATTRS = frozenset({"__dict__", "__weakref__", "__doc__", "__module__",
                                  "__qualname__", "__firstlineno__", "__static_attributes__",
                                  # caches abc, pickling and typing add at run time
                                  "_abc_impl", "_abc_registry", "_abc_cache",
                                  "_abc_negative_cache", "_abc_negative_cache_version",
                                  "__slotnames__", "__abstractmethods__"})


# --- public API ---------------------------------------------------------------------------

def identify(func: Callable) -> FunctionIdentity:
    """The identity of ``func`` (partials, methods and callable objects: of the code behind)."""
    if type(func) is _FunctionType:  # repeated calls: nothing it reads rebound (``stable``)
        hit = _ENTRIES.get(id(func))
        if hit is not None and _local.__dict__.get("ctx") is None:  # (nested: cuts may differ)
            snap = hit[1].snap
            if snap is not None and hit[0]() is func and stable.unchanged(func, snap):
                return snap.ident
    target, owner = _target(func)
    ctx = _local.__dict__.get("ctx")
    if ctx is not None:
        return _identify(target, ctx, owner)
    _local.ctx = ctx = _Ctx()
    try:
        snap = _snapshot(target, owner)
        ident = _identify(target, ctx, owner)
        if snap is not None and ctx.cuts == 0:
            snap.ident = ident  # what it vouches for: this top-level result, nothing nested
            _entry(target).snap = snap
        return ident
    finally:
        _local.ctx = None


def _snapshot(target: Any, owner: type | None) -> stable.Snapshot | None:
    """What to compare on the next call to skip re-identifying (``stable.take``)."""
    if type(target) is not _FunctionType or owner is not None or not is_user_function(target):
        return None
    entry = _entry(target)
    entry.snap = None
    if entry.owner_path:
        return None
    return stable.take(target, entry.info.globals, entry.excluded, _static)


def _static(func: types.FunctionType) -> tuple[tuple[str, ...], frozenset[str], tuple]:
    entry = _entry(func)
    return entry.info.globals, entry.excluded, entry.owner_path


def function_token(func: Callable) -> str:
    """A 32-hex hash for a function used as a *value* (an argument, a global, a default).

    Called by ``jlcache.hashing.hasher`` for functions; it joins the identification in progress on
    this thread, if any, so a global that refers back to the function cannot recurse forever.
    """
    ctx = _local.__dict__.get("ctx")
    if ctx is not None:
        return _hex(_value_token(func, ctx))
    _local.ctx = ctx = _Ctx()
    try:
        return _hex(_value_token(func, ctx))
    finally:
        _local.ctx = None


def unwrap(func: Callable) -> Callable:
    """The plain function behind partial / bound method / callable object / MemorizedFunc."""
    return _target(func)[0]


# --- identification -----------------------------------------------------------------------

_local = threading.local()


class _Ctx:
    """One identification on one thread: what is in progress, and what is already known.

    ``memo`` lets a helper reached along several paths be identified once per call; only
    results that did not cut a cycle are memoized (``cuts`` unchanged), since a cut makes a
    result depend on where the walk started.
    """

    __slots__ = ("active", "cuts", "memo", "seen")

    def __init__(self, record: bool = False) -> None:
        self.active: set[int] = set()
        self.memo: dict[int, tuple[Any, str]] = {}
        self.cuts = 0
        # With ``record``: id -> (function, its tokens) of every user function reached
        # (``jlcache.identity.own_state`` compares them before and after a call).
        self.seen: dict[int, tuple[Any, tuple[str, ...]]] | None = {} if record else None

    def cut(self, obj: Any) -> str:
        self.cuts += 1
        return "cycle:" + str(obj.__module__) + "." + obj.__qualname__


def _identify(func: Any, ctx: _Ctx, owner: type | None) -> FunctionIdentity:
    if type(func) is not _FunctionType or not is_user_function(func):
        return _opaque_identity(func, ctx)      # installed code: by name and package version
    entry = _entry(func)
    key = id(func)
    ctx.active.add(key)
    try:
        tokens = _dep_tokens(func, entry, ctx, owner)
    finally:
        ctx.active.discard(key)
    if ctx.seen is not None:
        ctx.seen[key] = (func, tokens)
    last = entry.last
    if last is not None and last[0] == tokens:
        return last[1]
    deps = _hex_parts(tokens)
    ident = FunctionIdentity(entry.module, entry.qualname,
                             _hex_parts((entry.info.code_hash, deps))[:16],
                             entry.info.code_hash, deps)
    entry.last = (tokens, ident)
    return ident


_OPAQUE: dict[int, tuple[Any, FunctionIdentity]] = {}   # non-Python callables, by id


def _opaque_identity(obj: Any, ctx: _Ctx) -> FunctionIdentity:
    """Classes (by their code) and non-Python callables (by name and package version)."""
    hit = _OPAQUE.get(id(obj))
    if hit is not None and hit[0] is obj:
        return hit[1]
    ident = _compute_opaque_identity(obj, ctx)
    if not isinstance(obj, type):          # a user class can change; a builtin cannot
        if len(_OPAQUE) >= 4096:
            _OPAQUE.clear()
        _OPAQUE[id(obj)] = (obj, ident)
    return ident


def _compute_opaque_identity(obj: Any, ctx: _Ctx) -> FunctionIdentity:
    token = _value_token(obj, ctx) if isinstance(obj, type) else external_token(obj)
    # (a class: its code if it is the user's, else its name; anything else: its name)
    module = getattr(obj, "__module__", None) or type(obj).__module__
    qualname = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    code_hash, deps = _hex(token), _hex_parts(())
    return FunctionIdentity(str(module), str(qualname or type(obj).__qualname__),
                            _hex_parts((code_hash, deps))[:16], code_hash, deps)


def _dep_tokens(func: types.FunctionType, entry: _Entry, ctx: _Ctx,
                owner: type | None) -> tuple[str, ...]:
    tokens: list[str] = []
    info = entry.info
    glb = func.__globals__
    excluded = entry.excluded
    for name in info.globals:
        if name in excluded:
            continue
        value = glb.get(name, _MISSING)
        if value is _MISSING:
            if name not in _BUILTINS:                # builtins are not hashed at all
                tokens.append(name + "=?")
            continue
        tokens.append(name + "=" + _value_token(value, ctx, info.attrs.get(name)))
    if func.__closure__:
        for name, cell in zip(func.__code__.co_freevars, func.__closure__, strict=False):
            if excluded and "~" + name in excluded:     # a cell the function mutates itself
                continue
            try:
                content = cell.cell_contents
            except ValueError:                       # a cell not yet filled
                tokens.append("~" + name + "=?")
                continue
            tokens.append("~" + name + "=" + _value_token(content, ctx))
    if func.__defaults__:
        tokens.append("defaults=" + ",".join(_value_token(v, ctx) for v in func.__defaults__))
    if func.__kwdefaults__:
        tokens.extend("kw:" + k + "=" + _value_token(v, ctx)
                      for k, v in sorted(func.__kwdefaults__.items()))
    cls = _owner_class(func, entry) or owner
    if cls is not None and is_user_class(cls):
        tokens.append("owner=" + _value_token(cls, ctx))
    return tuple(tokens)


def _owner_class(func: types.FunctionType, entry: _Entry) -> type | None:
    """The class whose body defined ``func`` (qualname ``C.m``), if it exists yet.

    Resolved at each call because a method decorated in a class body is identified before
    its class exists; the class counts once it does (its other methods, bases, data).
    """
    path = entry.owner_path
    if not path:
        return None
    obj = func.__globals__.get(path[0])
    for part in path[1:-1]:
        obj = getattr(obj, part, None)
    if not isinstance(obj, type):
        return None
    member = obj.__dict__.get(path[-1])
    if member is None:
        return None
    try:
        return obj if _target(member)[0] is func else None
    except TypeError:
        return None


# --- tokens of values ---------------------------------------------------------------------

def _value_token(value: Any, ctx: _Ctx, attrs: tuple[str, ...] | None = None) -> str:
    t = type(value)
    tag = _SCALARS.get(t)
    if tag is not None and (len(value) <= 256 if tag in "sy" else t is not int
                            or -(1 << 256) < value < 1 << 256):
        return tag + repr(value)                 # exact, seed-independent, and fast
    if t in _CONTAINERS:
        return _data_token(value)
    if t is _FunctionType:
        if not is_user_function(value):
            return external_token(value)
        key = id(value)
        known = ctx.memo.get(key)
        if known is not None:
            return known[1]
        if key in ctx.active:
            return ctx.cut(value)
        cuts = ctx.cuts
        token = "fn:" + _identify(value, ctx, None).version
        if ctx.cuts == cuts:
            ctx.memo[key] = (value, token)
        return token
    if t is types.ModuleType:
        return _module_token(value, ctx, attrs)
    if isinstance(value, type):
        return _class_token(value, ctx) if is_user_class(value) else external_token(value)
    if t is _partial or is_method_like(value) or is_memorized(value):
        target, owner = _target(value)
        if type(target) is _FunctionType and id(target) in ctx.active:
            head = ctx.cut(target)
        else:
            head = "fn:" + _identify(target, ctx, owner).version
        return "call:" + head + ":" + _data_token(bound_state(value))
    wrapped = user_wrapped(value)
    if wrapped is not None:                          # lru_cache(f): f's code
        return "wrap:" + t.__qualname__ + ":" + _value_token(wrapped, ctx)
    if _is_named_callable(value):
        state = _bound_self(value)
        if state is None:
            return external_token(value)
        return "call:" + external_token(value) + ":" + _data_token(state)  # [1].append
    if is_user_class(t):
        return "obj:" + _class_token(t, ctx) + ":" + _data_token(value)
    return _data_token(value)


def _is_named_callable(value: Any) -> bool:
    """Builtins, ufuncs and other C or installed callables: identified by name, not content."""
    if isinstance(value, (types.BuiltinFunctionType, types.WrapperDescriptorType,
                          types.MethodDescriptorType, types.MethodWrapperType)):
        return True
    module = getattr(value, "__module__", None)
    return (callable(value) and isinstance(getattr(value, "__qualname__", None), str)
            and isinstance(module, str) and not is_user_module_name(module)
            and not is_user_class(type(value)))


def _bound_self(value: Any) -> tuple | None:
    """The object a builtin or C method is bound to (``d.get``: ``d``), or None.

    Such methods are named like the function they wrap, but their result depends on the
    object, so it is part of their token; a module's functions (``len``) are bound to the
    module and stay named.
    """
    if not isinstance(value, (types.BuiltinMethodType, types.MethodWrapperType)):
        return None
    owner = getattr(value, "__self__", None)
    if owner is None or isinstance(owner, types.ModuleType):
        return None
    return (owner,)


_content_hash: Callable[[Any], str] | None = None


def _data_token(value: Any) -> str:
    """Content hash; a value that cannot be hashed counts by its type only (documented)."""
    global _content_hash
    if _content_hash is None:   # hashing imports identity lazily too: import on first use
        from jlcache.hashing.hasher import hash as content_hash

        _content_hash = content_hash
    try:
        return "v:" + _content_hash(value)
    except Exception:   # an unhashable global must not make the function uncacheable
        t = type(value)
        return "type:" + t.__module__ + "." + t.__qualname__


def _module_token(mod: types.ModuleType, ctx: _Ctx, attrs: tuple[str, ...] | None) -> str:
    version = getattr(mod, "__version__", None)
    token = "mod:" + mod.__name__ + ":" + (version if isinstance(version, str) else "")
    if attrs and is_user_module(mod):            # utils.helper(): follow the helper
        token += "{" + ",".join(a + "=" + _value_token(getattr(mod, a, None), ctx)
                                for a in attrs) + "}"
    return token


def _class_token(cls: type, ctx: _Ctx) -> str:
    key = id(cls)
    known = ctx.memo.get(key)
    if known is not None:
        return known[1]
    if key in ctx.active:
        return ctx.cut(cls)
    cuts = ctx.cuts
    ctx.active.add(key)
    try:
        parts = ["class:" + cls.__module__ + "." + cls.__qualname__]
        parts += ["base=" + _value_token(base, ctx) for base in cls.__bases__]
        for name, value in sorted(cls.__dict__.items()):
            token = _member_token(name, value, ctx)
            if token is not None:
                parts.append(name + "=" + token)
    finally:
        ctx.active.discard(key)
    token = "cls:" + _hex_parts(parts)
    if ctx.cuts == cuts:
        ctx.memo[key] = (cls, token)
    return token


def _member_token(name: str, value: Any, ctx: _Ctx) -> str | None:
    """Methods (and staticmethod/classmethod/property parts) by code; data by content."""
    if name in _SKIPPED_CLASS_ATTRS:
        return None
    if isinstance(value, property):
        return "prop:" + ",".join(_value_token(f, ctx) for f in (value.fget, value.fset, value.fdel))
    if isinstance(value, (staticmethod, classmethod)):
        value = value.__func__
    elif isinstance(value, functools.cached_property):   # its lock would hash as a type
        return "cprop:" + _value_token(value.func, ctx)
    if type(value) is _FunctionType or is_memorized(value) or isinstance(value, type):
        return _value_token(value, ctx)
    if name.startswith("__") and name.endswith("__"):
        return None     # __annotations__, __slots__, __dataclass_fields__...: derived data
    return _value_token(value, ctx)


# --- hashing helpers ----------------------------------------------------------------------

def _hex(token: str) -> str:
    return xxhash.xxh3_128_hexdigest(token.encode("utf-8", "surrogatepass"))


def _hex_parts(parts: tuple[str, ...] | list[str]) -> str:
    framed = "".join(f"{len(p)}:{p}" for p in parts)
    return xxhash.xxh3_128_hexdigest(framed.encode("utf-8", "surrogatepass"))


# Functions and classes inside hashed values are keyed by what they are: fill hashing's slot.
register_callable_token(function_token)
