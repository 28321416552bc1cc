"""What a cell reads besides plain names: module attributes, files, and the namespace itself.

Pure AST work (no IPython, no I/O), the static half of three key parts that ``inputs``
resolves at run time:

* ``mymod.helper(x)`` / ``mymod.SCALE``: attribute chains read on a name, so a user module
  among the inputs is keyed by what the cell uses of it, not only by its name;
* ``import mymod`` inside the cell: the modules it imports;
* ``pd.read_csv("data.csv")``, ``open(path)``: string literals and names passed to calls,
  candidates for files whose size and modification time join the key;
* ``eval``, ``exec``, ``globals()``, ``locals()``, ``vars()``: reads no analysis can see.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

__all__ = ["Reads", "collect"]

_WRITERS = {"write_text", "write_bytes", "to_csv", "to_parquet", "to_json", "to_excel",
            "to_pickle", "to_feather", "to_hdf", "savefig", "savez", "savez_compressed",
            "save", "tofile", "dump", "mkdir", "touch", "unlink", "rmdir", "rename", "replace"}
_DYNAMIC = {"eval", "exec", "globals"}
_SCOPE_LOCAL = {"locals", "vars"}      # inside a function these only see its own locals
_MAX_PATH = 1024


@dataclass(frozen=True)
class Reads:
    attr_chains: dict[str, frozenset[tuple[str, ...]]] = field(default_factory=dict)
    bare: frozenset[str] = frozenset()          # names used other than as ``name.attr``
    imports: tuple[str, ...] = ()               # absolute modules the cell imports
    path_literals: tuple[str, ...] = ()         # string constants passed to (reading) calls
    path_names: tuple[str, ...] = ()            # names passed to (reading) calls
    assigned_paths: dict[str, str] = field(default_factory=dict)  # p = "x.csv" in the cell
    dynamic: tuple[str, ...] = ()               # "eval()", "globals()"...


def collect(tree: ast.Module) -> Reads:
    """Every read of the kinds above anywhere in the cell (function bodies included)."""
    chains: dict[str, set[tuple[str, ...]]] = {}
    inner: set[int] = set()
    bare: set[str] = set()
    imports: list[str] = []
    literals: list[str] = []
    names: list[str] = []
    assigned: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            inner.add(id(node.value))
            if id(node) not in inner:
                _add_chain(node, chains, inner)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and id(node) not in inner:
            bare.add(node.id)
        elif isinstance(node, ast.Import):
            imports.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imports.append(node.module)
        elif isinstance(node, ast.Call) and not _writes(node):
            _call_args(node, literals, names)
        elif (isinstance(node, ast.Assign) and len(node.targets) == 1
              and isinstance(node.targets[0], ast.Name) and isinstance(node.value, ast.Constant)
              and isinstance(node.value.value, str)):
            assigned[node.targets[0].id] = node.value.value
    return Reads({k: frozenset(v) for k, v in chains.items()}, frozenset(bare),
                 tuple(dict.fromkeys(imports)), tuple(dict.fromkeys(literals)),
                 tuple(dict.fromkeys(names)), assigned, tuple(dict.fromkeys(_dynamic(tree))))


def _add_chain(node: ast.Attribute, chains: dict[str, set[tuple[str, ...]]],
               inner: set[int]) -> None:
    """Record ``root.a.b`` for the outermost attribute of a chain that starts at a name."""
    parts: list[str] = []
    cur: ast.expr = node
    while isinstance(cur, ast.Attribute):
        parts.append(cur.attr)
        inner.add(id(cur.value))
        cur = cur.value
    if isinstance(cur, ast.Name):
        chains.setdefault(cur.id, set()).add(tuple(reversed(parts)))


def _writes(call: ast.Call) -> bool:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr in _WRITERS
    if isinstance(func, ast.Name) and func.id == "open":
        mode = call.args[1] if len(call.args) > 1 else next(
            (k.value for k in call.keywords if k.arg == "mode"), None)
        return (isinstance(mode, ast.Constant) and isinstance(mode.value, str)
                and any(flag in mode.value for flag in "wax+"))
    return False


def _call_args(call: ast.Call, literals: list[str], names: list[str]) -> None:
    for arg in [*call.args, *(k.value for k in call.keywords)]:
        if isinstance(arg, ast.Starred):
            arg = arg.value
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            text = arg.value
            if 0 < len(text) <= _MAX_PATH and "\n" not in text and "\0" not in text:
                literals.append(text)
        elif isinstance(arg, ast.Name):
            names.append(arg.id)


def _dynamic(tree: ast.Module) -> list[str]:
    """Calls that read the namespace by name at run time, outside any function's own scope."""
    found: list[str] = []
    stack: list[tuple[ast.AST, bool]] = [(tree, False)]
    while stack:
        node, in_function = stack.pop()
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            name = node.func.id
            if name in _DYNAMIC or (name in _SCOPE_LOCAL and not node.args and not in_function):
                found.append(f"{name}()")
        nested = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef
                                           | ast.Lambda)
        stack.extend((child, nested) for child in ast.iter_child_nodes(node))
    return sorted(found)
