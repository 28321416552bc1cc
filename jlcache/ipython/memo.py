"""``%%memo``: run a cell once, then restore its variables and replay its output.

One run, in order::

    raw cell --IPython transformer--> source --cells.analyze--> inputs?, outputs, effects
    inputs? ∩ user namespace --inputs.*--> key: variables, your modules' attributes and
                                           files, files named in calls (size + mtime)
    EntryRef("cells", slot = --name | "cell-" + H(code)[:12], version = H(code)[:16], key)
      hit  -> state.unpack -> namespace; capture.replay(outputs); return last value
      miss -> execute under capture.recording -> outputs = top-level bindings that changed
              + mutated inputs -> state.pack -> Store.put (unless something is unstorable)

The value of the cell's last expression is *returned* by the magic, so IPython's
displayhook shows it as the cell's result and sets ``_`` / ``Out`` on hits and misses alike;
a trailing ``;`` suppresses it as in a plain cell (and is part of the code's version).
"""

from __future__ import annotations

import ast
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jlcache.cells import analysis as cells
from jlcache.cells import inputs, state
from jlcache.ipython import capture

if TYPE_CHECKING:  # pragma: no cover
    from jlcache.store import EntryRef, Store

__all__ = ["MemoOptions", "run_memo"]

_KIND = "cells"
_warned_dynamic: set[tuple[str, str]] = set()
_warned_store: set[tuple] = set()   # (location, slot, version, reason): once per cell


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
    quiet: bool = False       # ends with ';': no result shown, none stored


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
    from jlcache.identity import hash as _hash

    version = _hash(analysis.normalized + (";" if quiet else ""))[:16]
    cell = _Cell(raw, source, analysis, opts.name or f"cell-{version[:12]}", version,
                 opts.name or cells.label(raw) or "(empty cell)", quiet)
    return _run_cached(shell, memory, cell, opts)


def _semicolon_at_end(source: str) -> bool:
    from IPython.core.displayhook import DisplayHook

    try:
        return bool(DisplayHook.semicolon_at_end_of_expression(source))
    except Exception:  # tokenize errors: the cell will show its own error when it runs
        return False


def _run_cached(shell: Any, memory: Any, cell: _Cell, opts: MemoOptions) -> Any:
    from jlcache import events, stats

    ns = shell.user_ns
    hashes = inputs.name_hashes(ns, shell.user_ns_hidden, cell.analysis.inputs - opts.ignore)
    if hashes is None:  # an input cannot be hashed: warned, run without caching
        return _execute(shell, cell.source, cell.raw, cell.quiet)[1]
    reads = cell.analysis.reads
    imports = tuple(m for m in reads.imports if m.partition(".")[0] not in opts.ignore)
    hashes.update(inputs.module_hashes(ns, reads, set(hashes), imports))
    paths = inputs.file_candidates(ns, reads)
    hashes.update(inputs.file_hashes(paths))
    _warn_dynamic(cell)
    ref = _ref(cell, hashes)
    stats.mark_current(_KIND, cell.slot, cell.version)
    store = memory.store
    if not opts.force:
        found = _load(store, ref, memory.mmap_mode)
        if found is not None:
            value, meta = found
            _publish("cache.hit", cell, ref, bytes=meta.get("bytes", meta.get("size")),
                     duration=meta.get("duration"))
            return _restore(shell, value, cell, opts, hashes)
    if events.has_subscribers():
        _publish("cache.miss", cell, ref)
    if opts.verbose:
        print(_why(store, cell, hashes, opts))
    return _run_and_store(shell, memory, cell, (ref, hashes, paths), opts)


def _ref(cell: _Cell, hashes: dict[str, str]) -> EntryRef:
    from jlcache.identity import hash as _hash
    from jlcache.store.layout import EntryRef

    return EntryRef(_KIND, cell.slot, cell.version, _hash(sorted(hashes.items()))[:32])


def _warn_dynamic(cell: _Cell) -> None:
    """Once per cell version and session: reads through eval/globals() are invisible."""
    from jlcache.errors import CacheWarning

    dynamic = cell.analysis.reads.dynamic
    if not dynamic or (cell.slot, cell.version) in _warned_dynamic:
        return
    _warned_dynamic.add((cell.slot, cell.version))
    inputs.warn(CacheWarning(
        f"the cell calls {', '.join(dynamic)}, so some of what it reads cannot be "
        "known before it runs; changing those variables does not re-run it. Read them "
        "directly (e.g. `x` rather than eval('x')), or use --force after changing them."))


