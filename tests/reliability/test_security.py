"""A cache directory no one else can poison, and deletions that never leave it.

Loading an entry unpickles it, so whoever can write the cache can run code in the reader:
the cache is created private, a directory others could write is refused, and nothing
inside it that points elsewhere (a symbolic link) is read, written through or deleted
through. ``%jlcache clear`` targets are fuzzed in ``tests/ipython/test_fuzz.py``.
"""

from __future__ import annotations

import os
import stat
import warnings
from pathlib import Path

import pytest

from jlcache import Memory
from jlcache.errors import UnsafeCacheDirError
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
