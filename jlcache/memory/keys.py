"""Binding call arguments to a function's signature, so equivalent calls share one key.

``f(1)``, ``f(x=1)`` and ``f()`` (with default ``x=1``) must map to the same cache entry,
and a wrong call must fail exactly like the plain function would. ``inspect.Signature.bind``
does both but costs several microseconds per call, which is a large share of a cache hit;
so each function gets an ``ArgBinder`` built once, with a fast path for the common shape
(only positional-or-keyword parameters) and the full ``Signature.bind`` for the rest.

The bound form is a tuple of the values of the non-ignored parameters in signature order
(``*args`` as a tuple, ``**kwargs`` as a dict). Parameter names are not part of it: they
belong to the function's code, which the key's version already covers.
"""

from __future__ import annotations

import functools
import inspect
import reprlib
import types
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["ArgBinder", "KeyMemo", "check_ignore", "first_source_line", "signature_line", "summarize_args"]

_POK = inspect.Parameter.POSITIONAL_OR_KEYWORD
_VAR_POS = inspect.Parameter.VAR_POSITIONAL
_VAR_KW = inspect.Parameter.VAR_KEYWORD
_EMPTY = inspect.Parameter.empty

_repr = reprlib.Repr()
_repr.maxstring = 60
_repr.maxother = 60
_repr.maxlist = _repr.maxtuple = _repr.maxdict = _repr.maxset = 6


def _signature(func: Callable) -> inspect.Signature | None:
    try:
        return inspect.signature(func)
    except (TypeError, ValueError):  # builtins and ufuncs without a text signature
        return None


_C_CALLABLES = (types.BuiltinFunctionType, types.MethodDescriptorType,
                types.WrapperDescriptorType, types.MethodWrapperType,
                types.ClassMethodDescriptorType)


def _raises_like_itself(func: Callable, depth: int = 0) -> bool:
    """True when calling ``func`` with bad arguments fails before running any of its code.

    The interpreter checks a plain Python function's arguments while setting up its frame,
    and C functions parse theirs before doing anything; a class checks them in its
    ``__new__``/``__init__``, a partial in the function it wraps. Calling such a callable
    is the exact way to get its own ``TypeError``. Decorated functions (``__wrapped__``)
    and custom metaclasses would run other code first, so they do not qualify.
    """
    if depth > 10:
        return False
    if isinstance(func, functools.partial):
        return _raises_like_itself(func.func, depth + 1)
    if isinstance(func, type):
        if type(func).__call__ is not type.__call__:
            return False
        return all(_checks_first(getattr(func, name, None)) for name in ("__new__", "__init__"))
    return _checks_first(func)


def _checks_first(func: Any) -> bool:
    target = getattr(func, "__func__", func)
    if isinstance(target, _C_CALLABLES):
        return True
    return isinstance(target, types.FunctionType) and not hasattr(target, "__wrapped__")


def check_ignore(ignore: Any) -> list[str]:
    """``ignore`` as a list of names; a lone name counts as a one-item list (iterating it
    would ignore its letters), and anything but names (``5``, ``False``) is refused."""
    if ignore is None:
        return []
    if isinstance(ignore, str):
        return [ignore]
    if isinstance(ignore, (list, tuple, set, frozenset)):
        names = list(ignore)
        bad = [n for n in names if not isinstance(n, str)]
        if not bad:
            return names
        what = f"contains {bad[0]!r}"
    else:
        what = f"is {ignore!r}"
    raise TypeError(f"ignore {what}: it must be a list of parameter names (strings), e.g. "
                    "ignore=['verbose'], or None to ignore nothing.")


