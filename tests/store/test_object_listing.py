"""Listings of a cache in object storage are reused for a moment (``recent_listings``).

Against the real S3-compatible server of the store tests, through s3fs: the questions the
panel and ``%jlcache info`` ask (groups, versions of each group, entries of each version)
cost one LIST, changes made by this process show at once, changes made elsewhere show once
the listing is older than ``TTL``.
"""

from __future__ import annotations

import pytest

from jlcache import Memory
from jlcache.store import EntryRef, open_store, recent_listings
from tests.store._s3 import S3Server
from tests.store.test_object_s3 import _requests


def _fill(store, groups: int = 4) -> None:  # type: ignore[no-untyped-def]
    for g in range(groups):
        for v in range(2):
            ref = EntryRef("functions", f"mod.f{g}", f"{v:016x}", f"{g:032x}")
            store.put(ref, g, {"func": f"mod.f{g}"})


def _lists(calls: list[str]) -> int:
    return sum(c == "list_objects_v2" for c in calls)


def test_a_whole_tour_of_the_cache_is_one_list(s3_server: S3Server, s3_url: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store(s3_url, storage_options=s3_server.options())
    _fill(store)
    calls = _requests(monkeypatch)
    groups = store.groups("functions")
    per_version = {(g, v): store.entries("functions", g, v)
                   for g in groups for v in store.versions("functions", g)}
    assert groups == [f"mod.f{g}" for g in range(4)]
    assert len(per_version) == 8 and all(len(e) == 1 for e in per_version.values())
    assert _lists(calls) == 1, calls


def test_changes_of_this_process_show_at_once(s3_server: S3Server, s3_url: str) -> None:
    store = open_store(s3_url, storage_options=s3_server.options())
    _fill(store, 1)
    assert len(store.entries("functions")) == 2
    other = Memory(s3_url, storage_options=s3_server.options())  # another store object
    other.store.put(EntryRef("functions", "mod.new", "0" * 16, "1" * 32), 1, {})
    assert "mod.new" in store.groups("functions")
    assert len(store.entries("functions")) == 3
    assert store.delete(EntryRef("functions", "mod.new", "0" * 16, "1" * 32))
    assert "mod.new" not in store.groups("functions")
    other.store.clear()
    assert store.entries("functions") == [] and store.groups("functions") == []


def test_changes_made_elsewhere_show_once_the_listing_expires(
        s3_server: S3Server, s3_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recent_listings, "TTL", 60.0)  # no expiry however slow the machine
    store = open_store(s3_url, storage_options=s3_server.options())
    _fill(store, 1)
    assert store.groups("functions") == ["mod.f0"]
    # another machine writes an entry (raw s3fs: nothing of this process sees the write)
    source = store.maintenance.listing().entries
    path = next(iter(source.values()))[0]
    s3_server.fs().pipe_file(path.replace("mod.f0", "mod.elsewhere"),
                             s3_server.fs().cat_file(path))
    assert store.groups("functions") == ["mod.f0"], "the listing was not reused"
    assert store.size() > 0 and len(store.maintenance.listing(fresh=True).entries) == 3
    monkeypatch.setattr(recent_listings, "TTL", 0.0)  # now it is older than TTL
    assert store.groups("functions") == ["mod.elsewhere", "mod.f0"]
