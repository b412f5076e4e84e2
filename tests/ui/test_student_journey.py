"""A student's afternoon: the guide's exercises 1 to 5, in order, on one page (one kernel), as a
student does them with mouse and keyboard, checking at each step what appears on screen.

Each step saves what the screen shows as tests/ui/artifacts/journey_<step>.png. Expected values
come from the shipped model and CIFAR-10 in this process (plain Keras), never from the page.
"""
from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import ARTIFACTS, load_dashboard
from playwright.sync_api import expect
from test_dashboard_ui import CAPTION, FEATURE_MONTAGE, IMG_INFO_JS, JOB_MS, NUMBER_BOX, PNG_SIGNATURE, UPDATE_MS, tool


@pytest.fixture(scope="module")
def journey(browser, browser_context_args, voila_server):
    """One page for the whole journey (its console errors fail the test, as on every page)."""
    context = browser.new_context(**browser_context_args)
    page = context.new_page()
    try:
        load_dashboard(page, voila_server)
        expect(page.locator(CAPTION)).to_be_visible(timeout=UPDATE_MS)
        yield page
    finally:
        context.close()


@pytest.fixture(scope="module")
def model_answers(cifar_model, cifar_test):
    """Probabilities of all 10,000 test images and a ``dense1_act(i)`` of one image, from Keras."""
    import keras

    images, labels, names = cifar_test
    probs = cifar_model.predict(images.astype(np.float32) / 255.0, batch_size=500, verbose=0)
    dense = keras.Model(cifar_model.inputs[0], cifar_model.get_layer("dense1_act").output)

    def dense1_act(i: int) -> np.ndarray:
        return np.asarray(dense(images[i:i + 1].astype(np.float32) / 255.0, training=False))[0]

    return probs, labels, list(names), dense1_act


def shot(page, step: str):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"journey_{step}.png"))


def picker_in_view(page) -> bool:
    box = page.locator(".cnnviz-section-picker").bounding_box()
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= page.viewport_size["height"]


