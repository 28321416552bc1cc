"""Fixtures of the parallel suite: every behaviour test runs on every local backend."""

from __future__ import annotations

import pytest

BACKENDS = ["sequential", "threading", "multiprocessing", "loky"]
PROCESS_BACKENDS = ["multiprocessing", "loky"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(params=PROCESS_BACKENDS)
def process_backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def recorded_events():
    """Every event published while the test runs, in order."""
    from jlcache import events

    seen: list = []
    unsubscribe = events.subscribe(seen.append)
    yield seen
    unsubscribe()
