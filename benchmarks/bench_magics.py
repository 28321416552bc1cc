"""Benchmark of the magics against the engine they front (``python benchmarks/bench_magics.py``).

Targets (issue 4):

- a ``%%memo`` hit on a cell with small outputs adds under 20 ms (measured: the hit's wall
  time minus running the same cell body without the magic);
- ``%pmap`` of 10,000 trivial items on 2 workers within 1.2x of ``Parallel`` doing the same
  (both on the same warm loky pool, best of several rounds).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time

CELL = """\
values = [i * factor for i in range(200)]
summary = {"n": len(values), "total": sum(values)}
print("total", summary["total"])
summary
"""


def _quiet(shell, source: str) -> None:
    saved = sys.stdout
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - closed below
    try:
        result = shell.run_cell(source)
    finally:
        sys.stdout.close()
        sys.stdout = saved
    if not result.success:
        raise RuntimeError(f"benchmark cell failed: {result.error_in_exec!r}")


def _best(fn, rounds: int) -> tuple[float, float]:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


def bench_memo_hit(shell) -> dict:
    shell.user_ns["factor"] = 3
    _quiet(shell, "%%memo\n" + CELL)  # the miss that stores the entry
    _, plain_median = _best(lambda: _quiet(shell, CELL), 30)
    _, hit_median = _best(lambda: _quiet(shell, "%%memo\n" + CELL), 30)
    return {"plain_ms": plain_median * 1e3, "hit_ms": hit_median * 1e3,
            "added_ms": (hit_median - plain_median) * 1e3, "target_ms": 20.0}


def bench_pmap(shell, n: int = 10_000, rounds: int = 5) -> dict:
    from jlcache import Parallel, delayed

    shell.run_cell("def inc(v):\n    return v + 1")
    inc = shell.user_ns["inc"]
    items = list(range(n))
    shell.user_ns["items"] = items
    Parallel(n_jobs=2)(delayed(inc)(x) for x in range(100))  # warm the pool

    def parallel() -> None:
        Parallel(n_jobs=2)(delayed(inc)(x) for x in items)

    def pmap() -> None:
        shell.run_line_magic("pmap", "-n 2 --no-progress inc items")

    p_best, _ = _best(parallel, rounds)
    m_best, _ = _best(pmap, rounds)
    return {"parallel_ms": p_best * 1e3, "pmap_ms": m_best * 1e3, "ratio": m_best / p_best,
            "target_ratio": 1.2}


def main() -> int:
    from IPython.core.interactiveshell import InteractiveShell

    os.environ["JLCACHE_DIR"] = tempfile.mkdtemp(prefix="jlcache-bench-magics-")
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "jlcache")
    memo = bench_memo_hit(shell)
    pm = bench_pmap(shell)
    ok_memo = memo["added_ms"] < memo["target_ms"]
    ok_pmap = pm["ratio"] <= pm["target_ratio"]
    print(f"%%memo hit: cell alone {memo['plain_ms']:.2f} ms, hit {memo['hit_ms']:.2f} ms, "
          f"added {memo['added_ms']:.2f} ms (target < 20 ms) {'OK' if ok_memo else 'MISSED'}")
    print(f"%pmap 10,000 items, n_jobs=2: Parallel {pm['parallel_ms']:.1f} ms, %pmap "
          f"{pm['pmap_ms']:.1f} ms, ratio {pm['ratio']:.2f} (target <= 1.2) "
          f"{'OK' if ok_pmap else 'MISSED'}")
    return 0 if ok_memo and ok_pmap else 1


if __name__ == "__main__":
    sys.exit(main())
