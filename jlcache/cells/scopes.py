"""Python's scoping rules, enough to say which names a function, lambda, class or
comprehension reads from the module's globals (its parameters and locals, and names found in
enclosing functions, are not globals; class scopes are skipped by the functions nested in
them, as in Python).
"""

from __future__ import annotations

import ast

__all__ = ["defaults", "free_globals", "function_annotations", "walk_scope"]


def defaults(args: ast.arguments) -> list[ast.expr]:
    return [*args.defaults, *(d for d in args.kw_defaults if d is not None)]


def function_annotations(node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.expr]:
    every = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs,
             node.args.vararg, node.args.kwarg]
    found = [a.annotation for a in every if a is not None and a.annotation is not None]
    return [*found, *([node.returns] if node.returns is not None else [])]


def _params(args: ast.arguments) -> set[str]:
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
    return {a.arg for a in every if a is not None}


def _comprehension_locals(node: ast.expr) -> set[str]:
    names: set[str] = set()
    for gen in node.generators:  # type: ignore[attr-defined]
        names |= {n.id for n in ast.walk(gen.target) if isinstance(n, ast.Name)}
    return names


class _Scope:
    """Names local to one function, lambda, class or comprehension scope."""

    def __init__(self, node: ast.AST, parent: _Scope | None) -> None:
        self.node, self.parent = node, parent
        self.is_class = isinstance(node, ast.ClassDef)
        self.locals: set[str] = set()
        self.globals: set[str] = set()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            self.locals |= _params(node.args)
        elif isinstance(node, ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp):
            self.locals |= _comprehension_locals(node)
        for part in _scope_body(node):
            self._collect(part)
        self.locals -= self.globals

    def _collect(self, node: ast.AST) -> None:
        if isinstance(node, ast.Global):
            self.globals |= set(node.names)
            return
        if isinstance(node, ast.Nonlocal):
            return
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            self.locals.add(node.name)
            return
        if isinstance(node, ast.Lambda | ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp):
            for sub in ast.walk(node):  # walrus in a comprehension binds in this scope
                if isinstance(sub, ast.NamedExpr) and isinstance(sub.target, ast.Name):
                    self.locals.add(sub.target.id)
            return
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            self.locals.add(node.id)
        elif isinstance(node, ast.alias):
            self.locals.add(node.asname or node.name.split(".")[0])
        elif (isinstance(node, ast.ExceptHandler) and node.name) or (isinstance(node, ast.MatchAs | ast.MatchStar) and node.name):
            self.locals.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            self.locals.add(node.rest)
        for child in ast.iter_child_nodes(node):
            self._collect(child)

    def resolves(self, name: str) -> bool:
        """Whether ``name`` read in this scope is found before the module's globals."""
        if name in self.globals:
            return False
        if name in self.locals:
            return True
        scope = self.parent
        while scope is not None:
            if not scope.is_class and name in scope.locals and name not in scope.globals:
                return True
            scope = scope.parent
        return False


def free_globals(node: ast.AST) -> set[str]:
    """Global names read anywhere inside the function/class/lambda ``node`` (all depths)."""
    found: set[str] = set()
    walk_scope(node, None, found)
    return found


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda,
           ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)


def _scope_body(node: ast.AST) -> list[ast.AST]:
    """The parts of ``node`` that run in its own scope (its header runs in the parent's)."""
    if isinstance(node, ast.Lambda):
        return [node.body]
    if isinstance(node, ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp):
        gens = node.generators
        parts: list[ast.AST] = [*gens[0].ifs, *(g for g in gens[1:])]
        return [*parts, *(getattr(node, f) for f in ("elt", "key", "value") if hasattr(node, f))]
    return list(node.body)  # type: ignore[attr-defined]


def _scope_header(node: ast.AST) -> list[ast.AST]:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return [*node.decorator_list, *defaults(node.args), *function_annotations(node)]
    if isinstance(node, ast.Lambda):
        return list(defaults(node.args))
    if isinstance(node, ast.ClassDef):
        return [*node.decorator_list, *node.bases, *(k.value for k in node.keywords)]
    return [node.generators[0].iter]  # type: ignore[attr-defined]


def walk_scope(node: ast.AST, parent: _Scope | None, found: set[str]) -> None:
    """Collect global reads of the scope ``node`` and of every scope nested in it."""
    scope = _Scope(node, parent)
    stack: list[ast.AST] = _scope_body(node)
    while stack:
        sub = stack.pop()
        if isinstance(sub, _SCOPES):
            stack.extend(_scope_header(sub))  # runs here, in this scope
            walk_scope(sub, scope, found)
            continue
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load) and not scope.resolves(sub.id):
            found.add(sub.id)
        stack.extend(ast.iter_child_nodes(sub))