def _load(store: Store, ref: EntryRef, mmap_mode: str | None) -> tuple[Any, dict] | None:
    from jlcache.errors import CorruptEntryError, CorruptEntryWarning

    try:
        value, meta = store.get(ref, mmap_mode=mmap_mode)
    except KeyError:
        return None
    except CorruptEntryError as exc:
        inputs.warn(CorruptEntryWarning(
            f"The cached entry of cell {ref.group!r} at {store.describe(ref)} could not be read "
            f"({exc}); the cell runs again and its entry is overwritten."))
        return None
    if not isinstance(value, state.CellState) or "payload" not in vars(value):
        return None   # another layout (an older jlcache): run again and overwrite
    store.touch(ref)
    return value, meta


def _restore(shell: Any, saved: state.CellState, cell: _Cell, opts: MemoOptions,
             hashes: dict[str, str]) -> Any:
    ns = shell.user_ns
    variables, result = state.unpack(saved, ns)
    for name in saved.deleted:
        ns.pop(name, None)
    ns.update(variables)
    if opts.verbose:
        names = ", ".join(sorted(variables)) or "none"
        print(f"[memo] {cell.display}: restored from cache (variables: {names})")
        print(*_notes(cell, hashes), sep="\n", end="")
        if cell.analysis.side_effects:
            print("[memo] not replayed: " + "; ".join(cell.analysis.side_effects))
    capture.replay(shell, saved.outputs)
    return result if saved.has_result and not cell.quiet else None


def _execute(shell: Any, source: str, raw: str, quiet: bool) -> tuple[bool, Any, str]:
    """Run the cell like IPython would; returns (succeeded, last value, code filename)."""
    from IPython.core.async_helpers import _pseudo_sync_runner

    filename = shell.compile.cache(source, shell.execution_count, raw_code=raw)
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


def _fail(shell: Any, exc: SyntaxError) -> None:
    """Record the user's SyntaxError on the cell's result, as a plain cell's run would."""
    result = getattr(shell.displayhook, "exec_result", None)
    if result is not None and result.error_before_exec is None:
        result.error_before_exec = exc


def _run_and_store(shell: Any, memory: Any, cell: _Cell, key: tuple, opts: MemoOptions) -> Any:
    ref, hashes, paths = key
    ns = shell.user_ns
    before = dict(ns)
    t0 = time.perf_counter()
    with capture.recording(shell) as outputs:
        ok, value, filename = _execute(shell, cell.source, cell.raw, cell.quiet)
        if ok:
            capture.flush_inline_figures()
    duration = time.perf_counter() - t0
    if not ok:
        if opts.verbose:
            print(f"[memo] {cell.display}: the cell raised; nothing was cached.")
        return None
    changed = _changed_names(before, ns, hashes) - opts.ignore
    deleted = sorted(n for n in before if n not in ns and not state.internal_name(n))
    # closed files and the like (``with open(p) as f:``): nothing to restore, left out
    variables = {name: ns[name] for name in sorted(changed)
                 if name in ns and not state.is_closed(ns[name])}
    files = inputs.file_hashes(paths)    # files the cell wrote count as they are after it
    if any(hashes.get(k) != v for k, v in files.items()):
        hashes = {**{k: v for k, v in hashes.items() if not k.startswith("file:")}, **files}
        ref = _ref(cell, hashes)
    has_result = cell.analysis.has_last_expr and not cell.quiet
    try:
        saved = state.pack(variables, deleted, outputs, value, has_result,
                           {filename: cell.source}, ns)
    except Exception as exc:
        _warn_unstorable(variables, value, ns, exc)
        return value
    if _store(memory, cell, ref, saved, hashes, duration):
        _map_arrays(memory, ref, saved, ns, variables)
    return value


def _changed_names(before: dict, ns: dict, hashes: dict[str, str]) -> set[str]:
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


