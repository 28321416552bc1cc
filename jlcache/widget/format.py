"""How the panel writes numbers for people: sizes, durations, ages and rates.

One place for these so the widget rows, the text table and the status messages agree
(the browser re-renders only relative ages, which move on their own).
"""

from __future__ import annotations

# sizes are written by the engine, so the command line (no widget libraries) writes them alike
from jlcache.memory.housekeeping import human_size

__all__ = ["human_age", "human_duration", "human_rate", "human_size"]


def human_duration(seconds: float | None) -> str:
    """A compact duration: ``< 1 µs``, ``850 µs``, ``12 ms``, ``3.4 s``, ``2 min 05 s``, ``1 h 03 min``."""
    if seconds is None:
        return ""
    s = max(0.0, float(seconds))
    if s == 0:
        return "0 s"
    if s < 1e-6:
        return "< 1 µs"
    if s < 1e-3:
        return f"{s * 1e6:.0f} µs"
    if s < 1:
        return f"{s * 1e3:.0f} ms"
    if s < 60:
        return f"{s:.1f} s" if s < 10 else f"{s:.0f} s"
    if s < 3600:
        return f"{int(s // 60)} min {int(s % 60):02d} s"
    return f"{int(s // 3600)} h {int(s % 3600 // 60):02d} min"


def human_age(then: float | None, now: float) -> str:
    """How long ago, for the text table (the browser computes its own, so it keeps moving)."""
    if not then:
        return ""
    age = int(max(0.0, now - then))
    return "just now" if age < 5 else human_duration(age) + " ago"


def human_rate(per_second: float | None) -> str:
    """Tasks per second: ``1,250/s``, ``3.5/s``; empty when nothing has finished yet."""
    if not per_second:
        return ""
    return f"{per_second:,.0f}/s" if per_second >= 10 else f"{per_second:.1f}/s"
