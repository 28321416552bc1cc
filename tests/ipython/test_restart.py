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
