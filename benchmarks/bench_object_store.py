"""A cache in object storage (issue 16) against raw s3fs on the same local S3 server.

    python benchmarks/bench_object_store.py [--quick]

moto's S3 server runs in its own process on 127.0.0.1 (as in the tests); both sides use
the same s3fs client and options. Rows:

- a small cached hit (``Memory("s3://...")``, the whole call: key, one GET, unpickle)
  vs a raw ``s3fs`` ``cat_file`` of one small object (target <= 1.5x), and vs the bare
  ranged GET that is the least any read can cost;
- storing and loading a 100 MB array (``Store.put``/``get``) vs raw ``put_file``/
  ``cat_file`` of the same bytes (throughput target >= 0.8x);
- a hit served by the local tier vs a hit of a plain local cache (target <= 1.2x).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from _common import Row, best_of, per_call, print_table, scratch_dir  # noqa: E402

from jlcache import Memory  # noqa: E402
from jlcache.store import EntryRef, open_store  # noqa: E402
from tests.store._s3 import BUCKET, S3Server, create_bucket, free_port, start_moto, stop  # noqa: E402


def small_hits(server: S3Server, number: int) -> list[Row]:
    memory = Memory(server.url(), storage_options=server.options())

    @memory.cache
    def f(x: int) -> list[int]:
        return [x] * 10

    f(1)
    fs = server.fs()
    fs.pipe_file(f"{BUCKET}/raw/small", b"x" * 400)
    ours = per_call(lambda: f(1), number=number)
    raw_cat = per_call(lambda: fs.cat_file(f"{BUCKET}/raw/small"), number=number)
    raw_get = per_call(lambda: fs.cat_file(f"{BUCKET}/raw/small", start=0, end=1 << 20),
                       number=number)
    return [Row("small hit vs s3fs cat_file", ours, raw_cat, "<= 1.5x raw",
                ours <= 1.5 * raw_cat),
            Row("small hit vs one ranged GET", ours, raw_get, "(floor)", True)]


def big_values(server: S3Server, repeat: int) -> list[Row]:
    store = open_store(server.url(), storage_options=server.options())
    arr = np.random.default_rng(0).random(100 * 2**20 // 8)
    ref = EntryRef("functions", "bench.big", "v1", "k")
    fs = server.fs()
    with tempfile.NamedTemporaryFile(suffix=".bin") as local:
        local.write(arr.tobytes())
        local.flush()
        put_ours = best_of(lambda: store.put(ref, arr, {}), repeat)
        put_raw = best_of(lambda: fs.put_file(local.name, f"{BUCKET}/raw/big"), repeat)
    get_ours = best_of(lambda: store.get(ref), repeat)
    get_raw = best_of(lambda: fs.cat_file(f"{BUCKET}/raw/big"), repeat)
    mb = arr.nbytes / 2**20

    def rate(seconds: float) -> str:
        return f"{mb / seconds:.0f} MB/s"

    return [Row("store 100 MB (throughput)", put_ours, put_raw, ">= 0.8x raw put_file",
                put_raw / put_ours >= 0.8, fmt=rate),
            Row("load 100 MB (throughput)", get_ours, get_raw, ">= 0.8x raw cat_file",
                get_raw / get_ours >= 0.8, fmt=rate)]


def tier_hits(server: S3Server, root: str, number: int) -> list[Row]:
    local = Memory(os.path.join(root, "plain"))
    tiered = Memory(server.url(), storage_options=server.options(),
                    local_tier=os.path.join(root, "tier"))
    fl = local.cache(lambda x: [x] * 10)
    ft = tiered.cache(lambda x: [x] * 10)
    fl(1)
    ft(1)
    ours = per_call(lambda: ft(1), number=number)
    plain = per_call(lambda: fl(1), number=number)
    return [Row("local-tier hit vs local hit", ours, plain, "<= 1.2x local",
                ours <= 1.2 * plain)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    port = free_port()
    proc = start_moto(port)
    try:
        server = S3Server(f"http://127.0.0.1:{port}")
        create_bucket(server.endpoint, BUCKET)
        rows = small_hits(server, 100 if args.quick else 300)
        rows += big_values(server, 2 if args.quick else 4)
        with scratch_dir() as root:
            rows += tier_hits(server, root, 2000 if args.quick else 10000)
    finally:
        stop(proc)
    print_table("object storage (moto S3 on 127.0.0.1, s3fs)", rows, theirs="raw / local")
    print("\n(ratio = theirs / ours in time: above 1 means jlcache is faster)")
    return 0 if all(r.ok for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
