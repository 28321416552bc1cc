"""The package's layering, measured by the project's shared tool: no cycle between packages,
at most 6 modules at the root, and the engine never imports a front end or a UI library."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LAYERS = REPO.parent / "shared" / "tools" / "layers.py"


@pytest.mark.skipif(not LAYERS.is_file(), reason="../shared/tools/layers.py is not beside the repo")
def test_layers_reports_no_cycle_and_no_engine_to_front_import() -> None:
    out = subprocess.run([sys.executable, str(LAYERS), "jlcache"], cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 cycles, 0 engine->front imports" in out.stdout


def test_import_jlcache_loads_no_front_end_nor_heavy_library() -> None:
    code = ("import sys, jlcache; heavy = [m for m in ('numpy', 'IPython', 'ipywidgets', "
            "'anywidget', 'joblib', 'fsspec', 'dask', 'ray', 'jlcache.ipython', 'jlcache.widget') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
