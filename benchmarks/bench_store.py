"""The value file format against joblib's pickles: ``jlcache.dump``/``load`` vs ``joblib.dump``/``load``.

    python benchmarks/bench_store.py [--quick] [--big]

Rows: storing a 100 MB array, loading it into memory and with ``mmap_mode="r"`` (1 MB vs
100 MB, and 1 GB with ``--big``: constant time), reading a tiny value (against the bare
open/fstat/read/close it needs), and the disk footprint of 2,000 tiny entries (jlcache's
Store vs joblib's Memory layout of a folder with output.pkl and metadata.json per entry).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import joblib
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _common import Row, allocated_bytes, best_of, fmt_bytes, per_call, print_table, scratch_dir

from jlcache.serialize.format import dump, load
from jlcache.store.local import EntryRef, Store


def bench_big_store(root: str, repeat: int) -> list[Row]:
    arr = np.random.default_rng(0).random(100 * 2**20 // 8)

    def fresh(name: str) -> None:  # a cache stores new entries: don't time replacing a file
        if os.path.exists(f"{root}/{name}"):
            os.unlink(f"{root}/{name}")
        os.sync()

    ours = best_of(lambda: dump(arr, f"{root}/a.jlc"), repeat, setup=lambda: fresh("a.jlc"))
    theirs = best_of(lambda: joblib.dump(arr, f"{root}/a.pkl"), repeat,
                     setup=lambda: fresh("a.pkl"))
    load_ours = best_of(lambda: load(f"{root}/a.jlc"), repeat)
    load_theirs = best_of(lambda: joblib.load(f"{root}/a.pkl"), repeat)
    return [Row("store a 100 MB array", ours, theirs, "<= joblib", ours <= theirs * 1.05),
            Row("load a 100 MB array into memory", load_ours, load_theirs, "<= joblib",
                load_ours <= load_theirs * 1.05)]


def _mmap_load(path: str) -> None:
    value = load(path, mmap_mode="r")
    del value


def bench_mmap(root: str, big: bool) -> list[Row]:
    sizes = [2**20, 100 * 2**20] + ([2**30] if big else [])
    times = {}
    for size in sizes:
        arr = np.ones(size // 8)
        dump(arr, f"{root}/m{size}.jlc")
        joblib.dump(arr, f"{root}/m{size}.pkl")
        del arr
        times[size] = per_call(lambda s=size: _mmap_load(f"{root}/m{s}.jlc"), number=200)
        times[size, "joblib"] = per_call(lambda s=size: joblib.load(f"{root}/m{s}.pkl", mmap_mode="r"),
                                         number=200)
    rows = [Row(f"mmap_mode='r' load, {fmt_bytes(s)}", times[s], times[s, "joblib"], "<= joblib",
                times[s] <= times[s, "joblib"]) for s in sizes]
    spread = times[sizes[-1]] / times[sizes[0]]
    rows.append(Row(f"mmap load {fmt_bytes(sizes[-1])} / {fmt_bytes(sizes[0])} (ratio, x)", spread, None,
                    "< 2", spread < 2, fmt=lambda r: f"{r:.2f}"))
    return rows


def bench_tiny(root: str) -> list[Row]:
    path = f"{root}/t.jlc"
    dump(3, path)
    joblib.dump(3, f"{root}/t.pkl")

    def syscalls() -> None:
        fd = os.open(path, os.O_RDONLY)
        os.fstat(fd)
        os.read(fd, 65536)
        os.close(fd)

    ours = per_call(lambda: load(path), number=5000)
    bare = per_call(syscalls, number=5000)
    theirs = per_call(lambda: joblib.load(f"{root}/t.pkl"), number=5000)
    return [Row("load a tiny value", ours, theirs, "<= joblib / 2", ours <= theirs / 2),
            Row("  of which beyond open+fstat+read+close", ours - bare, None, "a few µs",
                ours - bare < 15e-6)]


def bench_footprint(root: str, count: int = 2000) -> list[Row]:
    store = Store(f"{root}/ours")
    store.write_info("functions", "mod.f", "0123456789abcdef", {"module": "mod"})
    meta = {"duration": 0.001, "args": "(3,)"}
    for i in range(count):
        store.put(EntryRef("functions", "mod.f", "0123456789abcdef", f"{i:032x}"), i, meta)
    theirs_dir = f"{root}/theirs/f/0123456789abcdef"
    for i in range(count):  # joblib's layout: a folder with output.pkl and metadata.json
        entry = f"{theirs_dir}/{i:032x}"
        os.makedirs(entry)
        joblib.dump(i, f"{entry}/output.pkl")
        with open(f"{entry}/metadata.json", "w") as f:
            json.dump({"duration": 0.001, "input_args": {"x": "3"}, "time": 0.0}, f)
    ours, inodes_ours = allocated_bytes(f"{root}/ours")
    theirs, inodes_theirs = allocated_bytes(f"{root}/theirs")
    return [Row(f"disk for {count} tiny entries", ours, theirs, "<= joblib / 2", ours <= theirs / 2,
                fmt=fmt_bytes),
            Row(f"inodes for {count} tiny entries", inodes_ours, inodes_theirs, "1 per entry",
                inodes_ours <= count + 10, fmt=lambda n: f"{n:.0f}")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--big", action="store_true", help="include the 1 GB mmap point")
    opts = parser.parse_args()
    rows: list[Row] = []
    with scratch_dir() as root:
        rows += bench_big_store(root, 2 if opts.quick else 4)
    with scratch_dir() as root:
        rows += bench_mmap(root, opts.big)
    with scratch_dir() as root:
        rows += bench_tiny(root)
    with scratch_dir() as root:
        rows += bench_footprint(root)
    print_table("value files (serialize.py / store.py)", rows)


if __name__ == "__main__":
    main()