class ArgBinder:
    """Turns ``(args, kwargs)`` into the canonical bound tuple for one function."""

    __slots__ = ("_defaults", "_fast", "_func", "_ignore", "_keep", "_names", "_sig", "_var_kw")

    def __init__(self, func: Callable, ignore: Iterable[str] = ()) -> None:
        self._func = func
        self._sig = _signature(func)
        ignore = (ignore,) if isinstance(ignore, str) else tuple(ignore or ())
        params = [] if self._sig is None else list(self._sig.parameters.values())
        self._check_ignore(ignore, params)
        self._ignore = frozenset(ignore)
        self._names = tuple(p.name for p in params)
        self._keep = tuple(p.name not in self._ignore for p in params)
        self._defaults = {p.name: p.default for p in params if p.default is not _EMPTY}
        self._var_kw = next((p.name for p in params if p.kind is _VAR_KW), None)
        self._fast = self._sig is not None and all(p.kind is _POK for p in params)

    def _check_ignore(self, ignore: tuple[str, ...], params: list[inspect.Parameter]) -> None:
        for name in ignore:
            if not isinstance(name, str):
                raise ValueError(f"ignore must be a list of parameter names (strings); got {name!r}.")
        if not ignore:
            return
        if self._sig is None:
            raise ValueError(
                f"ignore={list(ignore)!r} cannot be applied to {self._func!r}: its signature "
                "cannot be inspected, so its parameters are unknown. Wrap it in a Python "
                "function with named parameters and cache that instead."
            )
        names = {p.name for p in params}
        # A name collected by **kwargs is a legitimate parameter to ignore (e.g. debug=True).
        has_var_kw = any(p.kind is _VAR_KW for p in params)
        unknown = [n for n in ignore if n not in names and not has_var_kw]
        if unknown:
            raise ValueError(
                f"ignore lists {unknown!r}, which {'is not a parameter' if len(unknown) == 1 else 'are not parameters'} "
                f"of {getattr(self._func, '__qualname__', self._func)!r} (its parameters: "
                f"{sorted(names)!r}). Fix the spelling or remove them from ignore."
            )

    @property
    def names(self) -> tuple[str, ...]:
        return self._names

    def bind(self, args: tuple, kwargs: dict) -> tuple:
        """The canonical bound tuple; raises the function's own ``TypeError`` on a bad call."""
        if self._fast:
            bound = self._bind_fast(args, kwargs)
            if bound is not None:
                return bound
        if self._sig is None:
            return (args, dict(sorted(kwargs.items())) if kwargs else {})
        return self._bind_slow(self._sig, args, kwargs)

    def _bind_fast(self, args: tuple, kwargs: dict) -> tuple | None:
        names = self._names
        n = len(args)
        if n > len(names):
            return None
        if not kwargs and n == len(names):
            values: tuple | list = args
        else:
            values = list(args)
            used = 0
            defaults = self._defaults
            for name in names[n:]:
                if name in kwargs:
                    values.append(kwargs[name])
                    used += 1
                elif name in defaults:
                    values.append(defaults[name])
                else:
                    return None
            if used != len(kwargs):
                return None  # unknown or duplicate keyword: let the slow path raise
        if self._ignore:
            return tuple(v for v, keep in zip(values, self._keep, strict=True) if keep)
        return tuple(values)

    def _bind_slow(self, sig: inspect.Signature, args: tuple, kwargs: dict) -> tuple:
        try:
            ba = sig.bind(*args, **kwargs)
        except TypeError as exc:
            self._raise_own_error(args, kwargs, exc)
            raise  # pragma: no cover - _raise_own_error always raises
        ba.apply_defaults()
        out = []
        for name, keep in zip(self._names, self._keep, strict=True):
            if not keep:
                continue
            value = ba.arguments[name]
            if name == self._var_kw:
                value = {k: v for k, v in sorted(value.items()) if k not in self._ignore}
            out.append(value)
        return tuple(out)

    def _raise_own_error(self, args: tuple, kwargs: dict, exc: TypeError) -> None:
        if _raises_like_itself(self._func):
            try:
                self._func(*args, **kwargs)
            except TypeError as own:
                raise own.with_traceback(None) from None
        name = getattr(self._func, "__qualname__", repr(self._func))
        raise TypeError(f"{name}() {exc}") from None

    def arguments(self, args: tuple, kwargs: dict) -> dict[str, Any]:
        """Bound arguments by name, minus ignored ones (for metadata and messages)."""
        if self._sig is None:
            out = {f"arg{i}": v for i, v in enumerate(args)}
            out.update(kwargs)
            return out
        ba = self._sig.bind(*args, **kwargs)
        ba.apply_defaults()
        out = {}
        for name, value in ba.arguments.items():
            if name in self._ignore:
                continue
            if name == self._var_kw:
                out.update((k, v) for k, v in value.items() if k not in self._ignore)
            else:
                out[name] = value
        return out


_MEMO_TYPES = frozenset({int, str, bytes, type(None)})  # no value equals one of another type
_MEMO_SIZE = 256
_MEMO_LEN = 256


class KeyMemo:
    """The keys of recent bound-argument tuples made only of ints, strings, bytes and None.

    Why: hashing the arguments is a large share of a cache hit, and a notebook repeats
    the same small calls (``f(3)``). For these types equal tuples hash equal and are the
    same values: no two of them compare equal across types (``True == 1`` and
    ``1 == 1.0`` are why bools and floats stay out), so a dict keyed by the tuple returns
    exactly the key hashing would. Bounded: cleared when full; long strings and
    bytes stay out (they would be kept alive).
    """

    __slots__ = ("_keys",)

    def __init__(self) -> None:
        self._keys: dict[tuple, str] = {}

    def get(self, bound: tuple) -> str | None:
        for value in bound:  # (``_memoizable``, inlined: this runs on every call)
            t = type(value)
            if t is int or t is type(None):
                continue
            if t not in _MEMO_TYPES or len(value) > _MEMO_LEN:
                return None
        return self._keys.get(bound)

    def remember(self, bound: tuple, key: str) -> None:
        if _memoizable(bound):
            if len(self._keys) >= _MEMO_SIZE:
                self._keys.clear()
            self._keys[bound] = key


def _memoizable(bound: tuple) -> bool:
    for value in bound:
        t = type(value)
        if t not in _MEMO_TYPES or (t is not int and t is not type(None)
                                    and len(value) > _MEMO_LEN):
            return False
    return True


def summarize_args(arguments: dict[str, Any]) -> dict[str, str]:
    """Short reprs of bound arguments, as joblib's ``input_args`` metadata (bounded in size)."""
    out = {}
    for name, value in arguments.items():
        try:
            out[name] = _repr.repr(value)
        except Exception:  # a broken __repr__ must not stop caching
            out[name] = f"<{type(value).__name__}>"
    return out


def signature_line(func: Callable) -> str:
    """``name(params)`` for listings; just the name when the signature is unknown."""
    try:
        return f"{getattr(func, '__qualname__', type(func).__name__)}{inspect.signature(func)}"
    except (TypeError, ValueError):
        return getattr(func, "__qualname__", repr(func))


def first_source_line(func: Callable) -> str:
    """The first source line (``def f(x):``), for listings; ``""`` when there is no source."""
    try:
        lines, _ = inspect.getsourcelines(inspect.unwrap(getattr(func, "__func__", func)))
    except (OSError, TypeError):
        return ""
    first = next((line.strip() for line in lines if not line.lstrip().startswith("@")), "")
    return first[:200]
