"""Static analysis of a code object: its normalized code hash and the globals it reads.

This is the cold half of :mod:`jlcache.identity.functions`: everything here depends only on a code
object (plus, for decorator stripping, the globals it was defined in), so the result is
computed once per code object and cached.

Source is located through ``linecache`` (which also holds IPython cell sources) by parsing
the whole file once and picking the ``def``/``lambda`` node that starts at
``co_firstlineno``; several lambdas on one line are told apart by the column positions
recorded in the code object. The node is normalized (docstrings dropped, jlcache's own
cache decorators dropped, comments and layout gone by construction) and ``ast.dump``-ed.
Without usable source, a structural hash of the code object is used instead (bytecode,
constants recursively, names), which is deterministic across processes: nothing here uses
Python's salted ``hash()``.
"""

from __future__ import annotations

import ast
import copy
import dis
import inspect
import linecache
import math
import threading
import weakref
from dataclasses import dataclass
from types import CodeType
from typing import Any

import xxhash

__all__ = ["CodeInfo", "analyze", "structural_hash"]

_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef)
_Node = ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda  # what a code object comes from
_DOC_OWNERS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)
_GLOBAL_LOADS = frozenset({"LOAD_GLOBAL", "LOAD_NAME"})
_ATTR_LOADS = frozenset({"LOAD_ATTR", "LOAD_METHOD"})
_OUTER_LOADS = frozenset({"LOAD_GLOBAL", "LOAD_NAME", "LOAD_DEREF", "LOAD_CLASSDEREF"})
_OUTER_STORES = frozenset({"STORE_GLOBAL", "STORE_DEREF", "DELETE_GLOBAL", "DELETE_DEREF"})
# methods that change the list, dict, set, deque or bytearray they are called on
_MUTATORS = frozenset({"append", "extend", "insert", "pop", "popitem", "remove", "clear",
                       "update", "setdefault", "add", "discard", "appendleft", "extendleft",
                       "popleft", "sort", "reverse", "rotate", "difference_update",
                       "intersection_update", "symmetric_difference_update"})


@dataclass(frozen=True)
class CodeInfo:
    """What identity needs to know about one code object, computed once."""

    code_hash: str
    from_source: bool
    globals: tuple[str, ...]                     # global names read, sorted
    attrs: dict[str, tuple[str, ...]]            # global name -> first attributes read on it
    mutated: frozenset[str] = frozenset()        # names the code visibly changes (see below)


# id(code) -> (weakref to code, info); the weakref's callback drops the entry.
_CACHE: dict[int, tuple[weakref.ref, CodeInfo]] = {}
_LOCK = threading.Lock()


def analyze(code: CodeType, globals_: dict[str, Any] | None = None) -> CodeInfo:
    """The cached static analysis of ``code`` (``globals_`` only resolves decorators)."""
    hit = _CACHE.get(id(code))
    if hit is not None and hit[0]() is code:
        return hit[1]
    info = _analyze(code, globals_ or {})
    key = id(code)
    with _LOCK:
        _CACHE[key] = (weakref.ref(code, _forget(_CACHE, key)), info)
    return info


def _analyze(code: CodeType, globals_: dict[str, Any]) -> CodeInfo:
    names, attrs = _referenced_globals(code)
    node = _find_node(code)
    if node is not None and _names_agree(node, code):
        digest = _digest(b"src", ast.dump(_normalize(node, globals_)).encode())
        from_source = True
    else:
        digest, from_source = structural_hash(code), False
    mutated = _mutated_names(code) | (_subscript_stores(node) if node is not None else set())
    return CodeInfo(digest, from_source, tuple(sorted(names)),
                    {k: tuple(sorted(v)) for k, v in sorted(attrs.items())}, frozenset(mutated))


def _digest(tag: bytes, data: bytes) -> str:
    return xxhash.xxh3_128_hexdigest(tag + b"\0" + data)


# --- which globals a code object reads ---------------------------------------------------

def _referenced_globals(code: CodeType) -> tuple[set[str], dict[str, set[str]]]:
    """Global names read by ``code`` and its nested code objects, with ``np.linalg`` -> np.

    ``attrs`` remembers the first attribute read on each root (``utils.helper``) so that a
    user module's helpers can be followed; for other modules only the root counts.
    """
    names: set[str] = set()
    attrs: dict[str, set[str]] = {}
    stack = [code]
    while stack:
        co = stack.pop()
        root: str | None = None
        for ins in dis.get_instructions(co):
            if ins.opname in _GLOBAL_LOADS:
                root = ins.argval
                names.add(root)
                continue
            if root is not None and ins.opname in _ATTR_LOADS:
                attrs.setdefault(root, set()).add(ins.argval)
            root = None
        stack.extend(c for c in co.co_consts if isinstance(c, CodeType))
    return names, attrs


# --- which outer names a code object visibly changes ------------------------------------
# A function that appends to a global list, fills a global memo dict or bumps a counter it
# declares ``global``/``nonlocal`` treats that name as its own state. Knowing it before the
# first call keeps the first call's version equal to later ones, in this process and after
# a restart (``identity.own_state`` finds the rest by comparing before and after a call).

