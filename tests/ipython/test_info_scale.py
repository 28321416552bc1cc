"""``%jlcache info`` on big caches: the rows of a full listing, from sums and one header
read per group (issue 14: 100k entries in under a second)."""

from __future__ import annotations

import pytest

from jlcache import events, stats
from jlcache.ipython import info
from jlcache.memory.housekeeping import total_bytes
from jlcache.store import EntryRef, LocalStore
from jlcache.store.layout import KINDS


@pytest.fixture(autouse=True)
def _fresh_stats():
    stats.reset()
    yield
    stats.reset()


def _reference_rows(store) -> list[info.GroupRow]:
    """The rows as computed before: every entry of every group listed with its header."""
    counts = stats.snapshot()
    rows = []
    for kind in KINDS:
        current = stats.current_versions(kind)
        for group in store.groups(kind):
            entries = store.entries(kind, group)
            versions = store.versions(kind, group)
            name = next((str(e.meta.get("func")) for e in entries if (e.meta or {}).get("func")), group)
            per = [counts.get((kind, group, v)) for v in versions]
            rows.append(info.GroupRow(kind, group, name, len(versions), current.get(group), len(entries),
                                      total_bytes(entries), sum(c.hits for c in per if c),
                                      sum(c.misses for c in per if c),
                                      sum(c.time_saved for c in per if c)))
    return rows


def _populated(tmp_path) -> LocalStore:
    store = LocalStore(tmp_path / "cache")
    for g in range(3):
        for v in ("0123456789abcdef", "fedcba9876543210"):
            for i in range(20):
                store.put(EntryRef("functions", f"mod.f{g}", v, f"k{i:02d}"), list(range(i * 50)),
                          {"func": f"mod.f{g}"})
    store.put(EntryRef("cells", "slot", "0123456789abcdef", "c"), 1, {"func": "my cell"})
    store.put(EntryRef("functions", "mod.nameless", "0123456789abcdef", "k"), 1, {})
    # the first entry listed is damaged: the name comes from the next one that has it
    store.put(EntryRef("functions", "mod.damaged", "0123456789abcdef", "b"), 1, {"func": "mod.damaged!"})
    store.path(EntryRef("functions", "mod.damaged", "0123456789abcdef", "a")).write_bytes(b"junk")
    store.write_info("functions", "mod.empty", "0123456789abcdef", {"module": "mod", "qualname": "empty"})
    return store


def test_rows_are_those_of_a_full_listing(tmp_path):
    store = _populated(tmp_path)
    stats.ensure_listening()
    events.publish("cache.hit", kind="functions", group="mod.f1", func="mod.f1",
                   version="0123456789abcdef", key="k00", duration=0.5, bytes=10)
    events.publish("cache.miss", kind="cells", group="slot", func="my cell",
                   version="0123456789abcdef", key="c")
    assert any(r.hits for r in info.collect(store)) and any(r.misses for r in info.collect(store))
    assert info.collect(store) == _reference_rows(store)
    names = {r.group: r.name for r in info.collect(store)}
    assert names["mod.damaged"] == "mod.damaged!" and names["mod.nameless"] == "mod.nameless"
    assert names["mod.empty"] == "mod.empty" and names["slot"] == "my cell"


def test_info_reads_one_header_per_group_not_every_entry(tmp_path, monkeypatch):
    store = _populated(tmp_path)
    reads = []
    import jlcache.store.local as local
    import jlcache.store.maintenance as maintenance

    for module, name in ((maintenance, "read_meta"), (local, "read_meta_from")):
        real = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, _real=real, **k: reads.append(a) or _real(*a, **k))
    rows = info.collect(store)
    assert sum(r.entries for r in rows) == 124
    groups = len(rows)
    assert len(reads) <= groups + 2, len(reads)  # + the damaged group's fallback listing
