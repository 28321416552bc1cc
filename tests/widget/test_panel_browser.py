"""The panel in a real browser: JupyterLab 4 and Notebook 7, headless Chromium, Playwright.

What is checked is what a user sees and does: rows and sizes as rendered, a click on
"clear" that deletes exactly one file on disk and takes the row off the page, a ``%pmap``
progress bar that moves (as a fraction of a known total) while its cell is still running,
and a background job cancelled from the panel. A screenshot of each test (the page and the
panel) lands in its ``tmp_path``.

Every wait is on a condition (a selector, a page predicate, a file), never a fixed sleep;
progress is recorded inside the page by a ``MutationObserver``, so no update is missed
however slowly the test process is scheduled.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from panel_e2e import Server, chromium, require_browser, wait_until

from jlcache.store import LocalStore
from jlcache.widget.format import human_size
from jlcache.widget.ids import row_id

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

# Records every change of a job row as [id, status, done, total, fraction, bar width, cell running],
# where "cell running" is the [*] prompt of the notebook's second cell (the blocking %pmap). The
# kernel's status is no witness: control-channel requests flip it to idle while a cell runs.
RECORD_JOBS = """() => {
  window.jlcSeen = [];
  const last = {};
  const running = () => !!window.jupyterapp.shell.currentWidget?.node
    .querySelectorAll(".jp-InputArea-prompt")[1]?.textContent.includes("*");
  new MutationObserver(() => {
    for (const td of document.querySelectorAll("tr.jlc-job td.jlc-progress")) {
      const tr = td.closest("tr");
      const rec = [tr.dataset.id, tr.className.match(/jlc-job-(\\w+)/)[1], Number(td.dataset.done),
                   td.dataset.total, td.dataset.fraction, td.querySelector(".jlc-bar-fill").style.width,
                   running()];
      const key = JSON.stringify(rec.slice(0, 5));
      if (last[rec[0]] !== key) { last[rec[0]] = key; window.jlcSeen.push(rec); }
    }
  }).observe(document.body, { subtree: true, childList: true, attributes: true });
}"""


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """One server for both front ends, started while Chromium launches."""
    require_browser()
    server = Server(tmp_path_factory.mktemp("root"), tmp_path_factory.mktemp("cfg"))
    try:
        with chromium() as browser:
            yield server.wait_ready(), browser
    finally:
        server.stop()


class Tab:
    """A page plus what a test needs around it: error collection and a screenshot."""

    def __init__(self, page) -> None:
        self.page, self.errors = page, []
        page.set_default_timeout(30_000)
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    def finish(self, tmp_path: Path) -> None:
        first = len(self.errors)
        self.page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
        panel = self.page.locator(".jlc-panel")
        if panel.count():
            panel.last.screenshot(path=str(tmp_path / "panel.png"))
        assert not [e for e in self.errors[:first] if "jlc" in e or "panel" in e], self.errors
        self.errors.clear()


@pytest.fixture(scope="module")
def lab_tab(env):
    tab = Tab(env[1].new_page(viewport={"width": 1280, "height": 1000}))
    yield tab
    tab.page.close()


@pytest.fixture
def lab(env, lab_tab, tmp_path):
    """The module's JupyterLab page; each test opens its notebook in a new tab of it."""
    yield env[0], lab_tab.page
    try:
        lab_tab.finish(tmp_path)
    finally:
        Server.close_current(lab_tab.page)


@pytest.fixture
def nb7(env, tmp_path):
    tab = Tab(env[1].new_page(viewport={"width": 1280, "height": 1000}))
    yield env[0], tab.page
    try:
        tab.finish(tmp_path)
    finally:
        Server.close_current(tab.page)
        tab.page.close()


