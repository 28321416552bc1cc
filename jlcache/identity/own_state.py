"""State a cached function mutates itself: globals and closure cells it changes while it runs.

A function that updates a global it reads (``STATS["calls"] += 1``, ``log.append(x)``, a
memo dict), or a list it closes over (a call counter, an accumulator), would otherwise
change its own version on every call and never hit. On a miss the cache takes a snapshot
of the tokens of every user function the identification reaches (the function and its
helpers), compares after the call, and leaves the data the call itself changed out of that
function object's identity from then on. Functions, classes and modules that changed are
kept: a changed helper is a code change, which must keep invalidating. A value changed by
the user between calls is not seen here, so it still invalidates.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

from jlcache.identity import stable
from jlcache.identity.callables import target as _target
from jlcache.identity.entries import _entry
from jlcache.identity.functions import _Ctx, _identify, _local
from jlcache.identity.origin import is_user_function

__all__ = ["describe", "exclude_state", "mutated_state", "state_snapshot", "unannounced_state"]

Snapshot = dict[int, tuple[Any, tuple[str, ...]]]


def state_snapshot(func: Callable) -> Snapshot | None:
    """Tokens of every user function ``func``'s identification reaches, by function id."""
    target, owner = _target(func)
    if type(target) is not types.FunctionType or not is_user_function(target):
        return None
    if _local.__dict__.get("ctx") is not None:      # inside an identification: not a call
        return None
    _local.ctx = ctx = _Ctx(record=True)
    try:
        _identify(target, ctx, owner)
    finally:
        _local.ctx = None
    return ctx.seen or None


def mutated_state(func: Callable, before: Snapshot | None) -> list[tuple[Any, str]]:
    """``(function, name)`` of the data globals (``name``) and closure cells (``~name``)
    whose content differs from the ``before`` snapshot."""
    if not before:
        return []
    after = state_snapshot(func) or {}
    changed = []
    for key, (fn, tokens) in after.items():
        prior = before.get(key)
        if prior is None or prior[0] is not fn or prior[1] == tokens:
            continue
        old = {t.partition("=")[0]: t for t in prior[1]}
        for token in tokens:
            name = token.partition("=")[0]
            if old.get(name, token) != token and _is_data(fn, name):
                changed.append((fn, name))
    return changed


def unannounced_state(before: Snapshot | None) -> list[tuple[Any, str]]:
    """``(function, name)`` left out from the start (the code visibly changes them) that the
    user has not been told about yet; each function is reported once."""
    found: list[tuple[Any, str]] = []
    for fn, _tokens in (before or {}).values():
        entry = _entry(fn)
        if entry.excluded and not entry.announced:
            entry.announced = True
            found.extend((fn, name) for name in sorted(entry.excluded))
    return found


def exclude_state(changes: list[tuple[Any, str]]) -> None:
    """Leave each ``(function, name)`` out of that function object's identity."""
    if not changes:
        return
    for fn, name in changes:
        entry = _entry(fn)
        entry.excluded = entry.excluded | {name}
        entry.announced = True
        entry.last = None
    stable.invalidate()  # a caller's snapshot may vouch for a helper listed here


def describe(func: Callable, changes: list[tuple[Any, str]]) -> str:
    """``the globals LOG, STATS and the closure variable calls of its helper h``."""
    main = _target(func)[0]
    groups: dict[tuple[str, str], list[str]] = {}
    for fn, name in changes:
        kind = "closure variable" if name.startswith("~") else "global"
        where = "" if fn is main else f" of its helper {fn.__qualname__}"
        groups.setdefault((kind, where), []).append(name.lstrip("~"))
    parts = [f"the {kind}{'s' if len(names) > 1 else ''} {', '.join(sorted(names))}{where}"
             for (kind, where), names in groups.items()]
    return " and ".join(parts)


def _is_data(fn: types.FunctionType, name: str) -> bool:
    """A global or filled closure cell holding data (not a function, class or module)."""
    if name.startswith("~"):
        names = fn.__code__.co_freevars
        if name[1:] not in names or not fn.__closure__:
            return False
        try:
            value = fn.__closure__[names.index(name[1:])].cell_contents
        except ValueError:                          # an empty cell
            return False
    elif name in _entry(fn).info.globals:
        value = fn.__globals__.get(name)
    else:                                           # defaults, owner class: not state
        return False
    return not (callable(value) or isinstance(value, types.ModuleType))
