"""Does a displayed panel slow a big job down? Target: at most 5% (issues 5 and 14).

Run: ``python benchmarks/bench_panel.py [--pairs N] [--quick]``.

The measurement happens where it matters, inside a real ipykernel started with
``jupyter_client``: the panel is displayed (``display(p)``), so every trait update is
serialised and sent over the kernel's iopub socket exactly as to a browser (this script
drains iopub like a front end would).

The machine is shared and noisy, so runs come in **pairs** (one with the panel, one
without, in alternating order) and the figure is the median of the per-pair overheads
``with / without - 1``, with its interquartile range: a pair shares the machine's load of
the moment, so their ratio cancels most of the drift that made medians of separate runs
swing from -5% to +25%.

Then one more instrumented run per workload counts what the panel did during the job:
events it received, flushes, store rescans, comm messages and their JSON bytes, and the
time spent in its event handler and in its flushes (the panel's whole cost in the kernel).

Workloads:
- ``Parallel(n_jobs=2)`` over 100,000 trivial tasks (job events only), five such jobs per
  run: one job now takes ~60 ms, where a few ms of scheduler jitter alone is 5%;
- a cached function over 5,000 items in ``Parallel`` on a fresh cache, the panel showing
  that same cache (misses, stores: the panel's rows grow during the job).
"""

from __future__ import annotations

import argparse
import json
import queue
import random
import statistics
import sys
import tempfile
import textwrap
import threading
from pathlib import Path

from jupyter_client.manager import start_new_kernel

ROOT = Path(__file__).resolve().parents[1]

