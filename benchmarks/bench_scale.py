"""How a cache hit's cost grows with the number of entries in the store (issue 14, "Scale").

A store holds 10, 10,000 or 100,000 entries of one function (``small(i)``, one entry per
argument, all in one version folder, as a notebook sweeping a parameter makes them); each
row times the hit ``small(3)`` in a fresh ``Memory`` on that store (served from the copy
kept in memory, ``store.hot``, after one ``lstat``), the same hit with nothing kept (the
full read: open, vet, parse, check), and the floor (open+read+close of one small file in
the same folder), alternating, best of N each.

The stores are built once, through the public API (a ``Memory`` calling ``small(i)`` in a
child process), and reused by later runs: building 100k entries takes about a minute,
timing takes seconds.

    python benchmarks/bench_scale.py            # builds what is missing, then times
    python benchmarks/bench_scale.py --quick    # fewer repeats
    python benchmarks/bench_scale.py --dir D    # where the stores live (default: $TMPDIR)
"""

from __future__ import annotations

import argparse
import gc
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SIZES = (10, 10_000, 100_000)
BUILD = """
import sys
sys.path[:0] = [{here!r}]
import jlcache, bench_scale
f = jlcache.Memory({path!r}, verbose=0).cache(bench_scale.small)
for i in range({start}, {stop}):
    f(i)
"""


def small(x):
    return x + 1


def count_entries(path: Path) -> int:
    return sum(len([n for n in files if n.endswith(".jlc")]) for _, _, files in os.walk(path))


def build(path: Path, n: int) -> None:
    """Fill ``path`` up to ``n`` entries of ``small`` (reused when already there)."""
    have = count_entries(path) if path.exists() else 0
    if have >= n:
        return
    print(f"  building {n} entries in {path} ({have} there)...", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(HERE.parent), os.environ.get("PYTHONPATH")]))}
    subprocess.run([sys.executable, "-c", BUILD.format(here=str(HERE), path=str(path),
                                                       start=0, stop=n)],
                   check=True, env=env)
    print(f"  built in {time.perf_counter() - t0:.0f} s", file=sys.stderr)


def per_call(fn, number: int) -> float:
    gc.collect()
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t0) / number


def floor_reader(folder: Path):
    small_file = folder / "floor.bin"
    small_file.write_bytes(b"x" * 300)
    name = str(small_file)

    def read_small() -> bytes:
        fd = os.open(name, os.O_RDONLY)
        try:
            return os.read(fd, 65536)
        finally:
            os.close(fd)

    return read_small


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "jlcache-bench-scale"))
    opts = parser.parse_args()
    import jlcache

    repeat, number = (3, 2000) if opts.quick else (7, 5000)
    base = Path(opts.dir)
    base.mkdir(parents=True, exist_ok=True)
    hits, floors = {}, {}
    for n in SIZES:
        path = base / f"n{n}"
        build(path, n)
        f = jlcache.Memory(path, verbose=0).cache(small)
        assert f.check_call_in_cache(3), "the store does not hold small(3)"
        f(3)
        time.sleep(0.1)  # older than the racy window (store.hot): kept from the next read
        f(3)
        folder = Path(f.cache_key(3).path).parent
        hits[n], floors[n] = f, floor_reader(folder)
    from jlcache.store.hot import HOT

    def full_read(f) -> object:
        HOT.clear()  # nothing kept: the read opens, vets, parses and checks the file
        return f(3)

    best = {n: float("inf") for n in SIZES}
    best_full = {n: float("inf") for n in SIZES}
    best_floor = {n: float("inf") for n in SIZES}
    for _ in range(repeat):  # alternate every size and its floor in each round
        for n in SIZES:
            best[n] = min(best[n], per_call(lambda f=hits[n]: f(3), number))
            best_full[n] = min(best_full[n], per_call(lambda f=hits[n]: full_read(f), number))
            best_floor[n] = min(best_floor[n], per_call(floors[n], number))
    print(f"\nmachine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; best of "
          f"{repeat} x {number} calls\n")
    print("| entries in the store | cache hit f(3) | vs 10 entries | same, nothing kept "
          "(full read) | vs 10 entries | open+read+close | hit / floor |")
    print("|---|---|---|---|---|---|---|")
    for n in SIZES:
        print(f"| {n:,} | {best[n] * 1e6:.1f} µs | {best[n] / best[SIZES[0]]:.2f}x | "
              f"{best_full[n] * 1e6:.1f} µs | {best_full[n] / best_full[SIZES[0]]:.2f}x | "
              f"{best_floor[n] * 1e6:.1f} µs | {best[n] / best_floor[n]:.2f} |")


if __name__ == "__main__":
    import bench_scale  # so that ``small`` is bench_scale.small here and in the builders

    bench_scale.main()
