"""Run every benchmark script in turn, each in its own interpreter, and tee the output.

Run: ``python benchmarks/run_all.py [--quick] [--out FILE]``. Each script prints its own
table (jlcache, joblib, ratio, target); this only runs them one after another so that no two
compete for the machine's cores, and saves everything to one log.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ["bench_hashing.py", "bench_memory.py", "bench_store.py", "bench_parallel.py",
           "bench_parallel_memory.py", "bench_blas.py", "bench_magics.py", "bench_panel.py",
           "bench_dask.py", "bench_bridge.py", "bench_object_store.py", "bench_floor.py",
           "bench_scale.py", "bench_scale_housekeeping.py"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="pass --quick where supported")
    parser.add_argument("--out", default=None, help="also write the combined output here")
    args = parser.parse_args()
    chunks, failed = [], []
    for name in SCRIPTS:
        cmd = [sys.executable, str(HERE / name)]
        if args.quick and "--quick" in (HERE / name).read_text():
            cmd.append("--quick")
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        text = f"===== {name} ({time.perf_counter() - t0:.0f} s, exit {proc.returncode})\n"
        text += proc.stdout + (proc.stderr if proc.returncode else "")
        print(text, flush=True)
        chunks.append(text)
        if proc.returncode:
            failed.append(name)
    if args.out:
        Path(args.out).write_text("\n".join(chunks))
    if failed:
        print("missed a target or failed:", ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
