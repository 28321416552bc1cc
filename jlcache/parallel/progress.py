"""Progress display for ``progress=True`` and ``verbose>0`` (the panel uses events instead).

The engine calls ``update`` at most every ~0.2 s and ``close`` once. Under a Jupyter kernel
the bar is an ipywidgets ``IntProgress``, imported here lazily and only then; elsewhere a
one-line text bar is redrawn on stderr.
"""

from __future__ import annotations

import sys
import time
from typing import Any

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


class WidgetBar:
    """An ipywidgets progress bar with a text label."""

    def __init__(self, label: str) -> None:
        import ipywidgets
        from IPython.display import display

        self.t0 = time.monotonic()
        self.bar = ipywidgets.IntProgress(min=0, max=1, value=0, description=label[:20])
        self.text = ipywidgets.HTML()
        display(ipywidgets.HBox([self.bar, self.text]))

    def update(self, done: int, total: int | None, errors: int) -> None:
        elapsed = time.monotonic() - self.t0
        self.bar.max = max(total or done, 1)
        self.bar.value = done
        total_txt = f"/{total}" if total else ""
        self.text.value = f"{done}{total_txt} &nbsp; {elapsed:.1f}s &nbsp; {_rate(done, elapsed)}"

    def close(self, status: str, done: int, total: int | None, errors: int) -> None:
        self.update(done, total, errors)
        self.bar.bar_style = {"done": "success", "error": "danger"}.get(status, "warning")
        self.text.value += f" &nbsp; {status}"


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


def make_reporters(progress: bool, verbose: int, label: str) -> list[Any]:
    reporters: list[Any] = []
    if progress:
        bar: Any = None
        if _in_kernel():
            try:
                bar = WidgetBar(label)
            except Exception:  # no ipywidgets / no front end: fall back to text
                bar = None
        reporters.append(bar or TextBar(label))
    if verbose:
        reporters.append(VerboseLog(label, verbose))
    return reporters
