"""Helpers shared by the bridge tests."""

from __future__ import annotations


def jobs_in(seen: list) -> dict[str, list]:
    """``{job id: [(event name, data), ...]}`` for the job events of ``recorded_events``."""
    jobs: dict[str, list] = {}
    for name, data in seen:
        if name.startswith("job.") and not data.get("remote"):
            jobs.setdefault(data["id"], []).append((name, data))
    return jobs
