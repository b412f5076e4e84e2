"""Links and downloads in Chromium: a link opens the dashboard on its view, a hostile link opens
the first view and says why, "link to this view" gives the page's own address, and pictures and
tables are saved through the browser's normal download.

Downloaded files are checked against values computed here: CIFAR-10's own pixels, viridis' published
end colours at the maps' extremes from a plain Keras sub-model, and that sub-model's statistics.
One page (one kernel) is opened on the link and shared by the tests that follow it.
"""
from __future__ import annotations

import csv

import numpy as np
import pytest
from conftest import ARTIFACTS, load_dashboard
from linked_view import LINKED_QUERY, NUMBER_BOX, WRITTEN_QUERY, check_linked_view
from PIL import Image
from playwright.sync_api import expect

from cnnviz_widgets.render import NUMBER_BAND

UPDATE_MS = 60_000
#: viridis at 0 and at 1 (matplotlib's published table: #440154 and #FDE725).
VIRIDIS_LOW, VIRIDIS_HIGH = (68, 1, 84), (253, 231, 37)


@pytest.fixture(scope="module")
def linked(browser, browser_context_args, voila_server):
    """One page opened on the README's example link."""
    context = browser.new_context(**browser_context_args, accept_downloads=True)
    page = context.new_page()
    try:
        load_dashboard(page, voila_server + "?" + LINKED_QUERY)
        yield page
    finally:
        context.close()


def sub_model_output(model, layer: str, image: np.ndarray) -> np.ndarray:
    import keras

    sub = keras.Model(model.inputs, model.get_layer(layer).output)
    return np.asarray(sub(image[None].astype(np.float32) / 255.0, training=False))[0]


def download(page, section: str, button: str = "save PNG"):
    """Press ``button`` in the section, then its link; the Playwright Download."""
    box = page.locator(f".cnnviz-section-{section} .cnnviz-download").filter(
        has=page.locator("button", has_text=button)).first
    box.locator("button").click()
    link = box.locator("a[download]")
    expect(link).to_be_visible(timeout=UPDATE_MS)
    with page.expect_download(timeout=UPDATE_MS) as info:
        link.click()
    return info.value


def png_rgb(path) -> np.ndarray:
    with Image.open(path) as png:
        return np.asarray(png.convert("RGB")).astype(int)


# --------------------------------------------------------------------------- links

def test_a_link_opens_the_dashboard_on_its_view(linked, cifar_model, cifar_test):
    check_linked_view(linked, cifar_model, cifar_test)
    assert linked.locator(".cnnviz-status").inner_text().strip() == ""
    # Nothing to download has been sent to the page yet.
    assert linked.locator("a[download]").count() == 0


def test_link_to_this_view_gives_the_pages_own_address(linked, voila_server):
    linked.locator(".cnnviz-view-link button", has_text="link to this view").click()
    field = linked.locator(".cnnviz-view-link input[readonly]")
    expect(field).to_have_value(voila_server + "?" + WRITTEN_QUERY, timeout=UPDATE_MS)
    # The browser resolves the link itself, against the page's real address.
    href = linked.locator(".cnnviz-view-link a", has_text="open this view").evaluate("a => a.href")
    assert href == voila_server + "?" + WRITTEN_QUERY
    # The field follows the view: another image.
    box = linked.locator(NUMBER_BOX)
    box.fill("43")
    box.press("Enter")
    expect(field).to_have_value(voila_server + "?" + WRITTEN_QUERY.replace("image=42", "image=43")
                                .replace("&class=cat", ""), timeout=UPDATE_MS)
    box.fill("42")
    box.press("Enter")
    expect(linked.locator(NUMBER_BOX)).to_have_value("42")


# --------------------------------------------------------------------------- downloads

def test_the_layer_strip_downloads_at_its_own_pixels(linked, cifar_test):
    image = cifar_test[0][42]
    expect(linked.locator(NUMBER_BOX)).to_have_value("42")
    saved = download(linked, "strip")
    assert saved.suggested_filename == "cnnviz-layer-by-layer-image42.png"
    rgb = png_rgb(saved.path())
    # The input and four conv stages, 32 × 3 = 96 pixels each, 4-pixel white gaps.
    assert rgb.shape == (96, 5 * 96 + 4 * 4, 3)
    np.testing.assert_array_equal(rgb[:, :96], np.repeat(np.repeat(image, 3, axis=0), 3, axis=1))
    assert (rgb[:, 96:100] == 255).all()


