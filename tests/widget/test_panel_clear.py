"""Clearing what a row stands for: exactly that, resolved against the store (on a fake store)."""

from __future__ import annotations

import pytest

from jlcache.widget.clear import clear_target
from jlcache.widget.ids import row_id


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
