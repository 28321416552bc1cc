"""``open_store``: the one place that turns a location into a ``Store``.

``Memory`` (and ``%jlcache``, the command line) call this and never name a store class,
so a new kind of store (object storage through fsspec, a local tier in front of a remote
one) is a new module here plus a branch below, with no change to its callers.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from jlcache.store.base import Store
from jlcache.store.local import LocalStore

__all__ = ["is_url", "open_store"]

# "s3://", "gs://", "memory://"...; a scheme of two letters or more, so that a Windows
# drive ("C:/...") is still a path
_URL = re.compile(r"\A([A-Za-z][A-Za-z0-9+.\-]+)://")


def is_url(location: str | os.PathLike[str]) -> bool:
    """Whether ``location`` is a URL (``scheme://...``) rather than a path."""
    return isinstance(location, str) and _URL.match(location) is not None


def open_store(location: str | os.PathLike[str], *, bytes_limit: int | str | None = None,
               storage_options: Mapping[str, Any] | None = None,
               local_tier: str | os.PathLike[str] | None = None) -> Store:
    """The store for ``location``: a directory path (created if missing), a ``file://`` URL,
    or any other fsspec URL (``s3://bucket/prefix``, ``gs://``, ``az://``, ``memory://``).

    ``bytes_limit`` (bytes or ``"1G"``) is kept after each put. ``storage_options`` (a dict)
    go to fsspec for a URL; ``local_tier`` (a directory) puts local copies in front of a
    URL's store (read- and write-through). fsspec and the protocol's implementation are
    imported only here, when a URL is used; a missing one is an ``ImportError`` naming the
    extra to install (``pip install "jlcache[s3]"``).
    """
    if not isinstance(location, (str, os.PathLike)):
        raise TypeError(f"location must be a directory path (str or os.PathLike) or a URL "
                        f"such as 's3://bucket/prefix'; got {type(location).__name__} "
                        f"{location!r}.")
    match = _URL.match(location) if isinstance(location, str) else None
    scheme = match.group(1).lower() if match is not None else None
    if scheme is None or scheme == "file":
        for name, value in (("storage_options", storage_options), ("local_tier", local_tier)):
            if value is not None:
                raise TypeError(f"{name} is for a remote location (a URL such as "
                                f"s3://bucket/prefix); {location!r} is a local directory, "
                                f"which takes only bytes_limit. Remove {name}.")
    if scheme is None:
        return LocalStore(location, bytes_limit=bytes_limit)
    assert isinstance(location, str) and match is not None
    if scheme == "file":
        path = location[match.end():] or "/"
        if not path.startswith("/"):
            raise ValueError(f"location {match.group(0)}{path!r}: a file:// URL needs an "
                             "absolute path (file:///home/me/cache); or pass the path itself.")
        return LocalStore(path, bytes_limit=bytes_limit)
    return _open_remote(location, bytes_limit, storage_options, local_tier)


def _open_remote(url: str, bytes_limit: int | str | None,
                 storage_options: Mapping[str, Any] | None,
                 local_tier: str | os.PathLike[str] | None) -> Store:
    if storage_options is not None and not isinstance(storage_options, Mapping):
        raise TypeError(f"storage_options must be a dict of fsspec options (as in pandas), "
                        f"or None; got {type(storage_options).__name__}.")
    if local_tier is not None and not isinstance(local_tier, (str, os.PathLike)):
        raise TypeError(f"local_tier must be a directory path (or None); got "
                        f"{type(local_tier).__name__} {local_tier!r}.")
    if local_tier is not None and is_url(local_tier):
        raise ValueError(f"local_tier={local_tier!r} must be a directory on this machine, "
                         "not a URL: it holds local copies for speed and memory-mapping.")
    from jlcache.store.objects import ObjectStore  # imports fsspec: only for URLs

    remote = ObjectStore(url, storage_options, bytes_limit)
    if local_tier is None:
        return remote
    from jlcache.store.tiered import TieredStore

    return TieredStore(LocalStore(local_tier, bytes_limit=bytes_limit), remote)
