"""The parent holds O(batch) tasks, never the whole input: each task's arguments are
released once its batch came back (issue 14: memory of a 1M-task map).

The arguments are objects that count themselves alive; the user's generator records the
largest count seen while it makes tasks. Whatever the parent keeps - task tuples, argument
lists, per-task bookkeeping - keeps arguments alive and shows up in that count.
"""

from __future__ import annotations

import threading

import pytest

from jlcache.parallel import Parallel, delayed

N = 30_000
BATCH = 500


class Counted:
    """An argument that knows how many of its kind are alive (thread-safe)."""

    live = 0
    lock = threading.Lock()

    def __init__(self, i: int) -> None:
        self.i = i
        with Counted.lock:
            Counted.live += 1

    def __del__(self) -> None:
        with Counted.lock:
            Counted.live -= 1

    def __int__(self) -> int:
        return self.i

    def __reduce__(self):  # workers get a plain int: only the parent's copies are counted
        return (int, (self.i,))


def value(x):
    return int(x)


def _peak_while_mapping(n: int = N, **kwargs) -> tuple[int, list]:
    peak = [0]

    def tasks():
        for i in range(n):
            peak[0] = max(peak[0], Counted.live)
            yield delayed(value)(Counted(i))

    out = Parallel(n_jobs=2, **kwargs)(tasks())
    return peak[0], out


@pytest.mark.parametrize("backend", ["loky", "multiprocessing", "threading"])
def test_workers_hold_a_few_batches_of_arguments(backend):
    peak, out = _peak_while_mapping(backend=backend, batch_size=BATCH)
    assert out == list(range(N))
    # batches in flight (2 per worker), the one being taken and the one being collected
    assert peak <= 8 * BATCH, f"{peak} task arguments alive at once"


def test_sequential_releases_each_tasks_arguments_once_it_ran():
    peak, out = _peak_while_mapping(backend="sequential")
    assert out == list(range(N))
    assert peak <= 2, f"{peak} task arguments alive at once"


def test_auto_batching_holds_a_bounded_share_of_a_long_input():
    peak, out = _peak_while_mapping(backend="loky")
    assert out == list(range(N))
    assert peak < N // 2, f"{peak} of {N} task arguments alive at once"


def test_automatic_thread_batches_stay_small(monkeypatch):
    """Threads gain nothing from batches of ~100k tiny tasks, which only hold more
    arguments: automatic batches stop at the backend's ``max_batch``."""
    from jlcache.parallel.backends.threads import ThreadingBackend
    from jlcache.parallel.batching import AutoBatcher

    sizes: list = []
    proposed = AutoBatcher.next_size

    def spy(self, remaining, n_jobs):
        sizes.append(proposed(self, remaining, n_jobs))
        return sizes[-1]

    monkeypatch.setattr(AutoBatcher, "next_size", spy)
    n = 200_000
    out = Parallel(n_jobs=2, backend="threading")(delayed(value)(i) for i in range(n))
    assert out == list(range(n))
    assert max(sizes) == ThreadingBackend.max_batch  # grown to the cap, never beyond
