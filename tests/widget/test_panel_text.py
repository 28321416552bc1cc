"""The text table shown where no widget front end exists."""

from __future__ import annotations

import time

from jlcache.widget.jobs import JobTracker
from jlcache.widget.text import text_table


def test_text_table_lists_sections_and_jobs(fake_store, build_state):
    fake_store.add("functions", "__main__.square", "v1", "k", 2048, args="x=3", created=time.time() - 90)
    fake_store.add("cells", "load-data", "s1", "k", 10)
    fake_store.info[("cells", "load-data", "s1")] = {"name": "load-data", "first_line": "df = load()"}
    _, sections, summary = build_state(fake_store, current={"functions": {"__main__.square": "v1"}},
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
