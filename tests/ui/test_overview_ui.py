"""The network overview in a real browser: a click on a map of a column opens that layer."""
from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect
from test_dashboard_ui import NUMBER_BOX, STATUS, UPDATE_MS, tool

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
#: The overview draws a 32×32 map twice its size: 64-pixel tiles, one pixel apart.
TILE = 64


@pytest.fixture(scope="module")
def page(module_dashboard):
    expect(module_dashboard.locator(NUMBER_BOX)).to_be_visible(timeout=UPDATE_MS)
    return module_dashboard


def test_a_click_on_a_second_layer_map_selects_that_layer(page):
    panel = tool(page, "Start here · The whole network at a glance")
    column = panel.locator(".cnnviz-overview-conv1_bn")
    expect(column).to_contain_text("32×32×32", timeout=UPDATE_MS)
    expect(column).to_contain_text("128 params")
    picture = column.locator("img.widget-image")
    expect(picture).to_be_visible()
    box = picture.bounding_box()
    assert round(box["width"]) == TILE and round(box["height"]) == 4 * TILE + 3
    picture.scroll_into_view_if_needed()
    # The third map from the top: channel 2.
    picture.click(position={"x": TILE / 2, "y": 2 * (TILE + 1) + TILE / 2})
    layer = page.locator(".cnnviz-section-layer select")
    expect(layer).to_have_value("conv · conv1_bn — 32×32×32", timeout=UPDATE_MS)
    expect(column.locator("select")).to_have_value("2")
    channel = page.locator(".cnnviz-section-features .widget-slider", has_text="channel")
    expect(channel.locator(".widget-readout")).to_have_text("2", timeout=UPDATE_MS)
    assert "⚠" not in page.locator(STATUS).inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    panel.screenshot(path=str(ARTIFACTS / "overview_after_click.png"))
