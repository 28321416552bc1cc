"""The cached-cell protocol of ``%%memo``, without IPython: key, load, restore, run, store.

One run, in order::

    inputs? ∩ namespace --inputs.*--> key: variables, your modules' attributes and files,
                                      files named in calls (size + mtime)
    EntryRef("cells", slot = --name | "cell-" + H(code)[:12], version = H(code)[:16], key)
      hit  -> state.unpack -> namespace; front.replay(outputs); return the last value
      miss -> front.record() -> outputs = top-level bindings that changed + mutated
              inputs -> state.pack -> memory.entries.save (unless something is unstorable)

Loading (a damaged entry is a miss with a warning), storing (the version's description,
the entry's metadata) and the ``cache.*`` events go through ``memory.entries``: the same
path as ``@memory.cache``. What only a front end can do (run the code, record and replay
what it showed) comes in as a ``CellRunner``; ``jlcache.ipython.memo`` is the IPython one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from jlcache import stats
from jlcache.cells import analysis as cells
from jlcache.cells import explain, inputs, state
from jlcache.identity import hash as _hash
from jlcache.memory import entries
from jlcache.memory.results import MISS
from jlcache.store.layout import EntryRef

if TYPE_CHECKING:  # pragma: no cover
    from jlcache.store import Store

__all__ = ["KIND", "Cell", "CellRunner", "MemoOptions", "Ran", "cell_ref", "describe_cell",
           "run_cached"]

KIND = "cells"
_warned_dynamic: set[tuple[str, str]] = set()
_warned_store: set[tuple] = set()   # (location, slot, version, reason): once per cell


@dataclass(frozen=True)
class MemoOptions:
    """``%%memo``'s options: names left out of the key, slot name, force, off, verbose."""

    ignore: frozenset[str] = frozenset()
    name: str | None = None
    force: bool = False
    off: bool = False
    verbose: bool = False


@dataclass
class Cell:
    """One cell to cache: its code, what analysis found, and where its entries go."""

    raw: str
    source: str
    analysis: cells.CellAnalysis
    slot: str
    version: str
    display: str
    quiet: bool = False       # ends with ';': no result shown, none stored


@dataclass
class Ran:
    """What a recorded run of the cell gave the engine."""

    ok: bool                  # False: the cell raised (the front end has shown the error)
    value: Any                # the value of its last expression (None when quiet)
    filename: str             # the code's filename (functions defined in it keep it)
    outputs: list             # what it showed, for replay on hits
    duration: float


class CellRunner(Protocol):
    """What the engine needs from a front end to run one cell."""

    ns: dict                  # the namespace the cell runs in
    hidden: dict              # names the front end put there itself (not the user's data)

    def run(self) -> Any:
        """Run the cell without caching; returns its result."""

    def record(self) -> Ran:
        """Run the cell, recording what it shows."""

    def replay(self, outputs: list) -> None:
        """Show recorded outputs again."""

    def say(self, text: str) -> None:
        """Show a ``--verbose`` line."""


def describe_cell(raw: str, source: str, analysis: cells.CellAnalysis, opts: MemoOptions,
                  quiet: bool) -> Cell:
    """The cell's slot and version: its normalized code (and a trailing ``;``) decide them."""
    version = _hash(analysis.normalized + (";" if quiet else ""))[:16]
    return Cell(raw, source, analysis, opts.name or f"cell-{version[:12]}", version,
                opts.name or cells.label(raw) or "(empty cell)", quiet)


def cell_ref(cell: Cell, hashes: dict[str, str]) -> EntryRef:
    return EntryRef(KIND, cell.slot, cell.version, _hash(sorted(hashes.items()))[:32])


def run_cached(memory: Any, cell: Cell, opts: MemoOptions, front: CellRunner) -> Any:
    """The whole cached run; returns the cell's result (``None`` when quiet or failed)."""
    key = _key_inputs(front, cell, opts)
    if key is None:  # an input cannot be hashed: warned, run without caching
        return front.run()
    hashes, paths = key
    _warn_dynamic(cell)
    ref = cell_ref(cell, hashes)
    stats.mark_current(KIND, cell.slot, cell.version, stats.current_site())
    store = memory.store
    if not opts.force:
        saved, meta = _load(memory, ref, cell)
        unpacked = _unpack(front, saved, cell, memory.store.describe(ref)) \
            if saved is not MISS else None
        if unpacked is not None:
            entries.hit(ref, cell.display, meta)
            return _restore(front, saved, unpacked, cell, opts, hashes)
    entries.miss(ref, cell.display)
    if opts.verbose:
        front.say(explain.why(store, cell, hashes, opts.force))
    return _run_and_store(memory, cell, (ref, hashes, paths), opts, front)


