"""Memory under faults: corrupt entries, a full disk, a read-only cache directory.

Full and read-only disks are real where the machine allows it (a tiny tmpfs and a read-only
bind mount need root; without root a chmod'ed directory stands in for read-only); an
injected ``ENOSPC`` covers the once-per-reason warning everywhere.
"""

from __future__ import annotations

import errno
import os
import subprocess
import warnings

import pytest

from jlcache.errors import CorruptEntryWarning, NotCachedWarning
from jlcache.memory.memory import Memory
from tests.conftest import mount, read_only


def tripled(x, calls=None):
    calls.append(x)
    return [x] * 3


def big(n, calls=None):
    import numpy as np

    calls.append(n)
    return np.ones(n)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_entry_is_one_warning_then_recomputed_and_overwritten(memory, damage):
    f = memory.cache(tripled, ignore=["calls"])
    calls: list = []
    f(2, calls)
    path = f.cache_key(2).path
    data = path.read_bytes()
    path.write_bytes({"truncate": data[: len(data) // 2], "garbage": b"\x00garbage" * 50,
                      "empty": b""}[damage])
    with pytest.warns(CorruptEntryWarning) as record:
        assert f(2, calls) == [2, 2, 2]
    assert len(record) == 1
    message = str(record[0].message)
    assert "tripled" in message and str(path) in message
    assert calls == [2, 2]
    assert f(2, calls) == [2, 2, 2] and calls == [2, 2]  # overwritten: a silent hit now


def test_store_failure_warns_once_per_reason_and_returns_the_value(memory, monkeypatch):
    f = memory.cache(tripled, ignore=["calls"])
    calls: list = []

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(memory.store, "put", full_disk)
    with pytest.warns(NotCachedWarning, match="No space left") as record:
        assert f(1, calls) == [1, 1, 1]
        assert f(2, calls) == [2, 2, 2]
        assert f(1, calls) == [1, 1, 1]
    assert len(record) == 1 and calls == [1, 2, 1]


def test_full_disk_returns_the_value_and_leaves_no_partial_entry(tmp_path):
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    if not mount("-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount_point)):
        pytest.skip("needs root to mount a small tmpfs")
    try:
        memory = Memory(mount_point / "cache")
        f = memory.cache(big, ignore=["calls"])
        calls: list = []
        assert f(10, calls).sum() == 10  # fits
        with pytest.warns(NotCachedWarning, match="No space left") as record:
            assert f(200_000, calls).sum() == 200_000  # 1.6 MB: does not fit
            assert f(300_000, calls).sum() == 300_000
        assert len(record) == 1
        files = [p for p in (mount_point / "cache").rglob("*") if p.is_file()]
        assert sum(p.suffix == ".jlc" for p in files) == 1
        assert all(p.suffix == ".jlc" or p.name in {"_info.json", "FORMAT", ".gitignore"}
                   for p in files), files
        assert f(10, calls).sum() == 10 and calls == [10, 200_000, 300_000]
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def test_read_only_cache_dir_serves_hits_and_warns_once_on_misses(cache_dir):
    writer = Memory(cache_dir).cache(tripled, ignore=["calls"])
    calls: list = []
    writer(1, calls)
    with read_only(cache_dir):
        f = Memory(cache_dir).cache(tripled, ignore=["calls"])
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert f(1, calls) == [1, 1, 1]  # a hit, silently
        with pytest.warns(NotCachedWarning) as record:
            assert f(2, calls) == [2, 2, 2]
            assert f(3, calls) == [3, 3, 3]
        assert len(record) == 1
        assert calls == [1, 2, 3]


def test_unreadable_entry_is_a_miss_with_one_warning(memory, monkeypatch):
    f = memory.cache(tripled, ignore=["calls"])
    calls: list = []
    f(4, calls)
    real_get = memory.store.get
    # Unreadable at the lookup and at the re-check under the key's lock, readable afterwards.
    failures = iter([PermissionError(13, "Permission denied")] * 2)

    def flaky_get(ref, mmap_mode=None):
        for exc in failures:
            raise exc
        return real_get(ref, mmap_mode)

    monkeypatch.setattr(memory.store, "get", flaky_get)
    with pytest.warns(CorruptEntryWarning, match="Permission denied"):
        assert f(4, calls) == [4, 4, 4]
    assert calls == [4, 4]
    assert f(4, calls) == [4, 4, 4] and calls == [4, 4]


# ----------------------------------------------------------------------------- errors of the process
def test_running_out_of_file_descriptors_raises_instead_of_recomputing(cache_dir, python):
    """A real process at its descriptor limit: the hit raises EMFILE; nothing is recomputed."""
    out = python(f"""
        import errno, os, resource, warnings
        warnings.simplefilter("error")
        from jlcache import Memory
        calls = []
        def f(x):
            calls.append(x)
            return x * 2
        g = Memory({str(cache_dir)!r}).cache(f)
        assert g(3) == 6 and g(3) == 6 and calls == [3]
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
        held = []
        try:
            while True:
                held.append(os.open("/dev/null", os.O_RDONLY))
        except OSError as exc:
            assert exc.errno == errno.EMFILE
        try:
            g(3)
        except OSError as exc:
            print("raised", errno.errorcode[exc.errno], "|", exc)
        else:
            print("returned")
        for fd in held:
            os.close(fd)
        print("calls", calls)
    """).stdout
    assert "raised EMFILE" in out and "calls [3]" in out, out
    assert "too many open files" in out.lower() and "not damaged" in out


@pytest.mark.parametrize("code", ["ENFILE", "ENOMEM"])
def test_errors_of_the_process_while_reading_are_raised_not_recomputed(memory, monkeypatch, code):
    f = memory.cache(tripled, ignore=["calls"])
    calls: list = []
    f(2, calls)
    real_pread = os.pread

    def failing_pread(fd, n, offset):
        raise OSError(getattr(errno, code), os.strerror(getattr(errno, code)))

    monkeypatch.setattr(os, "pread", failing_pread)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no CorruptEntryWarning: the entry is fine
        with pytest.raises(OSError) as info:
            f(2, calls)
    assert info.value.errno == getattr(errno, code) and calls == [2]
    monkeypatch.setattr(os, "pread", real_pread)
    assert f(2, calls) == [2, 2, 2] and calls == [2]
