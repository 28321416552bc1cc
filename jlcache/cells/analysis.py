"""Static analysis of a ``%%memo`` cell: what it reads, what it binds, what it cannot replay.

Pure (no IPython, no I/O): the caller hands in source that IPython's input transformer has
already turned into plain Python (``!ls`` -> ``get_ipython().system('ls')``).

Flow of the analysis::

    source --ast.parse--> module --_TopLevel (in statement order)--> inputs, outputs
                                      |  eager code (top level, class bodies, comprehensions,
                                      |  decorators, defaults): a read is an input unless the
                                      |  name is *definitely* bound before it on every path
                                      +- deferred code (def/lambda bodies): _free_globals()
                                         resolves scopes; a global read is an input unless the
                                         cell binds that name unconditionally at top level

The result is a superset of what the cell really reads ("candidates"); the magic confirms
each candidate against the user namespace at run time (a name that is not there is a
builtin or a NameError, not an input). Over-approximating only costs a spurious re-run;
under-approximating would return stale results, so every doubt resolves towards "input".
"""

from __future__ import annotations

import ast
import io
import tokenize
from dataclasses import dataclass, field

from jlcache.cells.reads import Reads
from jlcache.cells.reads import collect as _collect_reads
from jlcache.cells.scopes import defaults as _defaults
from jlcache.cells.scopes import free_globals as _free_globals
from jlcache.cells.scopes import function_annotations as _annotations
from jlcache.cells.scopes import walk_scope as _walk_scope

__all__ = ["CellAnalysis", "analyze", "first_line", "label", "normalize"]

# Calls whose effect lives outside the namespace, so a restored cell does not redo them.
_SHELL_CALLS = {"system": "shell command (!cmd)", "getoutput": "shell command (!!cmd)",
                "run_line_magic": "line magic (%{})", "run_cell_magic": "cell magic (%%{})"}
_WRITER_METHODS = {"write_text", "write_bytes", "to_csv", "to_parquet", "to_json", "to_excel",
                   "to_pickle", "to_feather", "to_hdf", "savefig", "savez", "savez_compressed",
                   "save", "tofile", "dump"}


@dataclass(frozen=True)
class CellAnalysis:
    """What a cell reads and binds, found without running it."""

    inputs: frozenset[str]        # names possibly read before being bound (candidates)
    outputs: frozenset[str]       # names bound at top level (def, class, import, targets...)
    deleted: frozenset[str]       # names removed with a top-level ``del``
    side_effects: tuple[str, ...]  # human descriptions of effects a replay does not redo
    normalized: str               # AST dump: comments, blank lines and spacing do not count
    has_last_expr: bool           # the cell ends with an expression (its value is the result)
    uses_await: bool              # top-level await: not supported inside %%memo
    reads: Reads = field(default_factory=Reads)  # module attributes, files, eval/globals()


def normalize(source: str) -> str:
    """A canonical text of the code, so cosmetic edits keep the same cache entry."""
    return ast.dump(ast.parse(source), annotate_fields=False, include_attributes=False)


def first_line(source: str) -> str:
    """The first line that says something (skips blank lines and comments), for listings."""
    for line in source.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            return stripped[:120]
    return ""


def label(source: str) -> str:
    """The first line as a short name: no trailing comment, no block colon (``def f(x)``)."""
    line = first_line(source)
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(line).readline))
    except (tokenize.TokenError, SyntaxError):
        tokens = []
    comment = next((t for t in tokens if t.type == tokenize.COMMENT), None)
    if comment is not None:
        line = line[:comment.start[1]]
    line = line.rstrip()
    return line[:-1].rstrip() if line.endswith(":") else line


def analyze(source: str) -> CellAnalysis:
    """Analyze transformed cell source; raises ``SyntaxError`` like running it would."""
    tree = ast.parse(source)
    top = _TopLevel()
    top.block(tree.body)
    deferred_inputs = {name for name in top.deferred_reads if name not in top.always_bound}
    body = tree.body
    return CellAnalysis(
        inputs=frozenset(top.inputs | deferred_inputs),
        outputs=frozenset(top.bound - top.deleted_at_end),
        deleted=frozenset(top.deleted_at_end),
        side_effects=tuple(dict.fromkeys(_side_effects(tree))),
        normalized=ast.dump(tree, annotate_fields=False, include_attributes=False),
        has_last_expr=bool(body) and isinstance(body[-1], ast.Expr),
        uses_await=_uses_top_level_await(tree),
        reads=_collect_reads(tree),
    )


