"""``%jlcache``: info table, clear (one, stale, all), dir, and loading/unloading."""

from __future__ import annotations

from pathlib import Path

import pytest
from IPython.core.error import UsageError

from tests.conftest import read_only
from tests.ipython.conftest import run


def files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def populated(ip):
    from jlcache.ipython import get_memory

    ip.user_ns["memory"] = get_memory()
    run(ip, "@memory.cache\ndef square(v):\n    return v * v")
    run(ip, "square(2); square(3); square(3)")
    run(ip, "%%memo --name totals\ntotal = 1 + 2")
    return get_memory()


def test_default_location_comes_from_the_environment(ip, tmp_path):
    from jlcache.ipython import get_memory

    assert Path(get_memory().location) == tmp_path / "cache"


def test_loading_twice_is_harmless_and_unloading_removes_the_magics(ip):
    ip.run_line_magic("load_ext", "jlcache")
    assert "memo" in ip.magics_manager.magics["cell"]
    ip.run_line_magic("unload_ext", "jlcache")
    assert "memo" not in ip.magics_manager.magics["cell"]
    assert "pmap" not in ip.magics_manager.magics["line"]
    ip.run_line_magic("load_ext", "jlcache")
    assert "pmap" in ip.magics_manager.magics["line"]


def test_info_lists_functions_and_cells_with_counts(ip, populated, capsys):
    ip.run_line_magic("jlcache", "info")
    out = capsys.readouterr().out
    line = next(row for row in out.splitlines() if "square" in row)
    assert line.split()[:4] == ["function", "__main__.square", "1", "2"]  # 1 version, 2 entries
    assert line.split()[-3:-1] == ["1", "2"]  # 1 hit, 2 misses
    assert any("totals" in row and row.startswith("cell") for row in out.splitlines())


def test_info_sizes_use_the_panels_binary_units(ip, populated, capsys):
    from jlcache.widget.format import human_size

    run(ip, "%%memo --name blob\nblob = 'x' * 5000")
    ip.run_line_magic("jlcache", "info")
    out = capsys.readouterr().out
    row = next(r for r in out.splitlines() if "blob" in r)
    size = populated.store.entries("cells", "blob")[0].disk  # bytes on disk, as in the panel
    assert "KiB" in row and human_size(size) in row
    assert " KB" not in out and " MB" not in out


def test_panel_falls_back_to_something_displayable(ip, populated, capsys):
    result = ip.run_line_magic("jlcache", "")
    assert result is not None or "square" in capsys.readouterr().out


def test_clear_one_function_by_name_leaves_the_rest(ip, populated):
    store = populated.store
    ip.run_line_magic("jlcache", "clear square")
    assert store.groups("functions") == []
    assert store.groups("cells") == ["totals"]


def test_clear_a_cell_by_its_name(ip, populated):
    ip.run_line_magic("jlcache", "clear totals")
    assert populated.store.groups("cells") == []
    assert populated.store.groups("functions") != []


@pytest.mark.parametrize("target", ["../../etc", "..", "/", "functions", "../cache", "*"])
def test_clear_never_resolves_outside_the_cache(ip, populated, tmp_path, target):
    outside = tmp_path / "etc" / "keep.txt"
    outside.parent.mkdir()
    outside.write_text("precious")
    before = files(tmp_path)
    with pytest.raises(UsageError):
        ip.run_line_magic("jlcache", f"clear {target}")
    assert files(tmp_path) == before


def test_clear_stale_removes_only_versions_no_longer_defined(ip, populated):
    store = populated.store
    run(ip, "def square(v):\n    return v ** 2  # a new version")
    run(ip, "square = memory.cache(square)\nsquare(4)")
    assert len(store.versions("functions", "__main__.square")) == 2
    run(ip, "%%memo --name totals\ntotal = 2 + 2")
    ip.run_line_magic("jlcache", "clear --stale --yes")
    assert len(store.versions("functions", "__main__.square")) == 1
    assert len(store.versions("cells", "totals")) == 1
    assert ip.user_ns["square"].check_call_in_cache(4)


def test_clear_stale_asks_first_like_clear_all(ip, populated, capsys, monkeypatch):
    store = populated.store
    run(ip, "def square(v):\n    return v ** 2  # a new version")
    run(ip, "square = memory.cache(square)\nsquare(4)")
    capsys.readouterr()
    ip.run_line_magic("jlcache", "clear --stale")  # no terminal to answer: nothing deleted
    out = capsys.readouterr().out
    assert "This removes 1 stale version(s)" in out and "__main__.square @ " in out
    assert "Nothing was deleted (no way to ask here)" in out and "--stale --yes" in out
    assert len(store.versions("functions", "__main__.square")) == 2
    monkeypatch.setattr("builtins.input", lambda prompt="": "n")
    ip.run_line_magic("jlcache", "clear --stale")
    assert "Nothing was deleted." in capsys.readouterr().out
    assert len(store.versions("functions", "__main__.square")) == 2
    monkeypatch.setattr("builtins.input", lambda prompt="": "y")
    ip.run_line_magic("jlcache", "clear --stale")
    assert "removed 1 stale version(s)" in capsys.readouterr().out
    assert len(store.versions("functions", "__main__.square")) == 1