def _key_inputs(front: CellRunner, cell: Cell, opts: MemoOptions
                ) -> tuple[dict[str, str], list[str]] | None:
    ns = front.ns
    hashes = inputs.name_hashes(ns, front.hidden, cell.analysis.inputs - opts.ignore)
    if hashes is None:
        return None
    reads = cell.analysis.reads
    imports = tuple(m for m in reads.imports if m.partition(".")[0] not in opts.ignore)
    hashes.update(inputs.module_hashes(ns, reads, set(hashes), imports))
    paths = inputs.file_candidates(ns, reads)
    hashes.update(inputs.file_hashes(paths))
    return hashes, paths


def _warn_dynamic(cell: Cell) -> None:
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


def _load(memory: Any, ref: EntryRef, cell: Cell, quiet: bool = False) -> tuple[Any, dict]:
    value, meta = entries.load(memory.store, ref, memory.mmap_mode, f"cell {cell.display!r}",
                               quiet=quiet, warn=inputs.warn)
    if value is not MISS and (not isinstance(value, state.CellState) or "payload" not in vars(value)):
        return MISS, {}   # another layout (an older jlcache): run again and overwrite
    return value, meta


def _unpack(front: CellRunner, saved: state.CellState, cell: Cell,
            where: str) -> tuple[dict, Any] | None:
    """The saved variables and result, or ``None`` (a miss, warned) when they cannot be
    rebuilt: a class or helper the entry names is gone, or the entry is damaged inside."""
    from jlcache.errors import CorruptEntryWarning

    try:
        return state.unpack(saved, front.ns)
    except Exception as exc:
        inputs.warn(CorruptEntryWarning(
            f"the cached state of cell {cell.display!r} at {where} could not be restored "
            f"({type(exc).__name__}: {exc}); the cell runs again and its entry is overwritten."))
        return None


def _restore(front: CellRunner, saved: state.CellState, unpacked: tuple[dict, Any], cell: Cell,
             opts: MemoOptions, hashes: dict[str, str]) -> Any:
    ns = front.ns
    variables, result = unpacked
    for name in saved.deleted:
        ns.pop(name, None)
    ns.update(variables)
    if opts.verbose:
        front.say(explain.restored(cell, sorted(variables), hashes))
    front.replay(saved.outputs)
    return result if saved.has_result and not cell.quiet else None


def _run_and_store(memory: Any, cell: Cell, key: tuple, opts: MemoOptions,
                   front: CellRunner) -> Any:
    ref, hashes, paths = key
    ns = front.ns
    before = dict(ns)
    ran = front.record()
    if not ran.ok:
        if opts.verbose:
            front.say(f"[memo] {cell.display}: the cell raised; nothing was cached.")
        return None
    changed = _changed_names(before, ns, hashes) - opts.ignore
    deleted = sorted(n for n in before if n not in ns and not state.internal_name(n))
    # closed files and the like (``with open(p) as f:``): nothing to restore, left out
    variables = {name: ns[name] for name in sorted(changed)
                 if name in ns and not state.is_closed(ns[name])}
    files = inputs.file_hashes(paths)    # files the cell wrote count as they are after it
    if any(hashes.get(k) != v for k, v in files.items()):
        hashes = {**{k: v for k, v in hashes.items() if not k.startswith("file:")}, **files}
        ref = cell_ref(cell, hashes)
    has_result = cell.analysis.has_last_expr and not cell.quiet
    try:
        saved = state.pack(variables, deleted, ran.outputs, ran.value, has_result,
                           {ran.filename: cell.source}, ns)
    except Exception as exc:
        _warn_unstorable(variables, ran.value, ns, exc)
        return ran.value
    if _store(memory, cell, ref, saved, hashes, ran.duration):
        _map_arrays(memory, cell, ref, saved, ns, variables)
    return ran.value


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


def _store(memory: Any, cell: Cell, ref: EntryRef, saved: state.CellState,
           hashes: dict[str, str], duration: float) -> bool:
    meta = entries.entry_meta(cell.display, duration, {n: h[:12] for n, h in hashes.items()},
                              inputs=hashes)

    def info() -> dict:
        return {"name": cell.display, "first_line": cells.first_line(cell.raw),
                "source": cell.raw, "created": time.time()}

    try:
        nbytes = entries.save(memory.store, ref, saved, meta, info, memory.compress)
    except Exception as exc:  # the cell ran; a storage problem must not fail it
        _warn_store_failed(memory.store, cell, exc)
        return False
    entries.stored(ref, cell.display, nbytes, duration, memory.store.url)
    return True


def _warn_store_failed(store: Store, cell: Cell, exc: Exception) -> None:
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


def _map_arrays(memory: Any, cell: Cell, ref: EntryRef, saved: state.CellState, ns: dict,
                variables: dict[str, Any]) -> None:
    """With ``mmap_mode``, arrays the cell made become the stored memmaps right away, as a
    restore (and ``Memory``'s first call) would give them: same type, same writability."""
    if memory.mmap_mode is None or not saved.array_names:
        return
    found, _ = _load(memory, ref, cell, quiet=True)
    if found is MISS:
        return
    loaded = found.arrays
    for name, index in saved.array_names.items():
        if ns.get(name) is variables.get(name) and index < len(loaded):
            ns[name] = loaded[index]