# --------------------------------------------------------------------------- top level


class _TopLevel:
    """Walks eager code in execution order, tracking names definitely bound so far."""

    def __init__(self) -> None:
        self.defined: set[str] = set()      # definitely bound at the current point
        self.inputs: set[str] = set()
        self.bound: set[str] = set()        # bound anywhere at top level (outputs)
        self.always_bound: set[str] = set()  # bound unconditionally (straight-line code)
        self.deleted_at_end: set[str] = set()
        self.deferred_reads: set[str] = set()
        self._depth = 0                     # >0 inside a branch or loop

    # -- reads and writes

    def read(self, name: str) -> None:
        if name not in self.defined:
            self.inputs.add(name)

    def bind(self, name: str) -> None:
        self.defined.add(name)
        self.bound.add(name)
        self.deleted_at_end.discard(name)
        if self._depth == 0:
            self.always_bound.add(name)

    def unbind(self, name: str) -> None:
        self.read(name)
        self.defined.discard(name)
        self.deleted_at_end.add(name)

    # -- statements

    def block(self, stmts: list[ast.stmt]) -> None:
        for stmt in stmts:
            self.stmt(stmt)

    def branch(self, stmts: list[ast.stmt]) -> set[str]:
        """Run ``stmts`` as one possible path; returns what is defined at its end."""
        saved = set(self.defined)
        self._depth += 1
        self.block(stmts)
        self._depth -= 1
        result, self.defined = self.defined, saved
        return result

    def stmt(self, node: ast.stmt) -> None:
        handler = getattr(self, f"_stmt_{type(node).__name__}", None)
        if handler is not None:
            handler(node)
        else:  # Expr, Return, Raise, Assert, Pass...: evaluate children eagerly
            for child in ast.iter_child_nodes(node):
                self.expr(child)

    def _stmt_Assign(self, node: ast.Assign) -> None:
        self.expr(node.value)
        for target in node.targets:
            self.target(target)

    def _stmt_AugAssign(self, node: ast.AugAssign) -> None:
        self.expr(node.value)
        if isinstance(node.target, ast.Name):
            self.read(node.target.id)
        self.target(node.target)

    def _stmt_AnnAssign(self, node: ast.AnnAssign) -> None:
        self.expr(node.annotation)
        if node.value is not None:
            self.expr(node.value)
            self.target(node.target)
        elif not isinstance(node.target, ast.Name):
            self.expr(node.target)

    def _stmt_Delete(self, node: ast.Delete) -> None:
        for target in node.targets:
            if isinstance(target, ast.Name):
                self.unbind(target.id)
            else:
                self.expr(target)

    def _stmt_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.bind(alias.asname or alias.name.split(".")[0])

    def _stmt_ImportFrom(self, node: ast.ImportFrom) -> None:
        for alias in node.names:
            if alias.name != "*":  # star imports are caught at run time by the namespace diff
                self.bind(alias.asname or alias.name)

    def _stmt_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for expr in [*node.decorator_list, *_defaults(node.args), *_annotations(node)]:
            self.expr(expr)
        self.deferred_reads |= _free_globals(node)
        self.bind(node.name)

    _stmt_AsyncFunctionDef = _stmt_FunctionDef

    def _stmt_ClassDef(self, node: ast.ClassDef) -> None:
        for expr in [*node.decorator_list, *node.bases, *(k.value for k in node.keywords)]:
            self.expr(expr)
        self.deferred_reads |= _free_globals(node)
        self.bind(node.name)

    def _stmt_If(self, node: ast.If | ast.While) -> None:
        self.expr(node.test)
        after_body = self.branch(node.body)
        after_else = self.branch(node.orelse)
        self.defined = after_body & after_else if isinstance(node, ast.If) else self.defined

    _stmt_While = _stmt_If

    def _stmt_For(self, node: ast.For | ast.AsyncFor) -> None:
        self.expr(node.iter)
        saved = set(self.defined)
        self._depth += 1
        self.target(node.target)
        self.block(node.body)
        self.defined = set(saved)
        self.block(node.orelse)
        self._depth -= 1
        self.defined = saved

    _stmt_AsyncFor = _stmt_For

    def _stmt_With(self, node: ast.With | ast.AsyncWith) -> None:
        for item in node.items:
            self.expr(item.context_expr)
            if item.optional_vars is not None:
                self.target(item.optional_vars)
        self.block(node.body)

    _stmt_AsyncWith = _stmt_With

    def _stmt_Try(self, node: ast.Try) -> None:
        before = set(self.defined)
        self._depth += 1
        self.block(node.body)
        self.block(node.orelse)
        self.defined = set(before)
        for handler in node.handlers:
            if handler.type is not None:
                self.expr(handler.type)
            if handler.name:
                self.bind(handler.name)
            self.block(handler.body)
            self.defined = set(before)
        self._depth -= 1
        self.block(node.finalbody)

    _stmt_TryStar = _stmt_Try

    def _stmt_Match(self, node: ast.Match) -> None:
        self.expr(node.subject)
        for case in node.cases:
            saved = set(self.defined)
            self._depth += 1
            for sub in ast.walk(case.pattern):
                for attr in ("name", "rest"):
                    name = getattr(sub, attr, None)
                    if isinstance(name, str):
                        self.bind(name)
                if isinstance(sub, ast.MatchValue | ast.MatchClass | ast.MatchMapping):
                    for child in ast.iter_child_nodes(sub):
                        if isinstance(child, ast.expr):
                            self.expr(child)
            if case.guard is not None:
                self.expr(case.guard)
            self.block(case.body)
            self._depth -= 1
            self.defined = saved

    def _stmt_Global(self, node: ast.Global | ast.Nonlocal) -> None:
        """At top level these change nothing."""

    _stmt_Nonlocal = _stmt_Global

    # -- expressions

    def target(self, node: ast.expr) -> None:
        if isinstance(node, ast.Name):
            self.bind(node.id)
        elif isinstance(node, ast.Tuple | ast.List):
            for elt in node.elts:
                self.target(elt)
        elif isinstance(node, ast.Starred):
            self.target(node.value)
        else:  # obj.attr = ..., obj[i] = ...: reads obj (and mutates it: caught by re-hashing)
            self.expr(node)

    def expr(self, node: ast.AST) -> None:
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load):
                self.read(node.id)
            elif isinstance(node.ctx, ast.Store):
                self.bind(node.id)
        elif isinstance(node, ast.NamedExpr):
            self.expr(node.value)
            self.target(node.target)
        elif isinstance(node, ast.Lambda):
            for default in _defaults(node.args):
                self.expr(default)
            self.deferred_reads |= _free_globals(node)
        elif isinstance(node, ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp):
            self._comprehension(node)
        else:
            for child in ast.iter_child_nodes(node):
                self.expr(child)

    def _comprehension(self, node: ast.expr) -> None:
        """Comprehensions run now, in their own scope (walrus targets leak to the cell)."""
        self.expr(node.generators[0].iter)  # type: ignore[attr-defined]
        reads: set[str] = set()
        _walk_scope(node, None, reads)
        for name in reads:
            self.read(name)
        for sub in ast.walk(node):
            if isinstance(sub, ast.NamedExpr) and isinstance(sub.target, ast.Name):
                self.bind(sub.target.id)


