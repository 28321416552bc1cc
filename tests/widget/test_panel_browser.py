"""The panel in a real browser: JupyterLab 4 and Notebook 7, headless Chromium, Playwright.

What is checked is what a user sees and does: rows and sizes as rendered, a click on
"clear" that deletes exactly one file on disk and takes the row off the page, a ``%pmap``
progress bar that moves while its cell is still running, and a background job cancelled
from the panel. A screenshot of each test lands in its ``tmp_path``.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from panel_e2e import Server, chromium, require_browser, wait_until

from jlcache.panel_model import human_size, row_id
from jlcache.store import Store

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

CACHED = """\
import jlcache
from jlcache import Memory
memory = Memory({location!r})

@memory.cache
def square(x):
    return list(range(300 * (x + 1)))

for i in range(3):
    square(i)
p = jlcache.panel(memory)
p"""


@pytest.fixture(scope="module")
def browser():
    require_browser()
    with chromium() as b:
        yield b


def _server(app, tmp_path_factory):
    require_browser()
    server = Server(app, tmp_path_factory.mktemp(f"{app}-root"), tmp_path_factory.mktemp(f"{app}-cfg"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    yield from _server("lab", tmp_path_factory)


@pytest.fixture(scope="module")
def nb7(tmp_path_factory):
    yield from _server("notebook", tmp_path_factory)


@pytest.fixture
def page(browser, tmp_path):
    pg = browser.new_page(viewport={"width": 1280, "height": 1000})
    pg.set_default_timeout(30_000)
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    yield pg
    pg.screenshot(path=str(tmp_path / "page.png"), full_page=True)
    if pg.locator(".jlc-panel").count():
        pg.locator(".jlc-panel").first.screenshot(path=str(tmp_path / "panel.png"))
    pg.close()
    assert not [e for e in errors if "jlc" in e or "panel" in e], errors


def _rows_sizes_and_clear(server: Server, page, name: str) -> None:
    location = server.root / f"cache-{name}"
    server.open(page, f"{name}.ipynb", CACHED.format(location=str(location)))
    panel = page.locator(".jlc-panel")
    panel.wait_for()
    store = Store(location)
    entries = store.entries("functions")
    assert len(entries) == 3
    group, version = entries[0].ref.group, entries[0].ref.version
    group_row = panel.locator(f'tr[data-id="{row_id("functions", group)}"]')
    group_row.wait_for()
    assert group_row.locator("td").nth(1).inner_text() == "3"
    assert group_row.locator("td").nth(2).inner_text() == human_size(sum(e.size for e in entries))
    assert panel.locator(".jlc-total").inner_text().startswith("3 entries")

    group_row.locator('[data-action="expand"]').click()
    version_row = panel.locator(f'tr[data-id="{row_id("functions", group, version)}"]')
    version_row.locator('[data-action="expand"]').click()
    for e in entries:
        row = panel.locator(f'tr[data-id="{row_id(*e.ref)}"]')
        row.wait_for()
        assert row.locator("td").nth(2).inner_text() == human_size(e.size)
    victim, *others = sorted(entries, key=lambda e: e.size)
    panel.locator(f'tr[data-id="{row_id(*victim.ref)}"] [data-action="clear"]').click()
    wait_until(lambda: not Path(victim.path).exists(), 10, "the entry file to be deleted")
    assert all(Path(e.path).exists() for e in others)
    panel.locator(f'tr[data-id="{row_id(*victim.ref)}"]').wait_for(state="detached")
    page.wait_for_function("() => document.querySelector('.jlc-total').textContent.startsWith('2 entries')")
    panel.locator(".jlc-status", has_text="Cleared entry").wait_for()


def test_lab_shows_rows_and_sizes_and_clears_one_entry(lab, page):
    _rows_sizes_and_clear(lab, page, "lab-clear")


def test_notebook7_shows_rows_and_sizes_and_clears_one_entry(nb7, page):
    _rows_sizes_and_clear(nb7, page, "nb7-clear")


def test_lab_job_progress_moves_while_running_and_background_job_cancels(lab, page):
    lab.open(page, "jobs.ipynb",
             "%load_ext jlcache\nimport time, jlcache\n\ndef slow(x):\n    time.sleep(0.03)\n    return x\n\n"
             "p = jlcache.panel()\np",
             "ys = %pmap -n 2 --no-progress slow range(120)\nassert ys == list(range(120))",
             "job = %pmap --bg -n 2 --no-progress slow range(5000)\njob")
    panel = page.locator(".jlc-panel")
    panel.wait_for()
    first = panel.locator("tr.jlc-job").first
    first.wait_for()
    job_row = panel.locator(f'tr[data-id="{first.get_attribute("data-id")}"]')
    seen = set()
    while "jlc-job-running" in (job_row.get_attribute("class") or ""):
        seen.add(int(job_row.locator("td.jlc-progress").get_attribute("data-done")))
        time.sleep(0.03)
    assert "jlc-job-done" in job_row.get_attribute("class")
    assert job_row.locator("td.jlc-progress").get_attribute("data-done") == "120"
    assert len({d for d in seen if 0 < d < 120}) >= 3, sorted(seen)  # moved while the cell ran

    cancel = panel.locator('tr.jlc-job-running [data-action="cancel"]')
    cancel.wait_for()
    wait_until(lambda: not lab.kernel_busy(page), 20, "the --bg cell to return")
    cancel.click()
    badge = panel.locator("tr.jlc-job-cancelled .jlc-badge")
    badge.wait_for(timeout=15_000)
    row = panel.locator("tr.jlc-job-cancelled td.jlc-progress")
    assert int(row.get_attribute("data-done")) < 5000
