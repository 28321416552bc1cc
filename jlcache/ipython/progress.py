"""The notebook progress bar of ``Parallel(progress=True)`` and ``%pmap``: an ipywidgets bar.

The engine finds it through the ``jlcache.progress`` entry point (see
``jlcache.parallel.progress``), so it never imports a widget library itself.
"""

from __future__ import annotations

import time

__all__ = ["WidgetBar"]


def _rate(done: int, elapsed: float) -> str:
    return f"{done / elapsed:,.0f} tasks/s" if elapsed > 0 else ""


class WidgetBar:
    """An ipywidgets progress bar with a text label."""

    def __init__(self, label: str) -> None:
        import ipywidgets
        from IPython.display import display

        self.t0 = time.monotonic()
        # "initial": the label's own width (the default cuts it to "Parallel(n…")
        self.bar = ipywidgets.IntProgress(min=0, max=1, value=0, description=label[:40],
                                          style={"description_width": "initial"})
        self.text = ipywidgets.HTML()
        display(ipywidgets.HBox([self.bar, self.text]))

    def update(self, done: int, total: int | None, errors: int) -> None:
        """Called from the job's dispatch loop (5 times a second): the bar's two traits go
        in one message, not two, as sending costs that loop time."""
        elapsed = time.monotonic() - self.t0
        with self.bar.hold_sync():
            self.bar.max = max(total or done, 1)
            self.bar.value = done
        total_txt = f"/{total}" if total else ""
        self.text.value = f"{done}{total_txt} &nbsp; {elapsed:.1f}s &nbsp; {_rate(done, elapsed)}"

    def close(self, status: str, done: int, total: int | None, errors: int) -> None:
        self.update(done, total, errors)
        self.bar.bar_style = {"done": "success", "error": "danger"}.get(status, "warning")
        self.text.value += f" &nbsp; {status}"
