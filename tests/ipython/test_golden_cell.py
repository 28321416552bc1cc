"""Cell entries written before the cells package existed still load as hits, and a cell
entry whose state cannot be rebuilt is a miss with a warning (the cell runs again)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from jlcache.errors import CorruptEntryWarning

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "format-1-cell" / "cache"
CELL = '''class Point:
    def __init__(self, x):
        self.x = x
def double(v):
    return 2 * v
import numpy as np
p = Point(double(21))
arr = np.arange(5)
print("computed", p.x)
'''


@pytest.fixture
def golden(ip, tmp_path):
    shutil.copytree(FIXTURE, tmp_path / "cache")  # the extension's cache: $JLCACHE_DIR
    return ip


def test_a_cell_entry_from_before_the_move_is_a_hit(golden, capsys):
    golden.run_cell_magic("memo", "--name golden-cell --verbose", CELL)
    out = capsys.readouterr().out
    assert "restored from cache" in out and "computed 42" in out  # replayed, not recomputed
    ns = golden.user_ns
    assert ns["p"].x == 42 and ns["double"](4) == 8 and list(ns["arr"]) == [0, 1, 2, 3, 4]


def test_a_cell_entry_that_cannot_be_rebuilt_is_a_miss_with_a_warning(golden, capsys,
                                                                      monkeypatch):
    from jlcache.cells import state

    def gone(saved, ns):  # what unpickling does when a class or helper it names is gone
        raise AttributeError("Can't get attribute 'Helper' on <module '__main__'>")

    monkeypatch.setattr(state, "unpack", gone)
    with pytest.warns(CorruptEntryWarning, match="could not be restored"):
        golden.run_cell_magic("memo", "--name golden-cell --verbose", CELL)
    out = capsys.readouterr().out
    assert "restored from cache" not in out and "computed 42" in out
    assert golden.user_ns["p"].x == 42
