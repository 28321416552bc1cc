"""Issue 12 item 8: ``%load_ext jlcache`` says where the cache is; the repo ignores it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_load_message_names_the_cache_next_to_the_notebook_and_how_to_move_it(tmp_path, monkeypatch):
    folder = tmp_path / "notebooks"  # `jupyter lab notebooks/x.ipynb` starts the kernel here
    folder.mkdir()
    monkeypatch.delenv("JLCACHE_DIR", raising=False)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("%load_ext jlcache")]
    nbclient.NotebookClient(nb, timeout=60, kernel_name="python3",
                            resources={"metadata": {"path": str(folder)}}).execute()
    text = "".join(o.get("text", "") for o in nb.cells[0].outputs)
    lines = text.strip().splitlines()
    assert lines[0].startswith(f"jlcache: caching in {folder / '.jlcache'} ")
    assert "%jlcache dir PATH" in lines[0] and "$JLCACHE_DIR" in lines[0]
    assert len(lines) == 2 and "joblib bridge on" in lines[1]  # one short combined message
    assert not (folder / ".jlcache").exists()  # loading alone never touches the disk


def test_the_repository_ignores_a_cache_next_to_a_notebook():
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    proc = subprocess.run([git, "check-ignore", "-q", "notebooks/.jlcache/functions/x"],
                          cwd=ROOT, check=False)
    assert proc.returncode == 0, "notebooks/.jlcache is not ignored by .gitignore"
