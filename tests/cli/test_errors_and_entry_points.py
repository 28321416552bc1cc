"""Usage problems (exit 2, one stderr line, no traceback) and the two ways to start jlcache."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

BAD = {
    "no command": [],
    "unknown command": ["frobnicate"],
    "unknown option": ["ls", "{cache}", "--bogus"],
    "extra argument": ["ls", "{cache}", "extra"],
    "size like lots": ["prune", "{cache}", "--max-size", "lots"],
    "negative size": ["prune", "{cache}", "--max-size", "-5"],
    "bad age": ["prune", "{cache}", "--older-than", "soon"],
    "prune without a limit": ["prune", "{cache}"],
    "missing directory": ["ls", "{tmp}/nowhere"],
    "not a jlcache cache": ["du", "{tmp}"],
    "target without DIR": ["clear", "some_function", "--yes"],
    "target and --stale": ["clear", "{cache}", "f", "--stale", "--yes"],
    "unsupported URL": ["ls", "gopher://host/cache"],
}


@pytest.mark.parametrize("args", BAD.values(), ids=BAD.keys())
def test_bad_arguments_exit_2_with_one_line(cache, cli, tmp_path, args):
    proc = cli(*[a.format(cache=cache, tmp=tmp_path) for a in args])
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert proc.stderr.startswith("jlcache: error: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert not (tmp_path / "nowhere").exists()  # nothing was created where a typo pointed


def test_an_unsafe_cache_directory_is_refused_in_one_line(cache, cli):
    os.chmod(cache, 0o777)
    proc = cli("ls", str(cache))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "writable by group and others" in proc.stderr and "chmod 700" in proc.stderr


def test_a_newer_cache_format_is_refused_and_left_alone(cache, cli):
    (cache / "FORMAT").write_text("99\n")
    proc = cli("verify", str(cache), "--fix")
    assert proc.returncode == 2 and "newer jlcache" in proc.stderr
    assert (cache / "FORMAT").read_text() == "99\n"


def test_the_console_script_is_declared_and_runs(cache):
    """pyproject's ``[project.scripts]`` names ``jlcache.cli:main``, which runs commands."""
    text = (REPO / "pyproject.toml").read_text()
    declared = re.search(r'^\[project\.scripts\]\njlcache = "([\w.]+):(\w+)"', text, re.M)
    assert declared, "pyproject.toml declares no jlcache console script"
    module, func = declared.groups()
    code = (f"import sys; from {module} import {func}; "
            f"sys.exit({func}(['du', {str(cache)!r}]))")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.returncode == 0 and "__main__.arr" in proc.stdout, proc.stderr


def test_the_installed_jlcache_script(cache):
    script = shutil.which("jlcache")
    if script is None:
        pytest.skip("no `jlcache` script on PATH (jlcache not installed with its scripts)")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([script, "ls", "--json", str(cache)], capture_output=True, text=True,
                          env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert '"format": 1' in proc.stdout


def test_python_m_jlcache_help_lists_every_command(cli):
    proc = cli("--help")
    assert proc.returncode == 0
    for command in ("ls", "du", "verify", "prune", "clear"):
        assert command in proc.stdout


def test_import_jlcache_does_not_import_the_cli_and_the_cli_no_ui(cache):
    code = (
        "import sys, jlcache; assert not any(m.startswith('jlcache.cli') for m in sys.modules)\n"
        "from jlcache.cli import main; main(['ls', sys.argv[1]])\n"
        "ui = [m for m in sys.modules if m.split('.')[0] in ('IPython', 'anywidget', "
        "'ipywidgets') or m.startswith('jlcache.widget') or m.startswith('jlcache.ipython')]\n"
        "assert not ui, ui\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", code, str(cache)], capture_output=True,
                          text=True, env=env)
    assert proc.returncode == 0, proc.stderr


def test_the_cli_package_is_a_front_end_only():
    """No second implementation: the commands never touch files themselves."""
    source = "\n".join(p.read_text() for p in Path(REPO, "jlcache", "cli").glob("*.py"))
    for forbidden in ("shutil.rmtree", "os.unlink", "os.remove", "os.scandir", "st_blocks"):
        assert forbidden not in source
