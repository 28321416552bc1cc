"""The ``jlcache`` command line on a big cache: ``ls``, ``ls --json`` and ``du`` on 100k entries.

    python benchmarks/bench_cli.py [--quick] [--entries N]

Builds ``N`` (default 100,000) tiny entries with the Store API (``put``; 40 functions x 3
versions), then times each command end to end as a user runs it: a fresh
``python -m jlcache ...`` process, interpreter start-up included. Target (issue 17): ``ls``
and ``du`` under 2 s. joblib has no command line, so there is no joblib column. ``verify``
(reads every entry) is timed for information only.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from _common import Row, best_of, print_table, scratch_dir

from jlcache.store import EntryRef, open_store

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def build(root: str, n: int) -> float:
    """``n`` tiny entries through ``Store.put``; returns the seconds it took."""
    store = open_store(root)
    t0 = time.perf_counter()
    for i in range(n):
        group, version = f"bench.f{i % 40}", f"{(i // 40) % 3:016x}"
        ref = EntryRef("functions", group, version, f"{i:032x}")
        store.put(ref, i, {"func": group, "input_args": {"i": str(i)}})
    for g in range(40):
        for v in range(3):
            store.write_info("functions", f"bench.f{g}", f"{v:016x}",
                             {"module": "bench", "qualname": f"f{g}"})
    store.flush()
    return time.perf_counter() - t0


def run_cli(*args: str) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [REPO, os.environ.get("PYTHONPATH")]))}
    subprocess.run([sys.executable, "-m", "jlcache", *args], check=True, env=env,
                   stdout=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--entries", type=int, default=100_000)
    opts = parser.parse_args()
    repeat = 2 if opts.quick else 5
    with scratch_dir() as tmp:
        root = os.path.join(tmp, "cache")
        built = build(root, opts.entries)
        print(f"built {opts.entries:,} entries with Store.put in {built:.1f} s")
        rows = []
        for cmd, target in ((("ls",), 2.0), (("ls", "--json"), 2.0), (("du",), 2.0),
                            (("verify",), None)):
            seconds = best_of(lambda cmd=cmd: run_cli(*cmd, root), repeat)
            rows.append(Row(f"jlcache {' '.join(cmd)} ({opts.entries:,} entries)", seconds, None,
                            f"< {target:.0f} s" if target else "(info)",
                            target is None or seconds < target))
        print_table("jlcache command line (fresh process each run)", rows)


if __name__ == "__main__":
    main()
