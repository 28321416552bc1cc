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
