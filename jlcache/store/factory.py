"""``open_store``: the one place that turns a location into a ``Store``.

``Memory`` (and ``%jlcache``, the command line) call this and never name a store class,
so a new kind of store (object storage through fsspec, a local tier in front of a remote
one) is a new module here plus a branch below, with no change to its callers.
"""

from __future__ import annotations

import os
import re
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
               **options: Any) -> Store:
    """The store for ``location``: a directory path (created if missing) or ``file://`` URL.

    ``bytes_limit`` (bytes or ``"1G"``) is kept after each put. ``options`` are for the
    stores to come (object storage: ``storage_options``, ``local_tier``); none is accepted
    yet, and an unknown one is a ``TypeError`` naming it. Other URLs (``s3://``, ``gs://``,
    ...) are a ``ValueError``: object storage is not available in this version.
    """
    if not isinstance(location, (str, os.PathLike)):
        raise TypeError(f"location must be a directory path (str or os.PathLike); got "
                        f"{type(location).__name__} {location!r}.")
    if options:
        raise TypeError(f"Unknown store option(s) {', '.join(sorted(options))} for {location!r}: "
                        "a local cache directory takes only bytes_limit.")
    match = _URL.match(location) if isinstance(location, str) else None
    if match is not None and isinstance(location, str):
        scheme = match.group(1).lower()
        if scheme != "file":
            raise ValueError(
                f"location {location!r} is a {scheme}:// URL, but object storage (S3, GCS, "
                "Azure through fsspec) is not available in this version of jlcache: only "
                "local directories are. Use a directory on this machine or on a mounted "
                "network file system (e.g. Memory('~/.cache/jlcache')).")
        location = location[match.end():] or "/"
        if not location.startswith("/"):
            raise ValueError(f"location {match.group(0)}{location!r}: a file:// URL needs an "
                             "absolute path (file:///home/me/cache); or pass the path itself.")
    return LocalStore(location, bytes_limit=bytes_limit)
