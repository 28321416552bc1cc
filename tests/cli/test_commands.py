"""The ``jlcache`` commands against a real cache made by ``Memory`` in another process."""

from __future__ import annotations

import json
import os
from pathlib import Path

from jlcache.memory import housekeeping
from jlcache.store import open_store


def _entries(root: Path) -> list:
    store = open_store(root)
    return [e for kind in ("functions", "cells") for e in store.entries(kind)]


def test_ls_shows_each_version_current_or_stale(cache, cli):
    proc = cli("ls", str(cache))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"jlcache at {cache}: 2 function(s), 0 cell(s), 10 entries")
    assert any("__main__.f" in line for line in lines)
    states = [line.split()[1] for line in lines if line.startswith("  ") and len(line.split()) > 2]
    assert sorted(states) == ["current", "current", "stale"]  # f edited once; arr never


def test_ls_json_is_the_documented_format_with_the_panels_figures(cache, cli):
    proc = cli("ls", "--json", str(cache))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["format"] == 1 and doc["location"] == str(cache)
    by_name = {g["name"]: g for g in doc["groups"]}
    assert set(by_name) == {"__main__.f", "__main__.arr"}
    f = by_name["__main__.f"]
    assert f["kind"] == "function" and f["entries"] == 8
    assert [v["state"] for v in f["versions"]] == ["current", "stale"]  # newest first
    assert all(v["entries"] == 4 and v["last_used"] and v["last_stored"] for v in f["versions"])
    # the same bytes the panel and %jlcache info add up: housekeeping.total_bytes of a listing
    assert doc["bytes"] == housekeeping.total_bytes(_entries(cache)) == open_store(cache).size()
    assert doc["entries"] == 10


def test_du_is_largest_first_with_the_total(cache, cli):
    proc = cli("du", str(cache))
    assert proc.returncode == 0, proc.stderr
    rows = proc.stdout.splitlines()
    assert rows[1].split()[-1] == "__main__.arr" and rows[2].split()[-1] == "__main__.f"
    total = housekeeping.human_size(open_store(cache).size())
    assert rows[-1].split()[:2] == total.split() and "total" in rows[-1]


def test_verify_names_the_damaged_entry_and_fix_deletes_it(cache, cli):
    assert cli("verify", str(cache)).returncode == 0
    store = open_store(cache)
    victim = next(e for e in store.entries("functions") if e.args == "n=20000")
    data = bytearray(victim.path.read_bytes())
    data[-100] ^= 0xFF  # inside the array: only a full checksum read can see it
    victim.path.write_bytes(data)
    proc = cli("verify", str(cache))
    assert proc.returncode == 1
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("damaged:"))
    assert "__main__.arr" in line and "(n=20000)" in line and str(victim.path) in line
    assert "checksum" in line
    assert "1 damaged" in proc.stdout and victim.path.exists()
    fixed = cli("verify", "--fix", str(cache))
    assert fixed.returncode == 1 and "deleted:" in fixed.stdout
    assert not victim.path.exists()
    assert cli("verify", str(cache)).returncode == 0


def test_prune_to_a_size_evicts_least_recently_used_first(cache, cli):
    store = open_store(cache)
    entries = sorted(_entries(cache), key=lambda e: e.last_access)
    newest = max(entries, key=lambda e: max(e.last_access, e.created))
    os.utime(newest.path, (newest.path.stat().st_mtime + 3600,) * 2)  # surely the last used
    limit = housekeeping.entry_bytes(newest)
    proc = cli("prune", str(cache), "--max-size", str(limit))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"Evicted {len(entries) - 1} entries")
    left = _entries(cache)
    assert [e.ref for e in left] == [newest.ref]
    assert store.size() <= limit


def test_prune_older_than_keeps_recent_entries(cache, cli):
    proc = cli("prune", str(cache), "--older-than", "30d")
    assert proc.returncode == 0 and proc.stdout.startswith("Evicted 0 entries")
    assert len(_entries(cache)) == 10


def test_clear_without_a_terminal_and_without_yes_deletes_nothing(cache, cli):
    proc = cli("clear", str(cache))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "--yes" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(_entries(cache)) == 10


def test_clear_yes_deletes_everything_and_the_cache_stays_usable(cache, cli):
    proc = cli("clear", str(cache), "--yes")
    assert proc.returncode == 0 and proc.stdout.startswith("Deleted 10 entries")
    assert _entries(cache) == [] and (cache / "FORMAT").exists()
    assert cli("ls", str(cache)).returncode == 0


def test_clear_target_deletes_only_that_function(cache, cli):
    proc = cli("clear", str(cache), "arr", "--yes")
    assert proc.returncode == 0, proc.stderr
    assert {e.ref.group for e in _entries(cache)} == {"__main__.f"}


def test_clear_stale_deletes_only_older_versions(cache, cli):
    before = json.loads(cli("ls", "--json", str(cache)).stdout)
    stale = [v["version"] for g in before["groups"] for v in g["versions"] if v["state"] == "stale"]
    assert len(stale) == 1
    assert cli("clear", str(cache), "--stale").returncode == 2  # no terminal: refused
    proc = cli("clear", "--stale", "--yes", str(cache))
    assert proc.returncode == 0 and proc.stdout.startswith("Deleted 4 entries")
    left = _entries(cache)
    assert len(left) == 6 and all(e.ref.version != stale[0] for e in left)


def test_dir_defaults_to_jlcache_dir_then_dot_jlcache(cache, cli, tmp_path):
    by_env = cli("ls", "--json", env={"JLCACHE_DIR": str(cache)}, cwd=tmp_path)
    assert json.loads(by_env.stdout)["location"] == str(cache)
    work = tmp_path / "work"
    work.mkdir()
    (work / ".jlcache").symlink_to(cache)  # ./.jlcache of the working directory
    env = {k: v for k, v in os.environ.items() if k != "JLCACHE_DIR"}
    by_cwd = cli("du", env=env, cwd=work)
    assert by_cwd.returncode == 0, by_cwd.stderr
    assert "__main__.arr" in by_cwd.stdout
