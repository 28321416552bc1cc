"""jlcache.hash vs joblib.hash, side by side in one process.

Run: ``python benchmarks/bench_hashing.py``. Each case reports the best of N timed runs
(timeit style: the minimum is the least disturbed by other processes), joblib's time,
the ratio and the target from the issue.
"""

from __future__ import annotations

import timeit

import joblib
import numpy as np
import xxhash

from jlcache.hashing.hasher import hash as jl_hash


def best(func, number: int, repeat: int) -> float:
    """Seconds per call, best of ``repeat`` runs of ``number`` calls."""
    return min(timeit.repeat(func, number=number, repeat=repeat)) / number


def fmt(seconds: float) -> str:
    if seconds >= 1e-3:
        return f"{seconds * 1e3:8.2f} ms"
    return f"{seconds * 1e6:8.2f} us"


def case(name: str, value, number: int, repeat: int, target: float) -> bool:
    ours = best(lambda: jl_hash(value), number, repeat)
    theirs = best(lambda: joblib.hash(value), max(1, number // 4), repeat)
    ratio = theirs / ours
    ok = ratio >= target
    print(f"{name:34s} jlcache {fmt(ours)}  joblib {fmt(theirs)}  {ratio:6.1f}x  "
          f"target >= {target:g}x  {'ok' if ok else 'MISSED'}")
    return ok


def main() -> int:
    rng = np.random.default_rng(0)
    big = rng.random(100 * 2**20 // 8)          # 100 MB float64
    ten = rng.random(10 * 2**20 // 8)           # 10 MB float64
    results = [
        case("100 MB float64 array", big, 3, 5, 15),
        case("10 MB float64 array", ten, 10, 5, 15),
        case("100 MB array, strided view", big[::2], 2, 3, 5),
        case("small tuple (1, 2.5, 'abc', ...)", (1, 2.5, "abc", None, (3, 4)), 20000, 7, 4),
        case("dict of 100 str -> float", {f"k{i}": i / 3 for i in range(100)}, 2000, 7, 2),
        case("list of 100k floats", [i / 7 for i in range(100_000)], 20, 5, 2),
    ]
    raw = best(lambda: xxhash.xxh3_128(big).hexdigest(), 3, 5)
    ours = best(lambda: jl_hash(big), 3, 5)
    share = raw / ours
    print(f"{'100 MB: share of raw xxh3_128':34s} raw {fmt(raw)}  jlcache {fmt(ours)}  "
          f"{share:6.0%}  target >= 50%  {'ok' if share >= 0.5 else 'MISSED'}")
    results.append(share >= 0.5)
    return 0 if all(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
