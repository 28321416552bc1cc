"""Which function is behind a callable, and which data is bound to it.

``functools.partial``, bound methods, callable objects and jlcache's own ``MemorizedFunc``
all wrap a plain function; identity looks at that function's code, and the bound part
(partial arguments, the instance) goes into every call key instead (``bound_state``).
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable
from typing import Any

from jlcache.identity.origin import is_user_module_name

__all__ = ["bound_state", "is_memorized", "is_method_like", "python_call", "target", "user_wrapped"]

_FunctionType = types.FunctionType
_MethodType = types.MethodType
_partial = functools.partial


def is_memorized(obj: Any) -> bool:
    cls = type(obj)
    if getattr(cls, "_jlcache_memorized", False) is True:
        return True
    return cls.__name__ in ("MemorizedFunc", "NotMemorizedFunc") and hasattr(obj, "func")


def is_method_like(obj: Any) -> bool:
    """A bound method, or jlcache's own bound wrapper (a cached method bound to ``self``)."""
    cls = type(obj)
    if cls is _MethodType:
        return True
    return (cls.__module__.startswith("jlcache.") and hasattr(obj, "__func__")
            and hasattr(obj, "__self__"))


def user_wrapped(obj: Any) -> Any:
    """``obj.__wrapped__`` for a C-level wrapper (``lru_cache``) of the user's function.

    Such wrappers copy the function's ``__module__``/``__qualname__`` but hide its code; the
    code is what identity needs. Installed wrappers (``np.sum``) keep their public name.
    """
    if type(obj) is _FunctionType or isinstance(python_call(type(obj)), _FunctionType):
        return None
    try:
        wrapped = obj.__dict__.get("__wrapped__") if hasattr(obj, "__dict__") else None
    except Exception:  # an exotic __dict__ property: not a wrapper we know
        return None
    if wrapped is None or wrapped is obj:
        return None
    module = getattr(obj, "__module__", None)
    return wrapped if isinstance(module, str) and is_user_module_name(module) else None


def python_call(cls: type) -> Any:
    """``cls.__call__`` as defined in the class or a base (a plain function if Python)."""
    for klass in cls.__mro__:
        if "__call__" in klass.__dict__:
            return klass.__dict__["__call__"]
    return None


def target(func: Any) -> tuple[Any, type | None]:
    """(plain function or non-Python callable, class it was reached through or None)."""
    owner: type | None = None
    for _ in range(100):  # a chain longer than this is a cycle someone built on purpose
        if type(func) is _FunctionType:
            return func, owner
        if is_memorized(func) or type(func) is _partial:
            func = func.func
        elif is_method_like(func):
            self = func.__self__
            owner = self if isinstance(self, type) else type(self)
            func = func.__func__
        elif isinstance(func, (staticmethod, classmethod)):
            func = func.__func__
        elif isinstance(func, type) or not callable(func):
            return func, owner
        elif (wrapped := user_wrapped(func)) is not None:
            func = wrapped                        # functools.lru_cache(f) and such: f
        else:
            call = python_call(type(func))
            if not isinstance(call, _FunctionType):
                return func, owner                # builtin, ufunc, C callable
            owner, func = type(func), call
    raise TypeError(f"cannot find the function behind {func!r}: the wrapper chain loops. "
                    "Pass the plain function to jlcache instead.")


def bound_state(func: Callable) -> tuple:
    """Data that belongs in every call key: partial args/keywords, a method's instance."""
    state: list[Any] = []
    obj = func
    while True:
        if is_memorized(obj):
            obj = obj.func  # type: ignore[attr-defined]
        elif type(obj) is _partial:
            state += (obj.args, obj.keywords)
            obj = obj.func
        elif is_method_like(obj):
            state.append(obj.__self__)  # type: ignore[attr-defined]
            return tuple(state)
        elif isinstance(obj, (_FunctionType, type, staticmethod, classmethod)):
            return tuple(state)
        elif isinstance(obj, types.BuiltinMethodType):
            owner = getattr(obj, "__self__", None)   # [].append is bound to its list
            if owner is not None and not isinstance(owner, types.ModuleType):
                state.append(owner)
            return tuple(state)
        else:
            if isinstance(python_call(type(obj)), _FunctionType):
                state.append(obj)                     # a callable object: its state counts
            return tuple(state)
