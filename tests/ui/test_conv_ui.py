"""The convolution animation and playground in a real browser: the Voilà dashboard in Chromium,
driven by the keyboard.

The sum the page shows is checked against one worked out here with NumPy from the shipped model's
kernel and the image, zero-padded by hand; the playground's numbers against a real Keras layer.
"""
from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
from playwright.sync_api import expect
from test_dashboard_ui import NUMBER_BOX, STATUS, UPDATE_MS, tool

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


@pytest.fixture(scope="module")
def page(module_dashboard):
    expect(module_dashboard.locator(NUMBER_BOX)).to_be_visible(timeout=UPDATE_MS)
    return module_dashboard


def test_the_animation_steps_with_the_keyboard_and_shows_the_models_sum(page, cifar_model, cifar_test):
    images, _, _ = cifar_test
    index = int(page.locator(NUMBER_BOX).input_value())
    panel = tool(page, "Advanced · Convolution, step by step")
    expect(panel.locator(".cnnviz-anim-sum")).to_be_visible(timeout=UPDATE_MS)
    panel.locator("select").first.select_option("conv1")
    expect(panel).to_contain_text("Position 0 of 0–1023", timeout=UPDATE_MS)

    forward = panel.get_by_role("button", name="step ▶")
    forward.focus()
    page.keyboard.press("Enter")
    expect(panel).to_contain_text("Position 1 of 0–1023", timeout=UPDATE_MS)
    assert page.evaluate("document.activeElement.textContent").strip() == "step ▶"
    page.keyboard.press("Enter")
    expect(panel).to_contain_text("Position 2 of 0–1023: output row 0, column 2", timeout=UPDATE_MS)

    # conv1: 3×3, stride 1, 'same' on 32×32, so one zero row and column on every side; the window of
    # output (0, 2) covers padded rows 0..2 and columns 2..4 (image rows -1..1, columns 1..3).
    kernel, bias = cifar_model.get_layer("conv1").get_weights()
    assert kernel.shape[:2] == (3, 3) and cifar_model.get_layer("conv1").get_config()["padding"] == "same"
    x = np.pad(images[index].astype(np.float64) / 255.0, ((1, 1), (1, 1), (0, 0)))
    expected = float((x[0:3, 2:5, :] * kernel[:, :, :, 0]).sum())
    shown = float(panel.locator(".cnnviz-anim-sum").inner_text())
    assert shown == pytest.approx(expected, abs=6e-5)
    z = float(panel.locator(".cnnviz-anim-z").inner_text())
    assert z == pytest.approx(expected + float(bias[0]), abs=6e-5)
    expect(panel).to_contain_text("✓ the same")
    assert "⚠" not in page.locator(STATUS).inner_text()
    panel.screenshot(path=str(ARTIFACTS / "test_conv_animation_by_keyboard.png"))


def test_the_player_is_named_and_plays_and_pauses_from_the_keyboard(page):
    """The Play widget's icon buttons get names (the accessibility script); Enter on play moves the
    window on by itself, Enter again pauses it."""
    panel = tool(page, "Advanced · Convolution, step by step")
    play = panel.locator(".widget-play > button").first
    expect(play).to_have_attribute("aria-label", "play", timeout=UPDATE_MS)
    expect(panel.locator(".widget-play > button").nth(1)).to_have_attribute("aria-label", "stop")
    panel.get_by_role("button", name="fast").click()
    start = panel.get_by_role("slider", name="position").get_attribute("aria-valuenow")
    play.focus()
    page.keyboard.press("Enter")
    expect(play).to_have_attribute("aria-label", "pause", timeout=UPDATE_MS)
    expect(panel.get_by_role("slider", name="position")).not_to_have_attribute("aria-valuenow", start,
                                                                               timeout=UPDATE_MS)
    page.keyboard.press("Enter")
    expect(play).to_have_attribute("aria-label", "play", timeout=UPDATE_MS)
    # Paused: the position stays where it stopped.
    stopped = panel.get_by_role("slider", name="position").get_attribute("aria-valuenow")
    page.wait_for_timeout(1000)  # on purpose: four steps' time at "fast", in which nothing may move
    assert panel.get_by_role("slider", name="position").get_attribute("aria-valuenow") == stopped
    # noUiSlider writes the value as "3.0".
    expect(panel).to_contain_text(f"Position {int(float(stopped))} of 0–1023", timeout=UPDATE_MS)
    assert "⚠" not in page.locator(STATUS).inner_text()


def test_the_playground_follows_the_keyboard_and_agrees_with_keras(page):
    panel = tool(page, "Advanced · Convolution playground")
    expect(panel).to_contain_text("Output 32 × 32 × 32", timeout=UPDATE_MS)
    kernel = panel.get_by_role("slider", name="kernel")
    kernel.focus()
    page.keyboard.press("ArrowRight")
    expect(panel.get_by_role("slider", name="kernel")).to_have_attribute("aria-valuenow", "4.0",
                                                                         timeout=UPDATE_MS)
    panel.get_by_role("button", name="valid").focus()
    page.keyboard.press("Enter")
    layer = keras.layers.Conv2D(32, 4, padding="valid")
    layer.build((None, 32, 32, 3))
    rows = layer.compute_output_shape((None, 32, 32, 3))[1]
    expect(panel).to_contain_text(f"Output {rows} × {rows} × 32", timeout=UPDATE_MS)
    expect(panel).to_contain_text(f"{layer.count_params():,} weights")
    assert "⚠" not in page.locator(STATUS).inner_text()
    panel.screenshot(path=str(ARTIFACTS / "test_conv_playground_by_keyboard.png"))
