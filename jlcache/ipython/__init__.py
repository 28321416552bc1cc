"""The IPython extension: ``%load_ext jlcache`` registers ``%%memo``, ``%pmap``, ``%jlcache``.

This package imports IPython only inside ``load_ipython_extension`` (and its submodules that
need it), so worker processes that unpickle ``jlcache.ipython.pmap.ItemCall`` stay light.

The default ``Memory`` lives at ``$JLCACHE_DIR``, else ``.jlcache/`` in the kernel's working
directory (next to the notebook); ``%jlcache dir PATH`` moves it for the session. It is
created on first use, so loading the extension never touches the disk.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

__all__ = ["get_memory", "load_ipython_extension", "set_location", "unload_ipython_extension"]

_lock = threading.Lock()
_state: dict[str, Any] = {"memory": None, "location": None, "shells": {}}


def default_location() -> Path:
    """``$JLCACHE_DIR`` if set, else ``./.jlcache`` (the kernel's working directory)."""
    env = os.environ.get("JLCACHE_DIR")
    return Path(env).expanduser() if env else Path.cwd() / ".jlcache"


def get_memory() -> Any:
    """The extension's ``Memory`` (the one ``%%memo``, ``%pmap --memo`` and the panel use)."""
    memory = _state["memory"]
    if memory is None:
        with _lock:
            memory = _state["memory"]
            if memory is None:
                from jlcache.memory.memory import Memory

                location = _state["location"] or default_location()
                memory = _state["memory"] = Memory(location)
    return memory


def set_location(location: str | os.PathLike, **options: Any) -> Any:
    """Move the default cache for this session (``%jlcache dir PATH``); returns the Memory."""
    from jlcache.memory.memory import Memory

    path = Path(location).expanduser()
    if not path.is_absolute():
        path = Path.cwd() / path
    memory = Memory(path, **options)
    with _lock:
        _state["memory"], _state["location"] = memory, path
    return memory


def load_ipython_extension(ipython: Any) -> None:
    """Register the magics on ``ipython``; loading twice is harmless."""
    if id(ipython) in _state["shells"]:
        return
    from jlcache.ipython.magics import JlcacheMagics

    magics = JlcacheMagics(ipython)
    ipython.register_magics(magics)
    _state["shells"][id(ipython)] = magics
    if _state["location"] is None:
        _state["location"] = default_location()  # fixed now: a later os.chdir does not move it
    from jlcache.ipython import bridge

    message = bridge.on_load()
    if message:
        print(message)


def unload_ipython_extension(ipython: Any) -> None:
    """Remove the magics and restore joblib; the cache on disk is left as it is."""
    magics = _state["shells"].pop(id(ipython), None)
    if magics is None:
        return
    registry = ipython.magics_manager.magics
    for kind, names in (("cell", ["memo"]), ("line", ["pmap", "jlcache"])):
        for name in names:
            if getattr(registry[kind].get(name), "__self__", None) is magics:
                del registry[kind][name]
    ipython.magics_manager.registry.pop(type(magics).__name__, None)
    if not _state["shells"]:
        from jlcache.ipython import bridge

        bridge.on_unload()
        with _lock:
            _state["memory"], _state["location"] = None, None
