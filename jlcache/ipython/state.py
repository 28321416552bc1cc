"""The namespace side of ``%%memo``: hashing inputs, choosing outputs, packing and restoring.

A stored cell is one value (``CellState``) written through the ``Store``, so numpy arrays
among the variables become raw aligned files (memory-mapped on restore when the Memory's
``mmap_mode`` says so). Modules are stored as their name and re-imported; functions and
classes the cell defined are stored by value together with the cell source, and that source
is registered with ``linecache`` on restore, so ``inspect.getsource`` (and hence the
function's cache identity, and tracebacks) works in a new kernel exactly as in the first.
"""

from __future__ import annotations

import importlib
import linecache
import re
import sys
import types
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CellState",
    "ModuleRef",
    "internal_name",
    "pack",
    "unpack",
    "unpicklable_reason",
    "value_hash",
]

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

    variables: dict[str, Any]
    deleted: list[str]
    outputs: list[tuple]
    result: Any = None
    has_result: bool = False
    sources: dict[str, str] = field(default_factory=dict)  # code filename -> source


def internal_name(name: str) -> bool:
    """IPython's bookkeeping (``_``, ``_3``, ``_i3``, ``Out``...): never inputs or outputs."""
    return name in _SHELL_NAMES or _INTERNAL.fullmatch(name) is not None


def value_hash(value: Any) -> str:
    """Content hash of an input; raises ``UnhashableError`` (a ``TypeError``) if impossible."""
    from jlcache.hashing import hash as _hash

    return _hash(value)


def unpicklable_reason(value: Any) -> str | None:
    """Why ``value`` cannot be stored, or ``None`` (arrays are skipped, so this is cheap)."""
    if isinstance(value, types.ModuleType):
        return None
    try:
        _probe_pickler(_Sink()).dump(value)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


class _Sink:
    """A file that forgets what it is given: pickling only to find out if it works."""

    def write(self, data: Any) -> int:
        return len(data)


def _probe_pickler(sink: Any) -> Any:
    import cloudpickle

    class Probe(cloudpickle.CloudPickler):
        def persistent_id(self, obj: Any) -> Any:
            np = sys.modules.get("numpy")
            if np is not None and type(obj) in (np.ndarray, np.memmap) and not obj.dtype.hasobject:
                return "array"
            return None

    return Probe(sink, protocol=5)


def pack(variables: dict[str, Any], deleted: list[str], outputs: list[tuple], result: Any,
         has_result: bool, sources: dict[str, str]) -> CellState:
    """Turn a cell's products into a storable ``CellState``."""
    packed: dict[str, Any] = {}
    for name, value in variables.items():
        if isinstance(value, types.ModuleType):
            packed[name] = ModuleRef(value.__name__)
        else:
            packed[name] = value
    return CellState(packed, list(deleted), list(outputs), result if has_result else None,
                     has_result, dict(sources))


def unpack(state: CellState) -> dict[str, Any]:
    """The variables to put back into the user namespace (modules re-imported)."""
    for filename, source in state.sources.items():
        if filename not in linecache.cache:
            lines = [line + "\n" for line in source.splitlines()]
            linecache.cache[filename] = (len(source), None, lines, filename)
    out: dict[str, Any] = {}
    for name, value in state.variables.items():
        out[name] = importlib.import_module(value.name) if isinstance(value, ModuleRef) else value
    return out
