"""The session's default ``Memory``: the one ``%%memo``, ``%pmap --memo``, the panel and the
command line use when no other is named.

It lives at ``$JLCACHE_DIR``, else ``.jlcache/`` in the working directory, and is created on
first use, so nothing touches the disk until a front end needs the cache. It belongs to the
engine (not to the IPython front end) so that every front end finds the same cache by the
same rule without importing each other.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from jlcache.memory.memory import Memory

__all__ = ["default_location", "fix_location", "get_memory", "location", "reset", "set_location"]

_lock = threading.Lock()
_memory: Memory | None = None
_location: Path | str | None = None


def default_location() -> Path:
    """``$JLCACHE_DIR`` if set, else ``./.jlcache`` (the current working directory)."""
    env = os.environ.get("JLCACHE_DIR")
    return Path(env).expanduser() if env else Path.cwd() / ".jlcache"


def fix_location() -> None:
    """Resolve the default location now, so a later ``os.chdir`` does not move the cache."""
    global _location
    with _lock:
        if _location is None:
            _location = default_location()


def location() -> Path | str:
    """Where the default ``Memory`` is (or will be, when first used; a URL for object
    storage); no disk access."""
    with _lock:
        return _location or default_location()


def get_memory() -> Memory:
    """The session's default ``Memory``, created on first use."""
    global _memory
    memory = _memory
    if memory is None:
        with _lock:
            memory = _memory
            if memory is None:
                from jlcache.memory.memory import Memory

                memory = _memory = Memory(_location or default_location())
    return memory


def set_location(location: str | os.PathLike, **options: object) -> Memory:
    """Move the default cache for this session (``%jlcache dir PATH``); returns the Memory."""
    global _memory, _location
    from jlcache.memory.memory import Memory
    from jlcache.store import is_url

    if is_url(location):  # s3://bucket/prefix...: options may carry storage_options, local_tier
        path: str | Path = str(location)
    else:
        path = Path(location).expanduser()
        if not path.is_absolute():
            path = Path.cwd() / path
    memory = Memory(path, **options)  # type: ignore[arg-type]
    with _lock:
        _memory, _location = memory, path
    return memory


def reset() -> None:
    """Forget the default Memory and location (the last front end using them went away)."""
    global _memory, _location
    with _lock:
        _memory, _location = None, None
