"""Watching the network learn in a real browser: the training timeline moves the whole dashboard
to the untrained network, and back.

The prediction expected at epoch 0 is computed here, in the test process, with plain Keras on the
checkpoint's weights read from the file with NumPy.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import expect
from test_dashboard_ui import CAPTION, NUMBER_BOX, STATUS, UPDATE_MS, tool

from cnnviz_widgets import build_cifar_cnn
from cnnviz_widgets.loading.checkpoints import DEFAULT_CHECKPOINT_DIR, MANIFEST_NAME

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
TITLE = "Watch it learn · the network epoch by epoch"


@pytest.fixture(scope="module")
def page(module_dashboard):
    expect(module_dashboard.locator(NUMBER_BOX)).to_be_visible(timeout=UPDATE_MS)
    return module_dashboard


def untrained_probabilities(image_u8):
    manifest = json.loads((DEFAULT_CHECKPOINT_DIR / MANIFEST_NAME).read_text())
    model = build_cifar_cnn(dropout=0.25)
    with np.load(DEFAULT_CHECKPOINT_DIR / manifest["checkpoints"]["0"]["file"]) as data:
        for variable in model.weights:
            variable.assign(data[variable.path].astype(np.float32))
    return np.asarray(model(image_u8[None].astype(np.float32) / 255.0, training=False))[0], manifest


def test_the_timeline_moves_every_panel_to_epoch_0_and_back(page, cifar_model, cifar_test):
    images, _, names = cifar_test
    index = int(page.locator(NUMBER_BOX).input_value())
    before = page.locator(CAPTION).inner_text()
    panel = tool(page, TITLE)
    accuracy = panel.locator(".cnnviz-epoch-accuracy")
    expect(accuracy).to_be_visible(timeout=UPDATE_MS)
    handle = panel.locator(".noUi-handle")
    handle.focus()
    # Each arrow key is one step left on the slider; the seven epochs end at 0.
    for _ in range(10):
        now = handle.get_attribute("aria-valuenow")
        if float(now) <= float(handle.get_attribute("aria-valuemin")):
            break
        page.keyboard.press("ArrowLeft")
        expect(handle).not_to_have_attribute("aria-valuenow", now, timeout=UPDATE_MS)
    expect(panel).to_contain_text("Epoch 0", timeout=UPDATE_MS)

    expected, manifest = untrained_probabilities(images[index])
    predicted = int(np.argmax(expected))
    caption = page.locator(CAPTION)
    expect(caption).to_contain_text(f"Predicted: {names[predicted]}", timeout=UPDATE_MS)
    shown = re.search(r"Predicted: \w+ \(([\d.]+) %\)", caption.inner_text())
    assert shown and float(shown.group(1)) == pytest.approx(100 * expected[predicted], abs=0.051)
    assert caption.inner_text() != before
    recorded = manifest["checkpoints"]["0"]["test_accuracy"]
    expect(accuracy).to_have_text(f"{100 * recorded:.1f} %")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "learning_epoch_0.png"), full_page=False)

    panel.get_by_role("button", name="last epoch").click()
    expect(panel).to_contain_text("the final model", timeout=UPDATE_MS)
    expect(caption).to_have_text(before, timeout=UPDATE_MS)
    assert "⚠" not in page.locator(STATUS).inner_text()


def test_the_comparison_shows_epoch_3_and_the_final_model_on_the_same_image(page, cifar_model, cifar_test):
    images, _, names = cifar_test
    index = int(page.locator(NUMBER_BOX).input_value())
    panel = tool(page, "Watch it learn · two moments side by side")
    tops = panel.locator(".cnnviz-top-classes")
    expect(tops).to_have_count(2, timeout=UPDATE_MS)
    expect(panel).to_contain_text("Epoch 3", timeout=UPDATE_MS)
    manifest = json.loads((DEFAULT_CHECKPOINT_DIR / MANIFEST_NAME).read_text())
    model = build_cifar_cnn(dropout=0.25)
    with np.load(DEFAULT_CHECKPOINT_DIR / manifest["checkpoints"]["3"]["file"]) as data:
        for variable in model.weights:
            variable.assign(data[variable.path].astype(np.float32))
    for side, reference in zip(range(2), (model, cifar_model)):
        expected = np.asarray(reference(images[index][None].astype(np.float32) / 255.0, training=False))[0]
        best = int(np.argmax(expected))
        expect(tops.nth(side).locator("li").first).to_have_text(f"{names[best]} {100 * expected[best]:.1f} %")
    ARTIFACTS.mkdir(exist_ok=True)
    panel.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "learning_comparison.png"), full_page=False)
    assert "⚠" not in page.locator(STATUS).inner_text()