def _rows_sizes_and_clear(server: Server, page, name: str, app: str) -> None:
    location = server.root / f"cache-{name}"
    server.open(page, f"{name}.ipynb", CACHED.format(location=str(location)), app=app)
    panel = page.locator(".jlc-panel")
    store = LocalStore(location)
    wait_until(lambda: len(store.entries("functions")) == 3, 30, "the three entries on disk")
    entries = store.entries("functions")
    group, version = entries[0].ref.group, entries[0].ref.version
    group_row = panel.locator(f'tr[data-id="{row_id("functions", group)}"]')
    group_row.wait_for()
    assert group_row.locator("td").nth(1).inner_text() == "3"
    assert group_row.locator("td").nth(2).inner_text() == human_size(sum(e.disk for e in entries))
    assert panel.locator(".jlc-total").inner_text() == f"3 entries · {human_size(store.size())}"

    group_row.locator('[data-action="expand"]').click()
    version_row = panel.locator(f'tr[data-id="{row_id("functions", group, version)}"]')
    version_row.locator('[data-action="expand"]').click()
    for e in entries:
        row = panel.locator(f'tr[data-id="{row_id(*e.ref)}"]')
        row.wait_for()
        assert row.locator("td").nth(2).inner_text() == human_size(e.disk)
        assert row.locator(".jlc-label").inner_text() == e.args  # the argument summary, e.g. "x=1"
    victim, *others = sorted(entries, key=lambda e: e.size)
    panel.locator(f'tr[data-id="{row_id(*victim.ref)}"] [data-action="clear"]').click()
    wait_until(lambda: not Path(victim.path).exists(), 15, "the entry file to be deleted")
    assert all(Path(e.path).exists() for e in others)
    panel.locator(f'tr[data-id="{row_id(*victim.ref)}"]').wait_for(state="detached")
    panel.locator(".jlc-total", has_text="2 entries").wait_for()
    assert panel.locator(".jlc-total").inner_text() == f"2 entries · {human_size(store.size())}"
    panel.locator(".jlc-status", has_text="Cleared entry").wait_for()


def test_lab_shows_rows_and_sizes_and_clears_one_entry(lab):
    _rows_sizes_and_clear(*lab, "lab-clear", "lab")


def test_notebook7_shows_rows_and_sizes_and_clears_one_entry(nb7):
    _rows_sizes_and_clear(*nb7, "nb7-clear", "notebook")


def test_lab_job_progress_moves_while_running_and_background_job_cancels(lab):
    server, page = lab
    server.open(page, "jobs.ipynb",
                "%load_ext jlcache\nimport time, jlcache\n\ndef slow(x):\n    time.sleep(0.03)\n    return x\n\n"
                "p = jlcache.panel()\np",
                "ys = %pmap -n 2 -b threading --no-progress slow range(100)\nassert ys == list(range(100))",
                "job = %pmap --bg -n 2 -b threading --no-progress slow range(5000)\njob",
                before_run=RECORD_JOBS)
    panel = page.locator(".jlc-panel")
    panel.locator("tr.jlc-job-done").wait_for()  # the blocking %pmap finished
    seen = page.evaluate("() => window.jlcSeen")
    first = seen[0][0]
    running = [r for r in seen if r[0] == first and r[1] == "running"]
    moving = {r[2] for r in running if 0 < r[2] < 100}
    assert len(moving) >= 3, seen  # progress reached the page several times...
    assert all(r[6] for r in running if 0 < r[2] < 100), seen  # ...while the cell was still running
    for _, _, done, total, fraction, width, _ in running:  # a sized job: a real fraction, drawn
        assert total == "100" and float(fraction) == pytest.approx(done / 100)
        assert float(width.rstrip("%")) == pytest.approx(done, abs=0.06)
    done_row = panel.locator(f'tr[data-id="{first}"] td.jlc-progress')
    assert (done_row.get_attribute("data-done"), done_row.get_attribute("data-fraction")) == ("100", "1")

    cancel = panel.locator('tr.jlc-job-running [data-action="cancel"]')
    cancel.wait_for()
    page.wait_for_function("""() => window.jupyterapp.shell.currentWidget
        .sessionContext.session.kernel.status === 'idle'""")  # the --bg cell returned at once
    page.wait_for_function("""() => Number(document.querySelector(
        "tr.jlc-job-running td.jlc-progress")?.dataset.done) > 0""")  # cancel a job that has started
    assert panel.locator("tr.jlc-job-running td.jlc-progress").get_attribute("data-total") == "5000"
    cancel.click()
    panel.locator("tr.jlc-job-cancelled .jlc-badge").wait_for()
    row = panel.locator("tr.jlc-job-cancelled td.jlc-progress")
    assert int(row.get_attribute("data-done")) < 5000
    assert 0 < float(row.get_attribute("data-fraction")) < 1  # the bar stops where the job stopped


