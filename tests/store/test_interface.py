"""The ``Store`` contract (jlcache/store/base.py), checked against every implementation.

Each implementation registers a ``Harness`` in ``HARNESSES``: how to make an empty cache,
how to open a second handle on the same cache (another process would), and how to damage
an entry the way a crash or a foreign writer could. The tests themselves only use the
interface, so an object store (issue 16) adds one harness and runs all of them.
"""

from __future__ import annotations

import os
import pickle
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from jlcache import Memory
from jlcache.errors import CacheWarning, CorruptEntryError
from jlcache.store import EntryInfo, EntryRef, LocalStore, Store, open_store


@dataclass
class Harness:
    make: Callable[[], Store]  # a new, empty cache
    reopen: Callable[[Store], Store]  # another handle on the same cache
    damage: Callable[[Store, EntryRef], None]  # truncate/garble one entry in place


def _local(tmp_path: Path) -> Harness:
    counter = iter(range(1_000_000))

    def damage(store: Store, ref: EntryRef) -> None:
        path = store.local_path(ref)
        assert path is not None
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])  # truncated, as by a crash mid-copy

    return Harness(make=lambda: open_store(tmp_path / f"cache{next(counter)}"),
                   reopen=lambda store: open_store(store.url), damage=damage)


def _memory_url(tmp_path: Path) -> Harness:
    """An ``ObjectStore`` on fsspec's in-process ``memory://`` filesystem."""
    import uuid

    import fsspec

    def damage(store: Store, ref: EntryRef) -> None:
        fs = fsspec.filesystem("memory")
        path = store.describe(ref).split("://", 1)[1]
        data = fs.cat_file(path)
        fs.pipe_file(path, data[: len(data) // 2])  # truncated, as by a foreign writer

    return Harness(make=lambda: open_store(f"memory://jlcache-tests/{uuid.uuid4().hex}"),
                   reopen=lambda store: open_store(store.url), damage=damage)


def _tiered(tmp_path: Path) -> Harness:
    """A local tier in front of a ``memory://`` store; damage hits both copies."""
    import uuid

    import fsspec

    counter = iter(range(1_000_000))

    def damage(store: Store, ref: EntryRef) -> None:
        _local(tmp_path).damage(store, ref)
        fs = fsspec.filesystem("memory")
        path = store.describe(ref).split("://", 1)[1]
        fs.pipe_file(path, fs.cat_file(path)[:100])

    def make() -> Store:
        return open_store(f"memory://jlcache-tests/{uuid.uuid4().hex}",
                          local_tier=tmp_path / f"tier{next(counter)}")

    return Harness(make=make, reopen=lambda store: pickle.loads(pickle.dumps(store)),
                   damage=damage)


HARNESSES: dict[str, Callable[[Path], Harness]] = {"local": _local, "memory-url": _memory_url,
                                                   "tiered": _tiered}


@pytest.fixture(params=sorted(HARNESSES))
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    return HARNESSES[request.param](tmp_path)


@pytest.fixture
def store(harness: Harness) -> Store:
    return harness.make()


def ref(key: str = "k1", group: str = "mod.f", version: str = "v1",
        kind: str = "functions") -> EntryRef:
    return EntryRef(kind, group, version, key)


# ----------------------------------------------------------------------------- entries
def test_is_a_store_named_by_strings(store: Store) -> None:
    assert isinstance(store, Store)
    assert isinstance(store.url, str) and store.url
    assert isinstance(store.describe(), str)
    assert "k1" in store.describe(ref()) and "mod.f" in store.describe(("functions", "mod.f"))
    path = store.local_path(ref())
    assert path is None or isinstance(path, Path)


def test_put_then_get_returns_the_value_and_its_meta(store: Store) -> None:
    size = store.put(ref(), {"a": [1, 2.5]}, {"duration": 1.5, "func": "mod.f"})
    value, meta = store.get(ref())
    assert value == {"a": [1, 2.5]}
    assert meta["duration"] == 1.5 and meta["func"] == "mod.f"
    assert meta["disk"] == size > 0 and meta["size"] > 0  # put reports the bytes it takes
    assert isinstance(meta["created"], float)
    assert store.meta(ref())["duration"] == 1.5 and store.contains(ref())


def test_a_miss_is_a_key_error(store: Store) -> None:
    with pytest.raises(KeyError):
        store.get(ref("absent"))
    with pytest.raises(KeyError):
        store.meta(ref("absent"))
    assert not store.contains(ref("absent"))


def test_put_replaces_the_whole_entry(store: Store) -> None:
    store.put(ref(), "x" * 100_000, {"n": 1})
    store.put(ref(), "short", {"n": 2})
    value, meta = store.get(ref())
    assert (value, meta["n"]) == ("short", 2)


def test_a_damaged_entry_is_corrupt_not_a_wrong_value(harness: Harness, store: Store) -> None:
    store.put(ref(), list(range(10_000)), {})
    harness.damage(store, ref())
    with pytest.raises(CorruptEntryError):
        store.get(ref())
    listed = store.entries("functions")
    assert [i.ref.key for i in listed] == ["k1"] and "corrupt" in listed[0].meta
    assert store.delete(ref()) and not store.contains(ref())


def test_an_unpicklable_value_leaves_nothing(store: Store) -> None:
    with pytest.raises(Exception):  # noqa: B017 - which pickling error is the format's choice
        store.put(ref(), threading.Lock(), {})
    assert not store.contains(ref()) and store.entries("functions") == []


@pytest.mark.parametrize("bad", [ref(key="../x"), ref(version=""), ref(kind="other"),
                                 ref(key=".hidden")])
def test_a_ref_that_is_not_a_valid_name_is_a_value_error(store: Store, bad: EntryRef) -> None:
    with pytest.raises(ValueError):
        store.put(bad, 1, {})


def test_an_unknown_mmap_mode_is_a_value_error(store: Store) -> None:
    store.put(ref(), 1, {})
    with pytest.raises(ValueError, match="mmap_mode"):
        store.get(ref(), mmap_mode="rw")


def test_arrays_are_mapped_where_the_entry_is_a_local_file(store: Store) -> None:
    store.put(ref(), {"x": np.arange(1000.0)}, {})
    if store.local_path(ref()) is not None:
        value, _ = store.get(ref(), mmap_mode="r")
        assert isinstance(value["x"], np.memmap)
    else:  # ordinary arrays, and a warning (once per cache) that mapping needs a local tier
        with pytest.warns(CacheWarning, match="local_tier"):
            value, _ = store.get(ref(), mmap_mode="r")
        assert type(value["x"]) is np.ndarray
        assert store.get(ref(), mmap_mode="r")[0]["x"].sum() == value["x"].sum()
    assert np.array_equal(value["x"], np.arange(1000.0))


def test_readers_never_see_part_of_an_entry(harness: Harness, store: Store) -> None:
    """Two handles on one cache: one rewrites an entry between two values, one reads."""
    values = [np.full(200_000, 1.0), np.full(50_000, 2.0)]
    store.put(ref(), values[0], {})
    other = harness.reopen(store)
    stop = threading.Event()
    seen: list[float] = []

    def write() -> None:
        i = 0
        while not stop.is_set():
            other.put(ref(), values[i % 2], {})
            i += 1

    writer = threading.Thread(target=write)
    writer.start()
    try:
        for _ in range(150):
            got, _ = store.get(ref())
            assert got.size in (200_000, 50_000) and np.all(got == got[0])
            seen.append(float(got[0]))
    finally:
        stop.set()
        writer.join()
    assert set(seen) <= {1.0, 2.0}


def test_a_handle_pickles_to_the_same_cache(store: Store) -> None:
    store.put(ref(), "v", {})
    clone = pickle.loads(pickle.dumps(store))
    assert isinstance(clone, Store) and clone.url == store.url and clone.get(ref())[0] == "v"


# ----------------------------------------------------------------------------- versions
def test_a_version_is_described_once_and_lazily(harness: Harness, store: Store) -> None:
    calls = []

    def describe() -> dict:
        calls.append(1)
        return {"module": "mod", "qualname": "f"}

    store.write_info("functions", "mod.f", "v1", describe)
    store.write_info("functions", "mod.f", "v1", describe)
    harness.reopen(store).write_info("functions", "mod.f", "v1", describe)
    assert len(calls) == 1
    info = store.read_info("functions", "mod.f", "v1")
    assert info["qualname"] == "f" and info["name"] == "mod.f"
    assert store.read_info("functions", "mod.f", "v2") == {}


# ----------------------------------------------------------------------------- listing
def test_listing_groups_versions_entries_and_size(store: Store) -> None:
    store.put(ref("a"), 1, {"input_args": {"x": "1"}, "duration": 0.5})
    store.put(ref("b", version="v2"), 2, {})
    store.put(ref("c", group="mod.g"), 3, {})
    store.put(ref("d", group="cell-1", kind="cells"), 4, {})
    assert store.groups("functions") == ["mod.f", "mod.g"] and store.groups("cells") == ["cell-1"]
    assert store.versions("functions", "mod.f") == ["v1", "v2"]
    assert store.versions("functions", "nothing") == []
    infos = store.entries("functions", "mod.f")
    assert sorted(i.ref.key for i in infos) == ["a", "b"]
    a = next(i for i in infos if i.ref.key == "a")
    assert isinstance(a, EntryInfo) and a.args == "x=1" and a.duration == 0.5
    assert a.size > 0 and a.disk > 0 and a.created > 0 and a.last_access > 0
    assert [i.ref.key for i in store.entries("functions", "mod.f", "v2")] == ["b"]
    every = store.entries("functions") + store.entries("cells")
    assert store.size() == sum(i.disk for i in every)


def test_deleting_at_each_level(store: Store) -> None:
    for key, version, group in [("a", "v1", "mod.f"), ("b", "v2", "mod.f"), ("c", "v1", "mod.g")]:
        store.put(ref(key, group, version), key, {})
    assert store.delete(ref("a")) and not store.delete(ref("a"))
    assert [i.ref.key for i in store.entries("functions", "mod.f")] == ["b"]
    assert store.delete_version("functions", "mod.f", "v2")
    assert not store.delete_version("functions", "mod.f", "v2")
    assert "v2" not in store.versions("functions", "mod.f")
    assert store.entries("functions", "mod.f") == []
    assert store.delete_group("functions", "mod.g") and not store.delete_group("functions", "mod.g")
    store.put(ref("z"), 1, {})
    store.clear()
    assert store.size() == 0 and store.groups("functions") == []
    store.put(ref("again"), 5, {})  # a cleared cache stays usable
    assert store.get(ref("again"))[0] == 5


# ----------------------------------------------------------------------------- eviction
def test_eviction_is_least_recently_used_first(store: Store) -> None:
    for key in ("a", "b", "c"):
        store.put(ref(key), key, {})
        time.sleep(0.02)
    store.get(ref("a"))  # recorded as an access: a is now the most recent
    store.flush()
    evicted = store.reduce_size(items_limit=2)
    assert evicted == [ref("b")]
    assert sorted(i.ref.key for i in store.entries("functions")) == ["a", "c"]


def test_reduce_size_to_bytes_and_age(store: Store) -> None:
    for key in ("a", "b"):
        store.put(ref(key), key * 1000, {})
    assert store.reduce_size(bytes_limit="1G") == []
    assert sorted(r.key for r in store.reduce_size(age_limit=0)) == ["a", "b"]
    assert store.size() == 0
    with pytest.raises(ValueError, match="Size limit"):
        store.reduce_size(bytes_limit="lots")


def test_bytes_limit_is_kept_after_each_put(harness: Harness, tmp_path: Path) -> None:
    store = harness.make()
    store.bytes_limit = 64 * 1024
    for i in range(40):
        store.put(ref(f"k{i}"), os.urandom(8 * 1024), {})
    assert store.size() <= 64 * 1024
    assert store.contains(ref("k39"))  # the newest stays


def test_sweeping_is_safe_to_call(store: Store) -> None:
    store.put(ref(), 1, {})
    assert store.sweep_temporaries() >= 0 and store.get(ref())[0] == 1


# ----------------------------------------------------------------------------- open_store
def test_open_store_gives_a_local_store_for_paths(tmp_path: Path) -> None:
    for location in (tmp_path / "a", str(tmp_path / "b"), f"file://{tmp_path / 'c'}"):
        store = open_store(location)
        assert isinstance(store, LocalStore) and isinstance(store, Store)
        assert Path(store.url).is_dir() and Path(store.url).parent == tmp_path


@pytest.mark.parametrize("url", ["gs://bucket/cache", "az://container/dir"])
def test_urls_whose_fsspec_package_is_missing_name_the_extra(url: str, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    extra = {"gs": "gcs", "az": "azure"}[url[:2]]
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ImportError, match=rf'pip install "jlcache\[{extra}\]"') as info:
        open_store(url)
    assert url in str(info.value)
    with pytest.raises(ImportError, match=extra):
        Memory(url)
    assert list(tmp_path.iterdir()) == []  # no "gs:" folder made next to the notebook


def test_open_store_gives_an_object_store_for_urls(tmp_path: Path) -> None:
    store = open_store("memory://jlcache-tests/open")
    assert isinstance(store, Store) and store.local_path(ref()) is None
    assert store.url.startswith("memory://") and "jlcache-tests/open" in store.url
    tiered = open_store("memory://jlcache-tests/open", local_tier=tmp_path / "tier")
    assert tiered.url == store.url and tiered.local_path(ref()) is not None


def test_open_store_names_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="location"):
        open_store(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="storage_options"):
        open_store(tmp_path, storage_options={})
    with pytest.raises(TypeError, match="local_tier"):
        open_store(tmp_path, local_tier=tmp_path / "tier")
    with pytest.raises(TypeError, match="storage_options"):
        open_store("memory://x/y", storage_options=["key"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="local_tier"):
        open_store("memory://x/y", local_tier="s3://other/tier")
    with pytest.raises(ValueError, match="absolute path"):
        open_store("file://relative/dir")


def test_memory_uses_the_store_through_the_interface(tmp_path: Path) -> None:
    memory = Memory(tmp_path / "cache")
    assert isinstance(memory.store, Store) and memory.store.url == str(tmp_path / "cache")
    assert Memory(None).store is None


def test_callers_use_only_the_interface() -> None:
    """memory/, ipython/ and widget/ name no store class and reach into no store's privates."""
    root = Path(__file__).resolve().parents[2] / "jlcache"
    banned = ("LocalStore", "jlcache.store.local", "store._", "_known_infos", "_infos_written")
    offenders = []
    for package in ("memory", "ipython", "widget", "cells"):
        for path in (root / package).rglob("*.py"):
            text = path.read_text()
            offenders += [f"{path.name}: {word}" for word in banned if word in text]
    assert offenders == []
