"""The run-time half of a ``%%memo`` key: hashes of the names, modules and files a cell reads.

Key entries (``name -> hash``), stored in the entry's metadata so ``--verbose`` can say
which one changed::

    x                 content hash of a variable (functions: their identity with deps)
    mymod.helper      an attribute the cell reads on one of *your* modules (not installed):
                      functions and classes by identity (their helpers included), values
                      by content -- the same rules as Memory's globals
    module:mymod      your module imported by the cell, or used other than as
                      ``mymod.attr``: the content hash of its source file
    file:data.csv     a file named by a string (or a str/Path variable) passed to a call:
                      its size and modification time (ns)
"""

from __future__ import annotations

import importlib.util
import os
import stat
import sys
import types
import warnings
from typing import Any

from jlcache.cells import state
from jlcache.cells.reads import Reads

__all__ = ["describe", "file_candidates", "file_hashes", "module_hashes", "name_hashes", "warn"]

_SOURCE_HASHES: dict[tuple[str, int, int], str] = {}   # (path, size, mtime_ns) -> hash


def warn(warning: Warning) -> None:
    """Warn as coming from the cell (no path inside jlcache in the notebook's output)."""
    warnings.warn_explicit(warning, type(warning), filename="%%memo", lineno=1,
                           module="jlcache.ipython")


def describe(key: str) -> str:
    """How ``--verbose`` names a key entry: ``file data.csv``, ``module mymod``, ``x``."""
    kind, sep, rest = key.partition(":")
    return f"{kind} {rest}" if sep and kind in ("file", "module") else key


def name_hashes(ns: dict, hidden: dict, candidates: frozenset[str]) -> dict[str, str] | None:
    """Content hashes of the names the cell reads that live in the namespace.

    Names not in the namespace are builtins (or NameErrors); names IPython put there itself
    (``open``, ``exit``...) and still unchanged are not the user's data.
    """
    from jlcache.errors import NotCachedWarning

    hashes: dict[str, str] = {}
    for name in sorted(candidates):
        if name not in ns or state.internal_name(name) or (name in hidden and ns[name] is hidden[name]):
            continue
        try:
            hashes[name] = state.value_hash(ns[name])
        except TypeError as exc:
            warn(NotCachedWarning(
                f"the cell reads {name!r} (a {type(ns[name]).__name__}), which cannot be "
                f"hashed into a cache key ({str(exc).split('. ')[0]}). The cell ran normally but "
                f"was not cached. If {name!r} does not change the cell's results, add "
                f"`--ignore {name}`."))
            return None
    return hashes


def module_hashes(ns: dict, reads: Reads, names: set[str], imports: tuple[str, ...]) -> dict[str, str]:
    """Keys for your own modules: read attributes of module inputs, files of the rest."""
    from jlcache.identity.functions import function_token
    from jlcache.identity.origin import is_user_module

    out: dict[str, str] = {}
    for name in sorted(names):
        mod = ns.get(name)
        if not isinstance(mod, types.ModuleType) or not is_user_module(mod):
            continue
        for chain in sorted(reads.attr_chains.get(name, ())):
            value, used = _follow(mod, chain)
            out[".".join((name, *used))] = function_token(value)
        if name in reads.bare or name not in reads.attr_chains:
            out[f"module:{mod.__name__}"] = _source_hash(getattr(mod, "__file__", None))
    for module in imports:
        path = _module_file(module)
        if path is not None:
            out[f"module:{module}"] = _source_hash(path)
    return out


def _follow(mod: types.ModuleType, chain: tuple[str, ...]) -> tuple[Any, tuple[str, ...]]:
    """``mymod.sub.f`` -> (f, ("sub", "f")); stops at the first value that is not a module
    of yours (``mymod.df.shape`` -> the DataFrame: its content is what counts)."""
    from jlcache.identity.origin import is_user_module

    value: Any = mod
    used: list[str] = []
    for attr in chain:
        if not (isinstance(value, types.ModuleType) and is_user_module(value)):
            break
        value = getattr(value, attr, None)
        used.append(attr)
    return value, tuple(used)


def _module_file(module: str) -> str | None:
    """The source file of ``module`` if it is yours, found without importing it."""
    from jlcache.identity.origin import is_installed_path, is_user_module_name

    if module.partition(".")[0] in sys.stdlib_module_names:
        return None
    loaded = sys.modules.get(module)
    if loaded is not None:
        path = getattr(loaded, "__file__", None)
    elif "." in module and module.rpartition(".")[0] not in sys.modules:
        return None   # finding it would import its parent package: leave it to the run
    else:
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError, AttributeError):
            return None
        path = spec.origin if spec is not None and spec.has_location else None
    if not path or is_installed_path(path) or not is_user_module_name(module):
        return None
    return path


def _source_hash(path: str | None) -> str:
    """Content hash of a source file, remembered per (path, size, mtime)."""
    if not path:
        return "?"
    try:
        st = os.stat(path)
    except OSError:
        return "missing"
    key = (path, st.st_size, st.st_mtime_ns)
    known = _SOURCE_HASHES.get(key)
    if known is None:
        from jlcache.identity import hash as _hash

        with open(path, "rb") as fh:
            known = _SOURCE_HASHES[key] = _hash(fh.read())
    return known


def file_candidates(ns: dict, reads: Reads) -> list[str]:
    """Strings that may name files the cell reads: literals passed to calls, and names
    passed to calls -- with the literal the cell assigns them (``p = "x.csv"``), else the
    str/Path value they hold in the namespace now."""
    candidates = list(reads.path_literals)
    for name in reads.path_names:
        value = reads.assigned_paths.get(name, ns.get(name))
        if isinstance(value, str):
            candidates.append(value)
        elif isinstance(value, os.PathLike):
            try:
                candidates.append(os.fspath(value))
            except Exception:  # a PathLike that fails: not a file we can track
                continue
    return [p for p in dict.fromkeys(candidates)
            if isinstance(p, str) and 0 < len(p) <= 1024 and "\0" not in p]


def file_hashes(paths: list[str]) -> dict[str, str]:
    """``file:PATH -> size:mtime_ns`` for the candidates that name existing regular files."""
    out: dict[str, str] = {}
    for path in paths:
        try:
            st = os.stat(path)
        except (OSError, ValueError):
            continue
        if stat.S_ISREG(st.st_mode):
            out[f"file:{path}"] = f"{st.st_size}:{st.st_mtime_ns}"
    return out