KERNEL_CODE = """
import json, shutil, tempfile, time
import jlcache
from jlcache import Memory, Parallel, delayed, events
from IPython.display import display

def trivial(n, memory):
    Parallel(n_jobs=2)(delayed(abs)(i) for i in range(n))

def cached_job(n, memory):
    f = memory.cache(abs)
    Parallel(n_jobs=2)(delayed(f)(i) for i in range(n))

def fresh():
    return Memory(tempfile.mkdtemp(dir={tmp!r}))

def one(job, n, with_panel, probe=None, reps=1):
    memory = fresh()
    panel = None
    if with_panel:
        panel = jlcache.panel(memory)
        display(panel)
        if probe is not None:
            probe(panel)
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(reps):
        job(n, memory)
    took, cpu = time.perf_counter() - t0, time.process_time() - c0
    if panel is not None:
        time.sleep(0.25)  # the update after the job's end is the panel's cost too
        cpu = time.process_time() - c0
        panel.close()
    # each run's cache goes: thousands of files left behind slow every later run's
    # file creation, a drift that swamped the panel's cost in the pairs
    shutil.rmtree(memory.location, ignore_errors=True)
    return took, cpu

def measure(job, n, pairs, reps=1):
    out = {{"without": [], "with": [], "cpu_without": [], "cpu_with": []}}
    for r in range(pairs):
        for mode in (("without", "with") if r % 2 else ("with", "without")):
            took, cpu = one(job, n, mode == "with", reps=reps)
            out[mode].append(took)
            out["cpu_" + mode].append(cpu)
    return out

def instrumented(job, n):
    c = {{"events": 0, "flushes": 0, "flush_s": 0.0, "rescans": 0, "messages": 0, "bytes": 0,
          "handler_s": 0.0}}
    def probe(panel):
        send, flush, on_event = panel.comm.send, panel._coalescer._flush, panel._on_event
        def counted_send(*a, **k):
            data = k.get("data") if "data" in k else (a[0] if a else None)
            c["messages"] += 1
            c["bytes"] += len(json.dumps(data, default=str))
            return send(*a, **k)
        def timed_flush(*a, **k):
            t = time.perf_counter()
            before = panel._last_scan
            try:
                return flush(*a, **k)
            finally:
                c["flushes"] += 1
                c["flush_s"] += time.perf_counter() - t
                c["rescans"] += panel._last_scan != before
        def timed_event(event):
            t = time.perf_counter()
            on_event(event)
            c["events"] += 1
            c["handler_s"] += time.perf_counter() - t
        panel.comm.send = counted_send
        panel._coalescer._flush = timed_flush
        unsub = panel._unsubscribe
        unsub()
        panel._unsubscribe = events.subscribe(timed_event)
    c["job_s"] = one(job, n, True, probe)[0]
    return c

trivial(2_000, None)  # warm the worker pool
res = {{"trivial": measure(trivial, {n_trivial}, {pairs}, reps={reps_trivial}),
        "cached": measure(cached_job, {n_cached}, {pairs})}}
res["counts"] = {{"trivial": instrumented(trivial, {n_trivial}),
                 "cached": instrumented(cached_job, {n_cached})}}
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


def quartiles(values: list[float]) -> tuple[float, float, float]:
    """Lower quartile, median, upper quartile (the 'inclusive' method: no extrapolation)."""
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def median_ci(values: list[float], resamples: int = 2000) -> tuple[float, float]:
    """A 95% bootstrap interval of the median (seeded): how far the median itself may move."""
    rng = random.Random(14)
    medians = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(resamples))
    return medians[int(0.025 * resamples)], medians[int(0.975 * resamples) - 1]


def report(res: dict, pairs: int) -> None:
    print(f"| workload | without panel (median) | with panel (median) | overhead: median of "
          f"{pairs} pairs | IQR of the pairs | 95% interval of the median | target |")
    print("|---|---|---|---|---|---|---|")
    labels = {"trivial": "Parallel, 100,000 trivial tasks, n_jobs=2 (5 jobs per run)",
              "cached": "Parallel, cached function, 5,000 items, fresh cache shown in the panel"}
    for key, label in labels.items():
        without, with_ = res[key]["without"], res[key]["with"]
        diffs = [(w / wo - 1) * 100 for w, wo in zip(with_, without, strict=True)]
        q1, med, q3 = quartiles(diffs)
        lo, hi = median_ci(diffs)
        print(f"| {label} | {statistics.median(without) * 1e3:.0f} ms | "
              f"{statistics.median(with_) * 1e3:.0f} ms | {med:+.1f}% | {q1:+.1f}% .. {q3:+.1f}% "
              f"({q3 - q1:.1f} points) | {lo:+.1f}% .. {hi:+.1f}% | <= +5%, IQR < 5 |")
    print()
    print("The kernel process's CPU time during the same runs (the job's dispatch, the panel's "
          "handlers and flushes, iopub; not the workers'), which other load on the machine "
          "disturbs less than wall time:")
    print()
    print("| workload | CPU without (median) | CPU with (median) | CPU overhead: median of pairs | IQR |")
    print("|---|---|---|---|---|")
    for key, label in labels.items():
        without, with_ = res[key]["cpu_without"], res[key]["cpu_with"]
        diffs = [(w / wo - 1) * 100 for w, wo in zip(with_, without, strict=True)]
        q1, med, q3 = quartiles(diffs)
        print(f"| {label} | {statistics.median(without) * 1e3:.0f} ms | "
              f"{statistics.median(with_) * 1e3:.0f} ms | {med:+.1f}% | {q1:+.1f}% .. {q3:+.1f}% "
              f"({q3 - q1:.1f} points) |")
    print()
    print("What the displayed panel did during one more run of each job:")
    print()
    print("| workload | job | events received | handler time | flushes | rescans | flush time | "
          "comm messages | JSON bytes sent |")
    print("|---|---|---|---|---|---|---|---|---|")
    for key in labels:
        c = res["counts"][key]
        print(f"| {key} | {c['job_s'] * 1e3:.0f} ms | {c['events']} | {c['handler_s'] * 1e3:.1f} ms | "
              f"{c['flushes']} | {c['rescans']} | {c['flush_s'] * 1e3:.1f} ms | {c['messages']} | "
              f"{c['bytes']:,} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=15, help="alternating pairs per workload (15)")
    ap.add_argument("--quick", action="store_true", help="5 pairs and a smaller cached job")
    args = ap.parse_args()
    pairs = 5 if args.quick else args.pairs
    with tempfile.TemporaryDirectory() as tmp:
        code = textwrap.dedent(KERNEL_CODE).format(tmp=tmp, n_trivial=100_000, reps_trivial=5,
                                                   n_cached=2_000 if args.quick else 5_000, pairs=pairs)
        text = run_in_kernel(code)
    line = next((ln for ln in text.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        sys.exit(f"the kernel printed no result:\n{text}")
    report(json.loads(line[len("RESULT "):]), pairs)


if __name__ == "__main__":
    threading.excepthook = lambda a: None  # jupyter_client's channel threads at shutdown
    main()
