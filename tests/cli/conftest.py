"""A real cache made by ``Memory`` in a child process, and a runner for the command line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# two versions of f (the second run edits it: the first version becomes stale), a function
# with a small and a larger array result, run in a real process as a notebook would
BUILD = """
import numpy as np
from jlcache import Memory
mem = Memory({root!r})
@mem.cache
def f(x):
    return x * {factor}
@mem.cache
def arr(n):
    return np.arange(n)
for i in range(4):
    f(i)
arr(10)
arr(20000)
"""


@pytest.fixture(scope="module")
def _template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli") / "cache"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    for factor in (2, 3):
        subprocess.run([sys.executable, "-c", BUILD.format(root=str(root), factor=factor)],
                       check=True, env=env, timeout=120)
    return root


@pytest.fixture
def cache(_template: Path, tmp_path: Path) -> Path:
    """A fresh copy of the template cache (modes and times kept), for tests that change it."""
    dest = tmp_path / "cache"
    shutil.copytree(_template, dest, copy_function=shutil.copy2)
    os.chmod(dest, 0o700)
    return dest


Run = Callable[..., subprocess.CompletedProcess]


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            stdin: int | None = subprocess.DEVNULL) -> subprocess.CompletedProcess:
    """``python -m jlcache ARGS`` in a fresh process (no terminal: stdin is /dev/null)."""
    full = {**os.environ, **(env or {})}
    full["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), full.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "jlcache", *args], capture_output=True,
                          text=True, env=full, cwd=cwd, stdin=stdin, timeout=60)


@pytest.fixture
def cli() -> Run:
    return run_cli
