"""Real clusters for the dask and ray backend tests, started once per session.

Not a ``conftest.py`` on purpose (another area owns that name in this folder): the test
modules import these fixtures explicitly. Every cluster listens on loopback only and has
no dashboard, so the tests open no port beyond this machine and start fast.

Task helpers live here too, at module level, so that cluster workers can import them by
reference (the clusters get this folder on their ``PYTHONPATH``).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def _worker_pythonpath() -> str:
    """Let worker processes import the task helpers below by reference."""
    parts = [str(HERE), str(HERE.parent), str(REPO), os.environ.get("PYTHONPATH", "")]
    return os.pathsep.join(p for p in parts if p)


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def dask_cluster() -> Iterator[Any]:
    """A real ``LocalCluster``: 2 worker processes of 1 thread each, on loopback."""
    distributed = pytest.importorskip("distributed")
    os.environ["PYTHONPATH"] = _worker_pythonpath()
    # Earlier tests ran a real InteractiveShell, which installs its own module object as
    # __main__ (without __spec__); multiprocessing's spawn, used by dask's nannies, needs one.
    main = sys.modules["__main__"]
    if not hasattr(main, "__spec__"):
        main.__spec__ = None
    cluster = distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
        dashboard_address=None, silence_logs=logging.CRITICAL, worker_dashboard_address=None,
        # the scheduler serves /metrics even without a dashboard, by default on *:8787:
        # keep it on a free loopback port so parallel sessions never collide
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
    )
    try:
        yield cluster
    finally:
        cluster.close(timeout=20)


@pytest.fixture(scope="session")
def dask_client(dask_cluster: Any) -> Iterator[Any]:
    """A client on the session cluster, set as the current one (what ``Client()`` does)."""
    import distributed

    client = distributed.Client(dask_cluster, set_as_default=True)
    try:
        yield client
    finally:
        client.close(timeout=20)


@pytest.fixture
def idle_dask(dask_client: Any) -> Any:
    """The session client, with every earlier test's tasks gone from the cluster."""
    _wait_until(lambda: not any(dask_client.processing().values()), 10)
    return dask_client


@pytest.fixture(scope="session")
def ray_session() -> Iterator[Any]:
    """A real local ray with 2 CPUs, no dashboard, started once (unless one already runs)."""
    ray = pytest.importorskip("ray")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    # the raylet waits a fixed time for its agents; on a busy 2-core machine they start slowly
    os.environ.setdefault("RAY_raylet_start_wait_time_s", "90")
    os.environ["PYTHONPATH"] = _worker_pythonpath()
    started = False
    if not ray.is_initialized():
        for attempt in range(3):  # ray's node start has fixed internal timeouts: a busy
            try:                  # machine can miss them once; a second start then succeeds
                ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                         configure_logging=False)
                break
            except Exception:
                ray.shutdown()
                if attempt == 2:
                    raise
        started = True
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


# ------------------------------------------------------------------ helpers for tests


def _wait_until(predicate: Any, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


wait_until = _wait_until


def heartbeats(folder: Path) -> dict[str, float]:
    """``{task name: last beat}`` for the heartbeat files tasks wrote into ``folder``."""
    out = {}
    for path in folder.glob("*.beat"):
        try:
            out[path.name] = path.stat().st_mtime_ns
        except FileNotFoundError:
            pass
    return out


def assert_no_task_beating(folder: Path, quiet: float = 0.6, settle: float = 5.0) -> None:
    """Fail unless every heartbeat in ``folder`` stops changing within ``settle`` seconds.

    A task that is still running on the cluster after a cancellation keeps touching its
    file every 20 ms, so two snapshots ``quiet`` seconds apart would differ.
    """
    deadline = time.monotonic() + settle
    while True:
        before = heartbeats(folder)
        time.sleep(quiet)
        after = heartbeats(folder)
        if before == after:
            return
        if time.monotonic() > deadline:
            moving = sorted(k for k in after if before.get(k) != after[k])
            raise AssertionError(f"tasks still running on the cluster after cancel: {moving}")


# ------------------------------------------------------- task functions (run on workers)


def double(x: int) -> int:
    return 2 * x


def slow_double(x: int, delay: float = 0.01) -> int:
    time.sleep(delay)
    return 2 * x


class Boom(ValueError):
    """A user exception type the tests expect back, unchanged."""


def fail_on(x: int, bad: int = 3) -> int:
    if x == bad:
        raise Boom(f"item {x} is bad")
    return x


def beat(folder: str, i: int, seconds: float = 30.0) -> int:
    """Touch ``folder/i.beat`` every 20 ms for ``seconds``: visible proof a task is running."""
    path = Path(folder) / f"{i}.beat"
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        path.write_text(str(time.time()))
        time.sleep(0.02)
    return i


def record_run(folder: str, x: int) -> int:
    """Leave one file per execution, so a test can count what ran on the workers."""
    Path(folder, f"{x}-{os.getpid()}-{time.monotonic_ns()}.ran").touch()
    return x * x


def array_info(arr: Any, i: int) -> tuple[int, float, int]:
    """What a worker received: the object's identity in that process, its sum, the item."""
    return id(arr), float(arr.sum()), i


def worker_pid(_: Any = None) -> int:
    return os.getpid()


def python_path_ok() -> bool:  # pragma: no cover - a sanity probe for workers
    return str(HERE) in sys.path


def cached_on_worker(cache_dir: str, folder: str, x: int) -> int:
    """A task that uses a ``Memory`` itself: the worker reads and writes the cache directly."""
    from jlcache import Memory

    return Memory(cache_dir).cache(record_run)(folder, x)


def computed_where(x: int) -> tuple[int, int, str]:
    """``x * x``, the process that computed it and a token unique to that computation: a hit
    returns the stored token, a recomputation a new one (no shared file system needed)."""
    import uuid

    return x * x, os.getpid(), uuid.uuid4().hex


def cached_on_s3(url: str, options: dict[str, Any], x: int) -> tuple[int, int, str]:
    """A task that opens an object-store ``Memory`` itself: the worker reads and writes the
    bucket directly; any cache warning (a failed store, say) fails the task."""
    import warnings

    from jlcache import Memory
    from jlcache.errors import CacheWarning

    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheWarning)
        return Memory(url, storage_options=options).cache(computed_where)(x)


def call(func: Any, x: int) -> Any:
    """A plain task calling ``func`` (say a cached function pickled with its ``Memory``)."""
    return func(x)
