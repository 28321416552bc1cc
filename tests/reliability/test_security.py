"""A cache directory no one else can poison, and deletions that never leave it.

Loading an entry unpickles it, so whoever can write the cache can run code in the reader:
the cache is created private, a directory others could write is refused, and nothing
inside it that points elsewhere (a symbolic link) is read, written through or deleted
through. ``%jlcache clear`` targets are fuzzed in ``tests/ipython/test_fuzz.py``.
"""

from __future__ import annotations

import os
import shutil
import stat
import warnings
from pathlib import Path

import pytest

from jlcache import Memory
from jlcache.errors import CacheWarning, NotCachedWarning, UnsafeCacheDirError, UnsafeCacheWarning
from jlcache.serialize.format import dump

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")


def echo(x, calls):
    calls.append(x)
    return {"x": x}


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_everything_created_is_private_even_with_a_permissive_umask(tmp_path):
    old = os.umask(0)
    try:
        memory = Memory(tmp_path / "cache")
        f = memory.cache(echo, ignore=["calls"])
        f(1, [])
        f.call_and_shelve(2, [])
    finally:
        os.umask(old)
    root = tmp_path / "cache"
    paths = [root, *root.rglob("*")]
    assert {p.name for p in paths} >= {"FORMAT", ".gitignore", "_info.json", "functions"}
    for path in paths:
        assert _mode(path) == (0o700 if path.is_dir() else 0o600), (path, oct(_mode(path)))


@needs_root
def test_a_directory_owned_by_another_user_is_refused_with_the_fix(tmp_path):
    location = tmp_path / "theirs"
    location.mkdir(mode=0o700)
    os.chown(location, 12345, 12345)
    with pytest.raises(UnsafeCacheDirError) as info:
        Memory(location)
    message = str(info.value)
    assert str(location) in message and "12345" in message
    assert "chown" in message and "Choose a location you own" in message
    assert list(location.iterdir()) == []  # nothing was written into it


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o1777, 0o720])
def test_a_directory_others_can_write_is_refused_with_the_fix(tmp_path, mode):
    location = tmp_path / "shared"
    location.mkdir()
    location.chmod(mode)
    with pytest.raises(UnsafeCacheDirError) as info:
        Memory(location)
    message = str(info.value)
    assert str(location) in message and f"{mode & 0o7777:04o}" in message
    assert "chmod" in message and "another location" in message
    assert list(location.iterdir()) == [] and _mode(location) == mode


def test_an_ordinary_0755_directory_of_ones_own_is_used_and_left_alone(tmp_path):
    location = tmp_path / "mine"
    location.mkdir()
    location.chmod(0o755)
    f = Memory(location).cache(echo, ignore=["calls"])
    calls: list = []
    assert f(1, calls) == f(1, calls) == {"x": 1} and calls == [1]
    assert _mode(location) == 0o755


def test_a_symlinked_entry_pointing_outside_is_neither_read_nor_written_through(cache_dir,
                                                                                tmp_path):
    f = Memory(cache_dir).cache(echo, ignore=["calls"])
    calls: list = []
    f(1, calls)
    entry = f.cache_key(1, calls).path
    planted = tmp_path / "planted.jlc"  # a valid entry, written by someone else
    dump({"x": "attacker's value"}, planted)
    original = planted.read_bytes()
    entry.unlink()
    entry.symlink_to(planted)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert f(1, calls) == {"x": 1}  # a miss: the link is not followed
    assert calls == [1, 1]
    assert not entry.is_symlink() and f(1, calls) == {"x": 1} and calls == [1, 1]
    assert planted.read_bytes() == original  # the store replaced the link, not its target


