"""The cache directory: layout, permissions, safety, access times, eviction, temporaries, concurrency."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from jlcache import _fs
from jlcache.errors import CacheFormatError, CorruptEntryError, UnsafeCacheDirError
from jlcache.serialize.format import dump
from jlcache.store import EntryRef, LocalStore, group_name, parse_size

REPO = Path(__file__).resolve().parents[2]
VERSION = "0123456789abcdef"


def ref(key: str = "k1", group: str = "mod.f", version: str = VERSION,
        kind: str = "functions") -> EntryRef:
    return EntryRef(kind, group, version, key)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture
def store(cache_dir: Path) -> LocalStore:
    return LocalStore(cache_dir)


# ----------------------------------------------------------------------------- layout
def test_layout_and_permissions(cache_dir: Path) -> None:
    old = os.umask(0o022)
    try:
        store = LocalStore(cache_dir)
        store.write_info("functions", "mod.f", VERSION, {"module": "mod", "qualname": "f"})
        store.put(ref(), {"a": 1}, {"duration": 0.5, "args": "(1,)"})
    finally:
        os.umask(old)
    assert (cache_dir / "FORMAT").read_text().strip() == "1"
    assert (cache_dir / ".gitignore").read_text().strip() == "*"
    entry = cache_dir / "functions" / "mod.f" / VERSION / "k1.jlc"
    assert store.path(ref()) == entry
    assert sorted(p.name for p in entry.parent.iterdir()) == ["_info.json", "k1.jlc"]
    for d in (cache_dir, cache_dir / "functions", entry.parent.parent, entry.parent):
        assert mode(d) == 0o700, d
    for f in (entry, entry.parent / "_info.json", cache_dir / "FORMAT"):
        assert mode(f) == 0o600, f


def test_put_get_meta_contains(store: LocalStore) -> None:
    assert not store.contains(ref())
    with pytest.raises(KeyError):
        store.get(ref())
    with pytest.raises(KeyError):
        store.meta(ref())
    size = store.put(ref(), [np.arange(3), "x"], {"duration": 2.0, "args": "(3,)"})
    st = store.path(ref()).stat()
    assert size == st.st_blocks * 512 == store.entries("functions")[0].disk  # bytes on disk
    assert store.contains(ref())
    value, meta = store.get(ref(), mmap_mode="r")
    assert isinstance(value[0], np.memmap) and value[1] == "x"
    assert meta["duration"] == 2.0 and meta["args"] == "(3,)"
    assert (meta["size"], meta["disk"]) == (st.st_size, size)  # from the reader's fstat: free
    assert abs(meta["created"] - time.time()) < 60
    assert store.meta(ref()) == meta


def test_tiny_entry_is_one_inode(store: LocalStore) -> None:
    store.write_info("functions", "mod.f", VERSION, {"module": "mod"})
    for i in range(20):
        store.put(ref(f"k{i}"), i, {"duration": 0.001, "args": f"({i},)"})
    files = list(store.path(ref()).parent.iterdir())
    assert len(files) == 21  # 20 entries + the version's shared _info.json
    assert all(f.stat().st_blocks * 512 <= 4096 for f in files)


def test_contains_has_no_side_effects(store: LocalStore) -> None:
    assert not store.contains(ref(group="never.seen"))
    assert not (store.location / "functions").exists()


def test_invalid_refs_are_refused(store: LocalStore) -> None:
    for bad in (ref(key="../x"), ref(key="a/b"), ref(key=".hidden"), ref(key=""),
                ref(version=".."), ref(kind="other")):
        with pytest.raises(ValueError):
            store.path(bad)


def test_group_names_are_safe_unique_and_stable() -> None:
    assert group_name("pkg.mod.func") == "pkg.mod.func"
    odd = group_name("__main__.outer.<locals>.g")
    assert odd.startswith("__main__.outer._locals_.g-") and group_name(odd) == odd
    assert group_name("a<b") != group_name("a_b") == "a_b"
    for name in ("../../etc", "a/b\0c", ".", "", "x" * 400, "ünïcode.f"):
        safe = group_name(name)
        assert safe and not safe.startswith(".") and "/" not in safe and len(safe) <= 160
        assert group_name(safe) == safe
    assert group_name("x" * 400) != group_name("x" * 399)


def test_info_is_written_once_and_keeps_the_original_name(store: LocalStore) -> None:
    name = "__main__.<lambda>"
    store.write_info("functions", name, VERSION, {"first_line": "lambda x: x"})
    store.write_info("functions", name, VERSION, {"first_line": "changed"})
    info = store.read_info("functions", name, VERSION)
    assert info["name"] == name and info["first_line"] == "lambda x: x"
    assert store.groups("functions") == [group_name(name)]
    assert store.read_info("functions", "missing", VERSION) == {}


def test_listing(store: LocalStore) -> None:
    store.put(ref("a"), 1, {"duration": 1.5, "args": "(1,)"})
    store.put(ref("b", version="fedcba9876543210"), 2, {})
    store.put(ref("c", group="cellslot", kind="cells"), 3, {})
    store.path(ref("bad")).write_bytes(b"garbage")
    assert store.groups("functions") == ["mod.f"]
    assert store.versions("functions", "mod.f") == [VERSION, "fedcba9876543210"]
    infos = {i.ref.key: i for i in store.entries("functions")}
    assert set(infos) == {"a", "b", "bad"}
    a = infos["a"]
    assert (a.duration, a.args, a.size) == (1.5, "(1,)", store.path(ref("a")).stat().st_size)
    assert a.disk >= a.size and a.created <= a.last_access + 1
    assert "corrupt" in infos["bad"].meta
    assert [i.ref.key for i in store.entries("functions", "mod.f", VERSION)] == ["a", "bad"]
    assert [i.ref.key for i in store.entries("cells")] == ["c"]
    assert store.size() == sum(i.disk for i in store.entries("functions")) + store.entries("cells")[0].disk


def test_listing_summarizes_the_recorded_input_args(store: LocalStore) -> None:
    store.put(ref("a"), 1, {"input_args": {"x": "3", "name": "'abc'"}})
    store.put(ref("b"), 2, {"input_args": {"data": "x" * 500}})
    store.put(ref("c"), 3, {"input_args": "not a dict"})
    infos = {i.ref.key: i for i in store.entries("functions")}
    assert infos["a"].args == "x=3, name='abc'"
    assert infos["b"].args.startswith("data=xxx") and len(infos["b"].args) == 200
    assert infos["c"].args == ""


# ----------------------------------------------------------------------------- deleting
def test_delete_levels_and_concurrent_deletion(store: LocalStore) -> None:
    for key in ("a", "b"):
        store.put(ref(key), key, {})
    store.put(ref("c", group="other.g"), 1, {})
    assert store.delete(ref("a")) and not store.delete(ref("a"))
    assert not store.contains(ref("a")) and store.contains(ref("b"))
    assert store.delete_version("functions", "mod.f", VERSION)
    assert not store.delete_version("functions", "mod.f", VERSION)
    assert store.groups("functions") == ["other.g"]  # the emptied group went too
    assert store.delete_group("functions", "other.g") and not store.delete_group("functions", "other.g")
    store.put(ref("d"), 1, {})
    store.clear()
    store.clear()
    assert store.entries("functions") == []
    assert sorted(p.name for p in store.location.iterdir()) == [".gitignore", "FORMAT"]


def test_reader_racing_a_deletion_sees_a_miss(store: LocalStore) -> None:
    other = LocalStore(store.location)
    store.put(ref(), 1, {})
    assert store.get(ref())[0] == 1
    other.delete_version("functions", "mod.f", VERSION)  # the directory vanishes under `store`
    with pytest.raises(KeyError):
        store.get(ref())
    store.put(ref(), 2, {})  # and writing there again recreates it
    assert other.get(ref())[0] == 2


def test_put_recreates_a_version_removed_meanwhile_with_its_info(store: LocalStore) -> None:
    store.write_info("functions", "mod.f", VERSION, {"module": "mod"})
    store.put(ref("a"), 1, {})
    LocalStore(store.location).clear()
    store.put(ref("b"), 2, {})
    assert store.get(ref("b"))[0] == 2
    assert store.read_info("functions", "mod.f", VERSION)["module"] == "mod"


def test_directory_in_place_of_an_entry_is_corrupt(store: LocalStore) -> None:
    store.put(ref("other"), 1, {})
    store.path(ref()).mkdir()
    with pytest.raises(CorruptEntryError, match="not a regular file"):
        store.get(ref())
    assert not store.contains(ref())


def test_store_pickles_as_its_location(store: LocalStore) -> None:
    import pickle

    store.put(ref(), "v", {})
    clone = pickle.loads(pickle.dumps(store))
    assert clone.location == store.location and clone.get(ref())[0] == "v"


def test_unknown_entry_version_is_corrupt(store: LocalStore) -> None:
    store.put(ref(), 1, {})
    path = store.path(ref())
    data = path.read_bytes()
    path.write_bytes(data.replace(b'"format":1', b'"format":7', 1))
    with pytest.raises(CorruptEntryError, match="format version 7"):
        store.get(ref())


# ----------------------------------------------------------------------------- security
def test_unsafe_location_is_refused(tmp_path: Path) -> None:
    for bits in (0o777, 0o775, 0o757):
        loc = tmp_path / f"open{bits:o}"
        loc.mkdir()
        os.chmod(loc, bits)
        with pytest.raises(UnsafeCacheDirError, match=rf"chmod 700 {loc}"):
            LocalStore(loc)
        assert list(loc.iterdir()) == []


def test_ordinary_own_directory_is_fine_and_left_alone(tmp_path: Path) -> None:
    loc = tmp_path / "mine"
    loc.mkdir()
    os.chmod(loc, 0o755)
    LocalStore(loc).put(ref(), 1, {})
    assert mode(loc) == 0o755
    assert mode(loc / "functions") == 0o700


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_location_owned_by_someone_else_is_refused(tmp_path: Path) -> None:
    loc = tmp_path / "theirs"
    loc.mkdir(mode=0o700)
    os.chown(loc, 12345, 12345)
    with pytest.raises(UnsafeCacheDirError, match=r"belongs to .*12345.*not to you"):
        LocalStore(loc)
    assert list(loc.iterdir()) == []


def test_newer_format_is_refused_and_untouched(cache_dir: Path) -> None:
    cache_dir.mkdir(mode=0o700)
    (cache_dir / "FORMAT").write_text("2\n")
    with pytest.raises(CacheFormatError, match=r"format 2\).*Upgrade jlcache.*another location"):
        LocalStore(cache_dir)
    assert [p.name for p in cache_dir.iterdir()] == ["FORMAT"]
    assert (cache_dir / "FORMAT").read_text() == "2\n"
    (cache_dir / "FORMAT").write_text("not a number")
    with pytest.raises(CacheFormatError, match="not a jlcache format number"):
        LocalStore(cache_dir)


def _outside_value(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    outside.mkdir()
    dump("planted", outside / "k1.jlc")
    return outside


def test_symlinked_entry_is_not_followed(store: LocalStore, tmp_path: Path) -> None:
    outside = _outside_value(tmp_path)
    store.put(ref("other"), 1, {})
    os.symlink(outside / "k1.jlc", store.path(ref()))
    assert not store.contains(ref())
    with pytest.raises(KeyError, match="symbolic link"):
        store.get(ref())
    with pytest.raises(KeyError):
        store.meta(ref())
    assert store.delete(ref())  # removes the link itself
    assert (outside / "k1.jlc").exists()


def test_symlinked_directory_is_not_followed(store: LocalStore, tmp_path: Path) -> None:
    outside = _outside_value(tmp_path)
    group_dir = store.location / "functions" / "mod.f"
    group_dir.mkdir(parents=True)
    os.symlink(outside, group_dir / VERSION)
    assert not store.contains(ref())
    with pytest.raises(KeyError):
        store.get(ref())
    assert not store.delete(ref())
    assert store.entries("functions") == [] and store.versions("functions", "mod.f") == []
    store.reduce_size(items_limit=0)
    store.delete_version("functions", "mod.f", VERSION)
    store.clear()
    assert (outside / "k1.jlc").exists()


def test_put_refuses_to_write_through_a_symlinked_directory(store: LocalStore, tmp_path: Path) -> None:
    outside = _outside_value(tmp_path)
    (store.location / "functions").mkdir()
    os.symlink(outside, store.location / "functions" / "mod.f")
    with pytest.raises(UnsafeCacheDirError, match="symbolic link"):
        store.put(ref(), 1, {})
    assert sorted(p.name for p in outside.iterdir()) == ["k1.jlc"]


# ----------------------------------------------------------------------------- access times
def test_hits_do_not_write_until_flushed(store: LocalStore) -> None:
    store.put(ref(), 1, {})
    path = store.path(ref())
    past = time.time() - 3600
    os.utime(path, (past, past))
    store.get(ref())
    assert path.stat().st_atime == pytest.approx(past)  # no write on the hit
    assert store.entries("functions")[0].last_access > past + 3000  # but listings know
    store.flush()
    st = path.stat()
    assert st.st_atime > past + 3000 and st.st_mtime == pytest.approx(past)


def test_flush_happens_at_most_every_interval(store: LocalStore, monkeypatch) -> None:
    store.put(ref(), 1, {})
    path = store.path(ref())
    past = time.time() - 3600
    os.utime(path, (past, past))
    monkeypatch.setattr(store, "flush_interval", 0.0)
    store.touch(ref())
    assert path.stat().st_atime > past + 3000


def _aged(store: LocalStore, keys: list[str]) -> None:
    """Entries whose last access is spread over the past days, oldest first."""
    for i, key in enumerate(keys):
        store.put(ref(key), np.zeros(100), {})
        when = time.time() - 86400 * (len(keys) - i)
        os.utime(store.path(ref(key)), (when, when))


def test_lru_eviction_order(store: LocalStore) -> None:
    _aged(store, ["a", "b", "c", "d", "e"])
    store.touch(ref("a"))  # used just now: the most recent
    assert [r.key for r in store.reduce_size(items_limit=3)] == ["b", "c"]
    assert sorted(i.ref.key for i in store.entries("functions")) == ["a", "d", "e"]
    one = store.entries("functions")[0].disk
    assert [r.key for r in store.reduce_size(bytes_limit=one)] == ["d", "e"]
    assert [i.ref.key for i in store.entries("functions")] == ["a"]


def test_age_limit_and_empty_directories(store: LocalStore) -> None:
    _aged(store, ["a", "b", "c"])
    store.put(ref("x", group="fresh.g"), 1, {})
    store.write_info("functions", "old.g", VERSION, {})
    store.write_info("functions", "computing.g", VERSION, {})  # first result not stored yet
    past = time.time() - 7200
    os.utime(store.location / "functions" / "old.g" / VERSION / "_info.json", (past, past))
    evicted = store.reduce_size(age_limit=timedelta(hours=36))
    assert sorted(r.key for r in evicted) == ["a", "b"]
    store.reduce_size(age_limit=3600)
    # emptied versions and old info-only ones are removed; a fresh info-only one is in use
    assert store.groups("functions") == ["computing.g", "fresh.g"]


def test_bytes_limit_is_enforced_after_each_put(cache_dir: Path) -> None:
    store = LocalStore(cache_dir, bytes_limit="64K")
    for i in range(40):
        store.put(ref(f"k{i:02d}"), np.full(1500, i, dtype=np.float64), {})
        assert store.size() <= 64 * 1024
        assert store.contains(ref(f"k{i:02d}"))  # the newest entry survives
    remaining = sorted(i.ref.key for i in store.entries("functions"))
    assert remaining == [f"k{i:02d}" for i in range(40 - len(remaining), 40)]


def test_parse_size() -> None:
    assert parse_size("1G") == 1 << 30
    assert parse_size("10M") == 10 << 20
    assert parse_size("100K") == 100 << 10
    assert parse_size("1.5kb") == 1536
    assert parse_size(12) == 12 and parse_size(None) is None
    for bad in ("lots", "1X", -1, "-3K"):
        with pytest.raises(ValueError):
            parse_size(bad)


# ----------------------------------------------------------------------------- temporaries
def _temp_for(path: Path, pid: int, age: float = 0.0) -> Path:
    tmp = Path(_fs.temp_name(str(path)).rsplit("-", 1)[0] + f"-{pid}.tmp")
    tmp.write_bytes(b"partial")
    if age:
        when = time.time() - age
        os.utime(tmp, (when, when))
    return tmp


def test_sweep_removes_only_temporaries_of_dead_writers(store: LocalStore) -> None:
    store.put(ref(), 1, {})
    entry = store.path(ref())
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        time.sleep(0.05)
        dead_tmp = _temp_for(entry, dead.pid)
        live_tmp = _temp_for(entry, live.pid)
        own_tmp = _temp_for(entry, os.getpid())
        reused_tmp = _temp_for(entry, live.pid, age=600)  # written before that process started
        abandoned = _temp_for(entry, os.getpid(), age=2 * 3600)
        assert store.sweep_temporaries() == 3
        assert not dead_tmp.exists() and not reused_tmp.exists() and not abandoned.exists()
        assert live_tmp.exists() and own_tmp.exists() and entry.exists()
    finally:
        live.kill()
        live.wait()


def test_put_sweeps_its_directory(store: LocalStore) -> None:
    store.put(ref("a"), 1, {})
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    tmp = _temp_for(store.path(ref("a")), dead.pid)
    LocalStore(store.location).put(ref("b"), 2, {})  # a fresh process-like store sweeps at once
    assert not tmp.exists()


# ----------------------------------------------------------------------------- processes
WRITER = """
import os, sys, time
import numpy as np
from jlcache.store import EntryRef, LocalStore
store = LocalStore(sys.argv[1])
ref = EntryRef("functions", "mod.f", "0123456789abcdef", "same")
me, rounds, signals = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
open(os.path.join(signals, f"ready-{me}"), "w").close()
while not os.path.exists(os.path.join(signals, "go")):  # all writers start together
    time.sleep(0.005)
