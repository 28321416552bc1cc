"""Where each entry of one local cache lives, and opening folders and files there safely.

``DiskLayout`` is the narrow object the local store's collaborators share (``AccessLog``,
``Maintenance``): the location's root, its vetted folders (``TrustedDirs``), the path of an
entry (validated once, then cached: validating costs more than a hit's read), and the
version descriptions (``_info.json``) this process wrote, kept to restore them when an
eviction removes a folder whose function is still in use.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
from collections.abc import Iterator

from jlcache import _fs
from jlcache._fs import PROCESS_ERRNOS
from jlcache.errors import CorruptEntryError, UnsafeCacheDirError
from jlcache.store.layout import INFO, SUFFIX, EntryRef, _check_component, _check_kind, group_name
from jlcache.store.trust import TrustedDirs, Untrusted, check_file, process_error, warn_untrusted

__all__ = ["DiskLayout", "Parts", "Where", "read_failed"]

Parts = tuple[str, str, str]  # (kind, group folder, version): a version folder
Where = tuple[str, Parts, str]  # (entry path, its version folder's parts, file name)
_PATH_CACHE = 50_000
# version descriptions written by this process: (root, kind, group, version) -> bytes
_known_infos: dict[tuple[str, str, str, str], bytes] = {}


def read_failed(exc: OSError, path: str) -> Exception:
    """What an ``OSError`` while opening or reading an entry means for the caller.

    Missing (or a link, which is never followed): ``KeyError``. The process out of
    descriptors or memory: the ``OSError`` itself, as recomputing would not help. Anything
    else is about the entry (unreadable, I/O error): ``CorruptEntryError``, a miss.
    """
    if exc.errno == errno.ELOOP:
        return KeyError(f"{path} is a symbolic link or lies behind one; jlcache does not "
                        "follow links inside the cache, so it counts as missing.")
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return KeyError(f"No cache entry at {path}.")
    if exc.errno in PROCESS_ERRNOS:
        return process_error(exc, path)
    return CorruptEntryError(f"{path} could not be read ({exc.strerror or exc}). Likely cause: "
                             "its permissions or a disk error. A cache treats it as missing and "
                             "recomputes it.")


class DiskLayout:
    """``root/kind/group/version/key.jlc`` of one location, with safe access to its folders."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.dirs = TrustedDirs(root)
        self._paths: dict[EntryRef, Where] = {}

    # ------------------------------------------------------------------------- naming
    @staticmethod
    def parts(kind: str, group: str, version: str) -> Parts:
        """A version folder's names; ``ValueError`` for a kind or version that is not valid."""
        return _check_kind(kind), group_name(group), _check_component("version", version)

    def where(self, ref: EntryRef) -> Where:
        """The entry's path, its version folder's parts and its file name (cached)."""
        where = self._paths.get(ref)
        if where is None:
            if len(self._paths) >= _PATH_CACHE:
                self._paths.clear()
            parts = self.parts(ref.kind, ref.group, ref.version)
            name = _check_component("key", ref.key) + SUFFIX
            where = self._paths[ref] = (os.path.join(self.root, *parts, name), parts, name)
        return where

    def path_of(self, where: tuple[str, ...]) -> str:
        """The path of the cache (``()``), of a kind, group or version folder, or of an entry."""
        if len(where) >= 4:
            return self.where(EntryRef(*where[:4]))[0]
        names = [_check_kind(where[0])] if where else []
        if len(where) > 1:
            names.append(group_name(where[1]))
        if len(where) > 2:
            names.append(_check_component("version", where[2]))
        return os.path.join(self.root, *names)

    # ------------------------------------------------------------------------- opening
    def open_entry(self, ref: EntryRef, write: bool = False,
                   stacklevel: int = 1) -> tuple[str, int, os.stat_result]:
        """Open a trusted entry: ``KeyError`` if missing, behind a link or not trusted (one
        ``UnsafeCacheWarning``, attributed ``stacklevel`` frames above the caller, as in
        ``warnings.warn``); ``CorruptEntryError``/``OSError`` as ``read_failed`` says."""
        path, parts, _ = self.where(ref)
        fd = -1
        try:
            fd = self.dirs.open_in(parts, path, write)
            st = os.fstat(fd)
            check_file(path, st, self.root)  # the file itself: ours and private
            return path, fd, st
        except Untrusted as exc:
            if fd >= 0:
                os.close(fd)
            warn_untrusted(exc, stacklevel=stacklevel + 1)
            raise KeyError(f"{exc.path} is not trusted, so {path} counts as missing.") from None
        except OSError as exc:
            if fd >= 0:
                os.close(fd)
            raise read_failed(exc, path) from None

    @contextlib.contextmanager
    def writable_dir(self, parts: Parts, stacklevel: int = 1) -> Iterator[int]:
        """The version folder (created if missing) open for writing into, or a clear refusal
        (``stacklevel`` as in ``open_entry``)."""
        try:
            with self.dirs.borrow(parts, create=True) as dfd:
                self.restore_info(parts, dfd)  # one stat: the folder may have been evicted
                yield dfd
        except Untrusted as exc:
            warn_untrusted(exc, stacklevel=stacklevel + 2)
            raise UnsafeCacheDirError(str(exc)) from None
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
            raise UnsafeCacheDirError(
                f"A folder on the way to {os.path.join(self.root, *parts)} inside the cache is "
                "a symbolic link or not a directory; jlcache does not write through links. "
                "Remove it (it is recreated as needed)."
            ) from None

    # ------------------------------------------------------------------------- version info
    def known_info(self, parts: Parts) -> bool:
        """Whether this process described the version already (in any store of this root)."""
        return (self.root, *parts) in _known_infos

    def remember_info(self, parts: Parts, info: dict) -> bytes:
        data = json.dumps(info, default=str).encode()
        _known_infos[(self.root, parts[0], parts[1], parts[2])] = data
        return data

    def write_info_file(self, parts: Parts, dfd: int, data: bytes) -> None:
        """Write ``_info.json`` in the open version folder unless one is there."""
        try:
            os.stat(INFO, dir_fd=dfd, follow_symlinks=False)
        except FileNotFoundError:
            path = os.path.join(self.root, *parts, INFO)
            _fs.atomic_write(path, lambda fd: _fs.write_all(fd, data), dir_fd=dfd)

    def restore_info(self, parts: Parts, dfd: int) -> None:
        """Give a version this process described its ``_info.json`` back if it is missing."""
        data = _known_infos.get((self.root, *parts))
        if data is not None:
            try:
                self.write_info_file(parts, dfd, data)
            except OSError:
                pass

    def read_info(self, parts: Parts) -> dict:
        """The version's ``_info.json`` (``{}`` if missing, unreadable or not trusted)."""
        try:
            with self.dirs.borrow(parts) as dfd:
                data, st = _fs.read_small_file(INFO, dir_fd=dfd)
            check_file(os.path.join(self.root, *parts, INFO), st, self.root)
            info = json.loads(data)
        except Untrusted as exc:
            warn_untrusted(exc, stacklevel=3)
            return {}
        except (OSError, ValueError):
            return {}
        return info if isinstance(info, dict) else {}