@pytest.mark.parametrize("link", ["functions", "group", "version", "entry"])
@pytest.mark.parametrize("how", ["memory.clear", "function.clear", "reduce_size", "evict"])
def test_clear_and_eviction_never_delete_outside_the_cache(cache_dir, tmp_path, link, how):
    outside = tmp_path / "outside"
    (outside / "v").mkdir(parents=True)
    victims = [outside / "keep.jlc", outside / "v" / "keep.jlc", outside / "_info.json"]
    for path in victims:
        dump("precious", path)
    memory = Memory(cache_dir)
    f = memory.cache(echo, ignore=["calls"])
    f(1, [])
    entry = f.cache_key(1, []).path
    version_dir, group_dir = entry.parent, entry.parent.parent
    if link == "functions":
        os.symlink(outside, cache_dir / "cells")  # the other kind, not created yet
    elif link == "group":
        os.symlink(outside, group_dir.parent / "evil.group")
    elif link == "version":
        os.symlink(outside, group_dir / "0123456789abcdef")
    else:
        os.symlink(outside / "keep.jlc", version_dir / "linked.jlc")
    if how == "memory.clear":
        memory.clear()
    elif how == "function.clear":
        f.clear()
    elif how == "reduce_size":
        memory.reduce_size(items_limit=0)
    else:
        Memory(cache_dir, bytes_limit=1).cache(echo, ignore=["calls"])(2, [])
    for path in victims:
        assert path.exists(), f"{how} deleted {path} outside the cache through a link"
    assert os.path.lexists(outside)


