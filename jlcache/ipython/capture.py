"""Record what a cell shows while it still shows it live, and replay it later in order.

A recording is a list of plain tuples (picklable, so it is stored with the cell's entry)::

    ("stdout", text) | ("stderr", text)
    ("display", data, metadata, options)     # options: transient / update (display_id)
    ("clear", wait)                          # clear_output(wait=...)

Where the bytes come from::

    print / sys.stdout.write --> _Tee --> the real stream (live) + recording
    display(...) / figures   --> shell.display_pub.publish (wrapped) --> front end + recording
    matplotlib inline        --> flush_inline_figures() inside the window, so figures that
                                 the inline backend would publish after the cell are recorded

Widgets are recorded as their model reference only: replaying one shows the widget if its
model still lives in the kernel, and IPython's usual "model not found" text otherwise.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["flush_inline_figures", "recording", "replay"]

Recording = list[tuple]


class _Tee:
    """Stands in for ``sys.stdout``/``sys.stderr``: writes through and records."""

    def __init__(self, stream: Any, name: str, items: Recording, lock: threading.Lock) -> None:
        self._stream, self._name, self._items, self._lock = stream, name, items, lock

    def write(self, text: str) -> int:
        if text:
            with self._lock:
                last = self._items[-1] if self._items else None
                if last is not None and last[0] == self._name:
                    self._items[-1] = (self._name, last[1] + text)  # merge consecutive writes
                else:
                    self._items.append((self._name, text))
        return self._stream.write(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:  # flush, isatty, fileno, encoding...
        return getattr(self._stream, name)


@contextmanager
def recording(shell: Any) -> Iterator[Recording]:
    """Everything the cell writes or displays inside the block, in order."""
    items: Recording = []
    lock = threading.Lock()
    pub = shell.display_pub
    own = vars(pub)
    saved_publish, saved_clear = own.get("publish"), own.get("clear_output")
    original_publish, original_clear = pub.publish, pub.clear_output

    def publish(data: dict, metadata: dict | None = None, *args: Any, **kwargs: Any) -> Any:
        options = {k: kwargs[k] for k in ("transient", "update") if kwargs.get(k)}
        with lock:
            items.append(("display", data, metadata or {}, options))
        return original_publish(data, metadata, *args, **kwargs)

    def clear_output(wait: bool = False) -> Any:
        with lock:
            items.append(("clear", wait))
        return original_clear(wait)

    old_out, old_err = sys.stdout, sys.stderr
    sys.stdout = _Tee(old_out, "stdout", items, lock)
    sys.stderr = _Tee(old_err, "stderr", items, lock)
    pub.publish, pub.clear_output = publish, clear_output
    try:
        yield items
    finally:
        sys.stdout, sys.stderr = old_out, old_err
        _restore(pub, "publish", saved_publish)
        _restore(pub, "clear_output", saved_clear)


def _restore(obj: Any, name: str, saved: Any) -> None:
    if saved is None:
        try:
            delattr(obj, name)
        except AttributeError:
            pass
    else:
        setattr(obj, name, saved)


def flush_inline_figures() -> None:
    """Publish figures the inline backend would otherwise send after the cell (unrecorded)."""
    inline = sys.modules.get("matplotlib_inline.backend_inline")
    if inline is None:
        return
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is None or "inline" not in str(plt.get_backend()):
        return
    inline.flush_figures()


def replay(shell: Any, items: Recording) -> None:
    """Show a recording again: same streams, same displays, same order."""
    for item in items:
        kind = item[0]
        if kind == "stdout":
            sys.stdout.write(item[1])
        elif kind == "stderr":
            sys.stderr.write(item[1])
        elif kind == "display":
            _, data, metadata, options = item
            _flush_streams()
            shell.display_pub.publish(data, metadata, **options)
        elif kind == "clear":
            _flush_streams()
            shell.display_pub.clear_output(item[1])
    _flush_streams()


def _flush_streams() -> None:
    """Stream text is buffered by ipykernel; flush so it lands before the next display."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
