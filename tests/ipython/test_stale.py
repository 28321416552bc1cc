"""What "stale" means in a notebook, through a real shell with Jupyter's cell ids, and the
one size every report uses (``jlcache.memory.housekeeping``)."""

from __future__ import annotations

import pytest

from jlcache.memory import housekeeping

SETUP = "from jlcache import Memory\nmemory = Memory({location!r})"
DEFINE = "@memory.cache\ndef f(x):\n    return x + {n}\nf(1)"


def cell(shell, source: str, cell_id: str | None):
    """Run ``source`` as the notebook cell ``cell_id`` (what ipykernel passes from Jupyter)."""
    result = shell.run_cell(source, store_history=True, cell_id=cell_id)
    result.raise_error()
    return result


@pytest.fixture
def nb(ip, tmp_path):
    cell(ip, SETUP.format(location=str(tmp_path / "nbcache")), "setup")
    return ip


def _versions(shell) -> list[str]:
    store = shell.user_ns["memory"].store
    (group,) = store.groups("functions")
    return store.versions("functions", group)


def test_same_name_defined_in_two_cells_keeps_both_versions(nb, capsys):
    cell(nb, DEFINE.format(n=1), "cell-a")
    cell(nb, DEFINE.format(n=2), "cell-b")  # another cell defines f too
    assert len(_versions(nb)) == 2
    store = nb.user_ns["memory"].store
    assert housekeeping.stale_versions(store) == []  # cell-a still defines its f
    nb.run_line_magic("jlcache", "dir " + str(store.location))
    nb.run_line_magic("jlcache", "clear --stale")
    assert "removed 0 stale version(s)" in capsys.readouterr().out
    assert len(_versions(nb)) == 2


def test_editing_a_cell_makes_its_previous_version_stale(nb, capsys):
    cell(nb, DEFINE.format(n=1), "cell-a")
    cell(nb, DEFINE.format(n=2), "cell-b")
    first = set(_versions(nb))
    cell(nb, DEFINE.format(n=3), "cell-a")  # the same cell, edited and run again
    store = nb.user_ns["memory"].store
    stale = housekeeping.stale_versions(store)
    assert len(stale) == 1 and stale[0][2] in first  # the edited-away version of cell-a
    nb.run_line_magic("jlcache", "dir " + str(store.location))
    nb.run_line_magic("jlcache", "clear --stale --yes")
    assert len(_versions(nb)) == 2 and stale[0][2] not in _versions(nb)
    assert nb.user_ns["f"].check_call_in_cache(1)


def test_a_cell_that_no_longer_defines_the_name_stops_defining_it(nb):
    cell(nb, DEFINE.format(n=1), "cell-a")
    cell(nb, DEFINE.format(n=2), "cell-b")
    cell(nb, "y = 1", "cell-a")  # cell-a edited: it defines no f any more
    store = nb.user_ns["memory"].store
    stale = housekeeping.stale_versions(store)
    assert len(stale) == 1
    assert housekeeping.version_state(*stale[0]) == "stale"


def test_groups_not_defined_in_this_session_are_unknown_and_kept(nb, tmp_path):
    from jlcache import stats

    cell(nb, DEFINE.format(n=1), "cell-a")
    store = nb.user_ns["memory"].store
    stats.reset()  # as after a kernel restart: nothing defined yet
    (group,) = store.groups("functions")
    (version,) = store.versions("functions", group)
    assert housekeeping.version_state("functions", group, version) == "unknown"
    assert housekeeping.clear_stale(store).versions == []
    assert store.versions("functions", group) == [version]


def test_same_named_memo_cells_in_two_cells_are_both_current(ip, capsys):
    cell(ip, "%%memo --name load\na = 1", "cell-a")
    cell(ip, "%%memo --name load\na = 2", "cell-b")
    ip.run_line_magic("jlcache", "clear --stale")
    assert "removed 0 stale version(s)" in capsys.readouterr().out
    from jlcache.ipython import get_memory

    assert len(get_memory().store.versions("cells", "load")) == 2


def test_without_cell_ids_the_latest_definition_is_current(nb):
    """Terminal IPython has no cell ids: redefining a name replaces the previous version."""
    cell(nb, DEFINE.format(n=1), None)
    cell(nb, DEFINE.format(n=2), None)
    store = nb.user_ns["memory"].store
    assert len(housekeeping.stale_versions(store)) == 1


def test_info_and_panel_report_the_same_size(ip, capsys):
    pytest.importorskip("anywidget")
    from jlcache.ipython import get_memory
    from jlcache.widget.format import human_size
    from jlcache.widget.view import Panel

    cell(ip, "%%memo --name blob\nblob = 'x' * 5000", "c1")
    cell(ip, "%%memo --name tiny\ntiny = 1", "c2")
    store = get_memory().store
    ip.run_line_magic("jlcache", "info")
    out = capsys.readouterr().out
    panel = Panel(get_memory())
    try:
        rows = {r["label"]: r for r in panel.rows() if r["type"] == "group"}
        for name in ("blob", "tiny"):
            line = next(r for r in out.splitlines() if name in r)
            assert rows[name]["size"] in line, (rows[name]["size"], line)
        total = housekeeping.total_bytes(store.entries("cells"))
        assert panel.summary["bytes"] == total == store.size()
        assert out.splitlines()[0].endswith(human_size(total))
    finally:
        panel.close()


def test_a_cached_function_restored_by_a_memo_hit_is_defined_by_that_cell(nb):
    body = "%%memo --name defs\n@memory.cache\ndef g(x):\n    return x * 3\n"
    cell(nb, body, "cell-d")
    cell(nb, body, "cell-d")  # a hit: g comes back from the cache, not from a decorator
    from jlcache.identity.functions import identify

    version = identify(nb.user_ns["g"].func).version  # (identify marks nothing)
    cell(nb, "y = 1", "cell-e")
    # not called since the hit: still defined by cell-d, whose rerun forgot the first g
    assert housekeeping.version_state("functions", "__main__.g", version) == "current"
    assert nb.user_ns["g"](2) == 6
