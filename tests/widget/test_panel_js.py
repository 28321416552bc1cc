"""The panel's front end in Chromium, against the real ``PanelState`` but without Jupyter.

Layout and interaction details that the end-to-end tests would check slowly (seconds per
notebook) are checked here in milliseconds: long names cut with their full text in a
tooltip, numbers with separators, progress bars as fractions, clicks turned into the
documented messages, rows patched in place (so a button survives updates), and the first
page of 10,000 entries rendered quickly with working paging.
"""

from __future__ import annotations

import time

import pytest
from panel_e2e import chromium, require_browser
from panel_page import open_harness, show, traits, update

from jlcache.stats import Counts
from jlcache.widget.jobs import JobTracker
from jlcache.widget.model import PAGE_SIZE, STALE_BUTTON_TIP, STATE_TIPS, PanelState, scan

pytestmark = [pytest.mark.browser, pytest.mark.timeout(60)]

DASH = "\u2013"  # the pager's range: "1-25 of 10,000" with an en dash
LONG = "my_project.features.engineering.compute_rolling_window_statistics_for_all_sensors_" * 2


@pytest.fixture(scope="module")
def page():
    require_browser()
    with chromium() as browser:
        pg = browser.new_page(viewport={"width": 900, "height": 900})
        pg.set_default_timeout(10_000)
        errors: list[str] = []
        pg.on("pageerror", lambda exc: errors.append(str(exc)))
        open_harness(pg)
        yield pg
        assert not errors, errors


def _state(store, expanded=(), **view) -> PanelState:
    state = PanelState()
    state.scan = scan(store)
    state.view.expanded = set(expanded)
    for k, v in view.items():
        setattr(state.view, k, v)
    return state


def _sent(page) -> list[dict]:
    return page.evaluate("() => window.sent.splice(0)")


def test_long_names_are_cut_with_the_full_name_in_a_tooltip(page, fake_store):
    fake_store.add("functions", LONG, "v1", "k", 10, disk=4096)
    fake_store.info[("functions", LONG, "v1")] = {"module": "pkg", "qualname": LONG, "first_line": "def f(x):"}
    state = _state(fake_store, expanded={f"functions/{LONG}"})
    show(page, traits(state, {("functions", LONG, "v1"): Counts(12345, 3, 3, 1.0)}, {"functions": {LONG: "v1"}}))
    row = page.locator(".jlc-row-group")
    label = row.locator(".jlc-label")
    cut = label.evaluate("(e) => e.scrollWidth > e.clientWidth && getComputedStyle(e).textOverflow === 'ellipsis'")
    assert cut and f"pkg.{LONG}" in row.locator(".jlc-name").get_attribute("title")
    cells = row.locator("td")
    assert [cells.nth(i).inner_text() for i in (1, 2, 3, 4)] == ["1", "4.0 KiB", "12,345", "3"]
    name_box, size_box = cells.nth(0).bounding_box(), cells.nth(2).bounding_box()
    assert name_box["x"] + name_box["width"] <= size_box["x"] + 1  # the name never runs into the numbers
    badge = page.locator(".jlc-row-version .jlc-badge")
    assert badge.inner_text() == "current" and badge.is_visible()


def test_state_labels_and_clear_stale_explain_themselves_in_tooltips(page, fake_store):
    for version in ("v1", "v2", "v3"):
        fake_store.add("functions", "m.f", version, "k")
    fake_store.add("functions", "m.g", "w", "k")
    state = _state(fake_store, expanded={"functions/m.f", "functions/m.g"})
    show(page, traits(state, {}, {"functions": {"m.f": frozenset({"v1", "v2"})}}))
    badges = page.locator(".jlc-row-version .jlc-badge")
    tips = {badges.nth(i).inner_text(): badges.nth(i).get_attribute("title") for i in range(badges.count())}
    assert tips == {name: STATE_TIPS[name] for name in ("current", "stale", "unknown")}
    assert page.locator("[data-action=clear-stale]").get_attribute("title") == STALE_BUTTON_TIP


