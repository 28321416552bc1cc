"""Fixtures of the joblib bridge tests: the bridge on for one test, events, small data."""

from __future__ import annotations

import pytest

pytest.importorskip("joblib")


@pytest.fixture
def bridged():
    """The bridge on (no progress bar) for the test; the state before is restored after."""
    import jlcache

    with jlcache.bridge_joblib(progress=False) as state:
        yield state


@pytest.fixture
def recorded_events():
    """Every event published while the test runs, as ``(name, data)`` pairs, in order."""
    from jlcache import events

    seen: list = []
    unsubscribe = events.subscribe(lambda e: seen.append((e.name, dict(e.data))))
    yield seen
    unsubscribe()


@pytest.fixture(scope="session")
def xy():
    """A small classification problem (fits take milliseconds)."""
    from sklearn.datasets import make_classification

    return make_classification(n_samples=120, n_features=6, random_state=0)
