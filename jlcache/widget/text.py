"""The panel as plain text: what terminals, ``nbconvert`` and logs show instead of the widget.

It reads the same synced rows the browser draws, so both views always agree.
"""

from __future__ import annotations

import time

from jlcache.widget.format import human_age

__all__ = ["text_table"]

_CACHE_COLS = (("entries", 8), ("size", 10), ("hits", 7), ("misses", 8), ("saved", 10), ("last used", 13))
_JOB_COLS = (("backend", 12), ("n_jobs", 7), ("done/total", 16), ("errors", 7), ("elapsed", 11),
             ("rate", 10), ("ETA", 11), ("status", 11))
_LABEL = 44
_JOB_LABEL = 28


def _fit(text: str, width: int) -> str:
    """Pad or cut ``text`` to ``width`` (cut with an ellipsis, so a long name is visibly cut)."""
    return text[: width - 1] + "…" if len(text) > width else text.ljust(width)


def _cache_line(indent: str, row: dict, now: float) -> str:
    label = indent + row["label"] + (f" ({row['state']})" if row.get("state") else "")
    cells = [str(row["entries"]), row["size"], str(row.get("hits", "")), str(row.get("misses", "")),
             row.get("saved", ""), human_age(row.get("last_used"), now)]
    return _fit(label, _LABEL) + "".join(c.rjust(w) for c, (_, w) in zip(cells, _CACHE_COLS, strict=True))


def _section_lines(title: str, section: dict, now: float) -> list[str]:
    lines = [title.ljust(_LABEL) + "".join(n.rjust(w) for n, w in _CACHE_COLS)]
    for row in section["rows"]:
        lines.append(_cache_line("  ", row, now))
        for vrow in row.get("children", {}).get("rows", ()):
            lines.append(_cache_line("    ", vrow, now))
            lines += [_cache_line("      ", e, now) for e in vrow.get("children", {}).get("rows", ())]
    if not section["rows"]:
        lines.append("  (none)")
    elif section["total"] > len(section["rows"]):
        lines.append(f"  … {section['total'] - len(section['rows'])} more "
                     f"(page {section['page'] + 1}/{section['pages']})")
    return lines


def _job_lines(jobs: list[dict]) -> list[str]:
    lines = ["Jobs".ljust(_JOB_LABEL) + "".join(n.rjust(w) for n, w in _JOB_COLS)]
    for j in jobs:
        total = "?" if j["total"] is None else f"{j['total']:,}"
        cells = [j["backend"], str(j["n_jobs"] or ""), f"{j['done']:,}/{total}", str(j["errors"]),
                 j["elapsed_text"], j["rate_text"], j["eta_text"], j["status"]]
        lines.append(_fit("  " + (j["label"] or j["job"]), _JOB_LABEL)
                     + "".join(c.rjust(w) for c, (_, w) in zip(cells, _JOB_COLS, strict=True)))
    if not jobs:
        lines.append("  (none)")
    return lines


def text_table(summary: dict, sections: dict, jobs: list[dict], now: float | None = None) -> str:
    """The panel as plain text, from the rows the widget syncs."""
    now = time.time() if now is None else now
    head = (f"jlcache panel: {summary.get('location') or '(no cache)'}: {summary['entries']} entries, "
            f"{summary['size']}")
    if summary.get("stale_versions"):
        head += f" (stale: {summary['stale_versions']} version(s), {summary['stale_size']})"
    lines = [head, ""]
    lines += _section_lines("Functions", sections["functions"], now)
    lines += ["", *_section_lines("Cells", sections["cells"], now), "", *_job_lines(jobs)]
    return "\n".join(line.rstrip() for line in lines)
