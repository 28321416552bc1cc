"""``ObjectStore``: a cache in object storage (S3, GCS, Azure, ``memory://``...) via fsspec.

Layout (format 1, the local store's names as object names)::

    <bucket>/<prefix>/FORMAT                                   "1"; written on first use
    <bucket>/<prefix>/functions/<group>/<version>/<key>.jlc    one object per entry
    <bucket>/<prefix>/functions/<group>/<version>/_info.json   once per version
    <bucket>/<prefix>/cells/...                                the same for %%memo cells
    <bucket>/<prefix>/_access/<time>-<random>.json             batched access records

Why it is safe and fast:

- **Whole or absent.** An entry is serialized first (to a private temporary file) and then
  sent as ONE object put (``pipe_file`` for small ones, ``put_file`` for large ones, which
  s3fs sends as a multipart upload completed in one step). Object stores make a put
  visible all at once, so readers see the old entry, the new one or nothing; concurrent
  writers of one entry from many machines each put a complete object and the last wins.
- **Verified.** Every region of an entry carries its checksum (``jlcache.serialize``): a
  truncated or damaged object is a ``CorruptEntryError`` (a miss, recomputed, overwritten).
- **One round trip per small hit.** ``get`` is one ranged GET of the first ``HEAD_BYTES``;
  an entry smaller than that is complete in it and parsed from memory (no listing, no
  metadata object, no HEAD). A larger one is then streamed to a temporary file in chunks
  and its arrays read from there (never two copies of the value in memory).
- **Failures.** Opening checks the location once per process (``FORMAT``) and fails with a
  clear ``StoreUnavailableError`` within ``remote.OPEN_TIMEOUT`` (30 s); later failures are a warning and
  a miss (``get``) or an ``OSError`` (``put``, which ``Memory`` reports and carries on).
- **Credentials** (``storage_options``) stay in this process's memory: they are not in
  ``url``, ``repr`` or anything written. A pickled store carries them, so that a worker
  process can open the same cache (prefer credentials from the environment or a profile
  when tasks travel to machines you do not trust).
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
import warnings
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from jlcache.errors import CacheWarning, StoreUnavailableError
from jlcache.serialize import (
    normalize_mmap_mode,
    read_meta_bytes,
    read_value_bytes,
    read_value_from,
    write_value,
)
from jlcache.store.base import Info, Store, Where, flush_at_exit
from jlcache.store.layout import EntryInfo, EntryRef, parse_size
from jlcache.store.remote import Remote
from jlcache.store.remote_access import RemoteAccess
from jlcache.store.remote_maint import HEAD, RemoteMaintenance

__all__ = ["HEAD_BYTES", "ObjectStore"]

HEAD_BYTES = 1 << 20  # entries smaller than this are fetched whole by the first GET
_CHUNK = 8 << 20  # multipart upload part size for large entries (S3's minimum is 5 MiB)
# object stores whose put_file is one upload, visible only when complete
_UPLOADS_ATOMICALLY = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss"})
_known_infos: dict[tuple[str, str, str, str], bytes] = {}  # (url, kind, group, version)
_verified: set[str] = set()  # URLs that answered in this process
_warned_mmap: set[str] = set()  # caches whose missing local tier was pointed out



def _warn_no_mmap(url: str) -> None:
    if url not in _warned_mmap:
        _warned_mmap.add(url)
        warnings.warn(CacheWarning(
            f"mmap_mode needs the entry in a local file, but the cache at {url} is remote: "
            "arrays are loaded into memory instead. Give Memory a local_tier= directory to "
            "get numpy.memmap results from local copies. (Shown once per cache.)"),
            stacklevel=4)


class ObjectStore(Store):
    """A cache under an fsspec URL; ``storage_options`` go to fsspec unchanged."""

    def __init__(self, url: str, storage_options: Mapping[str, Any] | None = None,
                 bytes_limit: int | str | None = None, *,
                 open_timeout: float | None = None) -> None:
        if storage_options is not None and not isinstance(storage_options, Mapping):
            raise TypeError(f"storage_options must be a dict of fsspec options (or None); got "
                            f"{type(storage_options).__name__}.")
        self._options = dict(storage_options or {})
        self.bytes_limit = parse_size(bytes_limit)
        self._remote = Remote(url, self._options)
        if self._remote.url not in _verified:
            self._remote.check(open_timeout)
            _verified.add(self._remote.url)
        self._lock = threading.RLock()
        self._access = RemoteAccess(self._remote)
        self.maintenance = RemoteMaintenance(self._remote, self._access, self._lock)
        flush_at_exit(self)

    def __repr__(self) -> str:
        return f"ObjectStore({self.url!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        """A worker process opens the same cache (with the same fsspec options)."""
        return ObjectStore, (self.url, self._options, self.bytes_limit)

    @property
    def flush_interval(self) -> float:
        """Seconds between batched access-record writes (see ``remote_access.py``)."""
        return self._access.flush_interval

    @flush_interval.setter
    def flush_interval(self, seconds: float) -> None:
        self._access.flush_interval = seconds

    # ------------------------------------------------------------------------- naming
    @property
    def url(self) -> str:
        return self._remote.url

    def describe(self, where: Where = ()) -> str:
        return self._remote.describe_url(self._remote.prefix(tuple(where)))

    # ------------------------------------------------------------------------- entries
    def put(self, ref: EntryRef, value: Any, meta: Mapping[str, Any], compress: Any = 0) -> int:
        meta = {"created": time.time(), **meta}
        path = self._remote.path(ref)
        fd, tmp = tempfile.mkstemp(prefix="jlcache-", suffix=".jlc")
        os.close(fd)
        try:
            size = write_value(tmp, value, meta, compress)
            self._send(tmp, path, size)
        finally:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
        self._access.touch(ref)  # object times have 1 s resolution: the LRU order needs better
        self._restore_info(ref)
        if self.bytes_limit is not None:
            self.maintenance.enforce_limit(size, self.bytes_limit)
        return size

    def _send(self, local: str, path: str, size: int) -> None:
        """One object put: the bytes of a small entry, a streamed upload for a large one."""
        remote, fs = self._remote, self._remote.fs
        if size >= HEAD_BYTES and remote.protocol in ("s3", "s3a"):
            remote.call(fs.put_file, local, path, chunksize=_CHUNK)
        elif size >= HEAD_BYTES and remote.protocol in _UPLOADS_ATOMICALLY:
            remote.call(fs.put_file, local, path)
        else:  # small, or a filesystem whose put_file shows a partly written object (memory://)
            with open(local, "rb") as f:
                data = f.read()
            remote.call(fs.pipe_file, path, data)

    def get(self, ref: EntryRef, mmap_mode: str | None = None) -> tuple[Any, dict[str, Any]]:
        """One ranged GET; a store that stopped answering is a miss (it warned once)."""
        if mmap_mode is not None:
            normalize_mmap_mode(mmap_mode)
            _warn_no_mmap(self.url)
        path = self._remote.path(ref)
        name = self._remote.describe_url(path)
        try:
            data = self._read(path, 0, HEAD_BYTES)
            if len(data) < HEAD_BYTES:
                value, meta = read_value_bytes(data, name)
                meta["size"] = meta["disk"] = len(data)
            else:
                value, meta = self._get_large(path, name)
        except FileNotFoundError:
            raise KeyError(name) from None
        except StoreUnavailableError:
            raise KeyError(name) from None
        self._access.touch(ref)
        return value, meta

    def _read(self, path: str, start: int, end: int) -> bytes:
        try:
            return self._remote.call(self._remote.fs.cat_file, path, start=start, end=end)
        except OSError as exc:  # S3 refuses a range on an empty object: that is damage
            if "range" in str(exc).lower() and "satisf" in str(exc).lower():
                return b""
            raise

    def _get_large(self, path: str, name: str) -> tuple[Any, dict[str, Any]]:
        """Stream the whole object to a temporary file (one GET, in chunks), read it there."""
        fd, tmp = tempfile.mkstemp(prefix="jlcache-", suffix=".jlc")
        os.close(fd)
        try:
            self._remote.call(self._remote.fs.get_file, path, tmp)
            fd = os.open(tmp, os.O_RDONLY)
            try:
                st = os.fstat(fd)
                value, meta = read_value_from(fd, name, None, st)
            finally:
                os.close(fd)
        finally:
            os.unlink(tmp)
        meta["size"] = meta["disk"] = st.st_size
        return value, meta

    def meta(self, ref: EntryRef) -> dict[str, Any]:
        path = self._remote.path(ref)
        name = self._remote.describe_url(path)
        try:
            head = self._read(path, 0, HEAD)
            size = len(head)
            if size >= HEAD:
                self._remote.fs.invalidate_cache(path)
                size = int(self._remote.call(self._remote.fs.info, path)["size"])
                head = self.maintenance.heads([(path, size)])[0]
                if isinstance(head, BaseException):
                    raise head
        except (FileNotFoundError, StoreUnavailableError):
            raise KeyError(name) from None
        meta = read_meta_bytes(head, name, size)
        meta["size"] = meta["disk"] = size
        return meta

    def contains(self, ref: EntryRef) -> bool:
        path = self._remote.path(ref)
        self._remote.fs.invalidate_cache(path)
        try:
            return bool(self._remote.call(self._remote.fs.exists, path))
        except StoreUnavailableError:
            return False

    def touch(self, ref: EntryRef) -> None:
        self._access.touch(ref)

    def flush(self) -> None:
        self._access.flush()

    # ------------------------------------------------------------------------- version info
    def write_info(self, kind: str, group: str, version: str, info: Info) -> None:
        """Once per process and cache; a description already in the store is kept."""
        key = (self.url, *self._remote.parts(kind, group, version))
        if key in _known_infos:
            return
        path = self._remote.info_path(kind, group, version)
        fs = self._remote.fs
        fs.invalidate_cache(path)
        if self._remote.call(fs.exists, path):
            _known_infos[key] = b""
            return
        fields = info() if callable(info) else info
        data = json.dumps({"name": group, "created": time.time(), **fields}, default=str).encode()
        self._remote.call(fs.pipe_file, path, data)
        _known_infos[key] = data

    def _restore_info(self, ref: EntryRef) -> None:
        """A version this process described but then emptied (eviction) gets it back."""
        key = (self.url, *self._remote.parts(ref.kind, ref.group, ref.version))
        data = _known_infos.get(key)
        if data is not None and key in _evicted_infos:
            _evicted_infos.discard(key)
            try:
                self._remote.call(self._remote.fs.pipe_file,
                                  self._remote.info_path(ref.kind, ref.group, ref.version), data)
            except OSError:
                pass

    def read_info(self, kind: str, group: str, version: str) -> dict[str, Any]:
        path = self._remote.info_path(kind, group, version)
        try:
            info = json.loads(self._remote.call(self._remote.fs.cat_file, path))
        except (OSError, ValueError):
            return {}
        return info if isinstance(info, dict) else {}

    # ------------------------------------------------------------------------- housekeeping
    def groups(self, kind: str) -> list[str]:
        return self.maintenance.groups(kind)

    def versions(self, kind: str, group: str) -> list[str]:
        return self.maintenance.versions(kind, group)

    def entries(self, kind: str, group: str | None = None,
                version: str | None = None) -> list[EntryInfo]:
        return self.maintenance.entries(kind, group, version)

    def size(self) -> int:
        return self.maintenance.size()

    def delete(self, ref: EntryRef) -> bool:
        return self.maintenance.delete(ref)

    def delete_version(self, kind: str, group: str, version: str) -> bool:
        self._forget_infos((kind, group, version))
        return self.maintenance.remove((kind, group, version))

    def delete_group(self, kind: str, group: str) -> bool:
        self._forget_infos((kind, group))
        return self.maintenance.remove((kind, group))

    def clear(self) -> None:
        self._forget_infos(())
        self.maintenance.clear()

    def _forget_infos(self, where: tuple[str, ...]) -> None:
        """Deleted descriptions are written again by the next ``write_info``."""
        names = tuple(self._remote.relative(self._remote.prefix(where)))
        for key in [k for k in _known_infos if k[0] == self.url and k[1:1 + len(names)] == names]:
            _known_infos.pop(key, None)

    def reduce_size(self, bytes_limit: int | str | None = None, items_limit: int | None = None,
                    age_limit: timedelta | float | str | None = None) -> list[EntryRef]:
        evicted = self.maintenance.reduce_size(bytes_limit, items_limit, age_limit)
        for ref in evicted:
            key = (self.url, *self._remote.parts(ref.kind, ref.group, ref.version))
            if key in _known_infos:
                _evicted_infos.add(key)
        return evicted


_evicted_infos: set[tuple[str, str, str, str]] = set()  # described here, maybe emptied since
