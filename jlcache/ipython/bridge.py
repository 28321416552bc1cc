"""The notebook side of the joblib bridge: on at ``%load_ext``, ``%jlcache bridge on|off``.

Loading the extension turns the bridge on when joblib is installed (silently does nothing
otherwise) and says so once; unloading puts back the state from before the load, so
``%unload_ext jlcache`` restores joblib exactly as it was.
"""

from __future__ import annotations

import importlib.util
from typing import Any

__all__ = ["command", "on_load", "on_unload"]

# One line of the ``%load_ext`` message (after the cache's location), so it stays short.
LOADED = ("joblib bridge on: joblib.Parallel (scikit-learn's n_jobs too) runs as jlcache jobs, "
          "with the panel and a progress bar; `%jlcache bridge off` turns it off.")

_saved: list[Any] = []  # the bridge_joblib() made at load: its restore() undoes the load


def joblib_installed() -> bool:
    try:
        return importlib.util.find_spec("joblib") is not None
    except (ImportError, ValueError):
        return False


def on_load() -> str | None:
    """Turn the bridge on for the extension; the line to add to the load message, or None."""
    if _saved or not joblib_installed():
        return None
    from jlcache.bridge import bridge_joblib

    try:
        _saved.append(bridge_joblib(True))
    except (ImportError, RuntimeError) as exc:  # an unsupported joblib: say so, load anyway
        return f"the joblib bridge stays off: {exc}"
    return LOADED


def on_unload() -> None:
    """Put the bridge back as it was before the extension was loaded."""
    while _saved:
        _saved.pop().restore()


def command(arg: str | None) -> str:
    """``%jlcache bridge [on|off]``: switch it, or say whether it is on."""
    from IPython.core.error import UsageError

    from jlcache.bridge import bridge_joblib, is_bridged

    if arg not in (None, "on", "off"):
        raise UsageError(f"%jlcache bridge takes `on` or `off`, not {arg!r} (e.g. "
                         "%jlcache bridge off).")
    if arg is not None:
        if not joblib_installed():
            raise UsageError("the joblib bridge needs joblib, which is not installed: "
                             "`pip install joblib` (scikit-learn installs it too).")
        try:
            bridge_joblib(arg == "on")
        except RuntimeError as exc:
            raise UsageError(str(exc)) from None
    if is_bridged():
        return ("joblib bridge: on (joblib.Parallel calls run as jlcache jobs); "
                "`%jlcache bridge off` turns it off.")
    return "joblib bridge: off (joblib runs as usual); `%jlcache bridge on` turns it on."