def _mutated_names(code: CodeType) -> set[str]:
    """Outer names rebound (``global``/``nonlocal``) or given a mutating method call."""
    found: set[str] = set()
    stack = [code]
    while stack:
        co = stack.pop()
        root: str | None = None
        for ins in dis.get_instructions(co):
            if ins.opname in _OUTER_STORES:
                found.add(ins.argval)
            elif root is not None and ins.opname in _ATTR_LOADS and ins.argval in _MUTATORS:
                found.add(root)
            root = ins.argval if ins.opname in _OUTER_LOADS else None
        stack.extend(c for c in co.co_consts if isinstance(c, CodeType))
    return found


def _subscript_stores(node: ast.AST) -> set[str]:
    """Names whose items the source assigns or deletes: ``memo[k] = v``, ``STATS["n"] += 1``."""
    found: set[str] = set()
    for sub in ast.walk(node):
        if (isinstance(sub, ast.Subscript) and isinstance(sub.ctx, (ast.Store, ast.Del))
                and isinstance(sub.value, ast.Name)):
            found.add(sub.value.id)
    return found


# --- locating the source node -----------------------------------------------------------

@dataclass
class _FileIndex:
    lines: list[str]
    by_line: dict[int, list[ast.AST]]


_FILES: dict[str, _FileIndex] = {}


def _file_index(filename: str) -> _FileIndex | None:
    linecache.checkcache(filename)  # a file edited on disk since it was cached: re-read it
    lines = linecache.getlines(filename)
    if not lines:
        return None
    index = _FILES.get(filename)
    if index is not None and index.lines is lines:
        return index
    try:
        tree = ast.parse("".join(lines))
    except (SyntaxError, ValueError):
        return None
    by_line: dict[int, list[ast.AST]] = {}
    for node in ast.walk(tree):
        if isinstance(node, _DEFS):
            first = node.decorator_list[0].lineno if node.decorator_list else node.lineno
            by_line.setdefault(first, []).append(node)
        elif isinstance(node, ast.Lambda):
            by_line.setdefault(node.lineno, []).append(node)
    index = _FileIndex(lines, by_line)
    with _LOCK:
        _FILES[filename] = index
    return index


def _find_node(code: CodeType) -> ast.AST | None:
    """The ``def`` or ``lambda`` node ``code`` was compiled from, or None."""
    filename = code.co_filename
    if not filename or filename in ("<string>", "<stdin>"):
        return None
    index = _file_index(filename)
    if index is None:
        return None
    nodes = index.by_line.get(code.co_firstlineno, ())
    candidates: list[_Node]
    if code.co_name == "<lambda>":
        candidates = [n for n in nodes if isinstance(n, ast.Lambda)]
    else:
        candidates = [n for n in nodes if isinstance(n, _DEFS) and n.name == code.co_name]
    if len(candidates) <= 1:
        return candidates[0] if candidates else None
    return _by_position(candidates, code)


def _by_position(candidates: list[_Node], code: CodeType) -> _Node | None:
    """The candidate that matches ``code``'s arguments, nested lambdas and positions.

    An outer lambda's instructions may all sit inside its inner lambda (``lambda y: lambda
    z: z * y``), so positions alone are not enough; arguments and the number of nested
    lambdas tell such pairs apart, and positions then pick among the rest.
    """
    args, nested = _arg_names(code), _nested_lambdas(code)
    positions = [(ln, col) for ln, end, col, end_col in _positions(code)
                 if ln is not None and col is not None and (col, end_col) != (0, 0)]
    fitting = [n for n in candidates
               if _node_args(n) == args
               and sum(isinstance(s, ast.Lambda) for s in ast.walk(n)) - 1 == nested
               and all((n.lineno, n.col_offset) <= p <= (n.end_lineno, n.end_col_offset)
                       for p in positions)]
    if not fitting:
        return None
    return min(fitting, key=_extent)


def _extent(node: _Node) -> tuple[int, int]:
    """How many lines and columns a node spans: the innermost fitting candidate wins."""
    return ((node.end_lineno or node.lineno) - node.lineno,
            (node.end_col_offset or node.col_offset) - node.col_offset)


def _arg_names(code: CodeType) -> tuple[str, ...]:
    n = code.co_argcount + code.co_kwonlyargcount
    n += bool(code.co_flags & inspect.CO_VARARGS) + bool(code.co_flags & inspect.CO_VARKEYWORDS)
    return code.co_varnames[:n]


def _node_args(node: _Node) -> tuple[str, ...]:
    a = node.args
    names = [x.arg for x in (*a.posonlyargs, *a.args, *a.kwonlyargs)]
    names += [x.arg for x in (a.vararg, a.kwarg) if x is not None]
    return tuple(names)


def _nested_lambdas(code: CodeType) -> int:
    inner = [c for c in code.co_consts if isinstance(c, CodeType)]
    return sum((c.co_name == "<lambda>") + _nested_lambdas(c) for c in inner)


