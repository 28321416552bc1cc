"""Progress display for ``progress=True`` and ``verbose>0`` (the panel uses events instead).

The engine calls ``update`` at most every ~0.2 s and ``close`` once. Outside a notebook a
one-line text bar is redrawn on stderr. Under a Jupyter kernel the bar comes from a front
end: the engine never imports one, so front ends offer their bar through the
``jlcache.progress`` entry-point group (jlcache's own is ``jlcache.ipython.progress:WidgetBar``,
an ipywidgets ``IntProgress``). Each entry point is a callable ``factory(label)`` returning an
object with ``update(done, total, errors)`` and ``close(status, done, total, errors)``; the
first that loads wins, and any failure falls back to text.
"""

from __future__ import annotations

import functools
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from importlib import metadata

__all__ = ["make_reporters"]


def _in_kernel() -> bool:
    if "ipykernel" not in sys.modules:
        return False
    ipython = sys.modules.get("IPython")
    get = getattr(ipython, "get_ipython", None)
    shell = get() if get else None
    return shell is not None and getattr(shell, "kernel", None) is not None


def _rate(done: int, elapsed: float) -> str:
    return f"{done / elapsed:,.0f} tasks/s" if elapsed > 0 else ""


class TextBar:
    """``[#######.....] 350/1000 tasks  1.2s  290 tasks/s`` redrawn in place."""

    def __init__(self, label: str, stream: Any = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.t0 = time.monotonic()

    def update(self, done: int, total: int | None, errors: int) -> None:
        elapsed = time.monotonic() - self.t0
        if total:
            filled = int(30 * done / total)
            bar = f"[{'#' * filled}{'.' * (30 - filled)}] {done}/{total}"
        else:
            bar = f"{done} done"
        self.stream.write(f"\r{self.label}: {bar}  {elapsed:.1f}s  {_rate(done, elapsed)}   ")
        self.stream.flush()

    def close(self, status: str, done: int, total: int | None, errors: int) -> None:
        self.update(done, total, errors)
        self.stream.write(f" {status}\n")
        self.stream.flush()


class VerboseLog:
    """joblib-style ``verbose``: a line per update on stderr (``verbose>10``: every update)."""

    def __init__(self, label: str, verbose: int) -> None:
        self.label, self.verbose = label, verbose
        self.t0 = time.monotonic()
        self.last = 0.0

    def update(self, done: int, total: int | None, errors: int) -> None:
        now = time.monotonic()
        if self.verbose <= 10 and now - self.last < 1.0:
            return
        self.last = now
        total_txt = f" of {total}" if total else ""
        sys.stderr.write(f"[{self.label}]: Done {done}{total_txt} tasks | elapsed: "
                         f"{now - self.t0:.1f}s\n")

    def close(self, status: str, done: int, total: int | None, errors: int) -> None:
        sys.stderr.write(f"[{self.label}]: {status}: {done} tasks, {errors} errors | elapsed: "
                         f"{time.monotonic() - self.t0:.1f}s\n")


ENTRY_POINT_GROUP = "jlcache.progress"


@functools.cache
def _notebook_factories() -> tuple[metadata.EntryPoint, ...]:
    """Notebook progress bars offered by installed front ends (looked up once per process).

    ``importlib.metadata`` is imported here, not with the module: it costs ~15 ms, paid by
    every first ``Parallel`` call otherwise, with or without a progress bar."""
    from importlib import metadata

    return tuple(metadata.entry_points(group=ENTRY_POINT_GROUP))


def _notebook_bar(label: str) -> Any:
    for entry in _notebook_factories():
        try:
            return entry.load()(label)
        except Exception:  # a missing widget library or a broken front end: try the next
            continue
    return None


def make_reporters(progress: bool, verbose: int, label: str) -> list[Any]:
    """The displays one job reports to: a bar when ``progress``, a log when ``verbose``."""
    reporters: list[Any] = []
    if progress:
        bar = _notebook_bar(label) if _in_kernel() else None
        reporters.append(bar or TextBar(label))
    if verbose:
        reporters.append(VerboseLog(label, verbose))
    return reporters
