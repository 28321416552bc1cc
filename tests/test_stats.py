"""Session counters fed by the event bus (including events replayed from workers)."""

from __future__ import annotations

import pytest

from jlcache import events, stats


@pytest.fixture(autouse=True)
def fresh_counters():
    stats.ensure_listening()
    stats.reset()
    yield
    stats.reset()


def publish(name, group="mod.f", version="v1", **extra):
    events.publish(name, kind="functions", group=group, func=group, version=version, key="k",
                   **extra)


def test_hits_misses_stores_and_time_saved_are_counted_per_version():
    publish("cache.miss")
    publish("cache.store", bytes=10, duration=2.0)
    publish("cache.hit", duration=2.0, bytes=10)
    publish("cache.hit", duration=1.5, bytes=10)
    publish("cache.hit", version="v2", duration=1.0)
    snap = stats.snapshot()
    assert snap[("functions", "mod.f", "v1")] == stats.Counts(hits=2, misses=1, stores=1,
                                                              time_saved=3.5)
    assert snap[("functions", "mod.f", "v2")].hits == 1


def test_events_replayed_from_workers_count_too():
    worker_events = [events.Event("cache.hit", {"kind": "functions", "group": "g", "func": "g",
                                                "version": "v", "key": "k", "duration": 0.5})]
    events.replay(worker_events)
    assert stats.snapshot()[("functions", "g", "v")].hits == 1


def test_cells_are_their_own_kind_and_other_events_are_ignored():
    events.publish("cache.hit", kind="cells", group="slot", func="slot", version="s", key="k",
                   duration=None)
    events.publish("job.start", id=1, backend="loky", n_jobs=2, total=3, func="f")
    publish("cache.clear")
    snap = stats.snapshot()
    assert list(snap) == [("cells", "slot", "s")]
    assert snap[("cells", "slot", "s")].time_saved == 0.0


def test_snapshot_is_a_copy():
    publish("cache.hit", duration=1.0)
    snap = stats.snapshot()
    snap[("functions", "mod.f", "v1")].hits = 99
    assert stats.snapshot()[("functions", "mod.f", "v1")].hits == 1


def test_current_versions_and_reset():
    stats.mark_current("functions", "mod.f", "v1")
    stats.mark_current("functions", "mod.f", "v2")
    stats.mark_current("cells", "slot", "s1")
    assert stats.current_versions("functions") == {"mod.f": "v2"}
    assert stats.current_versions("cells") == {"slot": "s1"}
    publish("cache.hit")
    stats.reset()
    assert stats.snapshot() == {} and stats.current_versions("functions") == {}


def test_ensure_listening_subscribes_once():
    stats.ensure_listening()
    stats.ensure_listening()
    publish("cache.miss")
    assert stats.snapshot()[("functions", "mod.f", "v1")].misses == 1


def test_counting_a_hit_builds_no_event_when_nobody_subscribes(memory, monkeypatch):
    built: list = []

    class CountingEvent(events.Event):
        __slots__ = ()

        def __init__(self, *args, **kwargs):
            built.append(args[0])
            super().__init__(*args, **kwargs)

    def double(x):
        return 2 * x

    f = memory.cache(double)
    f(3)
    monkeypatch.setattr(events, "_subscribers", ())  # no panel, no magics, no test recorder
    monkeypatch.setattr(events, "Event", CountingEvent)
    assert f(3) == 6 and f(3) == 6
    key = f.cache_key(3)
    assert stats.snapshot()[("functions", key.group, key.version)].hits == 2
    assert built == []  # the counters were fed without an Event per hit
    seen: list = []
    monkeypatch.undo()
    unsubscribe = events.subscribe(seen.append)
    try:
        f(3)
    finally:
        unsubscribe()
    assert [e.name for e in seen] == ["cache.hit"]  # subscribers still get the events
    assert stats.snapshot()[("functions", key.group, key.version)].hits == 3  # counted once


def test_each_site_keeps_its_own_definition_of_a_name():
    stats.mark_current("functions", "mod.f", "v1", "cell-a")
    stats.mark_current("functions", "mod.f", "v2", "cell-b")
    stats.mark_current("functions", "mod.f", "v3", "cell-a")  # cell-a run again, edited
    assert stats.defined_versions("functions") == {"mod.f": frozenset({"v2", "v3"})}
    assert stats.current_versions("functions") == {"mod.f": "v3"}  # the latest definition
    stats.mark_current("functions", "mod.g", "w1")
    stats.mark_current("functions", "mod.g", "w2")  # outside cells: the latest replaces
    assert stats.defined_versions("functions")["mod.g"] == frozenset({"w2"})
    stats.forget_site("cell-a")
    assert stats.defined_versions("functions")["mod.f"] == frozenset({"v2"})
    stats.reset()
    assert stats.defined_versions("functions") == {}


def test_memorized_functions_remember_the_site_they_were_defined_at(memory):
    def square(x):
        return x * x

    stats.set_site("cell-1")
    try:
        f = memory.cache(square)
    finally:
        stats.set_site(None)
    stats.set_site("cell-2")  # called from another cell: still defined at cell-1
    try:
        f(2)
        stats.reset()
        f(3)  # re-marks after a reset, at its own site
    finally:
        stats.set_site(None)
    stats.forget_site("cell-2")
    assert list(stats.defined_versions("functions").values()) == [frozenset({f.cache_key(3).version})]
    stats.forget_site("cell-1")
    assert stats.defined_versions("functions") == {}


def test_a_hit_reaches_a_capture_and_a_counter_without_the_hit_shortcut(memory, monkeypatch):
    def triple(x):
        return 3 * x

    f = memory.cache(triple)
    f(2)
    monkeypatch.setattr(events, "_subscribers", ())
    with events.capture() as captured:  # a worker sending its events home
        assert f(2) == 6
    assert [e.name for e in captured] == ["cache.hit"]
    seen: list = []
    monkeypatch.setattr(events, "_counter", lambda name, data: seen.append((name, data)))
    monkeypatch.setattr(events, "_hit_counter", None)  # a counter that only takes events
    assert f(2) == 6
    assert [name for name, _ in seen] == ["cache.hit"]
    assert {"func", "version", "key", "duration", "bytes"} <= set(seen[0][1])