def _positions(code: CodeType) -> list[tuple[Any, Any, Any, Any]]:
    get = getattr(code, "co_positions", None)   # Python 3.11+
    return list(get()) if get is not None else []


def _names_agree(node: ast.AST, code: CodeType) -> bool:
    """Guard against stale source (a file edited on disk but not re-imported).

    Every name the bytecode uses must appear in the source node; otherwise the source we
    found is not what is running and the structural hash is the honest answer.
    """
    idents: set[str] = set()
    for sub in ast.walk(node):
        for field in ("id", "attr", "name", "arg", "asname", "module", "rest"):
            value = getattr(sub, field, None)
            if isinstance(value, str):
                idents.update(value.split("."))
        if isinstance(sub, (ast.Global, ast.Nonlocal)):
            idents.update(sub.names)
    stack = [code]
    while stack:
        co = stack.pop()
        for name in (*co.co_names, *co.co_varnames, *co.co_freevars, *co.co_cellvars):
            if not _name_known(name, idents):
                return False
        stack.extend(c for c in co.co_consts if isinstance(c, CodeType))
    return True


def _name_known(name: str, idents: set[str]) -> bool:
    if name.startswith((".", "__")) or all(part in idents for part in name.split(".")):
        return True
    # private names are mangled in class bodies: _C__x in the bytecode, __x in the source
    return name.startswith("_") and "__" in name and "__" + name.split("__", 1)[1] in idents


# --- normalization ------------------------------------------------------------------------

def _normalize(node: ast.AST, globals_: dict[str, Any]) -> ast.AST:
    node = copy.deepcopy(node)
    if isinstance(node, _DEFS):
        node.decorator_list = [d for d in node.decorator_list
                               if not _is_cache_decorator(d, globals_)]
    for sub in ast.walk(node):
        if isinstance(sub, _DOC_OWNERS) and sub.body and _is_docstring(sub.body[0]):
            sub.body = sub.body[1:]
    return node


def _is_docstring(stmt: ast.stmt) -> bool:
    return (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)
            and isinstance(stmt.value.value, str))


def _is_cache_decorator(expr: ast.expr, globals_: dict[str, Any]) -> bool:
    """``@memory.cache``, ``@mem.cache(ignore=[...])``, or any name bound to jlcache's.

    Dropping these keeps a function's identity the same with and without the decorator.
    ``functools.cache`` is dropped too, harmlessly: it never changes what a function returns.
    """
    if isinstance(expr, ast.Call):
        expr = expr.func
    chain: list[str] = []
    while isinstance(expr, ast.Attribute):
        chain.append(expr.attr)
        expr = expr.value
    if chain and chain[0] == "cache":
        return True
    if not isinstance(expr, ast.Name):
        return False
    if not chain and expr.id == "cache":
        return True
    obj = globals_.get(expr.id)
    owner = getattr(obj, "__module__", None) if callable(obj) else None
    owner = owner or type(obj).__module__
    return isinstance(owner, str) and (owner == "jlcache" or owner.startswith("jlcache."))


# --- structural hash (no source) ----------------------------------------------------------

def structural_hash(code: CodeType) -> str:
    """A hash of what the code object does, stable across processes and hash seeds.

    Line numbers and the file name are left out, so the same code exec'd from another place
    hashes the same.
    """
    h = xxhash.xxh3_128()
    _feed(h, code)
    return h.hexdigest()


def _feed(h: Any, obj: Any) -> None:
    t = type(obj)
    if t is CodeType:
        h.update(b"C")
        for field in (obj.co_name, obj.co_names, obj.co_varnames, obj.co_freevars,
                      obj.co_cellvars, obj.co_argcount, obj.co_posonlyargcount,
                      obj.co_kwonlyargcount, obj.co_flags, obj.co_code, obj.co_consts,
                      getattr(obj, "co_exceptiontable", b"")):
            _feed(h, field)
    elif t is tuple:
        h.update(b"T%d:" % len(obj))
        for item in obj:
            _feed(h, item)
    elif t is frozenset:  # iteration order depends on the hash seed: sort the parts
        parts = sorted(_sub_digest(item) for item in obj)
        h.update(b"F%d:" % len(parts) + b"".join(parts))
    elif t is str:
        data = obj.encode("utf-8", "surrogatepass")
        h.update(b"s%d:" % len(data) + data)
    elif t is bytes:
        h.update(b"b%d:" % len(obj) + obj)
    elif t is float:
        h.update(b"f" + (repr(obj) if math.isnan(obj) else obj.hex()).encode() + b";")
    else:  # int, bool, None, Ellipsis, complex: repr is exact and seed-independent
        h.update(t.__name__.encode() + b"(" + repr(obj).encode() + b")")


def _sub_digest(obj: Any) -> bytes:
    h = xxhash.xxh3_128()
    _feed(h, obj)
    return h.digest()


def _forget(cache: dict, key: int) -> Any:
    """A weakref callback that drops ``key`` from ``cache`` when its object dies."""
    return lambda _ref: cache.pop(key, None)
