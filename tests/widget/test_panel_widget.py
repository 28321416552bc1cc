"""The Panel's Python side against a real Memory, store and event bus (no browser)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from jlcache import Memory, events, stats
from jlcache.errors import JlcacheError
from jlcache.widget.view import Panel, panel


@pytest.fixture(autouse=True)
def _fresh_stats():
    stats.reset()
    yield
    stats.reset()


@pytest.fixture
def make_panel():
    made = []

    def make(memory, **kw):
        made.append(Panel(memory, **kw))
        return made[-1]

    yield make
    for p in made:
        p.close()


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file() and not p.name.startswith("_") and p.suffix == ".jlc"}


def _by_id(p: Panel) -> dict[str, dict]:
    return {r["id"]: r for r in p.rows()}


def _cached(memory):
    @memory.cache
    def square(x):
        return [x] * (100 * (x + 1))

    return square


def _expand_all(p: Panel) -> None:
    for _ in range(3):  # groups, then versions
        for row in p.rows():
            if row["type"] in ("group", "version") and "children" not in row:
                p._handle({"type": "expand", "id": row["id"], "open": True})


def test_rows_after_known_cache_operations(memory, make_panel):
    square = _cached(memory)
    square(1), square(2), square(1)
    p = make_panel(memory)
    _expand_all(p)
    groups = [r for r in p.rows() if r["type"] == "group"]
    assert len(groups) == 1 and groups[0]["label"].endswith("square")
    g = groups[0]
    disk = memory.store.entries("functions")
    assert (g["entries"], g["bytes"]) == (2, sum(e.disk for e in disk))
    assert (g["hits"], g["misses"]) == (1, 2)
    (version,) = [r for r in p.rows() if r["type"] == "version"]
    assert version["state"] == "current"
    entries = [r for r in p.rows() if r["type"] == "entry"]
    assert sorted(r["id"] for r in entries) == sorted(
        "/".join(["functions", e.ref.group, e.ref.version, e.ref.key]) for e in disk)
    assert sorted((r["bytes"], r["file_bytes"]) for r in entries) == sorted((e.disk, e.size) for e in disk)
    assert p.summary["entries"] == 2 and p.summary["location"] == str(memory.store.location)


def test_sizes_are_allocated_bytes_so_the_total_is_the_store_size(memory, make_panel):
    @memory.cache
    def blob(n):
        return b"x" * n

    for n in (10, 5000, 70_000):  # less than a block, a block and a bit, many blocks
        blob(n)
    p = make_panel(memory)
    _expand_all(p)
    infos = memory.store.entries("functions")
    assert any(i.disk != i.size for i in infos)  # the two measures differ here, so the test can fail
    assert p.summary["bytes"] == memory.store.size() == sum(i.disk for i in infos)
    (g,) = [r for r in p.rows() if r["type"] == "group"]
    assert g["bytes"] == memory.store.size()
    entries = {r["id"].rsplit("/", 1)[1]: r for r in p.rows() if r["type"] == "entry"}
    assert {k: (r["bytes"], r["file_bytes"]) for k, r in entries.items()} == {
        i.ref.key: (i.disk, i.size) for i in infos}
    victim = min(infos, key=lambda i: i.size)
    done = p.clear(f"functions/{victim.ref.group}/{victim.ref.version}/{victim.ref.key}")
    assert done.bytes == victim.disk
    assert p.summary["bytes"] == memory.store.size() == sum(i.disk for i in infos) - victim.disk


def test_hits_update_last_used_at_once_and_count_bytes_loaded(memory, make_panel):
    square = _cached(memory)
    square(1)
    p = make_panel(memory)
    _expand_all(p)
    (entry,) = [r for r in p.rows() if r["type"] == "entry"]
    before = entry["last_used"]
    time.sleep(0.05)  # the hit must be visibly later than the store
    square(1)
    deadline = time.monotonic() + 3
    while _by_id(p)[entry["id"]]["last_used"] == before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _by_id(p)[entry["id"]]["last_used"] > before  # no rescan needed: the hit event said so
    (version,) = [r for r in p.rows() if r["type"] == "version"]
    assert version["served"] > 0 and version["served_size"]  # exact sums: test_panel_model


def test_clear_message_deletes_exactly_the_targeted_entry(memory, make_panel, cache_dir):
    square = _cached(memory)
    for i in range(3):
        square(i)

    @memory.cache
    def other(x):
        return x

    other(1)
    p = make_panel(memory)
    before = _files(cache_dir)
    victim = next(e for e in memory.store.entries("functions") if e.meta.get("input_args") == {"x": "2"})
    rid = "/".join(["functions", victim.ref.group, victim.ref.version, victim.ref.key])
    p._on_msg(p, {"type": "clear", "id": rid}, [])  # exactly what a click sends
    after = _files(cache_dir)
    assert before - after == {Path(victim.path)}
    assert after == before - {Path(victim.path)}
    assert rid not in _by_id(p)
    assert p.summary["entries"] == 3
    assert "Cleared entry" in p.status["text"] and not p.status["error"]
    assert square(0) == [0] * 100 and square.check_call_in_cache(1)


def test_clear_version_function_stale_and_all(memory, make_panel, cache_dir):
    square = _cached(memory)
    square(1)
    p = make_panel(memory)
    (group,) = memory.store.groups("functions")
    (old,) = memory.store.versions("functions", group)
    stats.mark_current("functions", group, "0" * 16)  # as if the function had been redefined
    p.refresh()
    assert p.summary["stale_versions"] == 1
    assert p.clear("stale").entries == 1
    assert memory.store.versions("functions", group) == [] and not _files(cache_dir)
    square(2), square(3)
    assert p.clear(f"functions/{group}").entries == 2
    square(4)
    assert p.clear("all").entries == 1 and not _files(cache_dir)
    assert p.clear(f"functions/{group}/{old}").entries == 0  # already gone: nothing happens
    with pytest.raises(ValueError, match="row id"):
        p.clear("../../etc")


def test_refresh_sees_entries_written_elsewhere(memory, make_panel, cache_dir, python):
    p = make_panel(memory)
    assert p.summary["entries"] == 0
    python(f"""
        from jlcache import Memory
        m = Memory({str(cache_dir)!r})
        m.cache(abs)(-3)
    """)
    p.refresh()
    assert p.summary["entries"] == 1


def test_counts_include_hits_in_worker_processes(memory, make_panel):
    from jlcache import Parallel, delayed

    square = _cached(memory)
    square(0)
    earlier = _job_ids()
    p = make_panel(memory)
    Parallel(n_jobs=2, backend="loky")(delayed(square)(i) for i in range(4))   # 1 hit, 3 misses
    Parallel(n_jobs=2, backend="loky")(delayed(square)(i) for i in range(4))   # 4 hits
    p.refresh()
    (g,) = [r for r in p.rows() if r["type"] == "group"]
    assert (g["hits"], g["misses"], g["entries"]) == (5, 4, 4)
    (job, *_) = _new_jobs(p, earlier)
    assert (job["status"], job["done"], job["total"]) == ("done", 4, 4)

    def outer(i):  # the cached function runs inside the worker: its hits happen there
        return square(i)

    def counts() -> tuple[int, int]:
        p.refresh()
        row = _by_id(p)[g["id"]]
        return row["hits"], row["misses"]

    Parallel(n_jobs=2, backend="loky")(delayed(outer)(i) for i in range(4))
    hits, misses = counts()
    assert hits + misses == 9 + 4  # every worker-side lookup was reported to the parent
    Parallel(n_jobs=2, backend="loky")(delayed(outer)(i) for i in range(4))  # now all hit in workers
    assert counts() == (hits + 4, misses)


def test_events_are_coalesced_into_few_updates(memory, make_panel):
    square = _cached(memory)
    square(1)
    (group,) = memory.store.groups("functions")
    (version,) = memory.store.versions("functions", group)
    p = make_panel(memory, interval=0.1)
    updates = []
    p.observe(lambda change: updates.append(change["name"]), names=["functions", "cells", "summary", "jobs"])
    t0 = time.monotonic()
    for i in range(10_000):
        events.publish("cache.hit", kind="functions", group=group, func=group, version=version,
                       key="k", duration=0.001)
        if i % 2000 == 0:
            time.sleep(0.05)
    elapsed = time.monotonic() - t0
    deadline = time.monotonic() + 3
    while _by_id(p)[f"functions/{group}"]["hits"] != 10_000 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _by_id(p)[f"functions/{group}"]["hits"] == 10_000
    assert 1 <= p._coalescer.flushes <= elapsed / 0.1 + 3
    assert len(updates) <= 3 * (elapsed / 0.1 + 3)


def test_close_unsubscribes(memory):
    before = len(events._subscribers)
    p = Panel(memory)
    assert len(events._subscribers) == before + 1
    p.close()
    assert len(events._subscribers) == before
    flushes = p._coalescer.flushes
    events.publish("cache.store", kind="functions", group="g", version="v", key="k")
    time.sleep(0.25)
    assert p._coalescer.flushes == flushes


def test_several_panels_stay_consistent(memory, make_panel):
    square = _cached(memory)
    square(1), square(2)
    a, b = make_panel(memory), make_panel(memory)
    (group,) = memory.store.groups("functions")
    a.clear(f"functions/{group}")
    deadline = time.monotonic() + 2
    while b.summary["entries"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert a.summary["entries"] == b.summary["entries"] == 0
    square(3)
    deadline = time.monotonic() + 2
    while (a.summary["entries"], b.summary["entries"]) != (1, 1) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert a.summary == b.summary and a.functions == b.functions


def test_text_repr_without_a_front_end(memory, make_panel):
    from IPython.lib.pretty import pretty

    _cached(memory)(5)
    p = make_panel(memory)
    text = repr(p)
    assert text.startswith(f"jlcache panel: {memory.store.location}: 1 entries")
    assert "square" in text and "Jobs" in text
    assert pretty(p) == text
    bundle, _ = p._repr_mimebundle_()
    assert bundle["text/plain"] == text


def test_sort_and_page_messages_change_what_is_synced(memory, make_panel):
    square = _cached(memory)
    for i in range(3):
        square(i)
    p = make_panel(memory)
    _expand_all(p)
    (version,) = [r for r in p.rows() if r["type"] == "version"]
    p._on_msg(p, {"type": "page", "id": version["id"], "page": 1}, [])
    assert p.view["pages"] == {version["id"]: 1}
    p._on_msg(p, {"type": "sort", "key": "size", "desc": False}, [])
    sizes = [(r["bytes"], r["file_bytes"]) for r in p.rows() if r["type"] == "entry"]
    assert sizes == sorted(sizes) and len(sizes) == 3  # equal blocks are ordered by the data's size
    assert p.view["sort"] == "size" and p.view["desc"] is False
    assert p.view["pages"] == {}  # a new order starts on its first page
    p._on_msg(p, {"type": "bogus"}, [])
    assert p.status["error"] and "unknown panel message" in p.status["text"]


def test_panel_without_memory_shows_the_session_default_or_says_what_to_do(
        monkeypatch, cache_dir, tmp_path):
    from jlcache.memory import session
    monkeypatch.setenv("JLCACHE_DIR", str(cache_dir))
    session.reset()
    p = panel()
    try:
        assert p.summary["location"] == str(Memory(cache_dir).store.location)
    finally:
        p.close()
        session.reset()

    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("JLCACHE_DIR", str(blocker / "cache"))
    try:
        with pytest.raises(JlcacheError, match=r"Pass a Memory instead"):
            panel()
    finally:
        session.reset()


def test_cancel_a_background_job_from_the_panel(memory, make_panel):
    from jlcache import Parallel, delayed

    earlier = _job_ids()
    p = make_panel(memory)
    job = Parallel(n_jobs=2, backend="threading", background=True)(
        [delayed(time.sleep)(0.05) for _ in range(400)])  # a sized input: the total is known at once
    deadline = time.monotonic() + 5
    while not any(j["cancellable"] and j["done"] for j in p.jobs) and time.monotonic() < deadline:
        time.sleep(0.02)
    (row,) = [j for j in p.jobs if j["cancellable"]]
    assert row["total"] == 400 and 0 < row["fraction"] < 1 and row["eta_text"]
    p._on_msg(p, {"type": "cancel", "id": row["id"]}, [])
    deadline = time.monotonic() + 5
    while not job.done() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert job.done()
    deadline = time.monotonic() + 2
    while _new_jobs(p, earlier)[0]["status"] == "running" and time.monotonic() < deadline:
        time.sleep(0.02)
    mine = _new_jobs(p, earlier)[0]
    assert mine["status"] == "cancelled" and mine["done"] < 400


def _job_ids() -> set[str]:
    """Jobs this session already knows: the panel lists them too (recent jobs of the session)."""
    from jlcache.parallel.jobs import recent_jobs

    return {j["id"] for j in recent_jobs()}


def _new_jobs(p, earlier: set[str]) -> list[dict]:
    """The panel's job rows for jobs started after ``earlier`` was taken, in panel order."""
    return [j for j in p.jobs if j["id"].rpartition("/")[2] not in earlier]
