"""What a student trips over in a first afternoon, checked in Chromium on what is drawn: the side bar
stays in view and fits its column, the confusion matrix is readable, training works on a copy.

All tests share one page (one kernel) and run in file order; each leaves a screenshot in
tests/ui/artifacts/.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from test_dashboard_ui import CAPTION, JOB_MS, NUMBER_BOX, UPDATE_MS, tool

SIDEBAR = ".cnnviz-sidebar"

# Runs in the page: every box in the side bar that is wider than the room it has (a box that can
# scroll sideways shows a scroll bar; one that cannot sticks out of the column).
SIDEWAYS_JS = """sel => {
    const bar = document.querySelector(sel);
    const right = bar.getBoundingClientRect().right;
    const out = [];
    for (const el of [bar, ...bar.querySelectorAll('*')]) {
        const box = el.getBoundingClientRect();
        if (box.width === 0) continue;
        if (el.scrollWidth > el.clientWidth && el.clientWidth > 0
                && ['auto', 'scroll'].includes(getComputedStyle(el).overflowX))
            out.push(['scrolls', el.className.toString(), el.scrollWidth, el.clientWidth]);
        if (box.right > right + 0.5) out.push(['sticks out', el.className.toString(), box.right, right]);
    }
    return {out, scrollWidth: bar.scrollWidth, clientWidth: bar.clientWidth};
}"""


@pytest.fixture(scope="module")
def page(module_dashboard):
    page = module_dashboard
    expect(page.locator(CAPTION)).to_be_visible(timeout=UPDATE_MS)
    return page


@pytest.fixture(autouse=True)
def _screenshot_each_test(screenshot_module_dashboard):
    yield


def in_viewport(page, locator) -> bool:
    box = locator.bounding_box()
    view = page.viewport_size
    return (box is not None and box["y"] >= 0 and box["x"] >= 0
            and box["y"] + box["height"] <= view["height"] and box["x"] + box["width"] <= view["width"])


def test_side_bar_stays_in_view_at_section_11(page):
    page.locator(".cnnviz-section-heatmap").scroll_into_view_if_needed()
    heading = page.locator(".cnnviz-section-heatmap h3")
    expect(heading).to_be_in_viewport()
    # The page really scrolled (section 11 is thousands of pixels down), yet the picker is on screen.
    assert page.evaluate("() => document.querySelector('#rendered_cells').scrollTop") > 1000
    picker = page.locator(".cnnviz-section-picker")
    assert in_viewport(page, picker), picker.bounding_box()
    # Exercise 3: the class filter is usable from there, and the picture follows it.
    page.locator(".cnnviz-section-picker select").select_option(label="ship")
    expect(page.locator(CAPTION)).to_contain_text("True: ship", timeout=UPDATE_MS)
    assert in_viewport(page, picker) and in_viewport(page, heading)


def test_side_bar_fits_its_column_and_the_slider_is_wide(page):
    found = page.evaluate(SIDEWAYS_JS, SIDEBAR)
    assert found["out"] == [] and found["scrollWidth"] <= found["clientWidth"], found
    # The slider has the side bar's width to itself: 10,000 images on at least 220 pixels.
    track = page.locator(".cnnviz-section-picker .widget-slider .slider-container")
    assert track.bounding_box()["width"] >= 220
    # The number box and the buttons step exactly, and say how many images there are.
    expect(page.locator(".cnnviz-section-picker")).to_contain_text("of 10,000")
    box = page.locator(NUMBER_BOX)
    box.fill("9999")
    box.press("Enter")
    expect(page.locator(".cnnviz-section-picker .widget-readout")).to_have_text("9999", timeout=UPDATE_MS)
