"""A person opens 02_live_capture in a browser, clicks Start, watches, clicks Stop."""

from __future__ import annotations

import re
import time

import pyarrow.parquet as pq
import pytest

from .conftest import ARTIFACTS, ROOT

pytestmark = pytest.mark.browser

NOTEBOOK = ROOT / "notebooks" / "02_live_capture.ipynb"


def _counter(page, name: str) -> int:
    text = page.locator(f".diarkit-counter[data-name='{name}']").first.inner_text(timeout=5000)
    return int(re.sub(r"[^0-9]", "", text) or 0)


def _wait_counter_above(page, name: str, floor: int, timeout_s: float) -> int:
    deadline = time.monotonic() + timeout_s
    value = _counter(page, name)
    while value <= floor and time.monotonic() < deadline:
        page.wait_for_timeout(250)
        value = _counter(page, name)
    assert value > floor, f"counter {name} stayed at {value} for {timeout_s} s"
    return value


def test_start_watch_stop_in_chromium(voila, browser):
    url, out = voila(NOTEBOOK)
    page = browser.new_page(viewport={"width": 1280, "height": 1400})
    page.set_default_timeout(30_000)
    page.goto(url, timeout=120_000)
    start = page.get_by_role("button", name="Start")
    start.wait_for(state="visible", timeout=120_000)  # Voilà ran the notebook's setup cells
    page.wait_for_selector(".diarkit-status[data-status='idle']")
    assert _counter(page, "frames") == 0

    start.click()
    page.wait_for_selector(
        ".diarkit-status[data-status='live'], .diarkit-status[data-status='connecting']"
    )
    first = _wait_counter_above(page, "frames", 0, 60)
    grown = _wait_counter_above(page, "frames", first, 60)  # counters keep growing live
    assert grown > first
    _wait_counter_above(page, "utterances", 0, 30)
    page.wait_for_selector(".diarkit-timeline-note", timeout=60_000)  # live timeline drawn
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "browser-02_live_capture-live.png"), full_page=True)

    page.get_by_role("button", name="Stop").click()
    status = page.wait_for_selector(".diarkit-status[data-status='stopped']", timeout=90_000)
    assert "frames in Parquet" in status.inner_text()
    final = _counter(page, "frames")
    assert final >= grown
    assert _counter(page, "rows") > 0
    note = page.locator(".diarkit-timeline-note").inner_text()
    assert "(final)" in note
    img_width = page.evaluate(
        "() => Math.max(0, ...Array.from(document.querySelectorAll('img'))"
        ".map(i => i.naturalWidth))"
    )
    assert img_width > 400, "the timeline image did not render"
    shot = ARTIFACTS / "browser-02_live_capture.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000

    # what the panel reported is what was flushed to Parquet
    parts = sorted((out / "widget" / "raw").rglob("*.parquet"))
    assert parts, f"no raw Parquet parts under {out / 'widget'}"
    rows = sum(pq.read_metadata(p).num_rows for p in parts)
    assert rows == _counter(page, "rows")
