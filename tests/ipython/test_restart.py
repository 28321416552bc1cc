"""Across kernels: a new process (any hash seed) finds the entries of the first one."""

from __future__ import annotations

import json

import pytest

CHILD = """
import json, os, sys
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
shell.run_line_magic("load_ext", "jlcache")
counter = os.environ["COUNTER"]
cells = [
    "def helper(v):\\n    return v * 3",
    "%%memo\\n(lambda f: (f.write('x'), f.close()))(open(counter, 'a'))\\n"
    "import numpy as np\\ndata = np.arange(5) * helper(2)\\nclass Box:\\n    size = 4\\n"
    "def scaled(k):\\n    return k * Box.size\\nprint('made', data.sum())\\n",
    "%%memo\\nwidth = scaled(3)\\n",
]
shell.user_ns["counter"] = counter
for cell in cells:
    result = shell.run_cell(cell)
    assert result.success, result
print(json.dumps({"width": shell.user_ns["width"], "data": shell.user_ns["data"].tolist(),
                  "runs": len(open(counter).read())}))
"""


@pytest.mark.parametrize("seeds", [("1", "2")])
def test_a_new_process_hits_the_entries_of_the_previous_one(python, tmp_path, seeds):
    counter = tmp_path / "runs.txt"
    counter.write_text("")
    env = {"JLCACHE_DIR": str(tmp_path / "cache"), "COUNTER": str(counter)}
    first = python(CHILD, env={**env, "PYTHONHASHSEED": seeds[0]}, cwd=tmp_path)
    second = python(CHILD, env={**env, "PYTHONHASHSEED": seeds[1]}, cwd=tmp_path)
    a = json.loads(first.stdout.strip().splitlines()[-1])
    b = json.loads(second.stdout.strip().splitlines()[-1])
    assert a == {"width": 12, "data": [0, 6, 12, 18, 24], "runs": 1}
    assert b == a, "the second kernel must restore the cell instead of running it"
    assert "made 60" in second.stdout  # the output is replayed


# A child "kernel" that runs the cells given as JSON and prints what the parent checks.
RUN_CELLS = """
import json, os, sys
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
shell.run_line_magic("load_ext", "jlcache")
shell.user_ns["counter"] = os.environ["COUNTER"]
for cell in json.loads(os.environ["CELLS"]):
    result = shell.run_cell(cell)
    assert result.success, result
print(json.dumps(shell.user_ns["report"]))
"""
COUNT = "(lambda f: (f.write('x'), f.close()))(open(counter, 'a'))\n"


def _kernel(python, tmp_path, cells: list[str], **env: str) -> dict:
    counter = tmp_path / "runs.txt"
    if not counter.exists():
        counter.write_text("")
    full = {"JLCACHE_DIR": str(tmp_path / "cache"), "COUNTER": str(counter),
            "CELLS": json.dumps(cells), **env}
    out = python(RUN_CELLS, env=full, cwd=tmp_path)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    report["runs"] = len(counter.read_text())
    return report


def test_functions_and_classes_restored_after_a_restart_keep_their_identity(python, tmp_path):
    """A restored helper is the same version as the one the cell made, so the cells and
    cached functions using it hit in the new kernel (and no second version is written)."""
    cells = [
        f"from jlcache import Memory\nmem = Memory({str(tmp_path / 'fn')!r})",
        "%%memo\ndef helper(x):\n    return x * 2\nclass Scaler:\n    def __init__(self, k):\n"
        "        self.k = k\n    def apply(self, v):\n        return helper(v) * self.k\n"
        "@mem.cache\ndef slow(v):\n    return helper(v) + 1\n",
        f"%%memo\n{COUNT}res = Scaler(3).apply(2) + slow(4)",
        "from jlcache.identity.functions import identify\nimport inspect\n"
        "try:\n    first_line = inspect.getsource(helper).splitlines()[0]\n"
        "except OSError:\n    first_line = None\n"
        "report = {'res': res, 'helper': identify(helper).version,\n"
        "          'scaler': identify(Scaler.apply).version, 'slow': identify(slow.func).version,\n"
        "          'file': helper.__code__.co_filename.startswith('<ipython-input'),\n"
        "          'source': first_line}",
    ]
    first = _kernel(python, tmp_path, cells, PYTHONHASHSEED="1")
    second = _kernel(python, tmp_path, cells, PYTHONHASHSEED="2")
    assert first["res"] == 12 + 9 and first["runs"] == 1
    assert second["runs"] == 1, "the cell using the restored helper must hit after a restart"
    assert {k: second[k] for k in ("helper", "scaler", "slow")} == \
        {k: first[k] for k in ("helper", "scaler", "slow")}
    assert second["file"] and second["source"] == "def helper(x):"
    slow_versions = list((tmp_path / "fn").rglob("*slow*/*"))
    assert len([p for p in slow_versions if p.is_dir()]) == 1, slow_versions
    using = [p for p in (tmp_path / "cache" / "cells").rglob("*.jlc")]
    assert len(using) == 2, "one entry per memo cell: the second kernel wrote no new key"


def test_restored_functions_read_the_live_namespace(python, tmp_path):
    """Like a re-run ``def``: a restored function sees later changes to its globals."""
    cells = ["SCALE = 2", "%%memo\ndef scaled(v):\n    return v * SCALE",
             "SCALE = 10", "report = {'value': scaled(3)}"]
    assert _kernel(python, tmp_path, cells)["value"] == 30
    assert _kernel(python, tmp_path, cells)["value"] == 30


def test_your_module_changing_between_kernels_reruns_the_cell(python, tmp_path):
    """``mymod.f(...)`` / ``mymod.CONST`` (and a module the cell imports) are in the key."""
    pkg = tmp_path / "src"
    pkg.mkdir()
    (pkg / "mymod.py").write_text("def helper(x):\n    return x * 2\nSCALE = 10\n")
    (pkg / "other.py").write_text("BASE = 1\n")
    cells = [
        f"import sys\nsys.path.insert(0, {str(pkg)!r})\nimport mymod",
        f"%%memo\n{COUNT}r = mymod.helper(3) * mymod.SCALE",
        f"%%memo\n{COUNT}import other\nbase = other.BASE",
        "report = {'r': r, 'base': base}",
    ]
    assert _kernel(python, tmp_path, cells) == {"r": 60, "base": 1, "runs": 2}
    assert _kernel(python, tmp_path, cells) == {"r": 60, "base": 1, "runs": 2}
    (pkg / "mymod.py").write_text("def helper(x):\n    return x * 20\nSCALE = 10\n")
    assert _kernel(python, tmp_path, cells) == {"r": 600, "base": 1, "runs": 3}
    (pkg / "mymod.py").write_text("def helper(x):\n    return x * 20\nSCALE = 100\n")
    (pkg / "other.py").write_text("BASE = 2\n")
    assert _kernel(python, tmp_path, cells) == {"r": 6000, "base": 2, "runs": 5}
    assert _kernel(python, tmp_path, cells) == {"r": 6000, "base": 2, "runs": 5}
