"""Helpers of the reliability suite: child interpreters that treat cache warnings as errors,
real mounts (tmpfs, read-only), and a census of files and processes left behind.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).resolve().parents[2]
# a child must fail on any cache warning (corruption, not cached...) exactly as the tests do
STRICT = ["-W", "error::jlcache.errors.CacheWarning"]
KNOWN_FILES = {"FORMAT", ".gitignore", "_info.json"}


def child_env(*paths: Path | str, **extra: str) -> dict[str, str]:
    """The environment of a child interpreter that imports jlcache and modules in ``paths``."""
    path = os.pathsep.join([*map(str, paths), str(REPO), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path.rstrip(os.pathsep), **extra}


def spawn(code: str, *args: object, env: dict[str, str] | None = None,
          strict: bool = True) -> subprocess.Popen:
    """Start ``code`` in a fresh interpreter (output captured as text)."""
    argv = [sys.executable, *(STRICT if strict else []), "-c", textwrap.dedent(code),
            *map(str, args)]
    return subprocess.Popen(argv, env=env or child_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(procs: list[subprocess.Popen], timeout: float = 240) -> list[str]:
    """Wait for every child; fail with the first one's stderr if any failed or warned."""
    outs = [p.communicate(timeout=timeout) for p in procs]
    for proc, (out, err) in zip(procs, outs, strict=True):
        assert proc.returncode == 0, f"child failed ({proc.returncode}):\n{out}\n{err}"
        assert "Warning" not in err and "Traceback" not in err, err
    return [out for out, _ in outs]


def census(root: Path) -> dict[str, list[Path]]:
    """Files under ``root`` sorted into entries, temporaries and anything unexpected."""
    found: dict[str, list[Path]] = {"entries": [], "temporaries": [], "other": []}
    for path in root.rglob("*"):
        if path.is_dir() and not path.is_symlink():
            continue
        if path.name.endswith(".jlc"):
            found["entries"].append(path)
        elif path.name.endswith(".tmp"):
            found["temporaries"].append(path)
        elif path.name not in KNOWN_FILES:
            found["other"].append(path)
    return found


def _mount(*args: str) -> bool:
    if os.geteuid() != 0:
        return False
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


@contextlib.contextmanager
def small_tmpfs(mount_point: Path, size: str = "256k") -> Iterator[Path]:
    """A real, tiny file system: writes past ``size`` fail with ``ENOSPC``."""
    mount_point.mkdir(parents=True, exist_ok=True)
    if not _mount("-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(mount_point)):
        pytest.skip("mounting a tmpfs needs root (and mount permission in this container)")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=True)


@contextlib.contextmanager
def remounted_read_only(mount_point: Path) -> Iterator[None]:
    """Remount a ``small_tmpfs`` read-only for the duration of the block."""
    if not _mount("-o", "remount,ro", str(mount_point)):
        pytest.skip("cannot remount the tmpfs read-only here")
    try:
        yield
    finally:
        _mount("-o", "remount,rw", str(mount_point))


def live_children() -> list[psutil.Process]:
    """Processes started (directly or not) by this test process that are still running."""
    alive = []
    for child in psutil.Process().children(recursive=True):
        try:
            if child.status() != psutil.STATUS_ZOMBIE:
                alive.append(child)
        except psutil.NoSuchProcess:
            continue
    return alive


def worker_processes(root: psutil.Process | None = None) -> list[psutil.Process]:
    """Pool workers among the descendants (not loky's or multiprocessing's resource tracker)."""
    root = root or psutil.Process()
    found = []
    for child in root.children(recursive=True):
        try:
            cmd = " ".join(child.cmdline())
            if child.status() == psutil.STATUS_ZOMBIE:
                continue
        except psutil.Error:
            continue
        if "resource_tracker" not in cmd and "semaphore_tracker" not in cmd:
            found.append(child)
    return found