def test_sized_running_job_shows_its_fraction_and_an_unsized_one_a_sliding_bar(page):
    jobs = JobTracker()
    jobs.handle("job.start", {"id": "a", "func": "f", "backend": "loky", "n_jobs": 2, "total": 5000,
                              "background": True}, when=time.time() - 2)
    jobs.handle("job.progress", {"id": "a", "done": 1250})
    jobs.handle("job.start", {"id": "b", "func": "g", "backend": "threading", "total": None}, when=time.time() - 1)
    jobs.handle("job.progress", {"id": "b", "done": 7})
    show(page, {"jobs": jobs.rows(), "functions": {"rows": [], "total": 0}, "cells": {"rows": [], "total": 0}})
    sized = page.locator('tr[data-id="jobs/a"]')
    assert sized.locator(".jlc-bar-fill").get_attribute("style") == "width:25.0%"
    assert sized.locator(".jlc-count").inner_text() == "1,250 / 5,000"
    assert sized.locator('[role="progressbar"]').get_attribute("aria-valuenow") == "25"
    assert sized.locator("td").nth(1).inner_text() == "loky \u00d72"  # "loky" times 2 workers
    unsized = page.locator('tr[data-id="jobs/b"]')
    assert "jlc-bar-unknown" in unsized.locator(".jlc-bar").get_attribute("class")
    assert unsized.locator(".jlc-count").inner_text() == "7 / ?"
    assert unsized.locator('[data-action="cancel"]').count() == 0  # only background jobs cancel

    button = sized.locator('[data-action="cancel"]')
    handle = button.element_handle()
    for done in (1300, 1400):  # live updates patch the row: the very same button element stays
        jobs.handle("job.progress", {"id": "a", "done": done})
        update(page, "jobs", jobs.rows())
    assert sized.locator(".jlc-count").inner_text() == "1,400 / 5,000"
    assert handle.evaluate("(e) => e.isConnected")
    _sent(page)
    button.click()
    assert _sent(page) == [{"type": "cancel", "id": "jobs/a"}]
    assert button.is_disabled()
    update(page, "jobs", jobs.rows())  # still disabled after the next update: no double cancel
    assert button.is_disabled()


def test_clicks_send_the_documented_messages(page, fake_store):
    fake_store.add("functions", "m.f", "v", "k1", args="x=1")
    state = _state(fake_store, expanded={"functions/m.f"})
    show(page, traits(state, current={"functions": {"m.f": "v"}}))
    _sent(page)
    page.locator('tr[data-id="functions/m.f/v"] [data-action="expand"]').click()
    page.locator('tr[data-id="functions/m.f/v"] [data-action="clear"]').click()
    page.locator('th[data-sort="size"]').first.click()
    page.locator('[data-action="clear-all"]').click()
    assert _sent(page) == [{"type": "expand", "id": "functions/m.f/v", "open": True},
                           {"type": "clear", "id": "functions/m.f/v"},
                           {"type": "sort", "key": "size", "desc": True}]  # clear all waits for a yes
    assert "all 1 entries" in page.locator(".jlc-confirm").inner_text()
    page.locator('[data-action="confirm"]').click()
    assert _sent(page) == [{"type": "clear", "id": "all"}]
    assert page.locator(".jlc-confirm").is_hidden()


def test_ten_thousand_entries_render_one_page_fast_and_page_on(page, fake_store):
    for i in range(10_000):
        fake_store.add("functions", "m.many", "v", f"k{i:05d}", 100 + i, disk=4096, args=f"i={i}",
                       created=1_000_000 + i)
    state = _state(fake_store, expanded={"functions/m.many", "functions/m.many/v"})
    t0 = time.perf_counter()
    synced = traits(state)
    build = time.perf_counter() - t0
    took = page.evaluate("""(t) => { const t0 = performance.now(); window.show(t);
        document.body.offsetHeight; return performance.now() - t0; }""", synced)
    entries = page.locator("tr.jlc-row-entry")
    assert entries.count() == PAGE_SIZE
    assert entries.first.locator(".jlc-label").inner_text() == "i=9999"  # newest first
    pager = page.locator('tr[data-pager="functions/m.many/v"]')
    assert f"1{DASH}{PAGE_SIZE} of 10,000" in pager.inner_text()
    assert build < 1.0 and took < 500, (build, took)  # seconds in Python, ms in the browser

    _sent(page)
    pager.locator('[title="Next page"]').click()
    (msg,) = _sent(page)
    assert msg == {"type": "page", "id": "functions/m.many/v", "page": 1}
    state.view.pages[msg["id"]] = msg["page"]
    update(page, "functions", traits(state)["functions"])
    assert entries.first.locator(".jlc-label").inner_text() == f"i={9999 - PAGE_SIZE}"
    assert f"{PAGE_SIZE + 1}{DASH}{2 * PAGE_SIZE} of 10,000" in pager.inner_text()