# ----------------------------------------------------------------------------- every folder and file on the way
class Planted:
    """What an attacker would store: unpickling it runs ``os.mkdir(marker)``."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (self.marker,)


def _plant(entry: Path, marker: Path) -> None:
    """Replace ``entry`` by a valid jlcache file whose unpickling runs code."""
    planted = entry.with_name("planted.tmp")
    dump(Planted(str(marker)), planted)
    os.replace(planted, entry)
    entry.chmod(0o600)


def _calls_with_only_unsafe_warnings_recorded(g, *args):
    """Call ``g``; record our UnsafeCacheWarnings (the failed store's NotCachedWarning aside)."""
    with pytest.warns(UnsafeCacheWarning) as record, warnings.catch_warnings():
        warnings.simplefilter("ignore", category=Warning)
        warnings.simplefilter("always", UnsafeCacheWarning)
        value = g(*args)
    return value, [str(w.message) for w in record if issubclass(w.category, UnsafeCacheWarning)]


@pytest.mark.parametrize("folder", ["functions", "group", "version"])
def test_a_planted_pickle_in_a_world_writable_subfolder_is_never_run(cache_dir, tmp_path, folder):
    memory = Memory(cache_dir)
    f = memory.cache(echo, ignore=["calls"])
    calls: list = []
    f(1, calls)
    assert f(1, calls) == {"x": 1}  # a hit: the folders are trusted now
    entry = f.cache_key(1, calls).path
    unsafe = {"functions": cache_dir / "functions", "group": entry.parent.parent,
              "version": entry.parent}[folder]
    unsafe.chmod(0o777)  # a `chmod -R` or a copied tree
    marker = tmp_path / "attack-ran"
    _plant(entry, marker)
    memory.store.vet_interval = 0.0  # a long-lived Memory re-checks its folders after this long
    value, messages = _calls_with_only_unsafe_warnings_recorded(f, 1, calls)  # long-lived
    assert value == {"x": 1}
    assert not marker.exists(), "the planted pickle was unpickled"
    assert str(unsafe) in messages[0] and f"chmod go-w {unsafe}" in messages[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CacheWarning)  # the folder was reported once already
        assert Memory(cache_dir).cache(echo, ignore=["calls"])(1, calls) == {"x": 1}  # new
    assert not marker.exists() and calls == [1, 1, 1]
    assert _mode(unsafe) == 0o777  # jlcache never changes the user's permissions itself


def test_unsafe_folder_warning_is_shown_once_per_folder(cache_dir):
    Memory(cache_dir).cache(echo, ignore=["calls"])(1, [])
    (cache_dir / "functions").chmod(0o775)
    with pytest.warns(UnsafeCacheWarning) as record, warnings.catch_warnings():
        warnings.simplefilter("ignore", category=NotCachedWarning)
        for i in range(4):
            assert Memory(cache_dir).cache(echo, ignore=["calls"])(i, []) == {"x": i}
    assert len([w for w in record if issubclass(w.category, UnsafeCacheWarning)]) == 1


@pytest.mark.parametrize("how", ["mode 0666", "mode 0620", "another user"])
def test_an_entry_file_others_could_write_is_never_unpickled(cache_dir, tmp_path, how):
    if how == "another user" and os.geteuid() != 0:
        pytest.skip("chown to another user needs root")
    f = Memory(cache_dir).cache(echo, ignore=["calls"])
    calls: list = []
    f(1, calls)
    assert f(1, calls) == {"x": 1} and calls == [1]  # trusted folders, a hit
    entry = f.cache_key(1, calls).path
    marker = tmp_path / "attack-ran"
    _plant(entry, marker)
    if how == "another user":
        os.chown(entry, 12345, 12345)
    else:
        entry.chmod(int(how[-4:], 8))
    with pytest.warns(UnsafeCacheWarning) as record:
        assert f(1, calls) == {"x": 1}  # the same Memory: the file itself is checked per hit
    assert not marker.exists() and calls == [1, 1]
    message = str(record[0].message)
    assert str(entry) in message
    assert ("chown" in message and "12345" in message) if how == "another user" else (
        f"chmod go-w {entry}" in message)
    assert f(1, calls) == {"x": 1} and calls == [1, 1]  # overwritten by a private entry: a hit


@needs_root
def test_a_subfolder_owned_by_another_user_is_not_trusted(cache_dir, tmp_path):
    f = Memory(cache_dir).cache(echo, ignore=["calls"])
    calls: list = []
    f(1, calls)
    entry = f.cache_key(1, calls).path
    marker = tmp_path / "attack-ran"
    _plant(entry, marker)
    os.chown(entry.parent, 12345, 12345)
    value, messages = _calls_with_only_unsafe_warnings_recorded(
        Memory(cache_dir).cache(echo, ignore=["calls"]), 1, calls)
    assert value == {"x": 1} and not marker.exists()
    assert str(entry.parent) in messages[0] and "chown" in messages[0]


# ----------------------------------------------------------------------------- links after first use
def _replace_by_link(directory: Path, outside: Path) -> None:
    shutil.rmtree(directory)
    os.symlink(outside, directory)


def test_a_version_folder_replaced_by_a_link_after_first_use_is_not_followed(cache_dir, tmp_path):
    f = Memory(cache_dir).cache(echo, ignore=["calls"])
    calls: list = []
    f(1, calls)
    assert f(1, calls) == {"x": 1} and calls == [1]  # the folders are trusted now
    entry = f.cache_key(1, calls).path
    outside = tmp_path / "outside"
    outside.mkdir(mode=0o700)
    dump({"x": "planted"}, outside / entry.name)
    planted = (outside / entry.name).read_bytes()
    _replace_by_link(entry.parent, outside)
    with pytest.warns(NotCachedWarning, match="symbolic link"):
        assert f(1, calls) == {"x": 1}  # recomputed, not read (nor stored) through the link
    assert calls == [1, 1]
    assert (outside / entry.name).read_bytes() == planted  # not deleted, not overwritten
    assert sorted(p.name for p in outside.iterdir()) == [entry.name]  # nothing written there


def test_a_rejected_value_behind_a_replaced_version_folder_deletes_nothing_outside(cache_dir,
                                                                                    tmp_path):
    memory = Memory(cache_dir)
    seen: list = []

    def valid(meta):
        seen.append(meta)
        return len(seen) < 2  # the first hit is accepted, later ones rejected

    f = memory.cache(echo, ignore=["calls"], cache_validation_callback=valid)
    calls: list = []
    f(1, calls)
    f(1, calls)
    entry = f.cache_key(1, calls).path
    outside = tmp_path / "outside"
    outside.mkdir(mode=0o700)
    (outside / "_info.json").write_text("{}")
    dump({"x": 1}, outside / entry.name)  # looks like ours: the callback would reject it
    victim = (outside / entry.name).read_bytes()
    _replace_by_link(entry.parent, outside)
    with pytest.warns(NotCachedWarning, match="symbolic link"):
        assert f(1, calls) == {"x": 1}
    memory.store.flush()
    assert (outside / entry.name).read_bytes() == victim
    assert sorted(p.name for p in outside.iterdir()) == sorted(["_info.json", entry.name])
