"""File-system primitives the cache relies on: atomic writes, safe opens, safe deletes.

Everything here is about *not* trusting the file system more than necessary:

- writes go to ``{name}.{uuid4hex}-{pid}.tmp`` next to the target and are renamed into
  place, so a reader sees the old file or the new one, never half of one; the pid in the
  name lets a later clean-up tell a crashed writer's leftovers from a live writer's work;
- files are created ``0600`` and directories ``0700`` (loading a cache entry unpickles
  it, so whoever can write the cache can run code in the reader);
- deletions never follow a symbolic link out of the cache and tolerate a concurrent
  deleter having got there first.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import stat
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

from jlcache.errors import UnsafeCacheDirError

__all__ = [
    "atomic_write",
    "check_private_dir",
    "make_private_dir",
    "open_read",
    "parse_temp_name",
    "read_small_file",
    "remove_tree",
    "temp_is_stale",
    "temp_name",
    "unlink_quiet",
    "write_all",
]

FILE_MODE = 0o600
DIR_MODE = 0o700
STALE_TEMP_AGE = 3600.0  # a temporary untouched this long belongs to no live writer
_MAX_WRITE = 1 << 30  # Linux writes at most ~2 GiB per call; stay well under it

# Errors of the process (or of the whole system), not of the file being read: recomputing a
# value would not help, and would hide the real problem.
PROCESS_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS})
_TEMP_RE = re.compile(r"\.([0-9a-f]{32})-(\d+)\.tmp\Z")
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_NOATIME = getattr(os, "O_NOATIME", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


# ----------------------------------------------------------------------------- temporaries
def temp_name(path: str) -> str:
    """A unique sibling of ``path``: concurrent writers of one entry never share a temporary."""
    return f"{path}.{uuid.uuid4().hex}-{os.getpid()}.tmp"


def parse_temp_name(name: str) -> int | None:
    """The writer's pid if ``name`` is one of our temporaries, else ``None``."""
    match = _TEMP_RE.search(name)
    return int(match.group(2)) if match else None


def _pid_running(pid: int, since: float) -> bool:
    """Could process ``pid`` be the writer of a temporary last modified at ``since``?

    A pid that is gone is not; one that exists but started after the file was last
    written is a reused pid, not the writer.
    """
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return True
    try:
        import psutil

        return psutil.Process(pid).create_time() <= since + 1.0
    except Exception:  # psutil missing or the process just exited: be conservative
        return True


def temp_is_stale(path: str, pid: int, now: float | None = None, *,
                  dir_fd: int | None = None) -> bool:
    """True when the temporary at ``path`` was left behind by a writer that no longer runs.

    Temporaries of a live writer are never stale, except after an hour without a write:
    that covers writers on other hosts sharing the directory and pid namespaces we cannot see.
    """
    try:
        mtime = os.stat(path, dir_fd=dir_fd, follow_symlinks=False).st_mtime
    except FileNotFoundError:
        return False
    now = time.time() if now is None else now
    if now - mtime > STALE_TEMP_AGE:
        return True
    if pid == os.getpid():
        return False
    return not _pid_running(pid, mtime)


# ----------------------------------------------------------------------------- writing
def write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    """``os.write`` until everything is written (short writes happen near 2 GiB and on signals)."""
    view = memoryview(data).cast("B") if not isinstance(data, bytes) else memoryview(data)
    while view:
        n = os.write(fd, view[:_MAX_WRITE])
        view = view[n:]


def atomic_write(path: str, body: Callable[[int], None], *, fsync: bool = False,
                 dir_fd: int | None = None) -> None:
    """Create ``path`` (mode 0600) through a temporary: ``body(fd)`` writes its content.

    Any exception, including ``KeyboardInterrupt``, removes the temporary and propagates;
    the target is then untouched. ``fsync`` makes the content durable before the rename
    (off by default: readers validate what they read, so a power cut costs a recompute,
    not a wrong value). With ``dir_fd`` (an open directory), the file is created in that
    directory under ``path``'s last component, whatever ``path``'s folders now lead to.
    """
    name = path if dir_fd is None else os.path.basename(path)
    tmp = temp_name(name)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_CLOEXEC | _O_NOFOLLOW,
                     FILE_MODE, dir_fd=dir_fd)
    except OSError as exc:
        raise _about_target(exc, path) from None
    try:
        try:
            body(fd)
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        if dir_fd is None:
            os.replace(tmp, name)
        else:
            os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        unlink_quiet(tmp, dir_fd=dir_fd)
        raise


def _about_target(exc: OSError, path: str) -> OSError:
    """The same error (same type and errno) naming ``path``, not our temporary's name,
    which means nothing to the caller."""
    reason = exc.strerror or str(exc)
    folder = os.path.dirname(path) or "."
    if exc.errno == errno.ENOENT and not os.path.isdir(folder):
        reason += f": the directory {folder!r} does not exist; create it first"
    return OSError(exc.errno, reason, path) if exc.errno is not None else exc


