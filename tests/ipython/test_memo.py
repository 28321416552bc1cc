"""``%%memo`` through a real InteractiveShell: hits, misses, restored state, replayed output."""

from __future__ import annotations

import re

import pytest

from jlcache.errors import NotCachedWarning
from tests.ipython.conftest import run


def memo(body: str, args: str = "") -> str:
    return f"%%memo {args}\n{body}"


def test_hit_does_not_execute_and_restores_variables(ip, counter):
    cell = memo(f"{counter.line}\ny = x * 2\nz = [y, y]")
    ip.user_ns["x"] = 21
    run(ip, cell)
    assert counter.value == 1 and ip.user_ns["z"] == [42, 42]
    del ip.user_ns["y"], ip.user_ns["z"]
    run(ip, cell)
    assert counter.value == 1, "a hit must not run the cell"
    assert ip.user_ns["y"] == 42 and ip.user_ns["z"] == [42, 42]


def test_outputs_are_replayed_in_order_and_the_result_becomes_out(ip, log, counter):
    from IPython.display import HTML, display

    ip.user_ns["HTML"], ip.user_ns["display"] = HTML, display
    cell = memo(f"{counter.line}\nprint('one')\ndisplay(HTML('<b>two</b>'))\nprint('three')\n6 * 7")
    log.run(ip, cell)
    first = list(log.items)
    log.clear()
    log.run(ip, cell)
    assert counter.value == 1
    assert _no_prompts(log.items) == _no_prompts(first)
    kinds = [item[0] for item in first]
    assert kinds[:3] == ["stdout", "display", "stdout"]
    assert first[0][1] == "one\n" and first[1][1]["text/html"] == "<b>two</b>"
    assert first[2][1].startswith("three\n")
    assert ip.user_ns["_"] == 42
    assert ip.user_ns["Out"][ip.execution_count - 1] == 42


def _no_prompts(items: list[tuple]) -> list[tuple]:
    """Drop the ``Out[N]:`` prompt, whose number differs between two runs by design."""
    return [(k, re.sub(r"Out\[\d+\]: ", "", v) if k == "stdout" else v) for k, v in items]


def test_changing_an_input_reruns_and_changing_it_back_hits(ip, counter):
    cell = memo(f"{counter.line}\ny = x + 1")
    for x, runs in [(1, 1), (1, 1), (2, 2), (1, 2), (2, 2)]:
        ip.user_ns["x"] = x
        run(ip, cell)
        assert ip.user_ns["y"] == x + 1
        assert counter.value == runs


def test_editing_a_helper_function_reruns_the_cell(ip, counter):
    run(ip, "def helper(v):\n    return v + 1")
    cell = memo(f"{counter.line}\nout = helper(10)")
    run(ip, cell)
    run(ip, cell)
    assert counter.value == 1 and ip.user_ns["out"] == 11
    run(ip, "def helper(v):\n    return v + 100")
    run(ip, cell)
    assert counter.value == 2 and ip.user_ns["out"] == 110


def test_code_edits_rerun_but_comments_and_whitespace_do_not(ip, counter):
    run(ip, memo(f"{counter.line}\na = 1"))
    run(ip, memo(f"# a comment\n{counter.line}   \n\na  =  1  # same code"))
    assert counter.value == 1
    run(ip, memo(f"{counter.line}\na = 2"))
    assert counter.value == 2 and ip.user_ns["a"] == 2


def test_ignored_names_are_not_part_of_the_key_nor_stored(ip, counter):
    cell = memo(f"{counter.line}\nresult = x * 2\ndebug = 'noise'", "--ignore debug,verbose")
    ip.user_ns.update(x=3, verbose=True)
    run(ip, cell)
    ip.user_ns["verbose"] = False
    ip.user_ns.pop("debug")
    run(ip, memo(f"{counter.line}\nresult = x * 2\ndebug = 'noise'\nverbose", "--ignore debug,verbose"))
    assert counter.value == 2  # code changed (added a line): reruns
    ip.user_ns["verbose"] = "something else"
    run(ip, memo(f"{counter.line}\nresult = x * 2\ndebug = 'noise'\nverbose", "--ignore debug,verbose"))
    assert counter.value == 2, "an ignored input changing must not rerun the cell"
    ip.user_ns.pop("debug")
    run(ip, cell)
    assert counter.value == 2 and "debug" not in ip.user_ns  # ignored outputs are not restored


