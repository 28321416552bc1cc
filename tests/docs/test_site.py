"""The documentation site builds strictly: a broken link, anchor, image or API reference
(a name mkdocstrings cannot resolve, a docstring griffe cannot parse) fails the suite, as it
would fail ``mkdocs build --strict`` in CI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytest.importorskip("mkdocs", reason="the docs extra (pip install -e '.[docs]') is not installed")


def build(config: Path, site: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config),
                           "-d", str(site)], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=240)


def test_the_site_builds_strictly(tmp_path):
    proc = build(REPO / "mkdocs.yml", tmp_path / "site")
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    api = (tmp_path / "site" / "api" / "index.html").read_text()
    for name in ("jlcache.Memory", "jlcache.Parallel", "jlcache.store.Store", "jlcache.hash"):
        assert f'id="{name}"' in api, f"the API reference has no section for {name}"
    # the benchmarks page is benchmarks/README.md itself, included (one source of truth)
    assert "Latest figures" in (tmp_path / "site" / "benchmarks" / "index.html").read_text()


def test_a_broken_link_fails_the_strict_build(tmp_path):
    """The check above can fail: the same build with one dead anchor added is refused."""
    docs = tmp_path / "docs"  # every real page (as symlinks) plus one with a dead anchor
    docs.mkdir()
    for f in (REPO / "docs").iterdir():
        (docs / f.name).symlink_to(f)
    (docs / "broken.md").write_text("# Broken\n\n[gone](memory.md#no-such-section)\n")
    config = (REPO / "mkdocs.yml").read_text().replace("docs_dir: docs", f"docs_dir: {docs}")
    assert str(docs) in config
    (tmp_path / "mkdocs.yml").write_text(config)
    for watched in ("jlcache", "benchmarks"):  # paths in the config are relative to it
        (tmp_path / watched).symlink_to(REPO / watched)
    proc = build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert proc.returncode != 0
    assert "does not contain an anchor '#no-such-section'" in proc.stdout + proc.stderr
