"""The panel's pure logic (rows, ids, paging, clearing, jobs, throttling) on a fake store."""

from __future__ import annotations

import threading
import time

import pytest

from jlcache.panel_model import (
    PAGE_SIZE,
    Coalescer,
    JobTracker,
    PanelState,
    Target,
    clear_target,
    human_duration,
    human_size,
    parse_row_id,
    row_id,
    scan,
    text_table,
)
from jlcache.stats import Counts


def _state(store, stats=None, current=None, **view):
    state = PanelState()
    state.scan = scan(store)
    for k, v in view.items():
        setattr(state.view, k, v)
    current = current or {}
    return state, state.sections(stats or {}, current), state.summary(current)


@pytest.mark.parametrize(("n", "text"), [
    (0, "0 B"), (999, "999 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (1536, "1.5 KiB"),
    (12 * 1024**2, "12 MiB"), (3.1 * 1024**3, "3.1 GiB"), (None, ""),
])
def test_human_size(n, text):
    assert human_size(n) == text


@pytest.mark.parametrize(("s", "text"), [
    (0, "0 s"), (0.00085, "850 µs"), (0.012, "12 ms"), (3.44, "3.4 s"), (42, "42 s"),
    (125, "2 min 05 s"), (3780, "1 h 03 min"), (None, ""),
])
def test_human_duration(s, text):
    assert human_duration(s) == text


def test_row_ids_round_trip_even_with_slashes_in_names():
    rid = row_id("cells", "my/cell", "v1", "k%2")
    assert rid.count("/") == 3
    assert parse_row_id(rid) == Target("cells", "my/cell", "v1", "k%2")
    assert parse_row_id("functions/mod.f") == Target("functions", "mod.f")
    assert parse_row_id("jobs/7") == Target("jobs", "7")
    assert parse_row_id("stale") == Target("stale")


@pytest.mark.parametrize("bad", ["", "nope/x", "functions", "functions//v", "all/x", "functions/a/b/c/d"])
def test_bad_row_ids_are_refused(bad):
    with pytest.raises(ValueError, match="row id"):
        parse_row_id(bad)


def test_rows_group_versions_and_count_hits(fake_store):
    fake_store.add("functions", "__main__.f", "v1", "k1", 100, created=10, last_access=50)
    fake_store.add("functions", "__main__.f", "v1", "k2", 300, created=20)
    fake_store.add("functions", "__main__.f", "v0", "k3", 1000, created=5)
    fake_store.add("functions", "__main__.g", "w1", "k4", 7, created=30)
    fake_store.add("cells", "load", "c1", "k5", 2048, created=40)
    stats = {("functions", "__main__.f", "v1"): Counts(hits=3, misses=2, stores=2, time_saved=1.5),
             ("functions", "__main__.f", "v0"): Counts(hits=1, misses=0, stores=0, time_saved=0.5)}
    current = {"functions": {"__main__.f": "v1", "__main__.g": "w1"}}
    _, sections, summary = _state(fake_store, stats, current, expanded={"functions/__main__.f"})

    fn = {r["id"]: r for r in sections["functions"]["rows"]}
    f = fn["functions/__main__.f"]
    assert (f["label"], f["entries"], f["bytes"], f["size"]) == ("__main__.f", 3, 1400, "1.4 KiB")
    assert (f["hits"], f["misses"], f["time_saved"], f["versions"], f["stale"]) == (4, 2, 2.0, 2, 1)
    assert f["last_used"] == 50
    versions = {r["id"]: r for r in f["children"]["rows"]}
    assert versions["functions/__main__.f/v1"]["state"] == "current"
    assert versions["functions/__main__.f/v0"]["state"] == "stale"
    assert versions["functions/__main__.f/v1"]["bytes"] == 400
    assert "children" not in fn["functions/__main__.g"]  # not expanded: entries are not synced
    assert sections["cells"]["rows"][0]["id"] == "cells/load"
    assert summary == {"location": str(fake_store.location), "entries": 5, "bytes": 3455, "size": "3.4 KiB",
                       "stale_versions": 2, "stale_bytes": 3048, "stale_size": "3.0 KiB"}


def test_entries_of_an_expanded_version_are_paged_and_sorted(fake_store):
    for i in range(120):
        fake_store.add("functions", "m.f", "v", f"k{i:03d}", size=i, created=1000 + (i * 37) % 120)
    expanded = {"functions/m.f", "functions/m.f/v"}
    _, sections, _ = _state(fake_store, expanded=expanded, sort="size", desc=True, pages={"functions/m.f/v": 1})
    page = sections["functions"]["rows"][0]["children"]["rows"][0]["children"]
    assert (page["total"], page["page"], page["pages"], len(page["rows"])) == (120, 1, 3, PAGE_SIZE)
    assert [r["bytes"] for r in page["rows"]] == list(range(69, 19, -1))
    assert all(r["id"].startswith("functions/m.f/v/k") for r in page["rows"])

    _, sections, _ = _state(fake_store, expanded=expanded, sort="last_used", desc=False)
    rows = sections["functions"]["rows"][0]["children"]["rows"][0]["children"]["rows"]
    used = [r["last_used"] for r in rows]
    assert used == sorted(used) and used[0] == 1000


def test_page_beyond_the_end_is_clamped(fake_store):
    fake_store.add("functions", "m.f", "v", "k")
    _, sections, _ = _state(fake_store, pages={"functions": 9})
    assert sections["functions"]["page"] == 0 and len(sections["functions"]["rows"]) == 1


def test_clear_entry_deletes_exactly_that_entry(fake_store):
    victim = fake_store.add("functions", "m.f", "v", "k1", 10)
    others = [fake_store.add("functions", "m.f", "v", "k2"), fake_store.add("functions", "m.f", "w", "k1"),
              fake_store.add("cells", "m.f", "v", "k1")]
    done = clear_target(fake_store, row_id(*victim), {})
    assert fake_store.calls == [("delete", victim)]
    assert set(fake_store.entries_by_ref) == set(others)
    assert (done.entries, done.bytes) == (1, 10)


def test_clear_version_group_stale_and_all(fake_store):
    fake_store.add("functions", "m.f", "old", "a", 5)
    fake_store.add("functions", "m.f", "new", "b", 6)
    fake_store.add("functions", "m.g", "v", "c", 7)
    fake_store.add("cells", "cell", "s", "d", 8)
    current = {"functions": {"m.f": "new", "m.g": "v"}, "cells": {"cell": "s"}}
    assert clear_target(fake_store, "stale", current).entries == 1
    assert fake_store.calls == [("delete_version", "functions", "m.f", "old")]
    assert clear_target(fake_store, "functions/m.f/new", current).bytes == 6
    assert clear_target(fake_store, "functions/m.g", current).bytes == 7
    assert fake_store.calls[-1] == ("delete_group", "functions", "m.g")
    assert [r.kind for r in fake_store.entries_by_ref] == ["cells"]
    assert clear_target(fake_store, "all", current).entries == 1
    assert not fake_store.entries_by_ref


def test_clear_of_something_absent_deletes_nothing(fake_store):
    fake_store.add("functions", "m.f", "v", "k")
    for rid in ("functions/m.f/v/other", "functions/m.f/zz", "functions/..", "cells/m.f"):
        assert clear_target(fake_store, rid, {}).entries == 0
    assert fake_store.calls == [] and len(fake_store.entries_by_ref) == 1
    with pytest.raises(ValueError, match="cancel"):
        clear_target(fake_store, "jobs/1", {})


def test_job_tracker_progress_rate_eta_and_history():
    jobs = JobTracker(keep=2)
    jobs.handle("job.start", {"id": 1, "backend": "loky", "n_jobs": 2, "total": 100, "func": "f",
                              "background": True}, when=100.0)
    jobs.handle("job.progress", {"id": 1, "done": 25, "total": 100, "errors": 1}, when=105.0)
    (row,) = jobs.rows(now=110.0)
    assert (row["id"], row["done"], row["total"], row["errors"], row["status"]) == ("jobs/1", 25, 100, 1, "running")
    assert row["elapsed"] == 10.0 and row["rate"] == 2.5 and row["eta"] == 30.0 and row["cancellable"]
    jobs.handle("job.end", {"id": 1, "status": "cancelled", "elapsed": 12.0, "done": 30, "errors": 1})
    (row,) = jobs.rows(now=500.0)
    assert (row["status"], row["elapsed"], row["eta"], row["cancellable"]) == ("cancelled", 12.0, None, False)
    assert not jobs.handle("job.start", {"id": 9, "remote": True})
    assert not jobs.handle("cache.hit", {"id": 9})
    for i in range(2, 6):
        jobs.handle("job.start", {"id": i, "func": "g"}, when=200.0 + i)
        jobs.handle("job.end", {"id": i, "status": "done", "elapsed": 1.0})
    assert [r["job"] for r in jobs.rows()] == ["5", "4"]


def test_coalescer_bounds_flushes_and_never_loses_the_last_update():
    seen, value = [], {"v": 0}
    c = Coalescer(lambda: seen.append(value["v"]), interval=0.05)
    start = time.monotonic()
    for i in range(1, 10_001):
        value["v"] = i
        c.poke()
        if i % 1000 == 0:
            time.sleep(0.02)
    elapsed = time.monotonic() - start
    deadline = time.monotonic() + 2
    while (not seen or seen[-1] != 10_000) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert seen[-1] == 10_000
    assert 1 <= len(seen) <= elapsed / 0.05 + 3, (len(seen), elapsed)
    c.close()


def test_coalescer_flushes_do_not_overlap():
    active, overlaps = [0], []

    def slow_flush():
        active[0] += 1
        overlaps.append(active[0])
        time.sleep(0.03)
        active[0] -= 1

    c = Coalescer(slow_flush, interval=0.005)
    threads = [threading.Thread(target=lambda: [c.poke() or time.sleep(0.002) for _ in range(50)])
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    time.sleep(0.1)
    c.close()
    assert overlaps and max(overlaps) == 1


def test_text_table_lists_sections_and_jobs(fake_store):
    fake_store.add("functions", "__main__.square", "v1", "k", 2048, args="x=3", created=time.time() - 90)
    fake_store.add("cells", "load-data", "s1", "k", 10)
    fake_store.info[("cells", "load-data", "s1")] = {"name": "load-data", "first_line": "df = load()"}
    _, sections, summary = _state(fake_store, current={"functions": {"__main__.square": "v1"}},
                                  expanded={"functions/__main__.square", "functions/__main__.square/v1"})
    jobs = JobTracker()
    jobs.handle("job.start", {"id": 3, "backend": "loky", "n_jobs": 2, "total": 10, "func": "square"})
    text = text_table(summary, sections, jobs.rows())
    lines = text.splitlines()
    assert lines[0].startswith(f"jlcache panel: {fake_store.location}: 2 entries, 2.0 KiB")
    assert any("__main__.square" in ln and "2.0 KiB" in ln for ln in lines)
    assert any("v1 (current)" in ln for ln in lines)
    assert any("x=3" in ln and "1 min 30 s ago" in ln for ln in lines)
    assert any(ln.strip().startswith("load-data") for ln in lines)
    assert any("square" in ln and "loky" in ln and "0/10" in ln and "running" in ln for ln in lines)


def test_ten_thousand_entries_sync_only_one_page(fake_store):
    import json

    for i in range(10_000):
        fake_store.add("functions", "m.f", "v", f"k{i:05d}", size=i, created=1000 + i)
    t0 = time.perf_counter()
    _, sections, summary = _state(fake_store, expanded={"functions/m.f", "functions/m.f/v"})
    build = time.perf_counter() - t0
    page = sections["functions"]["rows"][0]["children"]["rows"][0]["children"]
    assert (len(page["rows"]), page["total"], page["pages"]) == (PAGE_SIZE, 10_000, 200)
    assert summary["entries"] == 10_000
    assert len(json.dumps(sections)) < 40_000  # what goes over the wire stays small
    assert build < 2.0, build
