"""The network overview and similar images in a real browser: a click on a map of a column opens
that layer, a click on a similar image opens that image."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import expect
from references import keras_layer
from test_dashboard_ui import JOB_MS, NUMBER_BOX, STATUS, UPDATE_MS, tool

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
#: The overview draws a 32×32 map twice its size: 64-pixel tiles, one pixel apart.
TILE = 64


@pytest.fixture(scope="module")
def page(module_dashboard):
    expect(module_dashboard.locator(NUMBER_BOX)).to_be_visible(timeout=UPDATE_MS)
    return module_dashboard


def test_a_click_on_a_second_layer_map_selects_that_layer(page):
    panel = tool(page, "Overview · The whole network at a glance")
    column = panel.locator(".cnnviz-overview-conv1_bn")
    expect(column).to_contain_text("32×32×32", timeout=UPDATE_MS)
    expect(column).to_contain_text("128 params")
    picture = column.locator("img.widget-image")
    expect(picture).to_be_visible()
    # Its height is the decoded picture's: wait until the browser has it.
    page.wait_for_function("el => el.complete && el.naturalHeight > 0", arg=picture.element_handle(),
                           timeout=UPDATE_MS)
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


def test_a_column_list_selects_its_layer_with_the_keyboard_alone(page):
    panel = tool(page, "Overview · The whole network at a glance")
    choice = panel.locator(".cnnviz-overview-conv2 select")
    expect(choice).to_be_visible(timeout=UPDATE_MS)
    choice.focus()
    # The list starts blank (nothing picked): one step down is "—", two steps map 0, three map 1.
    for _ in range(3):
        page.keyboard.press("ArrowDown")
    expect(page.locator(".cnnviz-section-layer select")).to_have_value("conv · conv2 — 16×16×32", timeout=UPDATE_MS)
    expect(choice).to_have_value("1")
    channel = page.locator(".cnnviz-section-features .widget-slider", has_text="channel")
    expect(channel.locator(".widget-readout")).to_have_text("1", timeout=UPDATE_MS)
    # The column picked before lets go of its pick.
    expect(panel.locator(".cnnviz-overview-conv1_bn select")).not_to_have_value("2")

def test_similar_images_lists_the_nearest_and_a_click_opens_one(page, cifar_model, cifar_test):
    images = cifar_test[0]
    index = int(page.locator(NUMBER_BOX).input_value())
    panel = tool(page, "Advanced · Which images look alike to the network?")
    panel.locator("button", has_text="find similar images").click()
    choices = panel.locator("select option")
    expect(choices).to_have_count(9, timeout=JOB_MS)
    listed = [int(re.match(r"#(\d+):", t).group(1)) for t in choices.all_inner_texts()]
    # The nearest images by a brute-force search over features from a plain Keras sub-model.
    features = np.concatenate([keras_layer(cifar_model, "dense1_act", images[i:i + 1000]).reshape(-1, 128)
                               for i in range(0, len(images), 1000)]).astype(np.float64)
    distances = ((features - features[index]) ** 2).sum(axis=1)
    distances[index] = np.inf
    assert listed[:8] == np.argsort(distances, kind="stable")[:8].tolist()
    montage = panel.locator("img.widget-image").first
    expect(montage).to_be_visible()
    # The second picture of the first row: 96-pixel images, 4 pixels apart.
    montage.click(position={"x": 96 + 4 + 20, "y": 20})
    expect(page.locator(NUMBER_BOX)).to_have_value(str(listed[1]), timeout=UPDATE_MS)
    # The panel follows: now the neighbours of the image just opened.
    expect(panel).to_contain_text(f"nearest to #{listed[1]} ", timeout=UPDATE_MS)
    assert "⚠" not in page.locator(STATUS).inner_text()
    panel.screenshot(path=str(ARTIFACTS / "similar_images_after_click.png"))
