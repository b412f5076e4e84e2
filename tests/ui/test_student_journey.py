"""A student's afternoon: the page's learning path, exercises 1 to 5 in page order, on one page (one
kernel), as a student does them with mouse and keyboard: find the start on the first screen, do each
exercise where it sits, check it against the list's answer, tick it done.

Each step saves what the screen shows as tests/ui/artifacts/journey_<step>.png. Expected values
come from the shipped model and CIFAR-10 in this process (plain Keras, NumPy), never from the page.
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


def in_view(page, locator) -> bool:
    box = locator.bounding_box()
    return box is not None and 0 <= box["y"] and box["y"] + box["height"] <= page.viewport_size["height"]


def exercise_row(page, n: int):
    return page.locator(".cnnviz-exercises .widget-hbox").nth(n - 1)


def press(page, locator, key: str = "Space"):
    """What a keyboard user does: focus the control, press a key."""
    locator.focus()
    page.keyboard.press(key)


def answer_of(page, n: int) -> str:
    """Ask the list for exercise ``n``'s answer with the keyboard and return it once worked out."""
    row = exercise_row(page, n)
    press(page, row.locator(".widget-toggle-button", has_text="answer"))
    answer = row.locator(".cnnviz-answer")
    expect(answer).to_contain_text("Answer:", timeout=UPDATE_MS)
    expect(answer).not_to_contain_text("Working", timeout=JOB_MS)
    return answer.inner_text()


def tick(page, n: int):
    box = exercise_row(page, n).locator("input[type=checkbox]")
    press(page, box)
    expect(box).to_be_checked()


def shot(page, step: str):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"journey_{step}.png"))


def picker_in_view(page) -> bool:
    box = page.locator(".cnnviz-section-picker").bounding_box()
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= page.viewport_size["height"]