def test_mutated_inputs_are_restored(ip, counter):
    cell = memo(f"{counter.line}\nitems.append(4)\nconfig['seen'] = True")
    ip.user_ns.update(items=[1, 2, 3], config={})
    run(ip, cell)
    assert ip.user_ns["items"] == [1, 2, 3, 4]
    ip.user_ns.update(items=[1, 2, 3], config={})
    run(ip, cell)
    assert counter.value == 1
    assert ip.user_ns["items"] == [1, 2, 3, 4] and ip.user_ns["config"] == {"seen": True}


def test_unstorable_outputs_warn_naming_each_variable_and_are_not_cached(ip, counter):
    cell = memo(f"{counter.line}\ngen = (i for i in range(3))\nlock = __import__('threading').Lock()\nok = 1")
    with pytest.warns(NotCachedWarning, match=r"'gen'.*'lock'.*--ignore gen,lock"):
        run(ip, cell)
    assert ip.user_ns["ok"] == 1
    with pytest.warns(NotCachedWarning):
        run(ip, cell)
    assert counter.value == 2
    run(ip, memo(f"{counter.line}\ngen = (i for i in range(3))\nok = 1", "--ignore gen"))
    run(ip, memo(f"{counter.line}\ngen = (i for i in range(3))\nok = 1", "--ignore gen"))
    assert counter.value == 3


def test_unhashable_input_warns_and_runs_uncached(ip, counter):
    import threading

    ip.user_ns["guard"] = threading.Lock()
    with pytest.warns(NotCachedWarning, match=r"'guard'.*--ignore guard"):
        run(ip, memo(f"{counter.line}\nn = guard.locked()"))
    assert ip.user_ns["n"] is False
    with pytest.warns(NotCachedWarning):
        run(ip, memo(f"{counter.line}\nn = guard.locked()"))
    assert counter.value == 2
    run(ip, memo(f"{counter.line}\nn = guard.locked()", "--ignore guard"))
    run(ip, memo(f"{counter.line}\nn = guard.locked()", "--ignore guard"))
    assert counter.value == 3


def test_a_cell_that_raises_is_not_cached(ip, counter):
    cell = memo(f"{counter.line}\nvalue = 1\nraise ValueError('boom')")
    result = ip.run_cell(cell)
    assert isinstance(result.error_in_exec, ValueError)
    result = ip.run_cell(cell)
    assert isinstance(result.error_in_exec, ValueError)
    assert counter.value == 2


def test_force_reruns_and_off_never_caches(ip, counter):
    cell = f"{counter.line}\nv = 1"
    run(ip, memo(cell))
    run(ip, memo(cell, "--force"))
    assert counter.value == 2
    run(ip, memo(cell))
    assert counter.value == 2
    run(ip, memo(cell + "\nw = 2", "--off"))
    run(ip, memo(cell + "\nw = 2", "--off"))
    assert counter.value == 4
    run(ip, memo(cell + "\nw = 2"))
    assert counter.value == 5, "--off must not have stored anything"


def test_verbose_explains_why(ip, log):
    ip.user_ns.update(x=1, y=2)
    body = "total = x + y\nget_ipython().system('true')"
    log.run(ip, memo(body, "--verbose --name demo"))
    assert "no cached entry" in log.text
    log.clear()
    log.run(ip, memo(body, "--verbose --name demo"))
    assert "restored from cache" in log.text and "total" in log.text
    assert "shell command" in log.text  # says the side effect is not replayed
    log.clear()
    ip.user_ns["y"] = 5
    log.run(ip, memo(body, "--verbose --name demo"))
    assert "input changed: y" in log.text
    log.clear()
    log.run(ip, memo("total = x * y", "--verbose --name demo"))
    assert "code changed" in log.text


def test_ipython_syntax_in_a_cell(ip, counter):
    cell = memo(f"{counter.line}\nlines = !echo hello\n%time value = 3")
    run(ip, cell)
    run(ip, cell)
    assert counter.value == 1
    assert list(ip.user_ns["lines"]) == ["hello"] and ip.user_ns["value"] == 3