LOOKS = """\
%load_ext jlcache
import time, jlcache
%jlcache dir {location}
memory = jlcache.ipython.get_memory()

@memory.cache
def a_function_with_a_rather_long_name(x):
    return x

for i in range(2):
    a_function_with_a_rather_long_name(i)

def slow(x):
    time.sleep(0.01)
    return x

_ = %pmap -n 2 -b threading slow range(20)"""

# Every visible cell of the panel's tables that is cut (its content wider than its box), and
# every table that needs sideways scrolling to be read, at the page's current width.
CUT = """() => {
  const cut = [];
  for (const el of document.querySelectorAll(".jlc-panel .jlc-num, .jlc-panel th, .jlc-panel .jlc-badge,"
                                             + " .jlc-panel .jlc-actions .jlc-btn")) {
    if (el.offsetParent && el.scrollWidth > el.clientWidth + 1) cut.push(el.textContent);
  }
  for (const el of document.querySelectorAll(".jlc-panel .jlc-scroll")) {
    if (el.scrollWidth > el.clientWidth + 1) cut.push("scrolls: " + el.firstChild.className);
  }
  return cut;
}"""


@pytest.mark.parametrize("width", [1280, 600])
def test_panel_and_progress_bar_read_well_wide_and_in_a_narrow_column(env, tmp_path, width):
    """Issue 12 item 7: the bar's label cut to "Parallel(n…", cell rows repeating their
    label, row buttons faded as if disabled, a narrow column cutting the tables."""
    server, browser = env
    tab = Tab(browser.new_page(viewport={"width": width, "height": 1000}))
    page = tab.page
    try:
        server.open(page, f"looks-{width}.ipynb", LOOKS.format(location=server.root / f"looks-{width}"),
                    "%%memo\ntime.sleep(0.01)  # something slow\nn = 1", "jlcache.panel(memory)",
                    app="notebook")
        panel = page.locator(".jlc-panel")
        panel.locator("tr.jlc-job-done").wait_for()
        panel.locator("tr.jlc-row-group .jlc-label", has_text="time.sleep(0.01)").wait_for()
        label = page.locator(".widget-hprogress .widget-label").first
        assert label.inner_text() == "Parallel(n_jobs=2)"
        assert label.evaluate("e => e.scrollWidth <= e.clientWidth"), "the bar's label is cut"
        cell_row = panel.locator("tr.jlc-row-group", has_text="time.sleep(0.01)")
        assert cell_row.locator(".jlc-detail").count() == 0, "the cell row repeats its first line"
        clear = panel.locator("tr.jlc-row-group .jlc-clear").first
        assert clear.evaluate("e => getComputedStyle(e).opacity") == "1", "clear looks disabled"
        assert page.evaluate(CUT) == []
        name = panel.locator("tr.jlc-row-group .jlc-label", has_text="a_function").first
        assert name.evaluate("e => e.clientWidth") >= 120  # a name keeps room to be read
        assert panel.locator("tr.jlc-row-group .jlc-name").first.get_attribute("title")
    finally:
        tab.finish(tmp_path)
        Server.close_current(page)
        page.close()