def test_the_path_from_the_first_screen_through_exercises_1_to_5(journey, model_answers, cifar_model, cifar_test):
    import keras

    page = journey
    probs, labels, names, dense1_act = model_answers
    predicted = probs.argmax(axis=1)

    # The first screen (1366 × 768, nothing scrolled): what the page is, where to start, the exercises.
    start = page.locator(".cnnviz-start")
    expect(start).to_contain_text("Start here")
    expect(start).to_contain_text("Follow the numbers")
    assert in_view(page, page.locator(".cnnviz-start h2"))
    assert in_view(page, page.locator(".cnnviz-section-picker h3", has_text="1 · Pick an image"))
    rows = page.locator(".cnnviz-exercises .widget-hbox")
    expect(rows).to_have_count(5)
    assert in_view(page, exercise_row(page, 1))
    for n in range(1, 6):
        expect(exercise_row(page, n)).to_contain_text(f"Exercise {n}")
        expect(exercise_row(page, n).locator("input[type=checkbox]")).not_to_be_checked()
    shot(page, "0_start")

    # Exercise 1: the page opens on conv1_act; its maps, numbered, and the filters with the same numbers.
    layer = page.locator(".cnnviz-section-layer select")
    assert "conv1_act" in layer.evaluate("el => el.selectedOptions[0].textContent")
    expect(page.locator(".cnnviz-section-features")).to_contain_text("Exercise 1")
    montage = page.locator(FEATURE_MONTAGE)
    page.wait_for_function(
        "el => el.naturalWidth === 263 && el.naturalHeight === 175", arg=montage.element_handle(),
        timeout=UPDATE_MS)  # 32 maps of 32 pixels, 8 a row, each under its number
    info = montage.evaluate(IMG_INFO_JS)
    assert info["head"] == PNG_SIGNATURE and info["shown"][0] >= 263
    expect(page.locator(".cnnviz-section-filters")).to_contain_text("conv1")
    filters = page.locator(".cnnviz-section-filters img.widget-image")
    assert filters.evaluate(IMG_INFO_JS)["natural"][1] > 4 * 33  # four rows of filters, numbered
    kernel = cifar_model.get_layer("conv1").get_weights()[0].astype(np.float64)  # (3, 3, 3, 32)
    colour = kernel.mean(axis=(0, 1))
    blue = int(np.argmax(colour[2] - (colour[0] + colour[1]) / 2))
    grey = kernel.sum(axis=2)
    horizontal = int(np.argmax(np.abs(grey[0].sum(0) - grey[2].sum(0)) / np.abs(grey).sum(axis=(0, 1))))
    text = answer_of(page, 1)
    assert f"filter {blue} leans most to blue" in text and f"filter {horizontal} is the clearest horizontal" in text
    tick(page, 1)
    page.locator(".cnnviz-section-features").scroll_into_view_if_needed()
    shot(page, "1_conv1_maps_and_filters")

    # Exercise 2: the comparison grid, five images stage by stage, and how alike they are.
    section = page.locator(".cnnviz-section-compare")
    expect(section).to_contain_text("Exercise 2")
    section.scroll_into_view_if_needed()
    grid = section.locator("img.widget-image").first
    info = grid.evaluate(IMG_INFO_JS)
    assert info["head"] == PNG_SIGNATURE and info["natural"] == [5 * 64 + 4 * 4, 5 * 64 + 4 * 4]
    captions = section.locator("[class^='cnnviz-caption']")
    expect(captions).to_have_count(5)
    five = []
    for row, name in zip(captions.all_inner_texts(), ("cat", "dog", "ship", "airplane", "truck")):
        i = int(re.match(r"#(\d+):", row).group(1))
        assert labels[i] == names.index(name) and f"→ {names[predicted[i]]}" in row
        five.append(i)
    x = cifar_test[0][five].astype(np.float32) / 255.0
    alike = {}
    for stage in ("conv1_act", "conv2_act", "conv3_act", "conv4_act"):
        out = np.asarray(keras.Model(cifar_model.inputs[0], cifar_model.get_layer(stage).output)(x), np.float64)
        unit = out.reshape(5, -1) / np.linalg.norm(out.reshape(5, -1), axis=1, keepdims=True)
        alike[stage] = ((unit @ unit.T).sum() - 5) / 20
    text = answer_of(page, 2)
    assert f"They differ most at {min(alike, key=alike.get)}" in text
    for stage, value in alike.items():
        assert f"{stage} {value:.2f}" in text
    tick(page, 2)
    section.scroll_into_view_if_needed()
    shot(page, "2_comparison")

    # Exercise 3: conv4_act in step 2, Grad-CAM in section 11, then a plane, a cat and a ship
    # chosen with the class filter while section 11 is on screen.
    layer.select_option(label="conv · conv4_act — 8×8×64")
    heat = page.locator(".cnnviz-section-heatmap")
    expect(heat).to_contain_text("Exercise 3")
    heat.scroll_into_view_if_needed()
    heat.locator(".widget-toggle-button", has_text="Grad-CAM").click()
    expect(heat.locator(".cnnviz-note", has_text="Grad-CAM of")).to_be_visible(timeout=UPDATE_MS)
    overlay = heat.locator("img.widget-image").last
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
    text = answer_of(page, 3)
    for name in ("airplane", "cat", "ship"):
        first = int(np.flatnonzero(labels == names.index(name))[0])
        assert f"image #{first} (True: {name} · Predicted: {names[predicted[first]]}" in text
    tick(page, 3)

    # Exercise 4: no empty grid before "compute"; the confusion matrix, a cell of it, a picture opened.
    panel = tool(page, "Exercise 4 · Find misclassifications")
    expect(panel).to_contain_text("Exercise 4")
    expect(panel).to_contain_text("Press “compute confusion matrix”")
    expect(panel.locator(".bqplot")).to_have_count(0)
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
    # A click on the second picture of the list opens it: 64-pixel pictures with 4-pixel gaps.
    second = [int(re.match(r"#(\d+)", o).group(1)) for o in choices.locator("option").all_inner_texts()][1]
    pictures = panel.locator("img.widget-image").last
    pictures.scroll_into_view_if_needed()
    pictures.click(position={"x": 64 + 4 + 30, "y": 30})
    expect(page.locator(NUMBER_BOX)).to_have_value(str(second), timeout=UPDATE_MS)
    shot(page, "4_confusion_matrix")
    rate = {c: np.mean(predicted[labels == c] == c) for c in range(k)}
    weakest = min(rate, key=rate.get)
    text = answer_of(page, 4)
    assert f"Its weakest class is {names[weakest]}: {100 * rate[weakest]:.1f} % of them right" in text
    tick(page, 4)

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
    wrong = predicted != labels
    sure = int(np.sum(wrong & (probs.max(axis=1) > 0.9)))
    text = answer_of(page, 5)
    assert f"Yes: {sure:,} of its {int(wrong.sum()):,} wrong answers" in text
    assert f"The surest mistake is image #{confident_wrong}" in text  # the panel's third example
    tick(page, 5)
    checks = page.locator(".cnnviz-exercises input[type=checkbox]")
    assert [checks.nth(i).is_checked() for i in range(5)] == [True] * 5
    page.locator(".cnnviz-start").scroll_into_view_if_needed()
    shot(page, "6_path_done")
