"""The namespace side of ``%%memo``: hashing inputs, choosing outputs, packing and restoring.

A stored cell is one ``CellState`` written through the ``Store``. Its variables (and the
cell's result) are pickled by ``cellpickle`` into ``payload``, with every plain numpy array
pulled out into ``arrays``, which the Store writes as raw aligned files (memory-mapped on
restore when the Memory's ``mmap_mode`` says so). Modules are stored as their name and
re-imported. Functions and classes the cell defined are stored by value *keeping their code
filename*, and the cell's source is registered with ``linecache`` again on restore, so
``inspect.getsource``, tracebacks and the function's cache identity are exactly those of the
first run; restored functions read the live notebook namespace, as the originals did.
"""

from __future__ import annotations

import importlib
import linecache
import re
import types
from dataclasses import dataclass, field
from typing import Any

from jlcache.cells import pickling as cellpickle

__all__ = [
    "FORMAT",
    "CellState",
    "ModuleRef",
    "internal_name",
    "is_closed",
    "pack",
    "unpack",
    "unpicklable_reason",
    "value_hash",
]

FORMAT = 2   # CellState layout; entries of another layout are treated as misses
RESULT_NAME = "_jlcache_cell_result_"
_INTERNAL = re.compile(r"_+|_i+|_i?\d+|_[iod]h|__builtins?__|_jlcache_\w*")
_SHELL_NAMES = frozenset({"In", "Out", "get_ipython", "exit", "quit", "open"})


@dataclass(frozen=True)
class ModuleRef:
    """A module among a cell's variables: restored by importing it again."""

    name: str


@dataclass
class CellState:
    """Everything a hit needs to make the namespace and the output look as after a run."""

    payload: bytes                   # cellpickle of {"variables": ..., "result": ...}
    arrays: list                     # plain arrays the payload refers to (stored raw)
    array_names: dict[str, int]      # top-level array variables -> index in ``arrays``
    deleted: list[str]
    outputs: list[tuple]
    has_result: bool = False
    sources: dict[str, str] = field(default_factory=dict)  # code filename -> source
    format: int = FORMAT


def internal_name(name: str) -> bool:
    """IPython's bookkeeping (``_``, ``_3``, ``_i3``, ``Out``...): never inputs or outputs."""
    return name in _SHELL_NAMES or _INTERNAL.fullmatch(name) is not None


def value_hash(value: Any) -> str:
    """Content hash of an input; raises ``UnhashableError`` (a ``TypeError``) if impossible."""
    from jlcache.identity import hash as _hash

    return _hash(value)


def is_closed(value: Any) -> bool:
    """A file, socket, zip archive... already closed (``with open(p) as f:`` leaves one)."""
    try:
        return getattr(value, "closed", False) is True and not isinstance(value, type)
    except Exception:   # a property that raises: not a closed resource we recognise
        return False


def unpicklable_reason(value: Any, ns: dict) -> str | None:
    """Why ``value`` cannot be stored, or ``None``."""
    if isinstance(value, types.ModuleType):
        return None
    try:
        cellpickle.dumps(value, ns)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def pack(variables: dict[str, Any], deleted: list[str], outputs: list[tuple], result: Any,
         has_result: bool, sources: dict[str, str], ns: dict) -> CellState:
    """Turn a cell's products into a storable ``CellState``; raises if they cannot be pickled."""
    packed = {name: ModuleRef(value.__name__) if isinstance(value, types.ModuleType) else value
              for name, value in variables.items()}
    payload, arrays, filenames = cellpickle.dumps(
        {"variables": packed, "result": result if has_result else None}, ns)
    index = {id(a): i for i, a in enumerate(arrays)}
    array_names = {n: index[id(v)] for n, v in packed.items() if id(v) in index}
    all_sources = {**cellpickle.registered_sources(filenames), **sources}
    return CellState(payload, arrays, array_names, list(deleted), list(outputs), has_result,
                     all_sources)


def unpack(state: CellState, ns: dict) -> tuple[dict[str, Any], Any]:
    """``(variables, result)`` to put back into ``ns`` (modules re-imported)."""
    for filename, source in state.sources.items():
        if filename not in linecache.cache:
            lines = [line + "\n" for line in source.splitlines()]
            linecache.cache[filename] = (len(source), None, lines, filename)
    saved = cellpickle.loads(state.payload, state.arrays, ns)
    out: dict[str, Any] = {}
    for name, value in saved["variables"].items():
        out[name] = importlib.import_module(value.name) if isinstance(value, ModuleRef) else value
    return out, saved["result"]