# ----------------------------------------------------------------------------- reading
def open_read(path: str, *, write: bool = False, follow_symlinks: bool = True,
              dir_fd: int | None = None) -> int:
    """Open for reading without touching the access time (the store keeps atime itself).

    ``follow_symlinks=False`` makes a symbolic link fail with ``ELOOP`` instead of being
    followed. ``O_NOATIME`` is only allowed on files we own; elsewhere it is dropped.
    ``O_NONBLOCK``: a FIFO (or device) planted where a file should be would block the open
    forever; it opens at once, and the caller's ``fstat`` rejects it (regular files ignore
    the flag).
    """
    flags = (os.O_RDWR if write else os.O_RDONLY) | _O_CLOEXEC | _O_NONBLOCK
    if not follow_symlinks:
        flags |= _O_NOFOLLOW
    if _O_NOATIME:
        try:
            return os.open(path, flags | _O_NOATIME, dir_fd=dir_fd)
        except PermissionError:
            pass
    return os.open(path, flags, dir_fd=dir_fd)


def read_small_file(path: str, limit: int = 1 << 20, *, dir_fd: int | None = None
                    ) -> tuple[bytes, os.stat_result]:
    """The first ``limit`` bytes of a small regular file (FORMAT, _info.json), never following
    a link nor blocking; ``OSError(EINVAL)`` when it is not a regular file."""
    fd = open_read(path, follow_symlinks=False, dir_fd=dir_fd)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", path)
        return os.read(fd, limit), st
    finally:
        os.close(fd)


# ----------------------------------------------------------------------------- directories
def make_private_dir(path: str) -> bool:
    """``mkdir`` with mode 0700; ``False`` if it already existed."""
    try:
        os.mkdir(path, DIR_MODE)
        return True
    except FileExistsError:
        return False


def _user(uid: int) -> str:
    try:
        import pwd

        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except (ImportError, KeyError):
        return f"uid {uid}"


def check_private_dir(path: Path) -> None:
    """Refuse a cache directory that someone other than us could write into."""
    st = os.stat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise NotADirectoryError(
            f"The cache location {path} exists but is not a directory. Choose a directory "
            "path (it is created if missing)."
        )
    if not hasattr(os, "geteuid"):  # pragma: no cover - Windows has no POSIX ownership
        return
    me = os.geteuid()
    if st.st_uid != me:
        raise UnsafeCacheDirError(
            f"Refusing to use the cache directory {path}: it belongs to {_user(st.st_uid)}, "
            f"not to you ({_user(me)}). Loading a cache entry unpickles it, so whoever owns "
            "the directory could run code in your process. Choose a location you own "
            "(e.g. ~/.cache/jlcache), or have the owner hand it over "
            f"(`chown -R {me} {path}`)."
        )
    if st.st_mode & 0o022:
        raise UnsafeCacheDirError(
            f"Refusing to use the cache directory {path}: it is writable by "
            f"{'group and others' if st.st_mode & 0o002 else 'its group'} "
            f"(mode {stat.S_IMODE(st.st_mode):04o}). Loading a cache entry unpickles it, so "
            "anyone who can write there could run code in your process. Fix it with "
            f"`chmod 700 {path}` (or `chmod go-w {path}`), or choose another location."
        )


# ----------------------------------------------------------------------------- deleting
def unlink_quiet(path: str, *, dir_fd: int | None = None) -> bool:
    """Remove a file (or a symlink itself); ``False`` if someone else removed it first."""
    try:
        os.unlink(path, dir_fd=dir_fd)
        return True
    except FileNotFoundError:
        return False


def _ignore_missing(func: Callable, path: str, exc: BaseException) -> None:
    if not isinstance(exc, FileNotFoundError):
        raise exc


def remove_tree(path: str, attempts: int = 5) -> bool:
    """Delete ``path`` and everything below it, never following a symbolic link.

    A symlink is removed itself (its target is left alone); files that vanish meanwhile
    are fine; a writer adding files during the removal makes us try again a few times.
    Returns ``False`` if there was nothing to remove.
    """
    for _ in range(attempts):
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return False
        if not stat.S_ISDIR(st.st_mode):
            return unlink_quiet(path)
        try:
            if sys.version_info >= (3, 12):
                shutil.rmtree(path, onexc=_ignore_missing)
            else:
                shutil.rmtree(path, onerror=lambda f, p, info: _ignore_missing(f, p, info[1]))
            return True
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
    return True


def rmdir_quiet(path: str) -> bool:
    """Remove an empty directory; ``False`` if it is not empty or already gone."""
    try:
        os.rmdir(path)
        return True
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR):
            return False
        raise


def real_subdirs(path: str) -> Iterable[os.DirEntry]:
    """The directories directly in ``path``, skipping symlinks (never followed out)."""
    try:
        with os.scandir(path) as it:
            return [e for e in it if e.is_dir(follow_symlinks=False)]
    except (FileNotFoundError, NotADirectoryError):
        return []
