"""Ctrl-C of a bridged GridSearchCV: a real SIGINT to a real process, workers and all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("sklearn")
psutil = pytest.importorskip("psutil")

REPO = Path(__file__).resolve().parents[2]

CHILD = r"""
import json, os, sys, time
from pathlib import Path
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import GridSearchCV
import jlcache

MARKS = Path(sys.argv[1])

class Slow(ClassifierMixin, BaseEstimator):
    def __init__(self, delay=30.0):
        self.delay = delay
    def fit(self, X, y):
        (MARKS / str(os.getpid())).touch()   # this worker is fitting now
        time.sleep(self.delay)
        self.classes_ = np.unique(y)
        return self
    def predict(self, X):
        return np.zeros(len(X))

jlcache.bridge_joblib(progress=False)
ends = []
jlcache.events.subscribe(lambda e: ends.append(e.data["status"]) if e.name == "job.end" else None)
X, y = np.random.default_rng(0).normal(size=(40, 3)), np.arange(40) % 2
print("READY", flush=True)
try:
    GridSearchCV(Slow(), {"delay": [30.0, 30.5, 31.0, 31.5]}, cv=2, n_jobs=2).fit(X, y)
    print("FINISHED", flush=True)
except KeyboardInterrupt:
    print("INTERRUPTED", time.time(), flush=True)
print("JOBS", *ends, flush=True)
"""


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.slow
def test_ctrl_c_stops_a_bridged_grid_search_in_under_2s_with_no_worker_left(tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(marks)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        while len(list(marks.iterdir())) < 2:  # both workers are inside a fit
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "the workers never started fitting"
            time.sleep(0.05)
        workers = [int(p.name) for p in marks.iterdir()]
        assert all(_alive(pid) for pid in workers)
        assert set(workers) <= {p.pid for p in psutil.Process(child.pid).children(recursive=True)}
        sent = time.time()
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    lines = out.split()
    assert "INTERRUPTED" in lines, (out, err)
    assert "FINISHED" not in lines
    stopped = float(lines[lines.index("INTERRUPTED") + 1])
    assert stopped - sent < 2.0, f"KeyboardInterrupt reached the caller after {stopped - sent:.2f}s"
    assert child.returncode == 0, err
    assert lines[lines.index("JOBS") + 1:] == ["cancelled"], "one bridged job, ended by Ctrl-C"
    grace = time.monotonic() + 2.0
    while any(_alive(pid) for pid in workers) and time.monotonic() < grace:
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in workers), "a worker outlived the interrupted call"
