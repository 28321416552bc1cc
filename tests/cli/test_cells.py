"""The command line on ``%%memo`` cells made by a real IPython shell in other processes.

Functions and cells share the store, but cells are named differently (``--name`` or the
cell's first line) and grouped by slot; these tests check that ``ls``, ``du`` and ``clear``
see them as a notebook user would, and that what ``clear --stale`` keeps still hits.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.conftest import REPO, Run

# a named cell (its edit makes the first version stale) and an unnamed one reading it;
# each run appends the cell's marker to a file, so the file says which bodies really ran
BUILD = r"""
import sys
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config
config = Config()
config.HistoryManager.hist_file = ":memory:"
shell = InteractiveShell.instance(config=config)
shell.run_line_magic("load_ext", "jlcache")
factor, runs = sys.argv[1], sys.argv[2]
cells = (
    "%%memo --name load\nimport numpy as np\n"
    f"open({runs!r}, 'a').write('L')\ndata = np.arange(20000) * {factor}\n",
    f"%%memo\nopen({runs!r}, 'a').write('T')\ntotal = int(data.sum())\nprint(total)\n",
)
for source in cells:
    result = shell.run_cell(source, store_history=True)
    if not result.success:
        raise SystemExit(f"cell failed: {result.error_in_exec or result.error_before_exec!r}")
"""


def _notebook(root: Path, factor: int, runs: Path) -> None:
    env = {**os.environ, "JLCACHE_DIR": str(root),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    subprocess.run([sys.executable, "-c", BUILD, str(factor), str(runs)], check=True, env=env,
                   timeout=120, capture_output=True)


@pytest.fixture
def cells(tmp_path: Path) -> tuple[Path, Path]:
    """A cache where cell ``load`` has two versions (the edit made the first stale)."""
    root, runs = tmp_path / "cache", tmp_path / "runs.txt"
    _notebook(root, 1, runs)
    _notebook(root, 2, runs)
    assert runs.read_text() == "LTLT"
    return root, runs


def test_ls_lists_cells_by_name_with_their_versions(cells: tuple[Path, Path], cli: Run) -> None:
    root, _ = cells
    doc = json.loads(cli("ls", "--json", str(root)).stdout)
    groups = {g["name"]: g for g in doc["groups"]}
    assert all(g["kind"] == "cell" for g in doc["groups"])
    assert [v["state"] for v in groups["load"]["versions"]] == ["current", "stale"]
    # the unnamed cell is named by its first line of code after the magic
    assert any(name.startswith("open(") for name in groups)
    text = cli("ls", str(root)).stdout
    assert text.splitlines()[0].startswith(f"jlcache at {root}: 0 function(s), ")
    assert "cell  load" in text


def test_du_puts_the_array_cell_first(cells: tuple[Path, Path], cli: Run) -> None:
    root, _ = cells
    rows = cli("du", str(root)).stdout.splitlines()
    assert rows[1].split()[-2:] == ["cell", "load"]


def test_clear_stale_keeps_the_current_cell_which_still_hits(cells: tuple[Path, Path],
                                                              cli: Run) -> None:
    root, runs = cells
    proc = cli("clear", "--stale", "--yes", str(root))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(cli("ls", "--json", str(root)).stdout)
    load = next(g for g in doc["groups"] if g["name"] == "load")
    assert [v["state"] for v in load["versions"]] == ["current"]
    _notebook(root, 2, runs)  # a new session re-running the current notebook
    assert runs.read_text() == "LTLT"  # both cells were hits: no body ran


def test_clear_a_cell_by_name_recomputes_only_it(cells: tuple[Path, Path], cli: Run) -> None:
    root, runs = cells
    proc = cli("clear", str(root), "load", "--yes")
    assert proc.returncode == 0, proc.stderr
    names = {g["name"] for g in json.loads(cli("ls", "--json", str(root)).stdout)["groups"]}
    assert "load" not in names and names
    _notebook(root, 2, runs)
    assert runs.read_text() == "LTLTL"  # load ran again; the cell reading it was a hit
