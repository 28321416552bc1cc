"""Per function object: what identification knows without reading any current value.

``_entry(f)`` is created once per function object (and again if its ``__code__`` is
reassigned): the static analysis of its code, its names, the state it mutates itself, and
the last identity computed with the snapshot that vouches for it. ``functions`` computes
identities from it; ``own_state`` and ``stable`` update it.
"""

from __future__ import annotations

import types
import weakref
from dataclasses import dataclass

from jlcache.identity import stable
from jlcache.identity.origin import is_installed_path
from jlcache.identity.source import CodeInfo, _forget, analyze

__all__ = ["FunctionIdentity"]


@dataclass(frozen=True)
class FunctionIdentity:
    module: str          # "__main__" for notebook cells
    qualname: str        # "f", "C.method", "outer.<locals>.g", "<lambda>"
    version: str         # 16 hex chars: H(code_hash, deps_hash)
    code_hash: str       # normalized source, or structural code-object hash
    deps_hash: str       # helpers, globals read, closure cells, defaults, owner class

    @property
    def name(self) -> str:
        return f"{self.module}.{self.qualname}"



class _Entry:
    """Per function object: static facts, plus the last (tokens, identity) pair computed."""

    __slots__ = ("announced", "code", "excluded", "info", "last", "module", "owner_path",
                 "qualname", "snap")

    def __init__(self, func: types.FunctionType) -> None:
        self.code = func.__code__
        self.info: CodeInfo = analyze(func.__code__, func.__globals__)
        self.module = func.__module__ or func.__globals__.get("__name__") or "__main__"
        self.qualname = func.__qualname__
        path = self.qualname.split(".")
        self.owner_path = tuple(path) if len(path) > 1 and "<locals>" not in path[:-1] else ()
        self.last: tuple[tuple[str, ...], FunctionIdentity] | None = None
        self.snap: stable.Snapshot | None = None  # vouches for its identity while unchanged
        # globals (``name``) and closure cells (``~name``) the function mutates itself:
        # those its code visibly changes from the start, the rest once a call changed them
        self.excluded: frozenset[str] = _visible_state(func, self.info)
        self.announced = False      # the user was told about ``excluded`` (once per function)


def _visible_state(func: types.FunctionType, info: CodeInfo) -> frozenset[str]:
    """The data globals and closure cells the code changes (``calls.append``, ``memo[k] =``,
    ``global n``): state, not inputs. Functions, classes and modules are never state."""
    filename = func.__code__.co_filename
    if not info.mutated or (filename[:1] not in ("", "<") and is_installed_path(filename)):
        return frozenset()     # (a stdlib wrapper, e.g. dataclasses' __repr__ guard, is not)
    found = []
    freevars = func.__code__.co_freevars
    for name in info.mutated:
        if name in freevars and func.__closure__:
            try:
                value = func.__closure__[freevars.index(name)].cell_contents
            except ValueError:                       # an empty cell
                continue
            key = "~" + name
        elif name in info.globals and name in func.__globals__:
            value, key = func.__globals__[name], name
        else:
            continue
        if not (callable(value) or isinstance(value, types.ModuleType)):
            found.append(key)
    return frozenset(found)


# id(func) -> (weakref to func, entry); a plain dict is ~4x faster than WeakKeyDictionary.
_ENTRIES: dict[int, tuple[weakref.ref, _Entry]] = {}


def _entry(func: types.FunctionType) -> _Entry:
    key = id(func)
    hit = _ENTRIES.get(key)
    if hit is not None and hit[0]() is func and hit[1].code is func.__code__:
        return hit[1]                                       # (__code__ can be reassigned)
    entry = _Entry(func)
    _ENTRIES[key] = (weakref.ref(func, _forget(_ENTRIES, key)), entry)
    return entry
