"""``%%memo`` in IPython: the front end of the cached-cell engine (``jlcache.cells.cached``).

Only what needs IPython lives here: the cell transformer (``%magics``, ``!shell``), the
displayhook's trailing-``;`` rule, running code the way IPython runs a cell, recording and
replaying outputs (``capture``), the shell's namespace and ``UsageError``. Keys, loading,
storing, events and the verbose explanations are the engine's, shared with ``@memory.cache``.

The value of the cell's last expression is *returned* by the magic, so IPython's
displayhook shows it as the cell's result and sets ``_`` / ``Out`` on hits and misses alike;
a trailing ``;`` suppresses it as in a plain cell (and is part of the code's version).
"""

from __future__ import annotations

import ast
import time
from typing import Any

from jlcache.cells import analysis as cells
from jlcache.cells import state
from jlcache.cells.cached import MemoOptions, Ran, describe_cell, run_cached
from jlcache.ipython import capture

__all__ = ["MemoOptions", "run_memo"]


def run_memo(shell: Any, memory: Any, raw: str, opts: MemoOptions) -> Any:
    """The whole of ``%%memo``; returns the cell's result (or ``None``)."""
    __tracebackhide__ = True
    from IPython.core.error import UsageError

    source = shell.transform_cell(raw)
    try:
        analysis = cells.analyze(source)
    except SyntaxError:
        analysis = None
    if analysis is None:  # outside the except block, so the error shown has no jlcache context
        return _execute(shell, source, raw, False)[1]  # shows the SyntaxError as a plain cell would
    if analysis.uses_await:
        raise UsageError("%%memo cannot run cells with top-level `await`/`async for`/`async "
                         "with` (the cell would need the kernel's event loop). Move the async "
                         "code into an `async def` and run it with `asyncio.run(...)` inside "
                         "a function, or drop %%memo for this cell.")
    quiet = analysis.has_last_expr and _semicolon_at_end(source)
    if opts.off or getattr(memory, "store", None) is None:
        return _execute(shell, source, raw, quiet)[1]
    cell = describe_cell(raw, source, analysis, opts, quiet)
    return run_cached(memory, cell, opts, _ShellRunner(shell, source, raw, quiet))


class _ShellRunner:
    """How the engine runs, records and replays one cell in an IPython shell."""

    def __init__(self, shell: Any, source: str, raw: str, quiet: bool) -> None:
        self.shell, self.source, self.raw, self.quiet = shell, source, raw, quiet
        self.ns = shell.user_ns
        self.hidden = shell.user_ns_hidden

    def run(self) -> Any:
        return _execute(self.shell, self.source, self.raw, self.quiet)[1]

    def record(self) -> Ran:
        t0 = time.perf_counter()
        with capture.recording(self.shell) as outputs:
            ok, value, filename = _execute(self.shell, self.source, self.raw, self.quiet)
            if ok:
                capture.flush_inline_figures()
        return Ran(ok, value, filename, outputs, time.perf_counter() - t0)

    def replay(self, outputs: list) -> None:
        capture.replay(self.shell, outputs)

    def say(self, text: str) -> None:
        print(text)


def _semicolon_at_end(source: str) -> bool:
    from IPython.core.displayhook import DisplayHook

    try:
        return bool(DisplayHook.semicolon_at_end_of_expression(source))
    except Exception:  # tokenize errors: the cell will show its own error when it runs
        return False


def _execute(shell: Any, source: str, raw: str, quiet: bool) -> tuple[bool, Any, str]:
    """Run the cell like IPython would; returns (succeeded, last value, code filename)."""
    from IPython.core.async_helpers import _pseudo_sync_runner

    filename = shell.compile.cache(source, _cell_number(shell), raw_code=raw)
    try:
        tree = shell.compile.ast_parse(source, filename=filename)
    except SyntaxError as exc:
        shell.showsyntaxerror(filename)
        _fail(shell, exc)
        return False, None, filename
    tree = shell.transform_ast(tree)
    has_result = bool(tree.body) and isinstance(tree.body[-1], ast.Expr) and not quiet
    if has_result:
        last = tree.body[-1]
        tree.body[-1] = ast.copy_location(
            ast.Assign(targets=[ast.Name(state.RESULT_NAME, ast.Store())], value=last.value), last)
        ast.fix_missing_locations(tree)
    result = getattr(shell.displayhook, "exec_result", None)
    failed = _pseudo_sync_runner(shell.run_ast_nodes(tree.body, filename, interactivity="none",
                                                     compiler=shell.compile, result=result))
    value = shell.user_ns.pop(state.RESULT_NAME, None)
    return not failed, (value if has_result and not failed else None), filename


def _cell_number(shell: Any) -> int:
    """The running cell's prompt number, which tracebacks show as "Cell In[N]".

    Why not ``shell.execution_count``: IPython 9 advances it *before* running the cell, so
    during the cell it is already the next prompt's; the cell's own number is on its result.
    """
    result = getattr(shell.displayhook, "exec_result", None)
    number = getattr(result, "execution_count", None)
    return number if isinstance(number, int) else shell.execution_count


def _fail(shell: Any, exc: SyntaxError) -> None:
    """Record the user's SyntaxError on the cell's result, as a plain cell's run would."""
    result = getattr(shell.displayhook, "exec_result", None)
    if result is not None and result.error_before_exec is None:
        result.error_before_exec = exc
