"""Fixtures of the parallel suite: every behaviour test runs on every local backend."""

from __future__ import annotations

import sys

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


@pytest.fixture(autouse=True)
def _main_module_has_a_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    """Earlier tests ran a real InteractiveShell, whose ``__main__`` stand-in may lack
    ``__spec__``; multiprocessing's spawn and forkserver read it (a real kernel's has one)."""
    main = sys.modules["__main__"]
    if not hasattr(main, "__spec__"):
        monkeypatch.setattr(main, "__spec__", None, raising=False)
