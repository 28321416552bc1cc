"""The panel's rows: formatting, row ids, grouping, counters, hits, paging (on a fake store)."""

from __future__ import annotations

import json
import time

import pytest

from jlcache.stats import Counts
from jlcache.widget.format import human_duration, human_size
from jlcache.widget.ids import Target, parse_row_id, row_id
from jlcache.widget.model import PAGE_SIZE, STALE_BUTTON_TIP, STATE_TIPS


@pytest.mark.parametrize(("n", "text"), [
    (0, "0 B"), (999, "999 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (1536, "1.5 KiB"),
    (12 * 1024**2, "12 MiB"), (3.1 * 1024**3, "3.1 GiB"), (None, ""),
])
def test_human_size(n, text):
    assert human_size(n) == text


@pytest.mark.parametrize(("s", "text"), [
    (0, "0 s"), (4e-7, "< 1 µs"), (0.00085, "850 µs"), (0.012, "12 ms"), (3.44, "3.4 s"), (42, "42 s"),
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



def test_rows_group_versions_and_count_hits(fake_store, build_state):
    fake_store.add("functions", "__main__.f", "v1", "k1", 100, created=10, last_access=50)
    fake_store.add("functions", "__main__.f", "v1", "k2", 300, created=20)
    fake_store.add("functions", "__main__.f", "v0", "k3", 1000, created=5)
    fake_store.add("functions", "__main__.g", "w1", "k4", 7, created=30)
    fake_store.add("cells", "load", "c1", "k5", 2048, created=40)
    stats = {("functions", "__main__.f", "v1"): Counts(hits=3, misses=2, stores=2, time_saved=1.5),
             ("functions", "__main__.f", "v0"): Counts(hits=1, misses=0, stores=0, time_saved=0.5)}
    current = {"functions": {"__main__.f": "v1", "__main__.g": "w1"}}
    _, sections, summary = build_state(fake_store, stats, current, expanded={"functions/__main__.f"})

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
    # the cell is not defined in this session: "unknown", not stale (housekeeping's rule)
    assert summary == {"location": str(fake_store.location), "entries": 5, "bytes": 3455, "size": "3.4 KiB",
                       "stale_versions": 1, "stale_bytes": 1000, "stale_size": "1000 B",
                       "stale_tip": STALE_BUTTON_TIP}



def test_entries_of_an_expanded_version_are_paged_and_sorted(fake_store, build_state):
    for i in range(120):
        fake_store.add("functions", "m.f", "v", f"k{i:03d}", size=i, created=1000 + (i * 37) % 120)
    expanded = {"functions/m.f", "functions/m.f/v"}
    _, sections, _ = build_state(fake_store, expanded=expanded, sort="size", desc=True, pages={"functions/m.f/v": 1})
    page = sections["functions"]["rows"][0]["children"]["rows"][0]["children"]
    assert (page["total"], page["page"], len(page["rows"])) == (120, 1, PAGE_SIZE)
    assert page["pages"] == -(-120 // PAGE_SIZE)
    assert [r["bytes"] for r in page["rows"]] == list(range(119 - PAGE_SIZE, 119 - 2 * PAGE_SIZE, -1))
    assert all(r["id"].startswith("functions/m.f/v/k") for r in page["rows"])

    _, sections, _ = build_state(fake_store, expanded=expanded, sort="last_used", desc=False)
    rows = sections["functions"]["rows"][0]["children"]["rows"][0]["children"]["rows"]
    used = [r["last_used"] for r in rows]
    assert used == sorted(used) and used[0] == 1000



def test_page_beyond_the_end_is_clamped(fake_store, build_state):
    fake_store.add("functions", "m.f", "v", "k")
    _, sections, _ = build_state(fake_store, pages={"functions": 9})
    assert sections["functions"]["page"] == 0 and len(sections["functions"]["rows"]) == 1



def test_ten_thousand_entries_sync_only_one_page(fake_store, build_state):
    for i in range(10_000):
        fake_store.add("functions", "m.f", "v", f"k{i:05d}", size=i, created=1000 + i)
    t0 = time.perf_counter()
    _, sections, summary = build_state(fake_store, expanded={"functions/m.f", "functions/m.f/v"})
    build = time.perf_counter() - t0
    page = sections["functions"]["rows"][0]["children"]["rows"][0]["children"]
    assert (len(page["rows"]), page["total"], page["pages"]) == (PAGE_SIZE, 10_000, 10_000 // PAGE_SIZE)
    assert summary["entries"] == 10_000
    assert len(json.dumps(sections)) < 40_000  # what goes over the wire stays small
    assert build < 2.0, build


def test_sizes_and_totals_count_allocated_bytes_not_file_bytes(fake_store, build_state):
    fake_store.add("functions", "m.f", "v", "a", 10, disk=4096)
    fake_store.add("functions", "m.f", "v", "b", 5000, disk=8192)
    fake_store.add("functions", "m.f", "w", "c", 7)  # not measured by the store: its size stands in
    _, sections, summary = build_state(fake_store, expanded={"functions/m.f", "functions/m.f/v"},
                                       current={"functions": {"m.f": "v"}})
    (f,) = sections["functions"]["rows"]
    assert (f["bytes"], f["size"]) == (4096 + 8192 + 7, "12 KiB")
    (v,) = [r for r in f["children"]["rows"] if r["id"] == "functions/m.f/v"]
    entries = {r["detail"]: (r["bytes"], r["file_bytes"]) for r in v["children"]["rows"]}
    assert entries == {"a": (4096, 10), "b": (8192, 5000)}
    assert (summary["bytes"], summary["stale_bytes"]) == (4096 + 8192 + 7, 7)


def test_entry_labels_use_the_argument_summary_then_input_args_then_the_key(fake_store, build_state):
    fake_store.add("functions", "m.f", "v", "k1", args="x=1, y='a'")
    ref = fake_store.add("functions", "m.f", "v", "k2")
    fake_store.entries_by_ref[ref].args = ""
    fake_store.entries_by_ref[ref].meta = {"input_args": {"x": "2"}}
    ref = fake_store.add("functions", "m.f", "v", "abcdef0123456789")
    fake_store.entries_by_ref[ref].args = ""
    _, sections, _ = build_state(fake_store, expanded={"functions/m.f", "functions/m.f/v"}, sort="name")
    labels = [r["label"] for r in sections["functions"]["rows"][0]["children"]["rows"][0]["children"]["rows"]]
    assert labels == ["abcdef012345", "x=1, y='a'", "x=2"]


def test_hit_events_move_last_used_and_count_bytes_loaded(fake_store, build_state):
    fake_store.add("functions", "m.f", "v", "k1", 300, created=100)
    fake_store.add("functions", "m.f", "v", "k2", 50, created=100)
    state, _, _ = build_state(fake_store)
    state.view.expanded = {"functions/m.f", "functions/m.f/v"}
    hit = {"kind": "functions", "group": "m.f", "func": "m.f", "version": "v"}
    state.hits.record({**hit, "key": "k1", "bytes": 1000}, when=500.0)
    state.hits.record({**hit, "key": "k1", "bytes": 1000}, when=600.0)
    state.hits.record({**hit, "key": "k2"}, when=550.0)  # no bytes in the event: the entry's size counts
    (f,) = state.sections({}, {})["functions"]["rows"]
    (v,) = f["children"]["rows"]
    assert (v["served"], v["served_size"], v["last_used"], f["last_used"]) == (2050, "2.0 KiB", 600.0, 600.0)
    used = {r["detail"]: r["last_used"] for r in v["children"]["rows"]}
    assert used == {"k1": 600.0, "k2": 550.0}


def test_version_states_follow_what_this_session_defines(fake_store, build_state):
    """Two cells defining m.f keep both versions current; m.g, not defined in this session,
    is unknown (never stale); each state carries its tooltip sentence."""
    for version in ("cell1", "cell2", "edited-away"):
        fake_store.add("functions", "m.f", version, "k")
    fake_store.add("functions", "m.g", "v", "k")
    defined = {"functions": {"m.f": frozenset({"cell1", "cell2"})}}
    _, sections, summary = build_state(fake_store, current=defined,
                                       expanded={"functions/m.f", "functions/m.g"})
    states = {r["id"]: (r["state"], r["state_tip"]) for g in sections["functions"]["rows"]
              for r in g["children"]["rows"]}
    assert states == {"functions/m.f/cell1": ("current", STATE_TIPS["current"]),
                      "functions/m.f/cell2": ("current", STATE_TIPS["current"]),
                      "functions/m.f/edited-away": ("stale", STATE_TIPS["stale"]),
                      "functions/m.g/v": ("unknown", STATE_TIPS["unknown"])}
    assert summary["stale_versions"] == 1
    assert all(tip.endswith(".") and len(tip) < 100 for tip in STATE_TIPS.values())
