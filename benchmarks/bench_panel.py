"""Does a displayed panel slow a big job down? Target: at most 5% (issue 5).

Run: ``python benchmarks/bench_panel.py [--quick]``.

The measurement happens where it matters, inside a real ipykernel started with
``jupyter_client``: the panel is displayed (``display(p)``), so every trait update is
serialised and sent over the kernel's iopub socket exactly as to a browser (this script
drains iopub like a front end would). Runs with and without the panel alternate, and the
medians are compared, because the machine is shared and noisy.

Workloads:
- ``Parallel(n_jobs=2)`` over 100,000 trivial tasks (job events only);
- a cached function over 5,000 items in ``Parallel`` (cache events and store rescans too).
"""

from __future__ import annotations

import argparse
import json
import queue
import sys
import tempfile
import textwrap
import threading
from pathlib import Path

from jupyter_client.manager import start_new_kernel

ROOT = Path(__file__).resolve().parents[1]

KERNEL_CODE = """
import json, shutil, statistics, tempfile, time
import jlcache
from jlcache import Memory, Parallel, delayed
from IPython.display import display

def trivial(n):
    Parallel(n_jobs=2)(delayed(abs)(i) for i in range(n))

def cached_job(n):
    memory = Memory(tempfile.mkdtemp(dir={tmp!r}))
    f = memory.cache(abs)
    Parallel(n_jobs=2)(delayed(f)(i) for i in range(n))
    return memory

def measure(job, n, repeat):
    out = {{"without": [], "with": []}}
    for r in range(repeat):
        for mode in (("without", "with") if r % 2 else ("with", "without")):
            panel = None
            if mode == "with":
                memory = Memory(tempfile.mkdtemp(dir={tmp!r}))
                panel = jlcache.panel(memory)
                display(panel)
            t0 = time.perf_counter()
            job(n)
            out[mode].append(time.perf_counter() - t0)
            if panel is not None:
                panel.close()
    return out

trivial(2_000)  # warm the worker pool
res = {{"trivial": measure(trivial, {n_trivial}, {repeat}),
        "cached": measure(cached_job, {n_cached}, {repeat})}}
print("RESULT " + json.dumps(res))
"""


def run_in_kernel(code: str, timeout: float = 900) -> str:
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(ROOT))
    try:
        out: queue.Queue[str] = queue.Queue()
        messages = [0]

        def on_output(msg: dict) -> None:
            messages[0] += 1
            if msg["msg_type"] == "stream":
                out.put(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                out.put("\n".join(msg["content"]["traceback"]))

        reply = kc.execute_interactive(code, timeout=timeout, output_hook=on_output)
        text = "".join(out.queue)
        if reply["content"]["status"] != "ok":
            raise RuntimeError(text)
        print(f"(iopub messages received: {messages[0]})")
        return text
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats and a smaller cached job")
    args = ap.parse_args()
    repeat = 3 if args.quick else 7
    with tempfile.TemporaryDirectory() as tmp:
        code = textwrap.dedent(KERNEL_CODE).format(tmp=tmp, n_trivial=100_000,
                                                   n_cached=2_000 if args.quick else 5_000, repeat=repeat)
        text = run_in_kernel(code)
    line = next((ln for ln in text.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        sys.exit(f"the kernel printed no result:\n{text}")
    res = json.loads(line[len("RESULT "):])
    print("| workload | without panel (median) | with panel displayed (median) | overhead | target |")
    print("|---|---|---|---|---|")
    labels = {"trivial": "Parallel, 100,000 trivial tasks, n_jobs=2",
              "cached": "Parallel, cached function, fresh cache (misses + stores)"}
    for key, label in labels.items():
        without = sorted(res[key]["without"])[len(res[key]["without"]) // 2]
        with_ = sorted(res[key]["with"])[len(res[key]["with"]) // 2]
        print(f"| {label} | {without * 1e3:.0f} ms | {with_ * 1e3:.0f} ms | "
              f"{(with_ / without - 1) * 100:+.1f}% | <= +5% |")


if __name__ == "__main__":
    threading.excepthook = lambda a: None  # jupyter_client's channel threads at shutdown
    main()
