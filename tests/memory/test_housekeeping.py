"""One definition of "stale" and of sizes (``jlcache.memory.housekeeping``), on a real store."""

from __future__ import annotations

import contextlib

import pytest

from jlcache import events, stats
from jlcache.memory import housekeeping
from jlcache.store.layout import EntryRef


@pytest.fixture(autouse=True)
def fresh_definitions():
    stats.reset()
    yield
    stats.reset()


def put(store, kind: str, group: str, version: str, key: str = "k" * 8, value: object = 1) -> int:
    return store.put(EntryRef(kind, group, version, key), value, {})


def test_states_current_stale_unknown():
    stats.mark_current("functions", "m.f", "a" * 16, "cell-1")
    stats.mark_current("functions", "m.f", "b" * 16, "cell-2")
    state = housekeeping.version_state
    assert state("functions", "m.f", "a" * 16) == state("functions", "m.f", "b" * 16) == "current"
    assert state("functions", "m.f", "c" * 16) == "stale"
    assert state("functions", "m.g", "a" * 16) == "unknown"
    assert state("cells", "m.f", "a" * 16) == "unknown"
    stats.mark_current("functions", "m.f", "c" * 16, "cell-1")  # cell-1 edited and run again
    assert state("functions", "m.f", "a" * 16) == "stale"


def test_a_cell_run_again_forgets_what_it_defined_before():
    stats.mark_current("functions", "m.f", "a" * 16, "cell-1")
    stats.mark_current("functions", "m.f", "b" * 16, "cell-2")
    stats.forget_site("cell-1")
    assert stats.defined_versions("functions") == {"m.f": frozenset({"b" * 16})}
    stats.forget_site("cell-2")
    assert stats.defined_versions("functions") == {}
    assert housekeeping.version_state("functions", "m.f", "b" * 16) == "unknown"


def test_clear_stale_deletes_only_stale_versions_and_reports_them(memory):
    store = memory.store
    keep, old, other = "a" * 16, "b" * 16, "c" * 16
    sizes = [put(store, "functions", "m.f", v) for v in (keep, old)]
    put(store, "functions", "m.g", other)           # unknown: never stale
    put(store, "cells", "load", old)                # unknown too
    stats.mark_current("functions", "m.f", keep)
    seen: list = []
    unsubscribe = events.subscribe(seen.append)
    try:
        done = housekeeping.clear_stale(store)
    finally:
        unsubscribe()
    assert done.versions == [("functions", "m.f", old)]
    assert (done.entries, done.bytes) == (1, sizes[1])
    assert store.versions("functions", "m.f") == [keep]
    assert store.versions("functions", "m.g") == [other] and store.versions("cells", "load") == [old]
    assert [(e.name, e.data["version"]) for e in seen] == [("cache.clear", old)]


def test_clear_stale_runs_each_deletion_inside_the_guard(memory):
    put(memory.store, "functions", "m.f", "b" * 16)
    stats.mark_current("functions", "m.f", "a" * 16)
    guarded: list = []

    @contextlib.contextmanager
    def guard(kind, group, version):
        guarded.append((kind, group, version))
        yield

    housekeeping.clear_stale(memory.store, guard=guard)
    assert guarded == [("functions", "m.f", "b" * 16)]


def test_sizes_are_bytes_on_disk_for_listings_reads_and_puts(memory):
    store = memory.store
    written = put(store, "functions", "m.f", "a" * 16, value="x" * 100)
    (info,) = store.entries("functions")
    _, meta = store.get(info.ref)
    assert info.size < info.disk  # the two measures differ here, so the test can fail
    assert written == housekeeping.entry_bytes(info) == housekeeping.entry_bytes(meta) == info.disk
    assert housekeeping.total_bytes(store.entries("functions")) == store.size()
    assert housekeeping.entry_bytes({"size": 7}) == 7  # not measured: the file's size stands in


def test_without_a_session_the_version_most_recently_stored_to_is_current(tmp_path):
    """``NO_SESSION`` (the command line): recency decides, for every group, and
    ``clear_stale`` deletes exactly the older versions."""
    import os

    from jlcache.store import open_store

    store = open_store(tmp_path / "c")
    old, new, only = "a" * 16, "b" * 16, "c" * 16
    put(store, "functions", "m.f", old)
    put(store, "functions", "m.f", new, key="n" * 8)
    put(store, "cells", "load", only)
    # make the ages unambiguous: the old version's entry was written an hour earlier
    path = store.local_path(EntryRef("functions", "m.f", old, "k" * 8))
    os.utime(path, (path.stat().st_atime - 3600, path.stat().st_mtime - 3600))
    stored = housekeeping.last_stored(store, "functions", "m.f")
    assert housekeeping.group_states("functions", "m.f", stored, housekeeping.NO_SESSION) == {
        old: "stale", new: "current"}
    assert housekeeping.stale_versions(store, housekeeping.NO_SESSION) == [("functions", "m.f", old)]
    # with a session that knows nothing of m.f, the same group is unknown, never stale
    assert housekeeping.stale_versions(store, {}) == []
    done = housekeeping.clear_stale(store, housekeeping.NO_SESSION)
    assert done.versions == [("functions", "m.f", old)] and done.entries == 1
    assert store.versions("functions", "m.f") == [new] and store.versions("cells", "load") == [only]


def test_verify_finds_damage_in_bytes_and_fix_deletes(tmp_path):
    from jlcache.store import open_store

    store = open_store(tmp_path / "c")
    good, bad = EntryRef("functions", "m.f", "a" * 16, "g" * 8), EntryRef("functions", "m.f", "a" * 16, "b" * 8)
    store.put(good, list(range(100)), {"input_args": {"x": "1"}})
    store.put(bad, list(range(100)), {"input_args": {"x": "2"}})
    path = store.local_path(bad)
    data = bytearray(path.read_bytes())
    data[-20] ^= 0xFF
    path.write_bytes(data)
    found = housekeeping.verify(store)
    assert [(d.ref, d.args) for d in found] == [(bad, "x=2")] and "checksum" in found[0].reason
    assert housekeeping.verify(store, fix=True)[0].ref == bad
    assert not store.contains(bad) and store.contains(good) and housekeeping.verify(store) == []