def test_exercises_1_to_5_in_order(journey, model_answers):
    page = journey
    probs, labels, names, dense1_act = model_answers
    predicted = probs.argmax(axis=1)
    shot(page, "0_start")

    # Exercise 1: the confusion matrix, a cell of it, one of its images opened.
    panel = tool(page, "Exercise 1 · Find misclassifications")
    panel.locator("button", has_text="compute confusion matrix").click()
    expect(panel.locator(".widget-html-content", has_text="accuracy")).to_be_visible(timeout=JOB_MS)
    k = len(names)
    cm = np.zeros((k, k), np.int64)
    np.add.at(cm, (labels, predicted), 1)
    counts = panel.locator("text.label.element")
    expect(counts).to_have_count(k * k, timeout=UPDATE_MS)
    np.testing.assert_array_equal(np.array([int(t) for t in counts.all_text_contents()]).reshape(k, k), cm)
    t, p = np.unravel_index(np.argmax(cm - np.diag(np.diag(cm))), cm.shape)  # the most common mistake
    panel.locator("rect.heatmapcell").nth(int(t * k + p)).click(position={"x": 4, "y": 4})
    expect(panel).to_contain_text(f"{cm[t, p]:,} images match", timeout=UPDATE_MS)
    choices = panel.locator(".widget-select select")
    first = choices.locator("option").first
    expect(first).to_contain_text(f"{names[t]} → {names[p]}")
    opened = int(re.match(r"#(\d+)", first.inner_text()).group(1))
    thumbnail = page.locator(".cnnviz-section-picker img.widget-image").get_attribute("src")
    choices.select_option(index=0)
    # The side bar, in view although the panel is far down the page, shows the opened image.
    expect(page.locator(NUMBER_BOX)).to_have_value(str(opened), timeout=UPDATE_MS)
    expect(page.locator(CAPTION)).to_contain_text(f"True: {names[t]} · Predicted: {names[p]}")
    expect(page.locator(".cnnviz-section-picker img.widget-image")).not_to_have_attribute("src", thumbnail)
    assert picker_in_view(page)
    shot(page, "1_confusion_matrix")

    # Exercise 2: conv1_act's maps, numbered, and the filters with the same numbers.
    page.locator(".cnnviz-section-features").scroll_into_view_if_needed()
    page.locator(".cnnviz-section-layer select").select_option(label="conv · conv1_act — 32×32×32")
    expect(page.locator(".cnnviz-section-features")).to_contain_text("conv1_act 32×32×32", timeout=UPDATE_MS)
    montage = page.locator(FEATURE_MONTAGE)
    page.wait_for_function(
        "el => el.naturalWidth === 263 && el.naturalHeight === 175", arg=montage.element_handle(),
        timeout=UPDATE_MS)  # 32 maps of 32 pixels, 8 a row, each under its number
    info = montage.evaluate(IMG_INFO_JS)
    assert info["head"] == PNG_SIGNATURE and info["shown"][0] >= 263
    expect(page.locator(".cnnviz-section-filters")).to_contain_text("conv1")
    filters = page.locator(".cnnviz-section-filters img.widget-image")
    assert filters.evaluate(IMG_INFO_JS)["natural"][1] > 4 * 33  # four rows of filters, numbered
    shot(page, "2_conv1_maps_and_filters")

    # Exercise 3: a plane, a cat and a ship chosen with the class filter while section 11 is on screen.
    page.locator(".cnnviz-section-heatmap").scroll_into_view_if_needed()
    overlay = page.locator(".cnnviz-section-heatmap img.widget-image").last
    for name in ("airplane", "cat", "ship"):
        before = overlay.get_attribute("src")
        page.locator(".cnnviz-section-picker select").select_option(label=name)
        expect(page.locator(CAPTION)).to_contain_text(f"True: {name}", timeout=UPDATE_MS)
        expect(overlay).not_to_have_attribute("src", before, timeout=UPDATE_MS)
        expect(page.locator(".cnnviz-section-heatmap h3")).to_be_in_viewport()
        assert picker_in_view(page)
        index = int(page.locator(NUMBER_BOX).input_value())
        assert labels[index] == names.index(name)
        shot(page, f"3_heatmap_{name}")

    # Exercise 4: the comparison grid, five images stage by stage.
    section = page.locator(".cnnviz-section-compare")
    section.scroll_into_view_if_needed()
    grid = section.locator("img.widget-image").first
    info = grid.evaluate(IMG_INFO_JS)
    assert info["head"] == PNG_SIGNATURE and info["natural"] == [5 * 64 + 4 * 4, 5 * 64 + 4 * 4]
    rows = section.locator("[class^='cnnviz-caption']")
    expect(rows).to_have_count(5)
    for row, name in zip(rows.all_inner_texts(), ("cat", "dog", "ship", "airplane", "truck")):
        i = int(re.match(r"#(\d+):", row).group(1))
        assert labels[i] == names.index(name) and f"→ {names[predicted[i]]}" in row
    shot(page, "4_comparison")

    # Exercise 5: the three examples, with the dense layer's bars drawn to scale.
    panel = tool(page, "Exercise 5 · Confident or unsure?")
    panel.locator("button", has_text="find the three examples").click()
    captions = panel.locator("[class^='cnnviz-caption']")
    expect(captions).to_have_count(3, timeout=JOB_MS)
    charts = panel.locator(".bqplot")
    expect(charts).to_have_count(3, timeout=UPDATE_MS)
    found = [int(re.match(r"#(\d+) ·", text).group(1)) for text in captions.all_inner_texts()]
    confident_right, unsure_right, confident_wrong = found
    assert predicted[confident_right] == labels[confident_right]
    assert predicted[unsure_right] == labels[unsure_right]
    assert predicted[confident_wrong] != labels[confident_wrong]
    charts.last.scroll_into_view_if_needed()
    for chart, i in zip(charts.all(), found):
        bars = chart.locator("rect.bar")
        expect(bars).to_have_count(128, timeout=UPDATE_MS)
        heights = np.array(bars.evaluate_all("els => els.map(e => +e.getAttribute('height'))"))
        values = dense1_act(i)
        assert heights.max() > 20  # tall enough to read
        # Every bar's height is its activation on one common scale.
        big = np.abs(values) > 0.05 * np.abs(values).max()
        ratios = heights[big] / np.abs(values[big])
        np.testing.assert_allclose(ratios, np.median(ratios), rtol=0.03, atol=0.6 / np.abs(values[big]).min())
        ticks = chart.locator(".tick text").all_text_contents()
        assert "127" in ticks and "0" in ticks
    shot(page, "5_confidence")