def test_clear_all_asks_first_and_deletes_only_with_yes(ip, populated, capsys):
    store = populated.store
    ip.run_line_magic("jlcache", "clear --all")
    out = capsys.readouterr().out
    assert "This removes 2 cached functions/cells, 3 entries" in out
    assert "Nothing was deleted" in out
    assert store.groups("functions") and store.groups("cells")
    ip.run_line_magic("jlcache", "clear --all --yes")
    assert store.groups("functions") == [] and store.groups("cells") == []


def test_dir_moves_the_cache_for_the_session(ip, tmp_path, capsys):
    from jlcache.ipython import get_memory

    ip.run_line_magic("jlcache", "dir elsewhere")
    assert Path(get_memory().location) == tmp_path / "elsewhere"
    run(ip, "%%memo\nz = 1")
    assert get_memory().store.groups("cells")
    ip.run_line_magic("jlcache", "dir")
    assert str(tmp_path / "elsewhere") in capsys.readouterr().out


@pytest.mark.parametrize("line", [
    "bogus", "info extra", "clear", "clear --stale --all", "clear f --yes", "clear nothing_cached",
    "info --all", "dir --mmap-mode z x", "--mmap-mode r", "clear 'unbalanced", "dir ''",
])
def test_bad_arguments_give_usage_errors(ip, populated, line):
    with pytest.raises(UsageError):
        ip.run_line_magic("jlcache", line)


@pytest.mark.parametrize(("content", "words"), [
    ("2\n", "newer jlcache"), ("99999999999999999999\n", "newer jlcache"),
    ("garbage\n", "not a jlcache format number"), ("\x00\xff\n", "not a jlcache format"),
    ("0\n", "no jlcache ever wrote"),
])
def test_dir_on_a_cache_with_a_newer_or_damaged_format_is_a_usage_error(ip, tmp_path, content,
                                                                       words):
    from jlcache.ipython import get_memory

    before = get_memory().location
    other = tmp_path / "other"
    other.mkdir(mode=0o700)
    (other / "FORMAT").write_text(content, errors="surrogateescape")
    with pytest.raises(UsageError, match=words) as info:
        ip.run_line_magic("jlcache", f"dir {other}")
    assert str(other) in str(info.value)
    assert get_memory().location == before, "a refused location must not become the cache"
    assert (other / "FORMAT").read_text(errors="surrogateescape") == content
    assert sorted(p.name for p in other.iterdir()) == ["FORMAT"]


def test_a_default_location_with_a_damaged_format_is_a_usage_error(ip, tmp_path):
    location = tmp_path / "cache"  # $JLCACHE_DIR of the fixture, not created yet
    location.mkdir(mode=0o700)
    (location / "FORMAT").write_text("7\n")
    for line in ("info", "dir", "clear --stale"):
        with pytest.raises(UsageError, match=r"newer jlcache.*%jlcache dir PATH"):
            ip.run_line_magic("jlcache", line)
    with pytest.raises(UsageError, match="newer jlcache"):
        ip.run_cell_magic("memo", "", "x = 1")
    assert (location / "FORMAT").read_text() == "7\n"


@pytest.mark.parametrize(("line", "named"), [
    ("clear square", "{location}/functions/__main__.square: "),
    ("clear totals", "{location}/cells/totals: "),
    ("clear --all --yes", "the entries in {location}: "),
])
def test_clear_on_a_read_only_cache_names_the_folder_and_what_to_do(ip, populated, line, named):
    location = Path(populated.location)
    before = files(location)
    with read_only(location), pytest.raises(UsageError) as info:
        ip.run_line_magic("jlcache", line)
    message = str(info.value)
    assert "could not remove " + named.format(location=location) in message
    assert "read-only" in message and "nothing was deleted" in message
    assert "%jlcache dir PATH" in message
    assert files(location) == before


def test_clear_stale_on_a_read_only_cache_names_the_version_folder(ip, populated):
    store = populated.store
    [old] = store.versions("functions", "__main__.square")
    run(ip, "def square(v):\n    return v ** 2  # a new version")
    run(ip, "square = memory.cache(square)\nsquare(4)")
    location = Path(populated.location)
    with read_only(location), pytest.raises(UsageError, match="read-only") as info:
        ip.run_line_magic("jlcache", "clear --stale --yes")
    assert f"could not remove {location}/functions/__main__.square/{old}: " in str(info.value)
    assert len(store.versions("functions", "__main__.square")) == 2
