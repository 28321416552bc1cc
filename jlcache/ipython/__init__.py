"""The IPython extension: ``%load_ext jlcache`` registers ``%%memo``, ``%pmap``, ``%jlcache``.

This package imports IPython only inside ``load_ipython_extension`` (and its submodules that
need it), so worker processes that unpickle ``jlcache.ipython.pmap.ItemCall`` stay light.

The default ``Memory`` is the session's (``jlcache.memory.session``): ``$JLCACHE_DIR``, else
``.jlcache/`` in the kernel's working directory (next to the notebook); ``%jlcache dir PATH``
moves it for the session. It is created on first use, so loading the extension never touches
the disk.

Each cell's id (Jupyter sends one per cell; terminal IPython does not) is told to the engine
as the "site" of the definitions the cell makes (``stats.set_site``), and a cell that runs
again first forgets what it defined before, so "stale" means "no cell of this session
defines it any more" (``jlcache.memory.housekeeping``).
"""

from __future__ import annotations

from typing import Any

from jlcache import stats
from jlcache.memory import session
from jlcache.memory.session import default_location, get_memory, set_location

__all__ = ["default_location", "get_memory", "load_ipython_extension", "set_location",
           "unload_ipython_extension"]

_shells: dict[int, Any] = {}


def load_ipython_extension(ipython: Any) -> None:
    """Register the magics on ``ipython``; loading twice is harmless."""
    if id(ipython) in _shells:
        return
    from jlcache.ipython.magics import JlcacheMagics

    magics = JlcacheMagics(ipython)
    ipython.register_magics(magics)
    _shells[id(ipython)] = magics
    ipython.events.register("pre_run_cell", _pre_run_cell)
    ipython.events.register("post_run_cell", _post_run_cell)
    session.fix_location()  # fixed now: a later os.chdir does not move the cache
    from jlcache.ipython import bridge

    print("\n".join(filter(None, [_location_line(), bridge.on_load()])))


def _location_line() -> str:
    """Where results go, and how to move them: the first thing a user wonders about (a
    notebook's kernel starts in the notebook's folder, so it is ``notebooks/.jlcache``)."""
    import os

    where = session.location()
    how = ("from $JLCACHE_DIR" if os.environ.get("JLCACHE_DIR") else
           "in the kernel's working directory; set $JLCACHE_DIR to change the default")
    return f"jlcache: caching in {where} ({how}; `%jlcache dir PATH` moves it)"


def unload_ipython_extension(ipython: Any) -> None:
    """Remove the magics and restore joblib; the cache on disk is left as it is."""
    magics = _shells.pop(id(ipython), None)
    if magics is None:
        return
    for name, callback in (("pre_run_cell", _pre_run_cell), ("post_run_cell", _post_run_cell)):
        try:
            ipython.events.unregister(name, callback)
        except ValueError:  # already gone
            pass
    registry = ipython.magics_manager.magics
    for kind, names in (("cell", ["memo"]), ("line", ["pmap", "jlcache"])):
        for name in names:
            if getattr(registry[kind].get(name), "__self__", None) is magics:
                del registry[kind][name]
    ipython.magics_manager.registry.pop(type(magics).__name__, None)
    if not _shells:
        from jlcache.ipython import bridge

        bridge.on_unload()
        session.reset()


def _pre_run_cell(info: Any) -> None:
    """A cell starts: its definitions are made at its id; what its last run defined is gone."""
    site = getattr(info, "cell_id", None) or None
    stats.set_site(site)
    if site is not None:
        stats.forget_site(site)


def _post_run_cell(result: Any) -> None:
    stats.set_site(None)
