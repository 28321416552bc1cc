"""``%%memo --verbose``: why a cell ran, what a hit restored, which inputs are not plain names.

Text only, built from the cell, its key entries and the slot's most recent entry, so the
front end just shows it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jlcache.cells import inputs

if TYPE_CHECKING:  # pragma: no cover
    from jlcache.cells.cached import Cell

__all__ = ["notes", "restored", "why"]


def notes(cell: Cell, hashes: dict[str, str]) -> list[str]:
    """Lines about inputs that are not plain variables (files, dynamic reads)."""
    lines = []
    files = [k.partition(":")[2] for k in hashes if k.startswith("file:")]
    if files:
        lines.append("[memo] files tracked (size and modification time): " + ", ".join(files))
    if cell.analysis.reads.dynamic:
        lines.append(f"[memo] the cell calls {', '.join(cell.analysis.reads.dynamic)}: what it "
                     "reads through them is not part of the key")
    return lines


def restored(cell: Cell, names: list[str], hashes: dict[str, str]) -> str:
    """What a hit did."""
    lines = [f"[memo] {cell.display}: restored from cache (variables: {', '.join(names) or 'none'})",
             *notes(cell, hashes)]
    if cell.analysis.side_effects:
        lines.append("[memo] not replayed: " + "; ".join(cell.analysis.side_effects))
    return "\n".join(lines)


def why(store: Any, cell: Cell, hashes: dict[str, str], force: bool) -> str:
    """Why the cell runs, from the slot's most recent entry."""
    if force:
        reason = "--force given"
    else:
        try:
            entries = store.entries("cells", cell.slot)
        except Exception:
            entries = []
        if not entries:
            reason = "no cached entry for this cell yet"
        else:
            last = max(entries, key=lambda e: e.created or 0)
            reason = _diff_reason(last, cell, hashes)
    lines = [f"[memo] {cell.display}: running ({reason})", *notes(cell, hashes)]
    if cell.analysis.side_effects:
        lines.append("[memo] side effects are not replayed on later hits: "
                     + "; ".join(cell.analysis.side_effects))
    return "\n".join(lines)


def _diff_reason(last: Any, cell: Cell, hashes: dict[str, str]) -> str:
    if last.ref.version != cell.version:
        return "the cell's code changed since the last cached run"
    old = dict((last.meta or {}).get("inputs") or {})
    changed = sorted(n for n in set(old) | set(hashes) if old.get(n) != hashes.get(n))
    if changed:
        return "input changed: " + ", ".join(inputs.describe(n) for n in changed)
    return "no cached entry for these inputs"
