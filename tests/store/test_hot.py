"""Small entries kept in memory (``store.hot``): every change to the file is noticed on the
very next hit, no two hits share a mutable object, and the byte budget holds."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from jlcache.errors import CorruptEntryError, UnsafeCacheWarning
from jlcache.serialize.format import dump
from jlcache.store import EntryRef, LocalStore
from jlcache.store.hot import HOT, RACY_NS, HotEntries

VERSION = "0123456789abcdef"


def ref(key: str = "k1") -> EntryRef:
    return EntryRef("functions", "mod.f", VERSION, key)


@pytest.fixture
def store(cache_dir: Path) -> LocalStore:
    return LocalStore(cache_dir)


def _old_enough() -> None:
    """Let a file just written become older than the racy window, so a read keeps it."""
    time.sleep(RACY_NS / 1e9 + 0.03)


def kept(store: LocalStore, value: object, r: EntryRef | None = None) -> Path:
    """Store ``value``, read it once (which keeps it), and check that it is kept."""
    r = r or ref()
    store.put(r, value, {"input_args": {"x": "1"}})
    _old_enough()
    assert store.get(r)[0] == value
    path = store.path(r)
    assert str(path) in HOT, "the entry was not kept: the test would prove nothing"
    return path


def test_a_kept_entry_is_served_from_memory_until_its_file_changes(store, monkeypatch):
    import jlcache.store.local as local

    path = kept(store, {"a": [1, 2]})
    reads: list[str] = []
    real = local.read_value_and_pickle_from
    monkeypatch.setattr(local, "read_value_and_pickle_from",
                        lambda *a, **k: reads.append("read") or real(*a, **k))
    assert store.get(ref())[0] == {"a": [1, 2]} and reads == []  # from memory
    os.chmod(path, 0o600)  # same mode, yet a change of the inode: its ctime moves
    assert store.get(ref())[0] == {"a": [1, 2]} and reads == ["read"]  # read afresh


def test_a_freshly_written_entry_is_not_kept_until_it_is_older_than_the_racy_window(store):
    store.put(ref(), 1, {})
    assert store.get(ref())[0] == 1
    assert str(store.path(ref())) not in HOT  # its ctime could still be shared by a rewrite


def test_replaced_by_another_process_is_noticed_on_the_next_hit(store, python):
    kept(store, "mine")
    python(f"""
        from jlcache.store import EntryRef, LocalStore
        LocalStore({str(store.location)!r}).put(EntryRef("functions", "mod.f", {VERSION!r}, "k1"),
                                                "theirs", {{}})
    """)
    assert store.get(ref())[0] == "theirs"


def test_rewritten_in_place_with_the_same_size_is_noticed_on_the_next_hit(store, tmp_path):
    path = kept(store, "aaaa")
    other = tmp_path / "other.jlc"
    dump("bbbb", other, meta={"created": 0.0, "input_args": {"x": "1"}})
    data = other.read_bytes()
    size = path.stat().st_size
    data = data + b" " * (size - len(data)) if len(data) < size else data
    if len(data) != size:
        pytest.skip("the two files differ in size")
    with open(path, "r+b") as fh:  # same inode, same size
        fh.write(data)
    assert store.get(ref())[0] == "bbbb"


def test_corrupted_in_place_is_noticed_on_the_next_hit(store):
    path = kept(store, "value")
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF  # inside the pickle: its checksum fails
    with open(path, "r+b") as fh:
        fh.write(data)
    with pytest.raises(CorruptEntryError):
        store.get(ref())


def test_truncated_is_noticed_on_the_next_hit(store):
    path = kept(store, "value")
    os.truncate(path, 20)
    with pytest.raises(CorruptEntryError):
        store.get(ref())


def test_deleted_by_another_program_is_a_miss_on_the_next_hit(store):
    path = kept(store, "value")
    path.unlink()
    with pytest.raises(KeyError):
        store.get(ref())


@pytest.mark.parametrize("mode", [0o666, 0o620])
def test_made_writable_by_others_is_refused_on_the_next_hit(store, mode):
    path = kept(store, "value")
    path.chmod(mode)
    with pytest.warns(UnsafeCacheWarning, match="chmod go-w"), pytest.raises(KeyError):
        store.get(ref())
    assert str(path) not in HOT


def test_replaced_by_a_link_is_not_followed_on_the_next_hit(store, tmp_path):
    path = kept(store, "value")
    planted = tmp_path / "planted.jlc"
    dump("planted", planted)
    path.unlink()
    path.symlink_to(planted)
    with pytest.raises(KeyError, match="symbolic link"):
        store.get(ref())


def test_two_hits_never_share_a_mutable_object(store):
    kept(store, {"a": [1, 2]})
    first, meta1 = store.get(ref())
    second, meta2 = store.get(ref())
    assert first == second and first is not second and first["a"] is not second["a"]
    first["a"].append(3)
    meta1["input_args"]["x"] = "changed"
    meta1["duration"] = -1
    third, meta3 = store.get(ref())
    assert third == {"a": [1, 2]} and meta3["input_args"] == {"x": "1"} and "duration" not in meta3
    assert meta2 is not meta3


def test_delete_and_clear_through_the_api_drop_the_copies(store):
    path = kept(store, 1)
    store.delete(ref())
    assert str(path) not in HOT
    path = kept(store, 2)
    store.delete_group("functions", "mod.f")
    assert str(path) not in HOT
    path = kept(store, 3)
    store.clear()
    assert str(path) not in HOT
    with pytest.raises(KeyError):
        store.get(ref())


@pytest.mark.parametrize("compress", [0, 3])
def test_small_values_with_arrays_are_kept_and_each_hit_gets_its_own_arrays(store, compress):
    np = pytest.importorskip("numpy")
    r = ref()
    store.put(r, {"a": np.arange(100.0), "b": [np.ones(3, dtype=np.int8)]}, {}, compress=compress)
    _old_enough()
    store.get(r)
    assert str(store.path(r)) in HOT
    first, _ = store.get(r)
    second, _ = store.get(r)
    assert first["a"] is not second["a"] and np.array_equal(first["a"], np.arange(100.0))
    first["a"][0] = -1  # writable, like a full read's arrays, and shared with no other hit
    assert second["a"][0] == 0 and store.get(r)[0]["a"][0] == 0
    assert second["b"][0].dtype == np.int8 and np.array_equal(second["b"][0], [1, 1, 1])


def test_an_array_changed_in_place_in_a_kept_file_is_noticed(store):
    np = pytest.importorskip("numpy")
    store.put(ref(), np.arange(100.0), {})
    _old_enough()
    store.get(ref())
    path = store.path(ref())
    assert str(path) in HOT
    data = bytearray(path.read_bytes())
    data[-8:] = np.float64(-5.0).tobytes()  # the last element; its checksum now fails
    with open(path, "r+b") as fh:
        fh.write(data)
    with pytest.raises(CorruptEntryError):
        store.get(ref())


def test_large_values_and_mapped_reads_are_not_kept_whole(store):
    np = pytest.importorskip("numpy")
    store.put(ref(), np.arange(20_000.0), {})  # 160 kB: larger than one kept entry may be
    _old_enough()
    store.get(ref())
    assert str(store.path(ref())) not in HOT
    store.put(ref("k2"), np.arange(3.0), {})
    _old_enough()
    store.get(ref("k2"), mmap_mode="r")
    assert str(store.path(ref("k2"))) not in HOT  # its header only (HEADERS)


# ----------------------------------------------------------------------------- the budget
class _Stat:
    def __init__(self, ctime_ns: int) -> None:
        self.st_ino, self.st_dev, self.st_size = 1, 1, 10
        self.st_mtime_ns = self.st_ctime_ns = ctime_ns


def test_the_byte_budget_holds_and_the_least_recently_used_go_first():
    hot = HotEntries(budget=1000, max_entry=400)
    old = time.time_ns() - 10 * RACY_NS
    now = time.time_ns()
    for name in "abc":
        hot.keep(name, _Stat(old), now, b"x" * 300, {})  # type: ignore[arg-type]
    assert len(hot) == 3 and hot.nbytes == 900
    hot.get("a")  # used: "b" is now the least recently used
    hot.keep("d", _Stat(old), now, b"x" * 300, {})  # type: ignore[arg-type]
    assert "b" not in hot and {"a", "c", "d"} <= {p for p in "abcd" if p in hot}
    assert hot.nbytes == 900 <= hot.budget
    hot.keep("e", _Stat(old), now, b"x" * 401, {})  # type: ignore[arg-type]
    assert "e" not in hot  # larger than one entry may be
    hot.keep("a", _Stat(now), now, b"x", {})  # type: ignore[arg-type]
    assert "a" not in hot  # changed within the racy window: dropped, not kept
    assert hot.nbytes == 600


# ----------------------------------------------------------------------------- mapped reads
def test_a_mapped_hit_reuses_the_kept_header_only_while_the_file_is_unchanged(store, monkeypatch,
                                                                              python):
    np = pytest.importorskip("numpy")
    from jlcache.serialize import reader
    from jlcache.store.hot import HEADERS

    store.put(ref(), {"a": np.arange(1000.0)}, {"input_args": {"x": "1"}})
    _old_enough()
    first, meta = store.get(ref(), mmap_mode="r")
    path = str(store.path(ref()))
    assert path in HEADERS
    parsed: list[int] = []
    real = reader.Reader._parse_header
    monkeypatch.setattr(reader.Reader, "_parse_header",
                        lambda self: parsed.append(1) or real(self))
    meta["input_args"]["x"] = "changed"
    second, meta2 = store.get(ref(), mmap_mode="r")
    assert parsed == [] and meta2["input_args"] == {"x": "1"}  # the kept header, unchanged
    arr = second["a"]
    assert isinstance(arr, np.memmap) and not arr.flags.writeable and arr.filename == path
    assert arr.offset == first["a"].offset and np.array_equal(arr, np.arange(1000.0))
    python(f"""
        import numpy as np
        from jlcache.store import EntryRef, LocalStore
        LocalStore({str(store.location)!r}).put(EntryRef("functions", "mod.f", {VERSION!r}, "k1"),
                                                {{"a": np.arange(1000.0) + 1}}, {{}})
    """)
    third, _ = store.get(ref(), mmap_mode="r")
    assert parsed == [1] and np.array_equal(third["a"], np.arange(1000.0) + 1)


def test_a_mapped_hit_on_a_truncated_file_is_noticed(store):
    np = pytest.importorskip("numpy")
    store.put(ref(), np.arange(1000.0), {})
    _old_enough()
    store.get(ref(), mmap_mode="r")
    os.truncate(store.path(ref()), 2000)
    with pytest.raises(CorruptEntryError):
        store.get(ref(), mmap_mode="r")
