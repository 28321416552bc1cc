"""Housekeeping at scale: ``%jlcache info``, the panel's first paint and ``reduce_size`` on a
cache of 100,000 entries (issue 14; goal: info and first paint <= 1 s).

Run: ``python benchmarks/bench_scale_housekeeping.py [--entries N] [--rounds R]
[--compare OTHER_TREE]``.

The cache is built once, fast: 10 cached functions are called once each (a real version with
its ``_info.json``), then each version gets one more real entry (``Store.put``) copied under
other keys, half of the entries in a second, *stale* version of each function.
Each measurement then runs in a fresh child process (cold caches of the process, warm page
cache of the machine), ``--rounds`` times, best kept. With ``--compare`` the children
alternate between this tree and another checkout (e.g. the code before a change), on the
same cache, so both figures come from the same run.

- ``info``: ``%jlcache info``'s work (``info.collect`` + ``info.format_table``);
- ``first paint``: ``jlcache.panel(memory)`` until its synced traits hold the complete first
  state (kernel side), and the JSON size of that state (what the browser receives first);
- ``reduce_size``: ``Memory.reduce_size(items_limit=N - 200)`` (lists every entry, evicts
  the 200 least recently used; the cache loses 200 entries per round).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
FUNCS = 10

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import jlcache
from jlcache import Memory
from jlcache.ipython import info
sys.path.insert(0, sys.argv[2])
import scale_funcs as ns  # the functions, so this session defines their versions
memory = Memory(sys.argv[1])
for k in range(ns.FUNCS):
    memory.cache(getattr(ns, f"f{k}"))(0)  # a hit: marks the version current, as a notebook would
out = {"jlcache": jlcache.__file__}
t = time.perf_counter()
text = info.format_table(info.collect(memory.store), memory.location)
out["info"] = time.perf_counter() - t
out["info_lines"] = text.count("\n")
t = time.perf_counter()
panel = jlcache.panel(memory)
out["paint"] = time.perf_counter() - t
state = {k: getattr(panel, k) for k in ("summary", "functions", "cells", "jobs", "view")}
out["paint_bytes"] = len(json.dumps(state, default=str))
out["summary"] = {k: panel.summary[k] for k in ("entries", "bytes", "stale_versions", "stale_bytes")}
panel.close()
n = out["summary"]["entries"]
t = time.perf_counter()
memory.reduce_size(items_limit=n - 200)
out["reduce"] = time.perf_counter() - t
out["evicted"] = n - sum(len(memory.store.scan(kind)) for kind in ("functions", "cells"))
print("RESULT " + json.dumps(out))
"""

FUNCS_SRC = "FUNCS = {n}\n" + "".join(
    f"def f{k}(x):\n    return x + {k}\n" for k in range(FUNCS))


def build(location: str, funcs_path: str, entries: int) -> float:
    """``entries`` tiny entries: FUNCS functions x (current + stale version)."""
    from jlcache import Memory
    from jlcache.memory.entries import entry_meta
    from jlcache.store.layout import EntryRef

    t0 = time.perf_counter()
    sys.path.insert(0, funcs_path)
    import scale_funcs as ns  # type: ignore[import-not-found]
    memory = Memory(location)
    store = memory.store
    per_version = entries // (FUNCS * 2)
    for k in range(FUNCS):
        mf = memory.cache(getattr(ns, f"f{k}"))
        mf(0)
        ref = mf._ref((0,), {})
        stale = "0" * 16
        store.write_info(ref.kind, ref.group, stale, {**store.read_info(ref.kind, ref.group, ref.version),
                                                      "created": time.time() - 3600})
        for version, start in ((ref.version, 1), (stale, 0)):
            # one real put per version, then copies of its file under other keys (no key is
            # written inside an entry): 100k puts would take a minute, copies take seconds
            template = EntryRef(ref.kind, ref.group, version, f"{k:04x}{start:028x}")
            store.put(template, start, entry_meta(mf._name, 0.001, {"x": str(start)}))
            path = store.path(template)
            data = path.read_bytes()
            for i in range(start + 1, per_version):
                fd = os.open(path.with_name(f"{k:04x}{i:028x}.jlc"), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
                os.write(fd, data)
                os.close(fd)
    store.flush()
    return time.perf_counter() - t0


def child(tree: Path, location: str, funcs_path: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    proc = subprocess.run([sys.executable, "-c", CHILD, location, funcs_path], env=env, cwd=funcs_path,
                          capture_output=True, text=True, timeout=300)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        sys.exit(f"child failed in {tree}:\n{proc.stdout}\n{proc.stderr}")
    return json.loads(line[len("RESULT "):])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--compare", type=Path, default=None, help="another checkout to measure too")
    ap.add_argument("--keep", type=Path, default=None,
                    help="build the cache in this folder and keep it (reused when it exists)")
    args = ap.parse_args()
    trees = {"this tree": ROOT} | ({"other": args.compare.resolve()} if args.compare else {})
    with tempfile.TemporaryDirectory() as tmp:
        if args.keep is not None:
            tmp = str(args.keep.resolve())
            os.makedirs(tmp, exist_ok=True)
        funcs_path = tmp
        Path(tmp, "scale_funcs.py").write_text(FUNCS_SRC.format(n=FUNCS))
        location = os.path.join(tmp, "cache")
        if not os.path.exists(location):
            took = build(location, funcs_path, args.entries)
            print(f"built {args.entries:,} entries in {took:.1f} s")
        best: dict[str, dict] = {name: {} for name in trees}
        for r in range(args.rounds):
            for name in (list(trees) if r % 2 == 0 else list(trees)[::-1]):
                out = child(trees[name], location, funcs_path)
                for key in ("info", "paint", "reduce"):
                    best[name][key] = min(best[name].get(key, float("inf")), out[key])
                best[name]["paint_bytes"] = out["paint_bytes"]
                best[name]["summary"] = out["summary"]
                best[name]["evicted"] = out["evicted"]
                best[name]["jlcache"] = out["jlcache"]
    print(f"\n| {args.entries:,} entries (best of {args.rounds}) | " + " | ".join(trees) + " | goal |")
    print("|---|" + "---|" * len(trees) + "---|")
    rows = [("`%jlcache info`", "info", "<= 1 s"), ("panel first paint (kernel side)", "paint", "<= 1 s"),
            ("`reduce_size` (evicts 200)", "reduce", "scales")]
    for label, key, goal in rows:
        print(f"| {label} | " + " | ".join(f"{best[n][key] * 1e3:.0f} ms" for n in trees) + f" | {goal} |")
    print("| first state sent to the browser | " + " | ".join(
        f"{best[n]['paint_bytes'] / 1024:.1f} KiB" for n in trees) + " | |")
    for name in trees:
        print(f"\n{name} ({best[name]['jlcache']}): panel summary {best[name]['summary']}, evicted {best[name]['evicted']}")


if __name__ == "__main__":
    main()