def test_functions_classes_and_modules_defined_by_a_cell_are_restored(ip, counter):
    cell = memo(f"{counter.line}\nimport json as j\nclass P:\n    k = 2\ndef double(v):\n    return v * P.k")
    run(ip, cell)
    for name in ("j", "P", "double"):
        del ip.user_ns[name]
    run(ip, cell)
    assert counter.value == 1
    run(ip, "assert double(4) == 8 and j.dumps([1]) == '[1]'")


def test_deleted_names_stay_deleted(ip, counter):
    ip.user_ns["scratch"] = 1
    cell = memo(f"{counter.line}\nkeep = scratch + 1\ndel scratch")
    run(ip, cell)
    ip.user_ns["scratch"] = 1
    run(ip, cell)
    assert counter.value == 1 and "scratch" not in ip.user_ns and ip.user_ns["keep"] == 2


def test_numpy_outputs_come_back_memory_mapped(ip, counter):
    np = pytest.importorskip("numpy")
    run(ip, "%jlcache dir mapped --mmap-mode r")
    cell = memo(f"{counter.line}\nimport numpy as np\nbig = np.arange(100_000, dtype=np.float64)")
    run(ip, cell)
    run(ip, cell)
    assert counter.value == 1
    assert isinstance(ip.user_ns["big"], np.memmap)
    assert float(ip.user_ns["big"][-1]) == 99_999.0


def test_cell_events_are_published(ip):
    from jlcache import events

    seen = []
    unsubscribe = events.subscribe(lambda e: seen.append((e.name, e.data.get("kind"), e.data.get("func"))))
    try:
        run(ip, memo("a = 1", "--name events-demo"))
        run(ip, memo("a = 1", "--name events-demo"))
    finally:
        unsubscribe()
    names = [s for s in seen if s[1] == "cells"]
    assert [n[0] for n in names] == ["cache.miss", "cache.store", "cache.hit"]
    assert {n[2] for n in names} == {"events-demo"}


def test_closed_files_are_left_out_and_the_cell_is_cached(ip, counter, tmp_path, recwarn):
    (tmp_path / "config.txt").write_text("host-1\n")
    cell = memo(f"{counter.line}\nwith open('config.txt') as f:\n    host = f.read().strip()")
    run(ip, cell)
    del ip.user_ns["host"], ip.user_ns["f"]
    run(ip, cell)
    assert counter.value == 1 and ip.user_ns["host"] == "host-1"
    assert "f" not in ip.user_ns, "a closed file is not restored"
    assert not [w for w in recwarn if issubclass(w.category, NotCachedWarning)]


def test_an_open_file_still_warns(ip, tmp_path):
    (tmp_path / "config.txt").write_text("x")
    with pytest.warns(NotCachedWarning, match=r"'handle'"):
        run(ip, memo("handle = open('config.txt')"))
    ip.user_ns["handle"].close()


def test_a_trailing_semicolon_hides_the_result_on_runs_and_replays(ip, log, counter):
    cell = memo(f"{counter.line}\nys = [1, 2, 3]\nys;")
    for _ in range(2):
        log.run(ip, cell)
        assert "[1, 2, 3]" not in log.text
        assert [1, 2, 3] not in ip.user_ns["Out"].values() and ip.user_ns.get("_") != [1, 2, 3]
    assert counter.value == 1
    log.run(ip, memo(f"{counter.line}\nys = [1, 2, 3]\nys"))
    assert "[1, 2, 3]" in log.text and ip.user_ns["_"] == [1, 2, 3]


def test_with_mmap_mode_the_first_run_already_gives_the_memmap(ip, counter):
    np = pytest.importorskip("numpy")
    run(ip, "%jlcache dir mapped --mmap-mode r")
    cell = memo(f"{counter.line}\nimport numpy as np\narr = np.zeros(1000)\nsmall = [1, 2]")
    run(ip, cell)
    first = ip.user_ns["arr"]
    run(ip, cell)
    second = ip.user_ns["arr"]
    assert counter.value == 1
    assert type(first) is type(second) is np.memmap
    assert not first.flags.writeable and not second.flags.writeable
    assert ip.user_ns["small"] == [1, 2]


def test_verbose_labels_drop_comments_and_the_block_colon(ip, log):
    log.run(ip, memo("def helper(x):  # doubles\n    return x * 2", "--verbose"))
    assert "[memo] def helper(x): running" in log.text
    log.clear()
    log.run(ip, memo("total = 1 + 1            # something slow", "--verbose"))
    assert "[memo] total = 1 + 1: running" in log.text