for n in range(rounds):
    store.put(ref, {"writer": me, "n": n, "data": np.full(20_000 + 1000 * me, me)}, {"w": me})
"""


def _start_together(procs: list, signals: Path) -> None:
    deadline = time.time() + 60
    while len(list(signals.glob("ready-*"))) < len(procs) and time.time() < deadline:
        assert all(p.poll() is None for p in procs), "a writer died while starting"
        time.sleep(0.01)
    (signals / "go").touch()


def test_concurrent_writers_and_a_reader(cache_dir: Path, tmp_path: Path) -> None:
    store = LocalStore(cache_dir)
    signals = tmp_path / "signals"
    signals.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    writers = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(WRITER), str(cache_dir),
                                 str(i), "150", str(signals)], env=env) for i in range(4)]
    _start_together(writers, signals)
    reads = 0
    target = ref("same")
    deadline = time.time() + 60
    while any(w.poll() is None for w in writers) and time.time() < deadline:
        for mode_ in (None, "r"):
            try:
                value, meta = store.get(target, mmap_mode=mode_)
            except KeyError:  # before the first rename
                continue
            me = value["writer"]
            assert meta["w"] == me and value["data"].shape == (20_000 + 1000 * me,)
            assert (value["data"] == me).all()
            reads += 1
    assert [w.wait(timeout=30) for w in writers] == [0, 0, 0, 0]
    assert reads > 0
    assert [p for p in cache_dir.rglob("*") if p.name.endswith(".tmp")] == []
    assert [i.ref.key for i in store.entries("functions")] == ["same"]


EVICTING_WORKER = """
import sys, time
import numpy as np
from jlcache.store import EntryRef, LocalStore
store = LocalStore(sys.argv[1], bytes_limit="48K")
me = int(sys.argv[2])
deadline = time.time() + float(sys.argv[3])
done = 0
while time.time() < deadline:
    i = done % 23
    ref = EntryRef("functions", "mod.g" if i % 2 else "mod.h", "0123456789abcdef", f"k{i}")
    try:
        value, meta = store.get(ref, mmap_mode="r" if done % 3 else None)
        assert int(value[0]) == i and meta["i"] == i, (value[0], i)
    except KeyError:
        store.put(ref, np.full(1000, i), {"i": i})
    if done % 50 == 0:
        store.reduce_size(items_limit=5)
    done += 1
