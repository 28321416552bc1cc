"""``%%memo`` inputs that are not plain variables: files named in calls, your modules'
attributes, and reads through eval/globals() that no analysis can see."""

from __future__ import annotations

import os
import sys

import pytest

from jlcache.errors import CacheWarning
from tests.ipython.conftest import run


def memo(body: str, args: str = "") -> str:
    return f"%%memo {args}\n{body}"


def test_a_file_read_by_the_cell_is_part_of_the_key(ip, log, counter, tmp_path):
    (tmp_path / "data.csv").write_text("v\n1\n")
    cell = memo(f"{counter.line}\ntext = open('data.csv').read()", "--verbose")
    log.run(ip, cell)
    assert "files tracked (size and modification time): data.csv" in log.text
    log.run(ip, cell)
    assert counter.value == 1
    (tmp_path / "data.csv").write_text("v\n1\n100\n")
    log.clear()
    log.run(ip, cell)
    assert counter.value == 2 and ip.user_ns["text"].endswith("100\n")
    assert "input changed: file data.csv" in log.text


def test_paths_held_by_variables_count_too(ip, counter, tmp_path):
    from pathlib import Path

    (tmp_path / "a.txt").write_text("one")
    ip.user_ns["where"] = Path("a.txt")
    cell = memo(f"{counter.line}\nsize = len(open(where).read())")
    run(ip, cell)
    run(ip, cell)
    assert counter.value == 1
    (tmp_path / "a.txt").write_text("three")
    run(ip, cell)
    assert counter.value == 2 and ip.user_ns["size"] == 5
    (tmp_path / "b.txt").write_text("b")
    run(ip, memo(f"{counter.line}\np = 'b.txt'\nsize = len(open(p).read())"))
    (tmp_path / "b.txt").write_text("bbbb")
    run(ip, memo(f"{counter.line}\np = 'b.txt'\nsize = len(open(p).read())"))
    assert counter.value == 4 and ip.user_ns["size"] == 4


def test_files_the_cell_writes_do_not_defeat_the_cache(ip, counter, tmp_path):
    (tmp_path / "in.txt").write_text("payload")
    cell = memo(f"{counter.line}\nimport shutil\nshutil.copyfile('in.txt', 'copy.txt')\n"
                "with open('out.txt', 'w') as fh:\n    fh.write('x')\nok = True")
    run(ip, cell)
    run(ip, cell)
    run(ip, cell)
    assert counter.value == 1, "the files the cell wrote itself must not count as changed"
    os.remove(tmp_path / "copy.txt")
    run(ip, cell)
    assert counter.value == 2 and (tmp_path / "copy.txt").exists()


def test_attributes_read_on_your_module_are_part_of_the_key(ip, counter, tmp_path,
                                                           monkeypatch):
    (tmp_path / "helpers_mod.py").write_text("def helper(x):\n    return x * 2\nSCALE = 10\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    run(ip, "import helpers_mod")
    cell = memo(f"{counter.line}\nr = helpers_mod.helper(3) * helpers_mod.SCALE")
    try:
        run(ip, cell)
        run(ip, cell)
        assert counter.value == 1 and ip.user_ns["r"] == 60
        run(ip, "helpers_mod.SCALE = 100")          # what autoreload / a setter would do
        run(ip, cell)
        assert counter.value == 2 and ip.user_ns["r"] == 600
        run(ip, "helpers_mod.helper = lambda x: x")
        run(ip, cell)
        assert counter.value == 3 and ip.user_ns["r"] == 300
    finally:
        sys.modules.pop("helpers_mod", None)


def test_installed_modules_are_keyed_by_name_and_version_only(ip, counter):
    run(ip, "import json")
    cell = memo(f"{counter.line}\nout = json.dumps([1])")
    run(ip, cell)
    run(ip, "json.some_attribute_nobody_reads = 1")
    run(ip, cell)
    assert counter.value == 1


@pytest.mark.parametrize("body", ["r = eval('x') + 1", "r = globals()['x'] + 1",
                                  "r = vars()['x'] + 1", "exec('r = x + 1')"])
def test_eval_and_globals_are_named_in_a_warning_and_in_verbose(ip, log, body):
    ip.user_ns["x"] = 1
    with pytest.warns(CacheWarning, match=r"the cell calls (eval|globals|vars|exec)\(\)"):
        log.run(ip, memo(body, "--verbose"))
    assert "what it reads through them is not part of the key" in log.text
    assert ip.user_ns["r"] == 2


def test_locals_inside_a_function_is_not_flagged(ip, recwarn):
    run(ip, memo("def f(a):\n    return locals()\nr = f(1)"))
    assert not [w for w in recwarn if issubclass(w.category, CacheWarning)]
