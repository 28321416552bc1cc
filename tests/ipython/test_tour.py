"""Issue 12 item 1: the tour shows the panel, a %pmap with its bar, and a second run of the
tour really skips the slow cells (its cache persists next to the notebook)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

TOUR = Path(__file__).resolve().parents[2] / "notebooks" / "01-tour.ipynb"
WIDGET = "application/vnd.jupyter.widget-view+json"


def _text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def _cell(nb, start: str):
    return next(c for c in nb.cells if c.cell_type == "code" and c.source.startswith(start))


@pytest.mark.slow
def test_the_tour_shows_panel_and_bar_and_its_second_run_is_served_from_its_cache(
        tmp_path, monkeypatch):
    monkeypatch.delenv("JLCACHE_DIR", raising=False)
    shutil.copy(TOUR, tmp_path / TOUR.name)
    runs = []
    for _ in range(2):
        nb = nbformat.read(tmp_path / TOUR.name, as_version=4)
        nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                                resources={"metadata": {"path": str(tmp_path)}}).execute()
        runs.append(nb)
    first, second = runs
    assert (tmp_path / ".jlcache").is_dir()  # the cache the tour explains, next to it
    for nb in runs:
        panel = _cell(nb, "# NBVAL_IGNORE_OUTPUT\n%load_ext jlcache")
        assert any(WIDGET in o.get("data", {}) for o in panel.outputs), "the panel is shown"
        pmap = _cell(nb, "def slow_cube")
        assert any(WIDGET in o.get("data", {}) for o in pmap.outputs), "the progress bar"
    memo = "%%memo --verbose\ntime.sleep(1)"
    assert "running (no cached entry" in _text(_cell(first, memo))
    assert "restored from cache" in _text(_cell(second, memo))
    timing = re.search(r"first call ([\d.]+) s", _text(_cell(second, "@memory.cache")))
    assert timing and float(timing.group(1)) < 0.25, "slow_square(12) was a hit on run 2"
