"""``%%memo``: run a cell once, then restore its variables and replay its output.

One run, in order::

    raw cell --IPython transformer--> source --cells.analyze--> inputs?, outputs, effects
    inputs? ∩ user namespace --value_hash--> key      slot = --name | "cell-" + H(code)[:12]
    EntryRef("cells", slot, version=H(normalized code)[:16], key)
      hit  -> state.unpack -> namespace; capture.replay(outputs); return last value
      miss -> execute under capture.recording -> outputs = top-level bindings that changed
              + mutated inputs -> state.pack -> Store.put (unless something is unstorable)

The value of the cell's last expression is *returned* by the magic, so IPython's
displayhook shows it as the cell's result and sets ``_`` / ``Out`` on hits and misses alike.
"""

from __future__ import annotations

import ast
import time
import warnings
from dataclasses import dataclass
from typing import Any

from jlcache.ipython import capture, cells, state

__all__ = ["MemoOptions", "run_memo"]

_KIND = "cells"


@dataclass(frozen=True)
class MemoOptions:
    ignore: frozenset[str] = frozenset()
    name: str | None = None
    force: bool = False
    off: bool = False
    verbose: bool = False


@dataclass
class _Cell:
    raw: str
    source: str
    analysis: cells.CellAnalysis
    slot: str
    version: str
    display: str


def run_memo(shell: Any, memory: Any, raw: str, opts: MemoOptions) -> Any:
    """The whole of ``%%memo``; returns the cell's result (or ``None``)."""
    from IPython.core.error import UsageError

    source = shell.transform_cell(raw)
    try:
        analysis = cells.analyze(source)
    except SyntaxError:
        return _execute(shell, source, raw)[1]  # shows the SyntaxError as a plain cell would
    if analysis.uses_await:
        raise UsageError("%%memo cannot run cells with top-level `await`/`async for`/`async "
                         "with` (the cell would need the kernel's event loop). Move the async "
                         "code into an `async def` and run it with `asyncio.run(...)` inside "
                         "a function, or drop %%memo for this cell.")
    if opts.off or getattr(memory, "store", None) is None:
        return _execute(shell, source, raw)[1]
    from jlcache.hashing import hash as _hash

    version = _hash(analysis.normalized)[:16]
    cell = _Cell(raw, source, analysis, opts.name or f"cell-{version[:12]}", version,
                 opts.name or cells.first_line(raw) or "(empty cell)")
    return _run_cached(shell, memory, cell, opts)


def _run_cached(shell: Any, memory: Any, cell: _Cell, opts: MemoOptions) -> Any:
    from jlcache import events, stats
    from jlcache.hashing import hash as _hash
    from jlcache.store import EntryRef

    ns = shell.user_ns
    hashes = _input_hashes(ns, shell.user_ns_hidden, cell.analysis.inputs - opts.ignore)
    if hashes is None:  # an input cannot be hashed: warned, run without caching
        return _execute(shell, cell.source, cell.raw)[1]
    ref = EntryRef(_KIND, cell.slot, cell.version, _hash(sorted(hashes.items()))[:32])
    stats.mark_current(_KIND, cell.slot, cell.version)
    store = memory.store
    if not opts.force:
        found = _load(store, ref, memory.mmap_mode)
        if found is not None:
            value, meta = found
            _publish("cache.hit", cell, ref, bytes=meta.get("bytes", meta.get("size")),
                     duration=meta.get("duration"))
            return _restore(shell, value, meta, cell, opts)
    if events.has_subscribers():
        _publish("cache.miss", cell, ref)
    if opts.verbose:
        print(_why(store, cell, hashes, opts))
    return _run_and_store(shell, memory, cell, ref, hashes, opts)


def _load(store: Any, ref: Any, mmap_mode: str | None) -> tuple[Any, dict] | None:
    from jlcache.errors import CorruptEntryError, CorruptEntryWarning

    try:
        value, meta = store.get(ref, mmap_mode=mmap_mode)
    except KeyError:
        return None
    except CorruptEntryError as exc:
        _warn(CorruptEntryWarning(
            f"The cached entry of cell {ref.group!r} at {store.path(ref)} could not be read "
            f"({exc}); the cell runs again and its entry is overwritten."))
        return None
    if not isinstance(value, state.CellState):
        return None
    store.touch(ref)
    return value, meta


def _restore(shell: Any, saved: state.CellState, meta: dict, cell: _Cell,
             opts: MemoOptions) -> Any:
    variables = state.unpack(saved)
    ns = shell.user_ns
    for name in saved.deleted:
        ns.pop(name, None)
    ns.update(variables)
    if opts.verbose:
        names = ", ".join(sorted(variables)) or "none"
        print(f"[memo] {cell.display}: restored from cache (variables: {names})")
        if cell.analysis.side_effects:
            print("[memo] not replayed: " + "; ".join(cell.analysis.side_effects))
    capture.replay(shell, saved.outputs)
    return saved.result if saved.has_result else None


def _input_hashes(ns: dict, hidden: dict, candidates: frozenset[str]) -> dict[str, str] | None:
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
            _warn(NotCachedWarning(
                f"%%memo: the cell reads {name!r} (a {type(ns[name]).__name__}), which cannot be "
                f"hashed into a cache key ({str(exc).split('. ')[0]}). The cell ran normally but "
                f"was not cached. If {name!r} does not change the cell's results, add "
                f"`--ignore {name}`."))
            return None
    return hashes


