"""Issue 12 item 2: a panel (or ``%jlcache``) opened after a job still lists it."""

from __future__ import annotations

import pytest

from tests.ipython.conftest import run


def test_jlcache_opened_after_jobs_lists_them_with_outcome_and_duration(ip, capsys):
    run(ip, "def square(x):\n    return x * x\n"
            "def explode(x):\n    raise ValueError('boom')")
    run(ip, "ys = %pmap -n 2 -b threading --no-progress square range(5)")
    with pytest.raises(ValueError):
        run(ip, "%pmap -n 2 -b threading --no-progress explode range(3)")
    capsys.readouterr()
    panel = ip.run_line_magic("jlcache", "")  # what `%jlcache` displays, in the terminal too
    table = repr(panel)
    jobs = table[table.index("\nJobs"):]
    square = next(line for line in jobs.splitlines() if "square" in line)
    explode = next(line for line in jobs.splitlines() if "explode" in line)
    assert square.rstrip().endswith("done") and "5/5" in square
    assert explode.rstrip().endswith("error")
    row = next(r for r in panel.jobs if "square" in r["label"])
    assert row["status"] == "done" and row["elapsed"] is not None
    assert row["elapsed_text"]  # the duration is shown
    panel.close()


def test_the_history_keeps_the_last_20_finished_jobs(ip):
    from jlcache.parallel import jobs

    run(ip, "def ident(x):\n    return x")
    for _ in range(jobs.HISTORY + 3):
        run(ip, "_ = %pmap -n 1 -b sequential --no-progress ident range(2)")
    finished = [j for j in jobs.recent_jobs() if j["status"] != "running"]
    assert len(finished) == jobs.HISTORY
    panel = ip.run_line_magic("jlcache", "")
    assert len(panel.jobs) == jobs.HISTORY
    panel.close()
