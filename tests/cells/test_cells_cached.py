"""The cached-cell protocol without IPython (``jlcache.cells.cached``), driven by a plain
Python front end: the same entries, events and corruption handling as cached functions."""

from __future__ import annotations

import time
import warnings

import pytest

from jlcache import events, stats
from jlcache.cells import analysis
from jlcache.cells.cached import MemoOptions, Ran, describe_cell, run_cached
from jlcache.errors import CorruptEntryWarning
from jlcache.memory import housekeeping


class PyRunner:
    """A front end that runs the cell with ``exec`` and records one fake output."""

    def __init__(self, source: str, ns: dict) -> None:
        self.source, self.ns, self.hidden = source, ns, {}
        self.runs = 0
        self.replayed: list = []
        self.said: list[str] = []

    def run(self):
        self.runs += 1
        exec(compile(self.source, "<cell>", "exec"), self.ns)

    def record(self) -> Ran:
        t0 = time.perf_counter()
        self.run()
        return Ran(True, None, "<cell>", [("stdout", f"ran {self.runs}\n")], time.perf_counter() - t0)

    def replay(self, outputs: list) -> None:
        self.replayed.append(outputs)

    def say(self, text: str) -> None:
        self.said.append(text)


def memo(memory, source: str, ns: dict, **options) -> PyRunner:
    opts = MemoOptions(**options)
    front = PyRunner(source, ns)
    cell = describe_cell(source, source, analysis.analyze(source), opts, quiet=False)
    run_cached(memory, cell, opts, front)
    return front


@pytest.fixture
def recorded():
    seen: list[events.Event] = []
    unsubscribe = events.subscribe(seen.append)
    yield seen
    unsubscribe()


def test_miss_runs_and_stores_then_a_hit_restores_and_replays(memory):
    ns = {"x": 3}
    first = memo(memory, "y = x * 2\nz = [y]", ns)
    assert first.runs == 1 and ns["y"] == 6 and first.replayed == []
    again = {"x": 3}
    second = memo(memory, "y = x * 2\nz = [y]", again, verbose=True)
    assert second.runs == 0 and (again["y"], again["z"]) == (6, [6])
    assert second.replayed == [[("stdout", "ran 1\n")]]
    assert "restored from cache (variables: y, z)" in second.said[0]
    third = memo(memory, "y = x * 2\nz = [y]", {"x": 4}, verbose=True)  # an input changed
    assert third.runs == 1 and "input changed: x" in third.said[0]


def test_cells_publish_the_same_events_as_functions(memory, recorded):
    def double(v):
        return 2 * v

    f = memory.cache(double)
    f(1), f(1)
    memo(memory, "a = 1", {}), memo(memory, "a = 1", {})
    by_kind: dict[str, list] = {}
    for e in recorded:
        by_kind.setdefault(e.data["kind"], []).append(e)
    for kind in ("functions", "cells"):
        got = by_kind[kind]
        assert [e.name for e in got] == ["cache.miss", "cache.store", "cache.hit"]
        assert [set(e.data) for e in got] == [set(e.data) for e in by_kind["functions"]]
        (entry,) = memory.store.entries(kind)
        # sizes: bytes on disk, in events as in listings (housekeeping.entry_bytes)
        assert got[1].data["bytes"] == got[2].data["bytes"] == housekeeping.entry_bytes(entry)
        assert entry.disk and entry.meta["func"] and entry.meta["input_args"] is not None


def test_a_run_marks_the_cell_current_at_its_site(memory):
    stats.reset()
    stats.set_site("cell-7")
    try:
        memo(memory, "b = 2", {}, name="load")
    finally:
        stats.set_site(None)
    (version,) = memory.store.versions("cells", "load")
    assert stats.defined_versions("cells") == {"load": frozenset({version})}
    assert housekeeping.version_state("cells", "load", version) == "current"


def test_a_corrupt_cell_entry_is_one_warning_then_run_and_overwritten(memory):
    memo(memory, "c = 3", {}, name="damaged")
    (entry,) = memory.store.entries("cells")
    entry.path.write_bytes(b"\x00garbage" * 40)
    with pytest.warns(CorruptEntryWarning) as record:
        front = memo(memory, "c = 3", {}, name="damaged")
    assert len(record) == 1
    message = str(record[0].message)
    assert "cell 'damaged'" in message and str(entry.path) in message
    assert front.runs == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert memo(memory, "c = 3", {}, name="damaged").runs == 0  # overwritten: a hit


def test_the_cell_engine_never_imports_ipython(python):
    out = python(
        "import sys\n"
        "from jlcache.cells import cached\n"
        "from jlcache.memory import entries, housekeeping\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('IPython', 'ipywidgets', 'anywidget') or m.startswith(('jlcache.ipython', 'jlcache.widget'))))"
    ).stdout
    assert out.strip() == "[]"
