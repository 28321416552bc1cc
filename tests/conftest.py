"""Fixtures shared by the whole suite.

Area-specific fixtures live next to their tests (``tests/<area>/conftest.py``).
"""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    """A fresh, not yet existing cache location."""
    return tmp_path / "cache"


@pytest.fixture
def memory(cache_dir: Path):
    """A ``Memory`` on a fresh location (the import is lazy so collection stays cheap)."""
    from jlcache import Memory

    return Memory(cache_dir)


def run_python(code: str, *, env: dict[str, str] | None = None, timeout: float = 120,
               cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (a real process, as a kernel restart would be)."""
    full_env = {**os.environ, **(env or {})}
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), full_env.get("PYTHONPATH")]))
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, env=full_env, timeout=timeout, cwd=cwd)
    if check and proc.returncode != 0:
        raise AssertionError(f"child failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture
def python():
    """The ``run_python`` helper as a fixture."""
    return run_python


def mount(*args: str) -> bool:
    """``mount ARGS`` as root; False (nothing mounted) when not root or when it fails."""
    if os.geteuid() != 0:
        return False
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """Make ``path`` truly read-only for this process: a read-only bind mount as root (where
    permissions do not stop writes), ``chmod`` otherwise; skips where neither works."""
    if mount("--bind", str(path), str(path)):
        try:
            if not mount("-o", "remount,bind,ro", str(path)):
                pytest.skip("cannot remount read-only here")
            yield
        finally:
            subprocess.run(["umount", str(path)], check=True)
        return
    if os.geteuid() == 0:
        pytest.skip("root without mount: permissions cannot make a directory read-only")
    dirs = [path, *[p for p in path.rglob("*") if p.is_dir()]]
    for d in dirs:
        d.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        yield
    finally:
        for d in dirs:
            d.chmod(stat.S_IRWXU)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[Any]:
    """moto's S3 server in its own process (127.0.0.1, a free port), with the test bucket
    created (jlcache never creates buckets); the store and cluster tests share it (issue 16)."""
    pytest.importorskip("s3fs")
    pytest.importorskip("moto.server")
    from tests.store._s3 import BUCKET, S3Server, create_bucket, free_port, start_moto, stop

    port = free_port()
    proc = start_moto(port)
    try:
        server = S3Server(f"http://127.0.0.1:{port}")
        create_bucket(server.endpoint, BUCKET)
        yield server
    finally:
        stop(proc)


@pytest.fixture
def s3_url(s3_server: Any) -> str:
    """A fresh prefix (a new, empty cache) in the test bucket."""
    return s3_server.url()
