"""Damaged entries and foreign cache directories, seen through ``Memory``.

Each kind of damage must give: one ``CorruptEntryWarning`` naming the function and the
entry's file, the right value (recomputed), the entry overwritten (the next call is a
silent hit), and never an exception or a wrong value.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import struct
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from jlcache import Memory
from jlcache.errors import CacheFormatError, CorruptEntryWarning
from jlcache.serialize.format import read_header

CALLS: list = []  # passed as an ignored argument: a global read by the function would key it


def payload(k, calls):
    calls.append(k)
    return {"k": k, "text": "t" * 50, "arrays": [np.arange(5_000, dtype=np.float64) * k,
                                                 np.full((30, 40), k, dtype=np.int16)]}


def _regions(path: Path) -> dict:
    header = read_header(path)
    return {"hlen": struct.unpack("<I", path.read_bytes()[4:8])[0],
            "pickle": header["pickle"], "arrays": header["arrays"]}


def _patch(path: Path, offset: int, data: bytes) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset:offset + len(data)] = data
    path.write_bytes(bytes(raw))


def _cut(path: Path, size: int) -> None:
    path.write_bytes(path.read_bytes()[:size])


def _format_version(path: Path, version: int) -> None:
    raw = path.read_bytes()
    hlen = struct.unpack("<I", raw[4:8])[0]
    header = raw[8:8 + hlen].replace(b'"format":1', b'"format":%d' % version, 1)
    assert len(header) == hlen and json.loads(header)["format"] == version
    path.write_bytes(raw[:8] + header + raw[8 + hlen:])


DAMAGE = {
    # the header (what joblib keeps in metadata.json)
    "empty file": lambda p, r: _cut(p, 0),
    "magic only": lambda p, r: _cut(p, 4),
    "header truncated": lambda p, r: _cut(p, 8 + r["hlen"] // 2),
    "header garbage": lambda p, r: _patch(p, 10, b"\xff\x00garbage{{"),
    "header length absurd": lambda p, r: _patch(p, 4, struct.pack("<I", 2**31)),
    "wrong magic": lambda p, r: _patch(p, 0, b"PK\x03\x04"),
    "unknown format version": lambda p, r: _format_version(p, 7),
    # the pickled value
    "value truncated": lambda p, r: _cut(p, r["pickle"]["offset"] + r["pickle"]["length"] // 2),
    "value garbage": lambda p, r: _patch(p, r["pickle"]["offset"] + 3, b"\x00\xff" * 8),
    # the raw array regions
    "array region missing": lambda p, r: _cut(p, r["arrays"][0]["offset"]),
    "array region truncated": lambda p, r: _cut(p, r["arrays"][1]["offset"] + 100),
    "last array cut by one byte": lambda p, r: _cut(
        p, r["arrays"][1]["offset"] + r["arrays"][1]["nbytes"] - 1),
    "whole file garbage": lambda p, r: p.write_bytes(os.urandom(p.stat().st_size)),
}
# Array bytes changed in place are caught by their checksum when loading into memory; a
# memory map is not read at load time (that is what makes it constant-time), so that one
# damage is only detectable without mmap_mode (documented in guarantees.md).
IN_MEMORY_ONLY = {
    "array bytes garbage": lambda p, r: _patch(p, r["arrays"][0]["offset"] + 800, b"\x7f" * 16),
}


def _check(value, k) -> None:
    assert value["k"] == k and value["text"] == "t" * 50
    assert np.array_equal(value["arrays"][0], np.arange(5_000, dtype=np.float64) * k)
    assert np.array_equal(value["arrays"][1], np.full((30, 40), k, dtype=np.int16))


# Changed bytes inside an array region are caught by the checksum on an in-memory load only:
# a memory map is not checksummed at load time (documented), so that case is not generated.
CASES = [(damage, mode) for damage in sorted(DAMAGE) for mode in (None, "r")] + \
    [(damage, None) for damage in sorted(IN_MEMORY_ONLY)]


@pytest.mark.parametrize(("damage", "mmap_mode"), CASES)
def test_damaged_entry_is_one_warning_then_recomputed_and_overwritten(cache_dir, damage,
                                                                      mmap_mode):
    f = Memory(cache_dir, mmap_mode=mmap_mode).cache(payload, ignore=["calls"])
    CALLS.clear()
    _check(f(3, CALLS), 3)
    path = f.cache_key(3, CALLS).path
    {**DAMAGE, **IN_MEMORY_ONLY}[damage](path, _regions(path))

    with pytest.warns(CorruptEntryWarning) as record:
        _check(f(3, CALLS), 3)
    assert len(record) == 1, [str(w.message) for w in record]
    message = str(record[0].message)
    assert "payload" in message and str(path) in message
    assert CALLS == [3, 3]

    # overwritten: a new Memory (no in-process state) hits silently
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = Memory(cache_dir, mmap_mode=mmap_mode).cache(payload, ignore=["calls"])
        _check(again(3, CALLS), 3)
    assert CALLS == [3, 3]


def _snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p): (p.read_bytes() if p.is_file() else b"", p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*"))}


@pytest.mark.parametrize("content, expected", [
    ("2\n", "format 2"), ("17", "format 17"), ("garbage", "not a jlcache format number"),
])
def test_a_cache_dir_of_a_newer_or_unknown_format_is_refused_and_untouched(cache_dir, content,
                                                                           expected):
    Memory(cache_dir).cache(payload, ignore=["calls"])(1, [])
    (cache_dir / "FORMAT").write_text(content)
    before = _snapshot(cache_dir)
    with pytest.raises(CacheFormatError) as info:
        Memory(cache_dir)
    message = str(info.value)
    assert expected in message and str(cache_dir) in message
    assert _snapshot(cache_dir) == before


# ----------------------------------------------------------------------------- not a regular file
@contextlib.contextmanager
def _unblocking(fifo: Path, after: float = 5.0):
    """If a reader hangs on ``fifo``, open its other end after ``after`` s so the test fails
    instead of hanging forever."""
    done = threading.Event()

    def rescue():
        if not done.wait(after):
            with contextlib.suppress(OSError):
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))

    thread = threading.Thread(target=rescue, daemon=True)
    thread.start()
    start = time.monotonic()
    try:
        yield
    finally:
        done.set()
    assert time.monotonic() - start < 2.0, f"opening {fifo} blocked"


def test_a_fifo_in_place_of_an_entry_is_a_miss_with_a_warning_not_a_hang(cache_dir):
    calls: list = []
    f = Memory(cache_dir).cache(payload, ignore=["calls"])
    f(1, calls)
    entry = f.cache_key(1, calls).path
    entry.unlink()
    os.mkfifo(entry, 0o600)
    with _unblocking(entry), pytest.warns(CorruptEntryWarning, match="not a regular file"):
        assert Memory(cache_dir).cache(payload, ignore=["calls"])(1, calls)["k"] == 1
    assert len(calls) == 2 and stat.S_ISREG(os.lstat(entry).st_mode)  # replaced by a real entry


def test_a_fifo_in_place_of_info_json_is_skipped_not_a_hang(cache_dir):
    memory = Memory(cache_dir)
    f = memory.cache(payload, ignore=["calls"])
    f(1, [])
    ref = f._ref((1, []), {})
    info = f.cache_key(1, []).path.parent / "_info.json"
    info.unlink()
    os.mkfifo(info, 0o600)
    with _unblocking(info):
        assert memory.store.read_info(ref.kind, ref.group, ref.version) == {}
    with _unblocking(info):
        memory.reduce_size(items_limit=0)  # prunes the emptied version, reading _info.json


def test_a_fifo_in_place_of_format_is_a_clear_error_not_a_hang(cache_dir):
    cache_dir.mkdir(mode=0o700)
    os.mkfifo(cache_dir / "FORMAT", 0o600)
    with _unblocking(cache_dir / "FORMAT"), pytest.raises(CacheFormatError,
                                                         match="not a regular file"):
        Memory(cache_dir)
