"""What a displayed panel costs a running job: no rescans while results are stored, few
messages, and still the right final state (issue 14)."""

from __future__ import annotations

import time

import pytest

from jlcache import Parallel, delayed, stats
from jlcache.widget import view
from jlcache.widget.view import Panel


@pytest.fixture(autouse=True)
def _fresh_stats():
    stats.reset()
    yield
    stats.reset()


@pytest.fixture
def counted_scans(monkeypatch):
    calls = []
    real = view.scan

    def counting(store):
        calls.append(time.monotonic())
        return real(store)

    monkeypatch.setattr(view, "scan", counting)
    return calls


def _wait(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.02)
    return predicate()


def test_entries_stored_during_a_job_are_counted_without_rescanning(memory, counted_scans):
    @memory.cache
    def slow(x):
        time.sleep(0.004)
        return x

    p = Panel(memory)
    try:
        counted_scans.clear()  # the first paint's scan
        started = time.monotonic()
        for i in range(300):  # ~1.5 s of stores: the old panel rescanned every 0.5 s
            slow(i)
            if i == 150:
                assert _wait(lambda: p.summary["entries"] >= 100, 1.0)  # live, from events
        ended = time.monotonic()
        assert [t for t in counted_scans if started <= t <= ended] == []
        assert p.summary["entries"] >= 290 or _wait(lambda: p.summary["entries"] == 300, 1.0)
        # once stores stop, one rescan reads what events do not carry (arguments)
        assert _wait(lambda: len(counted_scans) == 1, view.SETTLE + 2)
        assert p.summary["entries"] == 300
        assert p.summary["bytes"] == memory.store.size()
        group_row = next(r for r in p.rows() if r["type"] == "group")
        p._handle({"type": "expand", "id": group_row["id"], "open": True})
        version_row = next(r for r in p.rows() if r["type"] == "version")
        p._handle({"type": "expand", "id": version_row["id"], "open": True})
        labels = {r["label"] for r in p.rows() if r["type"] == "entry"}
        assert labels and all(label.startswith("x=") for label in labels)
    finally:
        p.close()


def test_a_100k_task_job_sends_few_messages(memory):
    p = Panel(memory)
    sent = []
    real_send = p._send
    p._send = lambda msg, buffers=None: sent.append(msg) or real_send(msg, buffers)
    try:
        t0 = time.monotonic()
        Parallel(n_jobs=1)(delayed(abs)(i) for i in range(100_000))

        def ours_done() -> bool:  # (the session's history may list other tests' jobs first)
            return any(j["done"] == 100_000 and j["status"] == "done" for j in p.jobs)

        assert _wait(ours_done)
        elapsed = time.monotonic() - t0       # up to the message showing the job done
        # job.progress is published at most 5 times a second, flushes at most 10 times
        assert 1 <= len(sent) <= elapsed / p._coalescer.interval + 3, (len(sent), elapsed)
    finally:
        p.close()


def test_entries_stored_in_another_cache_are_not_counted(memory, tmp_path):
    from jlcache import Memory

    other = Memory(tmp_path / "other")

    @other.cache
    def elsewhere(x):
        return x

    p = Panel(memory)
    try:
        for i in range(50):
            elsewhere(i)
        p._flush()  # what the next update would show, before any rescan
        assert p.summary["entries"] == 0
        assert [r for r in p.rows() if r["type"] != "job"] == []
        p.refresh()
        assert p.summary["entries"] == 0
    finally:
        p.close()
