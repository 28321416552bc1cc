"""What the panel and ``%jlcache info`` cost on a cache in object storage with many versions.

    python benchmarks/bench_object_listing.py [--groups N]

moto's S3 server runs in its own process on 127.0.0.1 (as in the tests). The cache holds
``N`` functions of 2 versions with 2 entries each. Rows: one panel scan
(``jlcache.widget.model.scan``) and one ``%jlcache info`` table
(``jlcache.ipython.info.collect``), each with the number of LIST requests it sent (a LIST
per group or per version is what a large bucket makes slow).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from jlcache.store import EntryRef, open_store  # noqa: E402
from tests.store._s3 import BUCKET, S3Server, create_bucket, free_port, start_moto, stop  # noqa: E402


def _count_lists() -> list[str]:
    """Record every S3 API call s3fs makes (names only)."""
    import s3fs

    calls: list[str] = []
    original = s3fs.S3FileSystem._call_s3

    async def counting(self, method, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(method if isinstance(method, str) else getattr(method, "__name__", "?"))
        return await original(self, method, *args, **kwargs)

    s3fs.S3FileSystem._call_s3 = counting
    return calls


def _cold(url: str) -> None:
    """Each timed run starts without a recent listing (as the first refresh would)."""
    try:
        from jlcache.store import recent_listings
    except ImportError:  # before listings were reused
        return
    recent_listings.forget(url)


def _fill(store, groups: int) -> None:  # type: ignore[no-untyped-def]
    for g in range(groups):
        for v in range(2):
            version = f"{g:04d}{v:012d}"
            store.write_info("functions", f"bench.f{g}", version, {"qualname": f"f{g}"})
            for k in range(2):
                ref = EntryRef("functions", f"bench.f{g}", version, f"{k:032x}")
                store.put(ref, [g, v, k], {"func": f"bench.f{g}", "duration": 0.1})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--groups", type=int, default=40)
    args = parser.parse_args()
    from jlcache.ipython.info import collect
    from jlcache.widget.model import scan

    port = free_port()
    proc = start_moto(port)
    try:
        server = S3Server(f"http://127.0.0.1:{port}")
        create_bucket(server.endpoint, BUCKET)
        store = open_store(server.url(), storage_options=server.options())
        _fill(store, args.groups)
        calls = _count_lists()
        print(f"{args.groups} functions x 2 versions x 2 entries")
        for name, run in (("panel scan", lambda: scan(store)),
                          ("%jlcache info", lambda: collect(store))):
            best, lists = float("inf"), 0
            for _ in range(3):
                _cold(store.url)
                calls.clear()
                t0 = time.perf_counter()
                run()
                best = min(best, time.perf_counter() - t0)
                lists = sum(c == "list_objects_v2" for c in calls)
            print(f"{name:15s} {best * 1000:8.1f} ms   {lists:4d} LIST   {len(calls):5d} requests")
        store.flush()  # its access records, while the server is up
    finally:
        stop(proc)


if __name__ == "__main__":
    main()