# --------------------------------------------------------------------------- effects


def _side_effects(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and _is_get_ipython_call(func.value):
            label = _SHELL_CALLS.get(func.attr)
            if label:
                first = node.args[0].value if node.args and isinstance(node.args[0], ast.Constant) else ""
                found.append(label.format(first))
        elif isinstance(func, ast.Name) and func.id == "open" and _opens_for_writing(node):
            found.append("file write (open(..., 'w'))")
        elif isinstance(func, ast.Attribute) and func.attr in _WRITER_METHODS:
            found.append(f"file write (.{func.attr}(...))")
    return found


def _is_get_ipython_call(node: ast.expr) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == "get_ipython")


def _opens_for_writing(call: ast.Call) -> bool:
    mode = call.args[1] if len(call.args) > 1 else next(
        (k.value for k in call.keywords if k.arg == "mode"), None)
    if mode is None:
        return False
    if not isinstance(mode, ast.Constant) or not isinstance(mode.value, str):
        return True  # a computed mode may write: say so rather than stay silent
    return any(flag in mode.value for flag in "wax+")


def _uses_top_level_await(tree: ast.Module) -> bool:
    stack: list[ast.AST] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Await | ast.AsyncFor | ast.AsyncWith):
            return True
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            continue
        stack.extend(ast.iter_child_nodes(node))
    return False
