"""Caches in object storage (issue 16) against a real S3-compatible server (moto, through s3fs).

The server runs in its own process (``conftest.s3_server``); every test uses a fresh prefix
in one bucket. Processes here are real processes: separate interpreters share the cache
only through the server, as machines would.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from jlcache import Memory, Parallel, delayed, events
from jlcache.errors import (
    CacheWarning,
    CorruptEntryWarning,
    NotCachedWarning,
    StoreUnavailableError,
    StoreUnavailableWarning,
)
from jlcache.store import EntryRef, open_store
from tests.store._s3 import (
    BUCKET,
    KEY,
    SECRET,
    S3Server,
    create_bucket,
    free_port,
    start_moto,
    stop,
)

REPO = Path(__file__).resolve().parents[2]


def _requests(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every S3 API call s3fs makes (its single entry point to the server)."""
    import s3fs

    calls: list[str] = []
    original = s3fs.S3FileSystem._call_s3

    async def counting(self, method, *args, **kwargs):
        calls.append(method if isinstance(method, str) else getattr(method, "__name__", "?"))
        return await original(self, method, *args, **kwargs)

    monkeypatch.setattr(s3fs.S3FileSystem, "_call_s3", counting)
    return calls


def _child(code: str, server: S3Server, url: str, timeout: float = 60) -> subprocess.Popen:
    """A separate interpreter with ``URL`` and ``OPTIONS`` defined, warnings as errors."""
    prelude = (f"URL = {url!r}\nOPTIONS = {server.options()!r}\n"
               "import warnings\nfrom jlcache.errors import CacheWarning\n"
               "warnings.simplefilter('error', CacheWarning)\n")
    env_path = str(REPO)
    import os

    env = {**os.environ, "PYTHONPATH": env_path}
    return subprocess.Popen([sys.executable, "-c", prelude + textwrap.dedent(code)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen, timeout: float = 90) -> str:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"child failed:\n{out}\n{err}"
    return out


# ----------------------------------------------------------------------------- basics
def test_memory_api_on_s3(s3_server: S3Server, s3_url: str) -> None:
    memory = Memory(s3_url, storage_options=s3_server.options())
    calls = []

    @memory.cache(ignore=["verbose"])
    def f(x, verbose=False):
        calls.append(x)
        return {"x": x, "arr": np.arange(x)}

    assert f(3)["x"] == 3 and f(3, verbose=True)["x"] == 3 and calls == [3]  # hit, ignore
    assert f.check_call_in_cache(3) and not f.check_call_in_cache(4)
    shelved = f.call_and_shelve(4)
    assert calls == [3, 4] and np.array_equal(shelved.get()["arr"], np.arange(4))
    assert sorted(e.args for e in memory.store.entries("functions")) == ["x=3", "x=4"]
    shelved.clear()
    assert not f.check_call_in_cache(4)
    f.clear()
    assert not f.check_call_in_cache(3) and memory.store.entries("functions") == []
    f(5)
    f(6)
    memory.reduce_size(items_limit=1)
    assert [e.args for e in memory.store.entries("functions")] == ["x=6"]
    memory.clear()
    assert memory.store.size() == 0
    assert f(6)["x"] == 6 and calls == [3, 4, 5, 6, 6]  # a cleared cache stays usable


def test_a_small_hit_is_one_get(s3_server: S3Server, s3_url: str,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    memory = Memory(s3_url, storage_options=s3_server.options())

    @memory.cache
    def f(x):
        return [x] * 100

    f(1)
    calls = _requests(monkeypatch)
    assert f(1) == [1] * 100
    assert calls == ["get_object"]  # no HEAD, no LIST, no metadata object


def test_a_large_value_round_trips_in_chunks(s3_server: S3Server, s3_url: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store(s3_url, storage_options=s3_server.options())
    value = np.random.default_rng(0).random(3_000_000)  # 24 MB: a multipart upload
    calls = _requests(monkeypatch)
    store.put(EntryRef("functions", "m.f", "v1", "big"), value, {})
    assert "create_multipart_upload" in calls and "complete_multipart_upload" in calls
    got, meta = store.get(EntryRef("functions", "m.f", "v1", "big"))
    assert type(got) is np.ndarray and np.array_equal(got, value) and meta["size"] > 24e6


def test_mmap_needs_a_local_tier(s3_server: S3Server, s3_url: str, tmp_path: Path) -> None:
    plain = Memory(s3_url, storage_options=s3_server.options(), mmap_mode="r")
    f = plain.cache(lambda n: np.arange(n, dtype=float))
    with pytest.warns(CacheWarning, match="local_tier"):  # once per cache
        assert type(f(1000)) is np.ndarray
    assert type(f(1000)) is np.ndarray
    tiered = Memory(s3_url, storage_options=s3_server.options(), mmap_mode="r",
                    local_tier=tmp_path / "tier")
    g = tiered.cache(lambda n: np.arange(n, dtype=float))
    out = g(1000)  # a local miss filled from the remote store, then mapped
    assert isinstance(out, np.memmap) and out.filename.startswith(str(tmp_path / "tier"))
    assert isinstance(g(1000), np.memmap)


def test_local_tier_is_filled_from_the_shared_store(s3_server: S3Server, s3_url: str,
                                                    tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    writer = open_store(s3_url, storage_options=s3_server.options(), local_tier=tmp_path / "a")
    ref = EntryRef("functions", "m.f", "v1", "k")
    writer.put(ref, "shared", {"duration": 2.0})
    reader = open_store(s3_url, storage_options=s3_server.options(), local_tier=tmp_path / "b")
    assert reader.get(ref)[0] == "shared"  # from S3, copied into tier b
    calls = _requests(monkeypatch)
    assert reader.get(ref)[0] == "shared" and calls == []  # a local-tier hit: no request


# ----------------------------------------------------------------------------- processes
_SHARED = """
    import json, os
    from jlcache import Memory
    memory = Memory(URL, storage_options=OPTIONS)

    @memory.cache
    def square(x):
        print("computed", x)
        return x * x

    import random
    order = list(range(10)); random.shuffle(order)
    print(json.dumps({x: square(x) for x in order}))
"""


def test_two_processes_share_the_cache(s3_server: S3Server, s3_url: str) -> None:
    first = _finish(_child(_SHARED, s3_server, s3_url))
    second = _finish(_child(_SHARED, s3_server, s3_url))
    assert first.count("computed") == 10 and "computed" not in second
    assert json.loads(second.splitlines()[-1]) == {str(x): x * x for x in range(10)}


def test_four_concurrent_writers_of_the_same_entries(s3_server: S3Server, s3_url: str) -> None:
    procs = [_child(_SHARED, s3_server, s3_url) for _ in range(4)]
    outs = [_finish(p) for p in procs]
    for out in outs:  # every process got right values, and no warning (they are errors)
        assert json.loads(out.splitlines()[-1]) == {str(x): x * x for x in range(10)}
    check = _finish(_child(_SHARED, s3_server, s3_url))
    assert "computed" not in check  # every entry complete and verified
    assert len(open_store(s3_url, storage_options=s3_server.options()).entries("functions")) == 10


def test_loky_workers_write_the_store_directly(s3_server: S3Server, s3_url: str) -> None:
    """Tasks call a cached function in loky workers (no shared file system): the workers
    write S3 themselves, and the parent then hits what they stored."""
    out = _finish(_child("""
        import os
        from jlcache import Memory, Parallel, delayed
        memory = Memory(URL, storage_options=OPTIONS)

        @memory.cache
        def where(x):
            return x, os.getpid()

        def task(x):
            return where(x)

        results = Parallel(n_jobs=2, backend="loky")(delayed(task)(x) for x in range(6))
        pids = {pid for _, pid in results}
        assert os.getpid() not in pids, pids
        again = [where(x) for x in range(6)]  # hits: values computed in the workers
        assert again == results, (again, results)
        print("ok", len(memory.store.entries("functions")))
    """, s3_server, s3_url), timeout=120)
    assert out.split() == ["ok", "6"]


# ----------------------------------------------------------------------------- damage
def test_a_corrupt_object_is_recomputed_and_overwritten(s3_server: S3Server,
                                                        s3_url: str) -> None:
    memory = Memory(s3_url, storage_options=s3_server.options())
    calls = []

    @memory.cache
    def f(x):
        calls.append(x)
        return np.full(1000, x)

    f(7)
    [entry] = memory.store.entries("functions")
    name = memory.store.describe(entry.ref).removeprefix("s3://")
    fs = s3_server.fs()
    fs.pipe_file(name, fs.cat_file(name)[:300])  # truncated by a foreign writer
    with pytest.warns(CorruptEntryWarning, match=r"s3://"):
        assert np.array_equal(f(7), np.full(1000, 7))
    assert calls == [7, 7]
    assert np.array_equal(f(7), np.full(1000, 7)) and calls == [7, 7]  # overwritten: a hit


# ----------------------------------------------------------------------------- eviction
def test_eviction_uses_access_records_of_other_processes(s3_server: S3Server,
                                                         s3_url: str) -> None:
    store = open_store(s3_url, storage_options=s3_server.options(), bytes_limit=None)
    refs = [EntryRef("functions", "m.f", "v1", k) for k in "abc"]
    for ref in refs:
        store.put(ref, ref.key * 1000, {})  # a put counts as an access (S3 times are in s)
        time.sleep(0.01)
    _finish(_child("""
        from jlcache.store import EntryRef, open_store
        store = open_store(URL, storage_options=OPTIONS)
        store.get(EntryRef("functions", "m.f", "v1", "a"))  # a: now the most recent
        # no explicit flush: the access is written at exit, as one small record object
    """, s3_server, s3_url))
    assert store.reduce_size(items_limit=2) == [refs[1]]
    assert sorted(e.ref.key for e in store.entries("functions")) == ["a", "c"]
    store.bytes_limit = 3000
    store.put(EntryRef("functions", "m.f", "v1", "d"), "d" * 1000, {})
    assert store.size() <= 3000 and store.contains(EntryRef("functions", "m.f", "v1", "d"))


# ----------------------------------------------------------------------------- secrets
def test_credentials_are_never_written(s3_server: S3Server, s3_url: str,
                                       tmp_path: Path) -> None:
    seen: list = []
    unsubscribe = events.subscribe(seen.append)
    try:
        memory = Memory(s3_url, storage_options=s3_server.options(), local_tier=tmp_path / "t")
        f = memory.cache(lambda x: x + 1)
        f(1)
        f(1)
        f.call_and_shelve(2)
        memory.store.flush()
        memory.reduce_size(items_limit=1)
    finally:
        unsubscribe()
    fs = s3_server.fs()
    objects = fs.find(f"{BUCKET}/{s3_url.rsplit('/', 1)[1]}")
    assert any(o.endswith(".jlc") for o in objects) and any("_access" in o for o in objects)
    texts = [fs.cat_file(o) for o in objects]
    texts += [p.read_bytes() for p in (tmp_path / "t").rglob("*") if p.is_file()]
    texts += [repr(memory).encode(), repr(memory.store).encode(), memory.store.url.encode(),
              repr(seen).encode()]
    for secret in (KEY, SECRET):
        assert not [t for t in texts if secret.encode() in t]


# ----------------------------------------------------------------------------- failures
def test_an_unreachable_endpoint_is_a_clear_error_in_bounded_time() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once we leave: nothing listens there
    options = {"key": KEY, "secret": SECRET, "config_kwargs": {"retries": {"max_attempts": 2}},
               "client_kwargs": {"endpoint_url": f"http://127.0.0.1:{port}",
                                 "region_name": "us-east-1"}}
    start = time.monotonic()
    with pytest.raises(StoreUnavailableError, match="cannot be reached") as info:
        Memory("s3://some-bucket/team/cache", storage_options=options)
    assert time.monotonic() - start < 30
    assert "s3://some-bucket/team/cache" in str(info.value) and SECRET not in str(info.value)


def test_an_endpoint_that_never_answers_fails_within_the_open_timeout(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from jlcache.store import remote

    monkeypatch.setattr(remote, "OPEN_TIMEOUT", 2.0)
    with socket.socket() as sock:  # accepts connections (backlog) but never answers
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        options = {"key": KEY, "secret": SECRET,
                   "client_kwargs": {"endpoint_url": f"http://127.0.0.1:{sock.getsockname()[1]}",
                                     "region_name": "us-east-1"}}
        start = time.monotonic()
        with pytest.raises(StoreUnavailableError, match="did not answer within 2 s") as info:
            open_store("s3://hanging-bucket/cache", storage_options=options)
        assert time.monotonic() - start < 10
    assert "s3://hanging-bucket/cache" in str(info.value)


def test_a_missing_bucket_is_named_and_never_created(s3_server: S3Server) -> None:
    with pytest.raises(StoreUnavailableError, match=r"bucket .*does not exist") as info:
        Memory("s3://no-such-bucket-here/cache", storage_options=s3_server.options())
    assert "s3://no-such-bucket-here/cache" in str(info.value)
    assert "no-such-bucket-here" not in s3_server.fs().ls("")


def test_denied_credentials_are_a_clear_error_naming_the_url() -> None:
    """moto checks credentials once told to (its IAM knows no key): the bucket exists, but
    the key is refused, as a wrong or expired key would be on S3."""
    port = free_port()
    proc = start_moto(port, INITIAL_NO_AUTH_ACTION_COUNT="1")  # the bucket's creation only
    try:
        endpoint = f"http://127.0.0.1:{port}"
        create_bucket(endpoint, "locked")
        options = {"key": KEY, "secret": SECRET,
                   "client_kwargs": {"endpoint_url": endpoint, "region_name": "us-east-1"}}
        start = time.monotonic()
        with pytest.raises(StoreUnavailableError, match="access denied") as info:
            Memory("s3://locked/team/cache", storage_options=options)
        assert time.monotonic() - start < 30
    finally:
        stop(proc)
    message = str(info.value)
    assert "s3://locked/team/cache" in message and "credentials" in message, message
    assert SECRET not in message and KEY not in message


def test_a_store_that_goes_down_only_costs_the_caching(tmp_path: Path) -> None:
    """Once it has worked, a dead store means warnings and computed, uncached results."""
    port = free_port()
    proc = start_moto(port)
    try:
        endpoint = f"http://127.0.0.1:{port}"
        create_bucket(endpoint, "doomed")
        options = {"key": KEY, "secret": SECRET,
                   "config_kwargs": {"retries": {"max_attempts": 1}},
                   "client_kwargs": {"endpoint_url": endpoint, "region_name": "us-east-1"}}
        memory = Memory("s3://doomed/cache", storage_options=options)
        f = memory.cache(lambda x: x * 10)
        assert f(1) == 10
    finally:
        stop(proc)
    start = time.monotonic()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert f(2) == 20 and f(3) == 30 and f(1) == 10  # computed, returned
    assert time.monotonic() - start < 30
    kinds = {type(w.message) for w in caught}
    assert StoreUnavailableWarning in kinds and NotCachedWarning in kinds
    down = [w for w in caught if isinstance(w.message, StoreUnavailableWarning)]
    assert len(down) == 1 and "s3://doomed/cache" in str(down[0].message)


def test_workers_of_parallel_use_parent_side_caching_too(s3_server: S3Server,
                                                         s3_url: str) -> None:
    memory = Memory(s3_url, storage_options=s3_server.options())
    cached = memory.cache(_triple)
    first = Parallel(n_jobs=2, backend="threading")(delayed(cached)(i) for i in range(5))
    assert first == [0, 3, 6, 9, 12] and len(memory.store.entries("functions")) == 5


def _triple(x: int) -> int:
    return 3 * x
