"""Listings of big caches: ``Store.tally`` and ``reduce_size`` walk each folder once and
give the figures of the per-entry listings (issue 14)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from jlcache.store import EntryRef, LocalStore
from jlcache.store.base import Store
from jlcache.store.layout import tally_of

V1, V2, V3 = "0123456789abcdef", "fedcba9876543210", "00000000000000aa"


def ref(key: str, version: str = V1, group: str = "mod.f", kind: str = "functions") -> EntryRef:
    return EntryRef(kind, group, version, key)


@pytest.fixture
def store(cache_dir: Path) -> LocalStore:
    s = LocalStore(cache_dir)
    for i in range(5):
        s.put(ref(f"k{i}"), list(range(i * 300)), {})
    s.put(ref("z", V2), 1, {})
    s.put(ref("c1", group="slot", kind="cells"), 2, {})
    s.write_info("functions", "mod.f", V3, {"created": time.time()})  # a version without entries
    vdir = s.path(ref("k0")).parent
    (vdir / "notes.txt").write_text("not an entry")
    os.symlink(s.path(ref("k1")), vdir / "link.jlc")  # links are never entries
    s.touch(ref("k2"))  # a recorded access not yet written to disk
    return s


def test_tally_sums_exactly_what_scan_lists(store: LocalStore) -> None:
    for kind in ("functions", "cells"):
        assert store.tally(kind) == tally_of(store.scan(kind))
        assert Store.tally(store, kind) == store.tally(kind)  # the interface's default agrees
    got = store.tally("functions")
    assert set(got) == {("mod.f", V1), ("mod.f", V2)}  # the entry-less version has no tally
    assert got[("mod.f", V1)].entries == 5 and got[("mod.f", V1)].first == "k0"
    assert store.size() == sum(i.disk for k in ("functions", "cells") for i in store.scan(k))


def _count_listings(monkeypatch) -> dict[str, int]:
    listed: dict[str, int] = {}
    real = os.scandir

    def counting(path="."):
        key = os.fspath(path) if not isinstance(path, int) else f"fd{path}"
        listed[key] = listed.get(key, 0) + 1
        return real(path)

    monkeypatch.setattr(os, "scandir", counting)
    return listed


def test_reduce_size_lists_each_version_folder_once(store: LocalStore, monkeypatch) -> None:
    """Before: every version folder was listed three times (sweep, listing, pruning), so
    evicting one entry of 100k cost three walks of the whole cache."""
    v1 = str(store.path(ref("k0")).parent)
    v2 = str(store.path(ref("z", V2)).parent)
    listed = _count_listings(monkeypatch)
    evicted = store.reduce_size(items_limit=6)
    assert len(evicted) == 1
    assert listed[v1] == 1 and listed[v2] == 1, listed


def test_reduce_size_still_prunes_what_it_empties(store: LocalStore) -> None:
    v2 = store.path(ref("z", V2)).parent
    store.flush()
    old = time.time() - 7200
    for name in ("k0", "k1", "k2", "k3", "k4"):
        os.utime(store.path(ref(name)), (old, old))  # V1's entries are the least recently used
    (store.path(ref("k0")).parent / "notes.txt").unlink()
    (store.path(ref("k0")).parent / "link.jlc").unlink()
    evicted = store.reduce_size(items_limit=2)
    assert sorted(r.key for r in evicted) == ["k0", "k1", "k2", "k3", "k4"]
    assert not store.path(ref("k0")).parent.exists()  # emptied by this eviction: removed
    assert v2.exists()
    assert store.versions("functions", "mod.f") == [V3, V2]  # a fresh entry-less version stays