def _execute(shell: Any, source: str, raw: str) -> tuple[bool, Any, str]:
    """Run the cell like IPython would; returns (succeeded, last value, code filename)."""
    from IPython.core.async_helpers import _pseudo_sync_runner

    filename = shell.compile.cache(source, shell.execution_count, raw_code=raw)
    try:
        tree = shell.compile.ast_parse(source, filename=filename)
    except SyntaxError:
        shell.showsyntaxerror(filename)
        _fail(shell)
        return False, None, filename
    tree = shell.transform_ast(tree)
    has_result = bool(tree.body) and isinstance(tree.body[-1], ast.Expr)
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


def _fail(shell: Any) -> None:
    result = getattr(shell.displayhook, "exec_result", None)
    if result is not None and result.error_before_exec is None:
        result.error_before_exec = SyntaxError("syntax error in %%memo cell")


def _run_and_store(shell: Any, memory: Any, cell: _Cell, ref: Any, hashes: dict[str, str],
                   opts: MemoOptions) -> Any:
    ns = shell.user_ns
    before = dict(ns)
    t0 = time.perf_counter()
    with capture.recording(shell) as outputs:
        ok, value, filename = _execute(shell, cell.source, cell.raw)
        if ok:
            capture.flush_inline_figures()
    duration = time.perf_counter() - t0
    if not ok:
        if opts.verbose:
            print(f"[memo] {cell.display}: the cell raised; nothing was cached.")
        return None
    changed = _changed_names(before, ns, cell, hashes) - opts.ignore
    deleted = sorted(n for n in before if n not in ns and not state.internal_name(n))
    variables = {name: ns[name] for name in sorted(changed) if name in ns}
    if not _storable(variables, cell):
        return value
    saved = state.pack(variables, deleted, outputs, value, cell.analysis.has_last_expr,
                       {filename: cell.source})
    _store(memory, cell, ref, saved, hashes, duration)
    return value


def _changed_names(before: dict, ns: dict, cell: _Cell, hashes: dict[str, str]) -> set[str]:
    """Top-level bindings that changed, plus inputs the cell mutated in place."""
    changed = {name for name, val in ns.items()
               if (name not in before or before[name] is not val) and not state.internal_name(name)}
    for name, old in hashes.items():
        if name in ns and name not in changed:
            try:
                if state.value_hash(ns[name]) != old:
                    changed.add(name)
            except TypeError:
                changed.add(name)  # let the storability check name it
    return changed


def _storable(variables: dict[str, Any], cell: _Cell) -> bool:
    from jlcache.errors import NotCachedWarning

    bad = {n: r for n, v in variables.items() if (r := state.unpicklable_reason(v)) is not None}
    if not bad:
        return True
    lines = "; ".join(f"{n!r} (a {type(variables[n]).__name__}: {r})" for n, r in bad.items())
    first = next(iter(bad))
    _warn(NotCachedWarning(
        f"%%memo: the cell ran normally but was not cached, because these variables cannot be "
        f"stored: {lines}. Add `--ignore {','.join(bad)}` to leave them out, or end the cell "
        f"with `del {first}` if it is only needed inside the cell."))
    return False


def _store(memory: Any, cell: _Cell, ref: Any, saved: state.CellState, hashes: dict[str, str],
           duration: float) -> None:
    from jlcache.errors import NotCachedWarning

    store = memory.store
    meta = {"duration": duration, "time": time.time() - duration, "inputs": hashes,
            "func": cell.display, "input_args": {n: h[:12] for n, h in hashes.items()}}
    try:
        store.write_info(_KIND, cell.slot, cell.version,
                         {"name": cell.display, "first_line": cells.first_line(cell.raw),
                          "source": cell.raw, "created": time.time()})
        nbytes = store.put(ref, saved, meta, compress=memory.compress)
    except Exception as exc:  # the cell ran; a storage problem must not fail it
        _warn(NotCachedWarning(
            f"%%memo: the cell ran but its results could not be cached ({type(exc).__name__}: "
            f"{exc}). The disk may be full or the cache read-only; see `%jlcache info`, or "
            "choose another location with `%jlcache dir PATH`."))
        return
    _publish("cache.store", cell, ref, bytes=nbytes, duration=duration)


def _warn(warning: Warning) -> None:
    """Warn as coming from the cell (no path inside jlcache in the notebook's output)."""
    warnings.warn_explicit(warning, type(warning), filename="%%memo", lineno=1,
                           module="jlcache.ipython")


def _publish(name: str, cell: _Cell, ref: Any, **data: Any) -> None:
    from jlcache import events

    if events.has_subscribers():
        events.publish(name, kind=_KIND, group=cell.slot, func=cell.display,
                       version=cell.version, key=ref.key, **data)


def _why(store: Any, cell: _Cell, hashes: dict[str, str], opts: MemoOptions) -> str:
    """The --verbose explanation of a run, from the slot's most recent entry."""
    head = f"[memo] {cell.display}: running"
    if opts.force:
        reason = "--force given"
    else:
        try:
            entries = store.entries(_KIND, cell.slot)
        except Exception:
            entries = []
        if not entries:
            reason = "no cached entry for this cell yet"
        else:
            last = max(entries, key=lambda e: e.created or 0)
            reason = _diff_reason(last, cell, hashes)
    text = f"{head} ({reason})"
    if cell.analysis.side_effects:
        text += "\n[memo] side effects are not replayed on later hits: " + "; ".join(
            cell.analysis.side_effects)
    return text


def _diff_reason(last: Any, cell: _Cell, hashes: dict[str, str]) -> str:
    if last.ref.version != cell.version:
        return "the cell's code changed since the last cached run"
    old = dict((last.meta or {}).get("inputs") or {})
    changed = sorted(n for n in set(old) | set(hashes) if old.get(n) != hashes.get(n))
    if changed:
        return "input changed: " + ", ".join(changed)
    return "no cached entry for these inputs"
