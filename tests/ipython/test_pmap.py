"""``%pmap``: results, order, errors naming the item, --memo resuming after an interrupt."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError

from jlcache.ipython.pmap import split_expressions
from tests.ipython.conftest import run


@pytest.mark.parametrize(("text", "expected"), [
    ("f xs", ("f", "xs")),
    ("lambda x: x**2 range(10)", ("lambda x: x**2", "range(10)")),
    ("lambda x: x + 1 xs", ("lambda x: x + 1", "xs")),
    ("lambda x: x if x else 0 range(3)", ("lambda x: x if x else 0", "range(3)")),
    ("str.upper ['a b', 'c']", ("str.upper", "['a b', 'c']")),
    ("  f   [1, 2]  ", ("f", "[1, 2]")),
    ("(lambda x: x) data", ("(lambda x: x)", "data")),
])
def test_split_expressions(text, expected):
    assert split_expressions(text) == expected


@pytest.mark.parametrize("text", ["", "f", "lambda x:", "f (", "f xs ys"])
def test_split_expressions_rejects_what_is_not_two_expressions(text):
    assert split_expressions(text) is None


def test_results_in_input_order(ip):
    run(ip, "ys = %pmap -n 2 -b threading --no-progress lambda x: x**2 range(50)")
    assert ip.user_ns["ys"] == [x**2 for x in range(50)]


def test_loky_with_a_notebook_function(ip):
    run(ip, "def slow_square(v):\n    return v * v")
    run(ip, "ys = %pmap -n 2 --no-progress slow_square list(range(20))")
    assert ip.user_ns["ys"] == [v * v for v in range(20)]


def test_unordered_returns_every_result(ip):
    run(ip, "ys = %pmap -n 2 -b threading --unordered --no-progress abs range(-5, 5)")
    assert sorted(ip.user_ns["ys"]) == sorted(abs(v) for v in range(-5, 5))


def test_errors_name_the_item_and_keep_the_worker_traceback(ip):
    run(ip, "def fragile(v):\n    if v == 7:\n        raise ValueError('bad seven')\n    return v")
    result = ip.run_cell("ys = %pmap -n 2 --no-progress fragile range(10)")
    exc = result.error_in_exec
    assert isinstance(exc, ValueError) and "bad seven" in str(exc)
    notes = "\n".join(getattr(exc, "__notes__", []))
    assert "#7" in notes and "fragile(7)" in notes  # the item's index and a short repr
    text = "".join(__import__("traceback").format_exception(exc))
    assert "in fragile" in text  # the worker's traceback travels with the error


def test_memo_resumes_after_an_interrupt(ip, tmp_path):
    log = tmp_path / "computed.txt"
    run(ip, f"""
import _thread
def step(v):
    open({str(log)!r}, 'a').write(f'{{v}},')
    if v == 5 and not globals().get('resume'):
        _thread.interrupt_main()   # a Ctrl-C in the middle of the job
        import time; time.sleep(1)
    return v * 10
""")
    result = ip.run_cell("ys = %pmap -b sequential --batch-size 1 --memo --no-progress step range(10)")
    assert isinstance(result.error_in_exec, KeyboardInterrupt)
    first = [int(v) for v in log.read_text().split(",") if v]
    assert first[:6] == [0, 1, 2, 3, 4, 5]
    log.write_text("")
    ip.user_ns["resume"] = True
    run(ip, "ys = %pmap -b sequential --memo --no-progress step range(10)")
    assert ip.user_ns["ys"] == [v * 10 for v in range(10)]
    recomputed = [int(v) for v in log.read_text().split(",") if v]
    assert recomputed and recomputed[0] == 5 and set(recomputed) <= set(range(5, 10)), \
        "items finished before the interrupt must come from the cache"
    log.write_text("")
    run(ip, "ys = %pmap -b threading -n 2 --memo --no-progress step range(10)")
    assert log.read_text() == "" and ip.user_ns["ys"] == [v * 10 for v in range(10)]


def test_memo_uses_an_already_cached_function(ip, tmp_path):
    from jlcache.ipython import get_memory

    memory = get_memory()
    ip.user_ns["memory"] = memory
    run(ip, "@memory.cache\ndef cube(v):\n    return v ** 3")
    run(ip, "cube(2)")
    run(ip, "ys = %pmap -b threading -n 2 --memo --no-progress cube [1, 2, 3]")
    assert ip.user_ns["ys"] == [1, 8, 27]
    assert ip.user_ns["cube"].check_call_in_cache(3)


@pytest.mark.parametrize("line", [
    "", "f", "-n 2", "-n two f xs", "-n 0 abs [1]", "--batch-size 0 abs [1]",
    "--batch-size many abs [1]", "--bogus abs [1]", "undefined_name [1]", "abs undefined_name",
    "3 [1, 2]", "abs 5", "abs (", "-b no-such-backend abs [1]", "'unbalanced abs [1]",
])
def test_bad_arguments_give_usage_errors(ip, line):
    with pytest.raises(UsageError):
        ip.run_line_magic("pmap", line)


def test_bg_returns_a_job_handle_at_once(ip):
    run(ip, "job = %pmap --bg -b threading -n 2 --no-progress lambda x: x + 1 range(20)")
    job = ip.user_ns["job"]
    assert job.result(timeout=30) == list(range(1, 21))
    assert job.done()


def test_job_start_knows_the_total(ip):
    from jlcache import events

    seen: list = []
    unsubscribe = events.subscribe(seen.append)
    try:
        run(ip, "def twice(v):\n    return 2 * v")
        run(ip, "ys = %pmap -n 2 -b threading --no-progress twice range(120)")
    finally:
        unsubscribe()
    assert ip.user_ns["ys"] == [2 * v for v in range(120)]
    start = next(e for e in seen if e.name == "job.start")
    assert start.data["total"] == 120
