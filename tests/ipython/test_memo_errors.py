"""``%%memo`` when the cell or the cache is at fault: a syntax error looks as it would in a
plain cell, and a read-only cache warns once per cell, not on every run."""

from __future__ import annotations

import re
import sys
import warnings

import pytest

from jlcache.errors import NotCachedWarning
from tests.conftest import read_only
from tests.ipython.conftest import run


def _shown(text: str) -> str:
    """What the front end shows, without the parts that differ between two runs."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    return re.sub(r"In\[\d+\]|ipython-input-\d+-[0-9a-f]+", "CELL", text).strip()


def _run_shown(ip, log, source: str):
    """Run a cell that may fail; returns its result and what it printed."""
    log.clear()
    saved, sys.stdout = sys.stdout, log
    try:
        result = ip.run_cell(source)
    finally:
        sys.stdout = saved
    return result, _shown(log.text)


@pytest.mark.parametrize("body", ["x = (1,\ny = 2", "x = 1 +", "def f(:\n    pass"])
def test_a_syntax_error_shows_only_the_users_error_as_a_plain_cell_would(ip, log, body):
    plain, expected = _run_shown(ip, log, body)
    memo, shown = _run_shown(ip, log, f"%%memo\n{body}")
    assert "SyntaxError" in shown
    assert "jlcache" not in shown and "During handling" not in shown, shown
    assert shown == expected
    error = memo.error_before_exec
    assert type(error) is SyntaxError and error.msg == plain.error_before_exec.msg


def test_a_read_only_cache_warns_once_per_cell_and_still_runs_it(ip, counter, tmp_path):
    from jlcache.ipython import get_memory

    location = tmp_path / "cache"
    run(ip, "%%memo --name kept\nkept = 1")  # creates the cache; a hit later on
    cell = f"%%memo\n{counter.line}\nz = 5 * 2"
    other = "%%memo\nw = 3"
    with read_only(location):
        with pytest.warns(NotCachedWarning, match="read-only|Read-only") as record:
            for _ in range(3):
                run(ip, cell)
            for _ in range(2):
                run(ip, other)
        assert counter.value == 3 and ip.user_ns["z"] == 10 and ip.user_ns["w"] == 3
        assert len(record) == 2, [str(w.message) for w in record]   # one per cell
        ip.user_ns["kept"] = 0
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            run(ip, "%%memo --name kept\nkept = 1")     # hits are served silently
        assert ip.user_ns["kept"] == 1
    assert get_memory().store.groups("cells") == ["kept"]


def _cell_numbers(text: str) -> list[int]:
    return [int(n) for n in re.findall(r"Cell In\[(\d+)\]", re.sub(r"\x1b\[[0-9;]*m", "", text))]


def test_a_failing_memo_cells_traceback_names_its_own_prompt_number(ip, log):
    """Issue 12 item 5: prompt [16] showed "Cell In[17]"."""
    for source in ("%%memo\ny = 2\n1/0", "%%memo --off\n1/0", "1/0"):  # the last: a plain cell
        log.clear()
        saved, sys.stdout = sys.stdout, log
        try:
            result = ip.run_cell(source, store_history=True)
        finally:
            sys.stdout = saved
        assert isinstance(result.error_in_exec, ZeroDivisionError)
        assert _cell_numbers(log.text) == [result.execution_count], (source, log.text)


@pytest.mark.slow
def test_in_a_kernel_the_memo_cells_traceback_names_the_cells_prompt(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("JLCACHE_DIR", str(tmp_path / "cache"))
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in
                ("%load_ext jlcache", "x = 1", "%%memo\ny = x + 1\ny / 0")]
    nbclient.NotebookClient(nb, timeout=60, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    cell = nb.cells[2]
    (error,) = [o for o in cell.outputs if o.output_type == "error"]
    assert _cell_numbers("\n".join(error.traceback)) == [cell.execution_count]
