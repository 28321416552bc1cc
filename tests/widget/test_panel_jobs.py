"""Job rows from job.* events: progress, rate, ETA, history."""

from __future__ import annotations

from jlcache.widget.jobs import Job, JobTracker


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


def test_a_sized_job_has_a_fraction_from_its_start_event_and_an_unsized_one_only_when_done():
    jobs = JobTracker()
    jobs.handle("job.start", {"id": "a", "func": "f", "total": 200}, when=10.0)
    jobs.handle("job.progress", {"id": "a", "done": 50, "total": None}, when=11.0)  # None keeps the total
    jobs.handle("job.start", {"id": "b", "func": "g", "total": None}, when=10.0)
    jobs.handle("job.progress", {"id": "b", "done": 7}, when=11.0)
    rows = {r["job"]: r for r in jobs.rows(now=12.0)}
    assert (rows["a"]["total"], rows["a"]["fraction"], rows["a"]["eta"]) == (200, 0.25, 6.0)
    assert (rows["b"]["total"], rows["b"]["fraction"], rows["b"]["eta"]) == (None, None, None)
    jobs.handle("job.end", {"id": "b", "status": "done", "done": 9, "elapsed": 3.0})
    jobs.handle("job.end", {"id": "a", "status": "cancelled", "done": 60, "elapsed": 3.0})
    rows = {r["job"]: r for r in jobs.rows(now=20.0)}
    assert (rows["b"]["total"], rows["b"]["fraction"]) == (9, 1.0)
    assert (rows["a"]["total"], rows["a"]["fraction"], rows["a"]["status"]) == (200, 0.3, "cancelled")


def test_a_finished_jobs_row_is_built_once_and_a_later_event_rebuilds_it(monkeypatch):
    jobs = JobTracker()
    jobs.handle("job.start", {"id": "a", "func": "f", "total": 4}, when=10.0)
    jobs.handle("job.end", {"id": "a", "status": "done", "done": 4, "elapsed": 2.0})
    first = jobs.rows(now=20.0)[0]
    built = []
    real = Job._build_row
    monkeypatch.setattr(Job, "_build_row", lambda self, now: built.append(now) or real(self, now))
    first["done"] = -1                                  # a caller's copy: not the kept row
    again = jobs.rows(now=30.0)[0]
    assert built == [] and again["done"] == 4 and again["elapsed"] == 2.0
    jobs.handle("job.end", {"id": "a", "status": "done", "done": 4, "errors": 1, "elapsed": 2.0})
    assert jobs.rows(now=40.0)[0]["errors"] == 1 and built == [40.0]
