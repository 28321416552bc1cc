"""Which folders and files inside a cache may be trusted, and keeping them trusted cheaply.

Loading an entry unpickles it, so every folder on the way to it (``functions/``, the
function's folder, the version folder) and the file itself must be writable by no one but
us: owned by us (or root) and not writable by group or others. A folder or file that
fails is never read from: one ``UnsafeCacheWarning`` names it and the command that fixes
it, and its entries count as misses.

``TrustedDirs`` remembers each vetted version folder by identity (device and inode). A
hit opens the entry without following a link, ``lstat``s its folder and compares: a folder
on the way replaced by a link or by another folder since it was vetted is vetted again
before anything is read. The entry's own ``fstat`` (taken anyway) vets the file itself,
and the folders are vetted again every ``ttl`` seconds, so a ``chmod`` in a long-lived
process is noticed. Writes and deletes go through folders opened one at a time without
following links (``openat``), so they never land outside the location.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shlex
import stat
import time
import warnings
from collections.abc import Callable, Iterator

from jlcache._fs import PROCESS_ERRNOS, open_read
from jlcache.errors import UnsafeCacheWarning

__all__ = ["PROCESS_ERRNOS", "TrustedDirs", "Untrusted", "check_file", "process_error",
           "trusted", "warn_untrusted"]

_ME = os.geteuid() if hasattr(os, "geteuid") else None
_SAFE_OWNERS = frozenset({_ME, 0})
_O_DIR = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_warned: set[str] = set()


class Untrusted(Exception):
    """Internal: ``path`` (a folder or file inside the cache) may be written by someone else."""

    def __init__(self, path: str, st: os.stat_result, root: str) -> None:
        self.path = path
        self.kind = kind = "folder" if stat.S_ISDIR(st.st_mode) else "file"
        quoted = shlex.quote(path)
        if st.st_uid not in _SAFE_OWNERS:
            reason = f"belongs to {_user(st.st_uid)}, not to you ({_user(_ME)})"
            fix = f"`chown {_ME} {quoted}` (as root; `chown -R {_ME} {shlex.quote(root)}` for " \
                  "the whole cache)"
        else:
            reason = (f"is writable by {'others' if st.st_mode & 0o002 else 'its group'} "
                      f"(mode {stat.S_IMODE(st.st_mode):04o})")
            fix = f"`chmod go-w {quoted}` (`chmod -R go-w {shlex.quote(root)}` for the whole cache)"
        self.reason, self.fix = reason, fix
        super().__init__(
            f"The {kind} {path} inside the cache {reason}. Loading a cache entry unpickles it, "
            f"so whoever can write there could run code in your process: jlcache reads no "
            f"entry through this {kind} (they count as misses and are recomputed) and stores "
            f"none there. Fix it with {fix}. (Shown once per {kind}.)"
        )


def _user(uid: int | None) -> str:
    try:
        import pwd

        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"  # type: ignore[arg-type]
    except (ImportError, KeyError, TypeError):
        return f"uid {uid}"


def check_file(path: str, st: os.stat_result, root: str) -> None:
    """Raise ``Untrusted`` unless ``st`` is ours (or root's) and writable only by its owner."""
    if _ME is not None and (st.st_uid not in _SAFE_OWNERS or st.st_mode & 0o022):
        raise Untrusted(path, st, root)


def trusted(st: os.stat_result) -> bool:
    """``check_file`` as a test, for a hot path that falls back to a full read instead."""
    return _ME is None or (st.st_uid in _SAFE_OWNERS and not st.st_mode & 0o022)


def warn_untrusted(exc: Untrusted, stacklevel: int = 2) -> None:
    """One ``UnsafeCacheWarning`` per folder or file and process: it is not fixed by waiting."""
    if exc.path in _warned:
        return
    _warned.add(exc.path)
    warnings.warn(UnsafeCacheWarning(str(exc)), stacklevel=stacklevel + 1)


def process_error(exc: OSError, path: str) -> OSError:
    """The same ``OSError`` (type and errno), saying that the entry is not to blame."""
    reason = exc.strerror or str(exc)
    return type(exc)(exc.errno, (
        f"{reason} while reading the cache entry (the entry is not damaged; it was not "
        "recomputed). The process or the system ran out of a resource: close files or "
        "free memory, or raise the limit (e.g. `ulimit -n` for open files), then retry"),
        path)


class TrustedDirs:
    """The vetted version folders of one cache: ``(st_dev, st_ino)`` and when they were vetted.

    No descriptor is kept open (an open folder would keep a drive from being unmounted).
    """

    ttl = 1.0  # seconds before a folder chain is vetted again (a chmod is noticed this fast)

    def __init__(self, root: str) -> None:
        self.root = root
        self._vetted: dict[tuple, tuple[int, int, float, str]] = {}  # + the folder's path

    # ------------------------------------------------------------------------- using
    def open_in(self, parts: tuple[str, str, str], path: str, write: bool = False) -> int:
        """Open the entry ``path`` in the version folder ``parts``.

        ``FileNotFoundError`` when it is missing, ``OSError(ELOOP)`` when a link is on the
        way, ``Untrusted`` when a folder on the way is not safe. The folder's identity is
        compared after the open: a folder replaced (by a link or another folder) since it
        was vetted is vetted again before anything is read.
        """
        vetted = self._vetted.get(parts)
        if vetted is None or time.monotonic() - vetted[2] >= self.ttl:
            vetted = self._vet(parts)
        fd = open_read(path, write=write, follow_symlinks=False)
        try:
            st = os.lstat(vetted[3])  # a freed inode number may come back as a link's
            if st.st_ino == vetted[1] and st.st_dev == vetted[0] and stat.S_ISDIR(st.st_mode):
                return fd
            os.close(fd)
            fd = -1
            vetted = self._vet(parts)  # raises if the chain is no longer all real, safe folders
            fd = open_read(path, write=write, follow_symlinks=False)
            st = os.lstat(vetted[3])  # a freed inode number may come back as a link's
            if st.st_ino == vetted[1] and st.st_dev == vetted[0] and stat.S_ISDIR(st.st_mode):
                return fd
            raise OSError(errno.ELOOP, "changed while being opened", path)
        except BaseException:
            if fd >= 0:
                os.close(fd)
            raise

    def fresh(self, parts: tuple[str, str, str]) -> bool:
        """Whether the folders to ``parts`` were vetted less than ``ttl`` seconds ago (a
        read that skips ``open_in`` relies on them only then)."""
        vetted = self._vetted.get(parts)
        return vetted is not None and time.monotonic() - vetted[2] < self.ttl

    @contextlib.contextmanager
    def borrow(self, parts: tuple[str, str, str], *, create: bool = False,
               safe: bool = True) -> Iterator[int]:
        """The version folder, open, for writes and deletes relative to it (``dir_fd``).

        Opened one folder at a time without following links, so whatever is done through
        it happens inside the location, whatever is renamed meanwhile. ``safe=False``
        accepts an unsafe folder (to delete or touch in it, never to read from it).
        """
        fd = self._walk(parts, create=create, vet=safe)
        try:
            yield fd
        finally:
            os.close(fd)

    def forget(self, match: Callable[[tuple], bool] | None = None) -> None:
        """Vet again, on next use, the folders whose parts satisfy ``match`` (all when ``None``)."""
        for key in [k for k in list(self._vetted) if match is None or match(k)]:
            self._vetted.pop(key, None)

    # ------------------------------------------------------------------------- vetting
    def _vet(self, parts: tuple) -> tuple[int, int, float, str]:
        self._vetted.pop(parts, None)
        fd = self._walk(parts, create=False, vet=True)
        os.close(fd)
        return self._vetted[parts]

    def _walk(self, parts: tuple, create: bool, vet: bool) -> int:
        """Open root/kind/group/version one folder at a time, never through a link."""
        path = self.root
        fd = os.open(path, _O_DIR)  # the location itself may be a link its user chose
        try:
            for part in (None, *parts):
                if part is not None:
                    path = os.path.join(path, part)
                    if create:
                        with contextlib.suppress(FileExistsError):
                            os.mkdir(part, 0o700, dir_fd=fd)
                    child = os.open(part, _O_DIR | _O_NOFOLLOW, dir_fd=fd)
                    os.close(fd)
                    fd = child
                st = os.fstat(fd)
                if vet:
                    check_file(path, st, self.root)
            if vet:
                self._vetted[parts] = (st.st_dev, st.st_ino, time.monotonic(), path)
            return fd
        except BaseException:
            os.close(fd)
            raise