def _warn_unstorable(variables: dict[str, Any], value: Any, ns: dict, exc: Exception) -> None:
    from jlcache.errors import NotCachedWarning

    bad = {n: r for n, v in variables.items() if (r := state.unpicklable_reason(v, ns)) is not None}
    if not bad:
        inputs.warn(NotCachedWarning(
            f"the cell ran normally but was not cached: its result (a "
            f"{type(value).__name__}) cannot be stored ({type(exc).__name__}: {exc}). End the "
            "cell with `;` or another expression if the result need not be shown again."))
        return
    lines = "; ".join(f"{n!r} (a {type(variables[n]).__name__}: {r})" for n, r in bad.items())
    first = next(iter(bad))
    inputs.warn(NotCachedWarning(
        f"the cell ran normally but was not cached, because these variables cannot be "
        f"stored: {lines}. Add `--ignore {','.join(bad)}` to leave them out, or end the cell "
        f"with `del {first}` if it is only needed inside the cell."))


def _store(memory: Any, cell: _Cell, ref: EntryRef, saved: state.CellState, hashes: dict[str, str],
           duration: float) -> bool:

    store: Store = memory.store
    meta = {"duration": duration, "time": time.time() - duration, "inputs": hashes,
            "func": cell.display, "input_args": {n: h[:12] for n, h in hashes.items()}}
    try:
        store.write_info(_KIND, cell.slot, cell.version,
                         {"name": cell.display, "first_line": cells.first_line(cell.raw),
                          "source": cell.raw, "created": time.time()})
        nbytes = store.put(ref, saved, meta, compress=memory.compress)
    except Exception as exc:  # the cell ran; a storage problem must not fail it
        _warn_store_failed(store, cell, exc)
        return False
    _publish("cache.store", cell, ref, bytes=nbytes, duration=duration)
    return True


def _warn_store_failed(store: Store, cell: _Cell, exc: Exception) -> None:
    """Once per cell (and cause): a read-only or full cache fails the same way on every run,
    and repeating the warning each time the cell runs only buries the cell's own output."""
    from jlcache.errors import NotCachedWarning

    seen = (store.url, cell.slot, cell.version, type(exc).__name__,
            getattr(exc, "errno", None))
    if seen in _warned_store:
        return
    _warned_store.add(seen)
    inputs.warn(NotCachedWarning(
        f"the cell ran but its results could not be cached ({type(exc).__name__}: "
        f"{exc}). The disk may be full or the cache read-only; see `%jlcache info`, or "
        "choose another location with `%jlcache dir PATH`. (Shown once for this cell.)"))


def _map_arrays(memory: Any, ref: EntryRef, saved: state.CellState, ns: dict,
                variables: dict[str, Any]) -> None:
    """With ``mmap_mode``, arrays the cell made become the stored memmaps right away, as a
    restore (and ``Memory``'s first call) would give them: same type, same writability."""
    if memory.mmap_mode is None or not saved.array_names:
        return
    found = _load(memory.store, ref, memory.mmap_mode)
    if found is None:
        return
    loaded = found[0].arrays
    for name, index in saved.array_names.items():
        if ns.get(name) is variables.get(name) and index < len(loaded):
            ns[name] = loaded[index]


def _publish(name: str, cell: _Cell, ref: Any, **data: Any) -> None:
    from jlcache import events

    if events.has_subscribers():
        events.publish(name, kind=_KIND, group=cell.slot, func=cell.display,
                       version=cell.version, key=ref.key, **data)


def _notes(cell: _Cell, hashes: dict[str, str]) -> list[str]:
    """--verbose lines about inputs that are not plain variables."""
    lines = []
    files = [k.partition(":")[2] for k in hashes if k.startswith("file:")]
    if files:
        lines.append("[memo] files tracked (size and modification time): " + ", ".join(files))
    if cell.analysis.reads.dynamic:
        lines.append(f"[memo] the cell calls {', '.join(cell.analysis.reads.dynamic)}: what it "
                     "reads through them is not part of the key")
    return [line + "\n" for line in lines]


def _why(store: Store, cell: _Cell, hashes: dict[str, str], opts: MemoOptions) -> str:
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
    text = f"{head} ({reason})\n" + "".join(_notes(cell, hashes))
    if cell.analysis.side_effects:
        text += "[memo] side effects are not replayed on later hits: " + "; ".join(
            cell.analysis.side_effects)
    return text.rstrip("\n")


def _diff_reason(last: Any, cell: _Cell, hashes: dict[str, str]) -> str:
    if last.ref.version != cell.version:
        return "the cell's code changed since the last cached run"
    old = dict((last.meta or {}).get("inputs") or {})
    changed = sorted(n for n in set(old) | set(hashes) if old.get(n) != hashes.get(n))
    if changed:
        return "input changed: " + ", ".join(inputs.describe(n) for n in changed)
    return "no cached entry for these inputs"
