"""Repeated identifications in a few identity checks, when nothing read can have changed.

``identify`` re-reads every value a function depends on at each call and re-derives its
token, because a global may have been rebound or a list it reads mutated. For the values
whose token cannot change while the *same object* is bound (numbers, strings, tuples of
those, installed functions, classes and modules, and user functions that are themselves
stable), comparing objects by identity proves the token unchanged. A ``Snapshot`` records,
for one function object, the objects read from each place it reads (its globals, its
closure cells, its defaults, an installed module's ``__version__``, the helpers it calls,
recursively); while every place still holds the same object, the identity computed with
them still holds.

Anything else makes the function unsnapshottable, and every call takes the full path:
mutable data (lists, dicts, arrays, objects), user classes and modules (their attributes
can be rebound), keyword-only defaults, methods (their class can change), helper cycles.
Excluding mutated state (``own_state``) bumps ``generation``, which drops every snapshot.
"""

from __future__ import annotations

import types
from typing import Any

from jlcache.identity.origin import is_user_class, is_user_function, is_user_module

__all__ = ["Snapshot", "invalidate", "take", "unchanged"]

MISSING = object()  # an unbound global or an empty closure cell
_LEAVES = frozenset({int, float, bool, type(None), str, bytes, complex})
_FunctionType = types.FunctionType
_MAX_DEPTH = 8
generation = 0  # bumped when what identities exclude changes (own_state)


class Snapshot:
    """The objects one function's identity was computed from, by where they were read."""

    __slots__ = ("cells", "checks", "code", "defaults", "generation", "helpers", "ident")

    def __init__(self, func: types.FunctionType) -> None:
        self.code = func.__code__
        self.defaults = func.__defaults__
        self.generation = generation
        self.checks: list[tuple[dict, str, Any]] = []   # mapping, key, object found there
        self.cells: list[tuple[Any, Any]] = []          # closure cell, object it held
        self.helpers: list[tuple[types.FunctionType, Snapshot]] = []
        self.ident: Any = None  # the identity computed right after (set by ``identify``)


def invalidate() -> None:
    """Drop every snapshot (their function's excluded state changed)."""
    global generation
    generation += 1


def unchanged(func: types.FunctionType, snap: Snapshot) -> bool:
    """True when every place ``snap`` read still holds the object it read there."""
    if (snap.generation != generation or func.__code__ is not snap.code
            or func.__defaults__ is not snap.defaults or func.__kwdefaults__):
        return False
    for mapping, key, obj in snap.checks:
        if mapping.get(key, MISSING) is not obj:
            return False
    for cell, obj in snap.cells:
        try:
            if cell.cell_contents is not obj:
                return False
        except ValueError:  # emptied since
            if obj is not MISSING:
                return False
    return not snap.helpers or all(unchanged(h, hsnap) for h, hsnap in snap.helpers)


def take(func: types.FunctionType, names: tuple[str, ...], excluded: frozenset[str],
         entry_of: Any, active: frozenset[int] = frozenset()) -> Snapshot | None:
    """The snapshot of ``func`` reading the globals ``names`` (minus ``excluded``), or
    ``None`` when one of the objects it depends on could change without being rebound.

    Take it *before* computing the identity it will vouch for: a value rebound in between
    then fails the next check instead of passing with a stale identity. ``entry_of(f)``
    gives a helper's ``(names, excluded, owner_path)``.
    """
    if len(active) >= _MAX_DEPTH or func.__kwdefaults__:
        return None
    snap = Snapshot(func)
    active = active | {id(func)}
    glb = func.__globals__
    for name in names:
        if name in excluded:
            continue
        value = glb.get(name, MISSING)
        if value is not MISSING and not _add(snap, value, entry_of, active):
            return None
        snap.checks.append((glb, name, value))
    if func.__closure__:
        for name, cell in zip(func.__code__.co_freevars, func.__closure__, strict=False):
            if "~" + name in excluded:
                continue
            try:
                value = cell.cell_contents
            except ValueError:
                value = MISSING
            if value is not MISSING and not _add(snap, value, entry_of, active):
                return None
            snap.cells.append((cell, value))
    if func.__defaults__ and not all(_leaf(v) for v in func.__defaults__):
        return None
    return snap


def _leaf(value: Any) -> bool:
    t = type(value)
    if t in _LEAVES:
        return True
    if t is tuple or t is frozenset:
        return all(_leaf(v) for v in value)
    return False


def _add(snap: Snapshot, value: Any, entry_of: Any, active: frozenset[int]) -> bool:
    """Whether ``value``'s token is fixed by its identity (recording what else to check)."""
    if _leaf(value):
        return True
    t = type(value)
    if t is types.BuiltinFunctionType:
        owner = value.__self__
        return owner is None or type(owner) is types.ModuleType
    if t is types.ModuleType:
        if is_user_module(value):
            return False
        attrs = value.__dict__
        if "__version__" not in attrs and "__getattr__" in attrs:
            return False  # a computed __version__
        snap.checks.append((attrs, "__version__", attrs.get("__version__", MISSING)))
        return True
    if isinstance(value, type):
        return not is_user_class(value)
    if t is not _FunctionType:
        return False
    if not is_user_function(value):
        return True
    if id(value) in active:
        return False  # a cycle: its token depends on where the walk started
    names, excluded, owner_path = entry_of(value)
    if owner_path:
        return False
    helper = take(value, names, excluded, entry_of, active)
    if helper is None:
        return False
    snap.helpers.append((value, helper))
    return True
