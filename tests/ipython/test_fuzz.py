"""Malformed magic arguments: always a ``UsageError`` with a message, never a change to the cache."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from IPython.core.error import UsageError

from tests.ipython.conftest import run

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

_junk = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_token = st.one_of(
    st.sampled_from(["-n", "-b", "--memo", "--ordered", "--unordered", "--batch-size",
                     "--no-progress", "--bg", "--name", "--ignore", "--force", "--off",
                     "--verbose", "--stale", "--all", "--yes", "--mmap-mode", "-", "--", "'",
                     '"', "(", "[", "lambda", ":", "0", "-1", "../../etc", "/", "*", "x y"]),
    _junk,
)
_line = st.lists(_token, max_size=6).map(" ".join)
# option values: numbers of every size (past sys.maxsize, negative), words, junk
_value = st.one_of(st.integers().map(str), st.integers(min_value=2**62).map(str),
                   st.sampled_from(["auto", "0", "-1", "1e3", "nan", "inf", "0x10", "1_0", "''",
                                    "threading", "dask", "sequential", "-", "--"]), _junk)
_fuzz = settings(max_examples=40, deadline=None, database=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture])


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def cached(ip):
    from jlcache.ipython import get_memory

    memory = get_memory()
    ip.user_ns["memory"] = memory
    run(ip, "@memory.cache\ndef square(v):\n    return v * v\nsquare(3)")
    run(ip, "%%memo --name kept\nkept = 1")
    memory.store.flush() if hasattr(memory.store, "flush") else None
    return Path(memory.store.location)


def _must_fail(call) -> None:
    try:
        call()
    except UsageError as exc:
        assert str(exc).strip(), "a UsageError must carry a message"
    else:
        raise AssertionError("expected a UsageError")


@_fuzz
@given(line=_line)
def test_memo_rejects_malformed_arguments(ip, cached, line):
    before = snapshot(cached)
    bad = f"{line} --bogus-option"  # always malformed, whatever else the line holds
    _must_fail(lambda: ip.run_cell_magic("memo", bad, "kept = 2"))
    assert snapshot(cached) == before and ip.user_ns["kept"] == 1


# the documented rule for --name: letters, digits, '_', '-', '.', not starting with '-' or '.'
_SAFE_SLOT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,99}")


@_fuzz
@given(name=_junk.filter(lambda s: s.strip() and not _SAFE_SLOT.fullmatch(s.strip())))
def test_memo_rejects_unsafe_slot_names(ip, cached, name):
    before = snapshot(cached)
    _must_fail(lambda: ip.run_cell_magic("memo", f"--name {name!r}", "kept = 2"))
    assert snapshot(cached) == before


@_fuzz
@given(line=_line)
def test_pmap_rejects_malformed_arguments(ip, cached, line):
    before = snapshot(cached)
    _must_fail(lambda: ip.run_line_magic("pmap", f"--memo {line} undefined_func_xyz"))
    _must_fail(lambda: ip.run_line_magic("pmap", f"--memo -n 0 {line}"))
    assert snapshot(cached) == before


@_fuzz
@given(n=_value, batch=_value, backend=st.sampled_from(["threading", "sequential", "dask", "''",
                                                        "no-such", "Threading"]))
def test_pmap_option_values_give_the_result_or_a_usage_error(ip, n, batch, backend):
    """A runnable FUNC ITERABLE with any option values: the map's result or a UsageError
    (huge numbers, a backend that cannot start), never another exception."""
    line = f"-n {n} --batch-size {batch} -b {backend} --no-progress abs [1, -2]"
    try:
        result = ip.run_line_magic("pmap", line)
    except UsageError as exc:
        assert str(exc).strip(), "a UsageError must carry a message"
    else:
        assert result == [1, 2], (line, result)


@_fuzz
@given(content=st.one_of(st.binary(max_size=12), st.integers().map(lambda i: f"{i}\n".encode()),
                         st.sampled_from([b"1\n", b"1", b"2\n", b" 1 \n", b"\xff\xfe"])))
def test_dir_on_a_damaged_cache_folder_is_a_usage_error_or_works(ip, tmp_path, content):
    """Whatever ``FORMAT`` holds, ``%jlcache dir`` uses the folder or says why it cannot."""
    from jlcache.ipython import get_memory

    folder = tmp_path / f"hostile-{len(list(tmp_path.iterdir()))}"
    folder.mkdir(mode=0o700)
    (folder / "FORMAT").write_bytes(content)
    try:
        ip.run_line_magic("jlcache", f"dir {folder}")
    except UsageError as exc:
        assert str(folder) in str(exc)
        assert (folder / "FORMAT").read_bytes() == content, "a refused folder is left untouched"
    else:
        assert Path(get_memory().location) == folder


@_fuzz
@given(line=_line)
def test_jlcache_rejects_malformed_arguments(ip, cached, line):
    before = snapshot(cached)
    _must_fail(lambda: ip.run_line_magic("jlcache", f"clear {line} no_such_target --stale"))
    _must_fail(lambda: ip.run_line_magic("jlcache", f"bogus-command {line}"))
    assert snapshot(cached) == before


@_fuzz
@given(target=st.one_of(_junk, st.sampled_from(["../../etc", "..", "../cache/functions", "/etc",
                                                "functions/__main__.square/..", "~"])))
def test_clear_targets_resolve_inside_the_cache_only(ip, cached, tmp_path, target):
    sentinel = tmp_path / "outside.txt"
    sentinel.write_text("keep")
    before = snapshot(cached)
    try:
        ip.run_line_magic("jlcache", f"clear {target!r}")
    except UsageError:
        assert snapshot(cached) == before
    assert sentinel.read_text() == "keep"
