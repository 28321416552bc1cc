"""Functions defined in IPython cells: source comes from IPython's cell cache (linecache).

A real ``InteractiveShell`` runs the cells, in this process and in fresh interpreters (a
kernel restart), with different hash seeds.
"""

from __future__ import annotations

import json

import pytest

from jlcache.identity import source as _source
from jlcache.identity.functions import identify

pytest.importorskip("IPython")

HELPER = "SCALE = 3\ndef jlc_helper(x):\n    return x * SCALE\n"
CELL = "def jlc_cell_f(x):\n    # uses the helper\n    return jlc_helper(x) + 1\n"
LAMBDAS = "jlc_ops = [lambda v: v + 1, lambda v: v * 2]\n"

CHILD = """
import json
from IPython.core.interactiveshell import InteractiveShell
from jlcache.identity.functions import identify
shell = InteractiveShell.instance()
for cell in {cells!r}:
    assert shell.run_cell(cell).success
ns = shell.user_ns
print(json.dumps([identify(ns["jlc_cell_f"]).version,
                  *[identify(op).version for op in ns["jlc_ops"]]]))
"""


@pytest.fixture(scope="module")
def shell():
    from IPython.core.interactiveshell import InteractiveShell

    return InteractiveShell.instance()


def run(shell, cell: str) -> None:
    result = shell.run_cell(cell)
    assert result.success, result.error_in_exec or result.error_before_exec


def test_cell_function_source_comes_from_the_cell_cache(shell):
    run(shell, HELPER)
    run(shell, CELL)
    f = shell.user_ns["jlc_cell_f"]
    assert f.__code__.co_filename.startswith("<ipython-input-")
    ident = identify(f)
    assert ident.name == "__main__.jlc_cell_f"
    assert ident.code_hash != _source.structural_hash(f.__code__)   # read from source


def test_rerunning_and_editing_cells(shell):
    run(shell, HELPER)
    run(shell, CELL)
    v1 = identify(shell.user_ns["jlc_cell_f"]).version
    run(shell, CELL.replace("# uses the helper", "# reworded comment\n\n"))
    assert identify(shell.user_ns["jlc_cell_f"]).version == v1
    run(shell, CELL.replace("+ 1", "+ 2"))
    assert identify(shell.user_ns["jlc_cell_f"]).version != v1
    run(shell, CELL)
    assert identify(shell.user_ns["jlc_cell_f"]).version == v1
    run(shell, HELPER.replace("x * SCALE", "x * SCALE * 2"))       # edit the helper's cell
    assert identify(shell.user_ns["jlc_cell_f"]).version != v1
    run(shell, HELPER)
    run(shell, "SCALE = 4")                                       # a global the helper reads
    assert identify(shell.user_ns["jlc_cell_f"]).version != v1


def test_same_cells_in_fresh_shells_and_processes_give_the_same_versions(shell, python):
    cells = [HELPER, CELL, LAMBDAS]
    run(shell, HELPER)
    run(shell, CELL)
    run(shell, LAMBDAS)
    here = [identify(shell.user_ns["jlc_cell_f"]).version,
            *[identify(op).version for op in shell.user_ns["jlc_ops"]]]
    first = json.loads(python(CHILD.format(cells=cells), env={"PYTHONHASHSEED": "1"}).stdout)
    # other cells first, so the cell numbers (and file names) differ; another hash seed
    shifted = ["x = 1", "y = 2", *cells]
    second = json.loads(python(CHILD.format(cells=shifted), env={"PYTHONHASHSEED": "2"}).stdout)
    assert first == second == here
    assert len(set(here)) == 3
    edited = [HELPER, CELL.replace("+ 1", "- 1"), LAMBDAS]
    third = json.loads(python(CHILD.format(cells=edited)).stdout)
    assert third[0] != here[0] and third[1:] == here[1:]