def test_the_feature_maps_download_as_the_whole_montage(linked, cifar_model, cifar_test):
    maps = sub_model_output(cifar_model, "conv2_act", cifar_test[0][42])
    h, w, channels = maps.shape
    section = linked.locator(".cnnviz-section-features")
    readouts = [int(t) for t in section.locator(".widget-readout").all_inner_texts()[:2]]
    shown, cols = readouts  # the "maps" and "columns" sliders
    assert shown == channels
    saved = download(linked, "features")
    assert saved.suggested_filename == "cnnviz-features-conv2_act-image42.png"
    rgb = png_rgb(saved.path())
    factor = round(32 / max(h, w))  # the maps are drawn about 32 pixels wide, in whole pixels
    tile_h, tile_w = NUMBER_BAND + h * factor, w * factor
    rows = -(-channels // cols)
    assert rgb.shape == (rows * (tile_h + 1) - 1, cols * (tile_w + 1) - 1, 3)
    # Each map is scaled to its own range: its strongest value is viridis' yellow, its weakest
    # its dark violet. Channels 0 and the last, at the centre of their pixels.
    for k in (0, channels - 1):
        top = (k // cols) * (tile_h + 1) + NUMBER_BAND
        left = (k % cols) * (tile_w + 1)
        for where, colour in ((np.argmax(maps[..., k]), VIRIDIS_HIGH), (np.argmin(maps[..., k]), VIRIDIS_LOW)):
            r, c = np.unravel_index(where, (h, w))
            pixel = rgb[top + r * factor + factor // 2, left + c * factor + factor // 2]
            assert np.abs(pixel - colour).max() <= 3, (k, pixel, colour)


def test_the_statistics_download_as_csv_with_the_layers_numbers(linked, cifar_model, cifar_test):
    saved = download(linked, "stats", "save CSV")
    assert saved.suggested_filename == "cnnviz-layer-stats-image42.csv"
    with open(saved.path(), newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["layer"] for r in rows] == ["conv1_act", "conv2_act", "conv3_act", "conv4_act", "dense1_act"]
    for row in rows:
        out = sub_model_output(cifar_model, row["layer"], cifar_test[0][42])
        assert row["shape"] == "x".join(str(d) for d in out.shape)
        for key, value in (("mean", out.mean()), ("std", out.std()), ("max", out.max()),
                           ("sparsity", np.mean(out <= 0.01))):
            assert float(row[key]) == pytest.approx(float(value), rel=1e-4, abs=1e-5), (row["layer"], key)


def test_the_heatmap_downloads_its_overlay(linked):
    saved = download(linked, "heatmap")
    assert saved.suggested_filename == "cnnviz-heatmap-grad-cam-conv2_act-image42.png"
    rgb = png_rgb(saved.path())
    # 32 pixels drawn 6 times over: the panel's 192-pixel overlay.
    assert rgb.shape == (192, 192, 3)


# --------------------------------------------------------------------------- a hostile link

def test_a_hostile_link_opens_the_first_view_and_says_why(page, voila_server):
    hostile = "image=99999&layer=<script>window.pwned=1</script>&panel=<img src=x onerror=window.pwned=2>"
    load_dashboard(page, voila_server + "?" + hostile)
    status = page.locator(".cnnviz-status")
    expect(status).to_contain_text("This link could not be opened, so the dashboard shows its first view",
                                   timeout=UPDATE_MS)
    text = status.inner_text()
    assert "image 99999 is out of range: the images are numbered 0 … 9999" in text
    assert "layer '<script>window.pwned=1</script>' not found" in text
    assert "panel '<img src=x onerror=window.pwned=2>' not found" in text
    # Written as text: no element came from the address, and nothing ran.
    assert status.locator("script, img").count() == 0
    assert page.evaluate("() => window.pwned === undefined")
    expect(page.locator(NUMBER_BOX)).to_have_value("0")
    assert "conv1_act" in page.locator(".cnnviz-section-layer select").input_value()  # the first view's layer
    assert page.locator(".jupyter-widget-Collapse-contents:visible").count() == 0


# --------------------------------------------------------------------------- charts

def test_the_probability_chart_downloads_as_drawn_at_twice_its_size(linked, cifar_model, cifar_test):
    """bqplot draws the chart as a PNG in the browser: twice the size it has on screen, the
    predicted class's green bar as long against the 0 %–100 % axis as the model's probability."""
    x = cifar_test[0][42:43].astype(np.float32) / 255.0
    probabilities = np.asarray(cifar_model(x, training=False))[0]
    expect(linked.locator(NUMBER_BOX)).to_have_value("42")
    section = linked.locator(".cnnviz-section-softmax")
    figure = section.locator(".bqplot").first
    box = figure.bounding_box()
    ticks = {t.text_content().strip(): t.bounding_box() for t in section.locator(".axis .tick text").all()}
    zero, full = (ticks[k]["x"] + ticks[k]["width"] / 2 - box["x"] for k in ("0%", "100%"))
    with linked.expect_download(timeout=UPDATE_MS) as info:
        section.locator(".cnnviz-chart-download").click()
    saved = info.value
    assert saved.suggested_filename == "cnnviz-probabilities-image42.png"
    saved.save_as(ARTIFACTS / "downloaded-probabilities-image42.png")  # to look at
    rgb = png_rgb(saved.path())
    assert abs(rgb.shape[1] - 2 * box["width"]) <= 2 and abs(rgb.shape[0] - 2 * box["height"]) <= 2
    green = np.all(np.abs(rgb - (0x2E, 0x7D, 0x32)) <= 12, axis=2)
    assert green.any(), "the predicted class's green bar is not in the picture"
    columns = np.flatnonzero(green.any(axis=0))
    start, length = columns[0] / 2, (columns[-1] + 1 - columns[0]) / 2  # in screen pixels
    assert abs(start - zero) <= 2
    assert length / (full - zero) == pytest.approx(probabilities.max(), abs=0.02)
