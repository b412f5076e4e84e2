"""The what-if lab and the dataset map in a real browser: the Voilà dashboard in Chromium.

What the page draws is checked against the shipped model run here, in the test process, on images
edited here with a NumPy loop. Both tests share one page (``module_dashboard``).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import expect
from test_dashboard_ui import NUMBER_BOX, STATUS, UPDATE_MS, tool

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
#: The first map of 10,000 images on a busy two-core machine (later runs read the disk cache).
MAP_MS = 600_000


@pytest.fixture(scope="module")
def page(module_dashboard):
    expect(module_dashboard.locator(NUMBER_BOX)).to_be_visible(timeout=UPDATE_MS)
    return module_dashboard


def probabilities(model, image_u8) -> np.ndarray:
    return np.asarray(model(image_u8[None].astype(np.float32) / 255.0, training=False))[0]


def test_a_click_on_the_picture_places_the_patch_and_the_bars_follow(page, cifar_model, cifar_test):
    images, labels, names = cifar_test
    index = int(page.locator(NUMBER_BOX).input_value())
    panel = tool(page, "Advanced · What if? Change the picture")
    pictures = panel.locator("img.widget-image")
    expect(pictures).to_have_count(5, timeout=UPDATE_MS)
    edited = pictures.nth(1)
    expect(edited).to_be_visible()
    box = edited.bounding_box()
    assert round(box["width"]) == 160  # 32 pixels, 5 screen pixels each
    # Screen pixel (101, 52) of the picture is image pixel row 10, column 20.
    edited.click(position={"x": 101, "y": 52})
    expect(panel).to_contain_text("8×8 patch at (10, 20)", timeout=UPDATE_MS)

    image = images[index].copy()
    image[6:14, 16:24] = 128  # the 8×8 grey patch centred on (10, 20), drawn here by hand
    expected = probabilities(cifar_model, image)
    original = probabilities(cifar_model, images[index])
    heights = panel.locator(".bqplot rect.bar").evaluate_all(
        "els => els.map(e => parseFloat(e.getAttribute('height')))")
    assert len(heights) == 2 * len(names)
    # Grouped bars: for each class the original's bar, then the edited image's. Each series sums to
    # 100 %, so a bar's share of its series' total height is its probability, whatever the pixel scale.
    shown_original, shown_edited = np.array(heights[0::2]), np.array(heights[1::2])
    np.testing.assert_allclose(shown_edited / shown_edited.sum(), expected, atol=0.005)
    np.testing.assert_allclose(shown_original / shown_original.sum(), original, atol=0.005)
    predicted = int(np.argmax(expected))
    summary = panel.locator("b", has_text=names[predicted]).first
    expect(summary).to_be_visible()
    caption = panel.locator(".widget-html", has_text="edited").first.inner_text()
    match = re.search(rf"{names[predicted]} ([\d.]+) %", caption)
    assert match and float(match.group(1)) == pytest.approx(100 * expected[predicted], abs=0.051), caption
    assert "⚠" not in page.locator(STATUS).inner_text()


def test_the_patch_is_placed_with_the_keyboard_alone(page, cifar_model, cifar_test):
    """Tab to the labelled row and column boxes, type and step with the arrow keys: the patch moves
    there and the bars show the model's answer for the image covered there by hand."""
    images, labels, names = cifar_test
    index = int(page.locator(NUMBER_BOX).input_value())
    panel = tool(page, "Advanced · What if? Change the picture")
    row, col = panel.get_by_label("patch row", exact=True), panel.get_by_label("patch column", exact=True)
    expect(row).to_be_visible(timeout=UPDATE_MS)
    # The previous test's click put the patch at (10, 20): the boxes say so.
    expect(row).to_have_value("10", timeout=UPDATE_MS)
    expect(col).to_have_value("20")
    row.focus()
    page.keyboard.press("Control+A")
    page.keyboard.type("24")
    page.keyboard.press("Enter")
    expect(panel).to_contain_text("8×8 patch at (24, 20)", timeout=UPDATE_MS)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == col.get_attribute("id")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(panel).to_contain_text("8×8 patch at (24, 18)", timeout=UPDATE_MS)

    image = images[index].copy()
    image[20:28, 14:22] = 128  # the 8×8 grey patch centred on (24, 18), drawn here by hand
    expected = probabilities(cifar_model, image)
    heights = np.array(panel.locator(".bqplot rect.bar").evaluate_all(
        "els => els.map(e => parseFloat(e.getAttribute('height')))"))
    np.testing.assert_allclose(heights[1::2] / heights[1::2].sum(), expected, atol=0.005)
    assert "⚠" not in page.locator(STATUS).inner_text()
    panel.screenshot(path=str(ARTIFACTS / "test_whatif_patch_by_keyboard.png"))


def test_the_map_draws_every_image_and_a_click_opens_one(page, cifar_model, cifar_test):
    images, labels, names = cifar_test
    panel = tool(page, "Advanced · A map of the whole image set")
    panel.locator("button", has_text="draw the map").click()
    predicted = cifar_model.predict(images.astype(np.float32) / 255.0, batch_size=500, verbose=0).argmax(axis=1)
    wrong = predicted != labels
    expect(panel).to_contain_text(f"{int(wrong.sum()):,} misclassified (crosses)", timeout=MAP_MS)
    dots = panel.locator(".bqplot path.dot")
    # Every image is one dot, plus the ring around the selected image.
    expect(dots).to_have_count(len(images) + 1, timeout=UPDATE_MS)
    shapes = dots.evaluate_all("els => els.map(e => e.getAttribute('d'))")
    # A circle's path is drawn with arcs (A), a cross's with straight lines only.
    crosses = [k for k, d in enumerate(shapes) if "A" not in d.upper()]
    assert len(crosses) == int(wrong.sum())

    before = page.locator(NUMBER_BOX).input_value()
    # A cross a student can click: one that no other dot (nor the ring of the selected image) covers.
    panel.locator(".bqplot").first.scroll_into_view_if_needed()
    middle = len(crosses) // 2
    target = dots.evaluate_all("""(els, ks) => {
        for (const k of ks) {
            const r = els[k].getBoundingClientRect();
            if (document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2) === els[k]) { return k; }
        }
        return -1;
    }""", crosses[middle:] + crosses[:middle])
    assert target >= 0, "every cross is covered by another dot"
    dots.nth(target).hover()
    expect(page.get_by_text("predicted:").first).to_be_visible(timeout=UPDATE_MS)
    dots.nth(target).click()
    expect(page.locator(NUMBER_BOX)).not_to_have_value(before, timeout=UPDATE_MS)
    opened = int(page.locator(NUMBER_BOX).input_value())
    # The clicked cross is a misclassified image, and the picker now shows it.
    assert wrong[opened], (opened, names[labels[opened]], names[predicted[opened]])
    expect(page.locator(".cnnviz-section-picker")).to_contain_text(f"Predicted: {names[predicted[opened]]}",
                                                                   timeout=UPDATE_MS)