print(done)
"""


def test_concurrent_eviction_never_breaks_readers_or_writers(cache_dir: Path) -> None:
    LocalStore(cache_dir)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(EVICTING_WORKER),
                               str(cache_dir), str(i), "2.0"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(3)]
    results = [p.communicate(timeout=60) for p in procs]
    for proc, (out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
        assert int(out) > 20
    assert [p for p in cache_dir.rglob("*.tmp")] == []


@pytest.mark.filterwarnings("ignore:Compressed values cannot be memory-mapped")
def test_golden_fixture_of_format_1(tmp_path: Path) -> None:
    """Entries written by format 1 stay readable: a format change must come with a new fixture."""
    sys.path.insert(0, str(REPO / "tests" / "fixtures"))
    try:
        import make_format_1 as golden
    finally:
        sys.path.pop(0)
    copy = tmp_path / "cache"
    shutil.copytree(REPO / "tests" / "fixtures" / "format-1" / "cache", copy)
    for p in [copy, *copy.rglob("*")]:
        os.chmod(p, 0o700 if p.is_dir() else 0o600)
    store = LocalStore(copy)
    expected = golden.expected_entries()
    found = {(i.ref.kind, i.ref.group, i.ref.version, i.ref.key) for i in store.entries("functions")}
    found |= {(i.ref.kind, i.ref.group, i.ref.version, i.ref.key) for i in store.entries("cells")}
    assert found == {tuple(r) for r, _, _ in expected}
    for r, value, meta in expected:
        for mmap_mode in (None, "r"):
            got, got_meta = store.get(EntryRef(*r), mmap_mode=mmap_mode)
            golden.assert_same(value, got)
            st = store.path(EntryRef(*r)).stat()
            assert got_meta.pop("size") == st.st_size
            assert got_meta.pop("disk") == st.st_blocks * 512
            assert got_meta == meta
    info = json.loads((copy / "functions" / golden.GROUP / golden.VERSION / "_info.json").read_text())
    assert info["name"] == golden.NAME
    golden.assert_same(golden.standalone_value(),
                       __import__("jlcache").load(REPO / "tests" / "fixtures" / "format-1" / "value.jlc"))


def test_verify_checks_checksums_without_unpickling(tmp_path, monkeypatch):
    """``Store.verify`` never runs a value's pickle: a value whose class cannot be imported
    here (a command line does not have the notebook's modules) is whole, not damaged."""
    import importlib

    from jlcache.errors import CorruptEntryError
    from jlcache.store import EntryRef, open_store

    (tmp_path / "ghostmod_cli.py").write_text("class Ghost:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    ghost = importlib.import_module("ghostmod_cli").Ghost()
    store = open_store(tmp_path / "c")
    ref = EntryRef("functions", "m.f", "a" * 16, "k" * 8)
    store.put(ref, ghost, {})
    monkeypatch.delitem(sys.modules, "ghostmod_cli")
    (tmp_path / "ghostmod_cli.py").unlink()
    store.verify(ref)  # whole: no exception
    with pytest.raises(CorruptEntryError, match="cannot be unpickled"):
        store.get(ref)  # loading it fails: so verify did not unpickle
    path = store.local_path(ref)
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(data)
    with pytest.raises(CorruptEntryError, match="checksum"):
        store.verify(ref)
