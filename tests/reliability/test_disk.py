"""A full disk and a read-only cache, on a real tmpfs (root only; skipped elsewhere).

``tests/test_memory_faults.py`` has the basic cases (a full tmpfs, a read-only bind mount,
an injected ``ENOSPC``); these add a disk that fills in the middle of writing an array, a
recovery once space is freed, and a whole read-only file system that must not change.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from jlcache import Memory
from jlcache.errors import NotCachedWarning
from tests.reliability._helpers import census, remounted_read_only, small_tmpfs


def ramp(n, calls):
    calls.append(n)
    return {"n": n, "a": np.arange(n, dtype=np.float64)}


def _check(value, n) -> None:
    assert value["n"] == n and np.array_equal(value["a"], np.arange(n, dtype=np.float64))


def test_disk_filling_up_mid_write_returns_the_value_and_leaves_nothing_partial(tmp_path):
    with small_tmpfs(tmp_path / "small", "256k") as mount:
        memory = Memory(mount / "cache", mmap_mode="r")
        f = memory.cache(ramp, ignore=["calls"])
        calls: list = []
        _check(f(1_000, calls), 1_000)  # 8 KB: fits
        with pytest.warns(NotCachedWarning) as record:
            _check(f(40_000, calls), 40_000)  # 320 KB: the write starts, then the disk is full
            _check(f(60_000, calls), 60_000)  # 480 KB: full again, same reason, no new warning
        assert len(record) == 1
        message = str(record[0].message)
        assert "not cached" in message and "No space left" in message and "ramp" in message
        files = census(mount / "cache")
        assert files["temporaries"] == [] and files["other"] == []
        assert len(files["entries"]) == 1

        with warnings.catch_warnings():
            warnings.simplefilter("error")
            _check(f(1_000, calls), 1_000)  # the entry stored before is still a silent hit
            assert calls == [1_000, 40_000, 60_000]
            memory.clear()
            _check(f(20_000, calls), 20_000)  # space freed: storing works again
            _check(f(20_000, calls), 20_000)
        assert calls == [1_000, 40_000, 60_000, 20_000]


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_read_only_file_system_serves_hits_and_warns_once_for_misses(tmp_path):
    with small_tmpfs(tmp_path / "small", "1m") as mount:
        cache = mount / "cache"
        writer = Memory(cache).cache(ramp, ignore=["calls"])
        calls: list = []
        for n in (10, 20):
            writer(n, calls)
        before = _snapshot(cache)
        with remounted_read_only(mount):
            memory = Memory(cache, mmap_mode="r", bytes_limit="1M")  # opening is fine
            f = memory.cache(ramp, ignore=["calls"])
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                for n in (10, 20, 10):  # hits: silent, memory-mapped
                    value = f(n, calls)
                    _check(value, n)
                    assert isinstance(value["a"], np.memmap)
                memory.store.flush()  # recording access times fails quietly
            with pytest.warns(NotCachedWarning) as record:
                for n in (30, 40, 30):
                    _check(f(n, calls), n)
                _check(f.call(50, calls)[0], 50)
                _check(f.call_and_shelve(60, calls).get(), 60)
            assert len(record) == 1, [str(w.message) for w in record]
            assert "read-only" in str(record[0].message).lower()
            assert calls == [10, 20, 30, 40, 30, 50, 60]
            for explicit in (memory.clear, lambda: memory.reduce_size(items_limit=0)):
                with pytest.raises(OSError, match="Read-only"):  # asked for: not silent
                    explicit()
            assert _snapshot(cache) == before
