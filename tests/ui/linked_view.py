"""A link that reopens a view, and what a page opened on it must show: shared by the dashboard's
browser tests and the classroom's (pre-heated kernels)."""
from __future__ import annotations

import numpy as np
from playwright.sync_api import expect

#: The README's example of a link.
LINKED_QUERY = "image=42&layer=conv2_act&heatmap=gradcam&class=cat&panel=TopImages"
#: The query the "link to this view" button writes for that view.
WRITTEN_QUERY = "image=42&layer=conv2_act&heatmap=grad-cam&class=cat&panel=TopImages"
TOP_IMAGES = "Advanced · Top images per channel"
NUMBER_BOX = ".cnnviz-section-picker input[type=number]"
CAPTION = ".cnnviz-section-picker [class^='cnnviz-caption']"
TIMEOUT_MS = 60_000


def caption_of(model, test_data, i: int) -> str:
    """The picker's caption for test image ``i``, from a plain Keras call."""
    images, labels, names = test_data
    probs = np.asarray(model(images[i:i + 1].astype(np.float32) / 255.0, training=False))[0]
    pred = int(np.argmax(probs))
    return f"True: {names[int(labels[i])]} · Predicted: {names[pred]} ({100 * float(probs[pred]):.1f} %)"


def check_linked_view(page, model, test_data, first_drawing: bool = True) -> None:
    """The page shows the view of ``LINKED_QUERY``: image 42 in the picker, conv2_act in the layer
    selector and the feature grid, Grad-CAM for "cat" in the heatmap panel, the top-images panel
    open. ``first_drawing``: from the page's first drawing on (a kernel started for its page)."""
    box = page.locator(NUMBER_BOX)
    expect(box).to_be_visible(timeout=TIMEOUT_MS)
    if first_drawing:
        # Read once, without waiting for a change: a page that first drew image 0 and then moved
        # on would be a visible extra step.
        assert box.input_value() == "42"
    else:
        # A pre-heated kernel learns its page's address only when the page is requested, and
        # races the page's own loading to apply it: on a busy server the first view may show
        # for a moment (README, "Share a view").
        expect(box).to_have_value("42", timeout=TIMEOUT_MS)
    expect(page.locator(CAPTION)).to_have_text(caption_of(model, test_data, 42), timeout=TIMEOUT_MS)
    assert "conv2_act" in page.locator(".cnnviz-section-layer select").input_value()
    h, w, c = (int(d) for d in model.get_layer("conv2_act").output.shape[1:])
    expect(page.locator(".cnnviz-section-features .cnnviz-note",
                        has_text=f"conv2_act {h}×{w}×{c}: {c} feature maps")).to_be_visible(timeout=TIMEOUT_MS)
    heatmap = page.locator(".cnnviz-section-heatmap")
    expect(heatmap.locator(".widget-toggle-button.mod-active")).to_have_text("Grad-CAM")
    assert heatmap.get_by_label("class", exact=True).input_value() == "cat"
    expect(heatmap.locator(".cnnviz-note", has_text=f"Grad-CAM of conv2_act ({h}×{w}×{c}) for cat")
           ).to_be_visible(timeout=TIMEOUT_MS)
    item = page.locator(".jupyter-widget-Collapse").filter(
        has=page.locator(".jupyter-widget-Collapse-header", has_text=TOP_IMAGES))
    contents = item.locator(".jupyter-widget-Collapse-contents")
    expect(contents).to_be_visible(timeout=TIMEOUT_MS)
    expect(contents).to_contain_text("Which images excite this channel most?", timeout=TIMEOUT_MS)
    expect(contents.locator("button", has_text="find top images")).to_be_visible()
