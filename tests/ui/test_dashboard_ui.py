"""The dashboard in a real browser: a Voilà server on dashboard.ipynb with the shipped model and
CIFAR-10, driven in Chromium the way a student would use it.

What the page shows is checked against the model's own answers, computed here in the test process
(``load_default_model`` + ``load_cifar10``: probabilities, confusion matrix, layer outputs).

All tests share one page, hence one kernel (see ``module_dashboard``), and run in file order: the
uploads come last because an upload replaces the image set. Each test leaves a full-page screenshot
in tests/ui/artifacts/.
"""
from __future__ import annotations

import csv
import io
import json
import re
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

NOTEBOOK = Path(__file__).resolve().parents[2] / "dashboard.ipynb"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
SECTIONS = ("picker", "layer", "features", "filters", "strip", "dense", "softmax", "compare", "stats",
            "heatmap")
#: Sections whose panel is (or holds) one PNG image of the selected image or layer.
IMAGE_SECTIONS = ("picker", "features", "filters", "strip", "compare", "heatmap")
#: Sections drawn by bqplot as SVG bars.
BAR_SECTIONS = ("dense", "softmax")
#: Time for one round trip through the kernel: a forward pass and every panel's re-render.
UPDATE_MS = 30_000
#: Time for a tool that runs the model on all 10,000 images on a busy machine.
JOB_MS = 120_000
PNG_SIGNATURE = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

# ipywidgets 8 gives every widget view the class jupyter-widgets; a slider's value is in widget-readout.
SLIDER = ".widget-slider.widget-hslider"
CAPTION = ".cnnviz-section-picker [class^='cnnviz-caption']"
THUMBNAIL = ".cnnviz-section-picker img.widget-image"
NUMBER_BOX = ".cnnviz-section-picker input[type=number]"
# The feature grid's first image is the montage of every map, its second the one chosen channel.
FEATURE_MONTAGE = ".cnnviz-section-features img.widget-image >> nth=0"
SOFTMAX_LABELS = ".cnnviz-section-softmax text.label"
SOFTMAX_BARS = ".cnnviz-section-softmax rect.bar"
STATUS = ".cnnviz-status"

# Runs in the page: the facts a student's eyes depend on for one <img>.
IMG_INFO_JS = """async el => {
    const bytes = new Uint8Array(await (await fetch(el.src)).arrayBuffer());
    await el.decode().catch(() => null);
    const box = el.getBoundingClientRect();
    return {src: el.src, head: Array.from(bytes.slice(0, 8)), size: bytes.length,
            natural: [el.naturalWidth, el.naturalHeight], shown: [box.width, box.height],
            rendering: getComputedStyle(el).imageRendering};
}"""


# --------------------------------------------------------------------------- expected values

@pytest.fixture(scope="module")
def reference(cifar_model, cifar_test):
    """The model's own answers, computed in this process: ``probs(i)`` for one test image and,
    on first use, ``all_probs`` for all 10,000 (one batched pass)."""
    images, labels, names = cifar_test

    class Reference:
        def __init__(self):
            self.images, self.labels, self.names = images, labels, list(names)
            self._all = None

        def probs(self, i: int) -> np.ndarray:
            x = images[i:i + 1].astype(np.float32) / 255.0
            return np.asarray(cifar_model(x, training=False))[0].astype(np.float64)

        @property
        def all_probs(self) -> np.ndarray:
            if self._all is None:
                x = images.astype(np.float32) / 255.0
                self._all = np.asarray(cifar_model.predict(x, batch_size=500, verbose=0), dtype=np.float64)
            return self._all

    return Reference()


def layer_output(model, layer: str, images: np.ndarray) -> np.ndarray:
    """``layer``'s output for uint8 ``images`` from a plain single-output Keras sub-model."""
    import keras

    sub = keras.Model(model.inputs, model.get_layer(layer).output)
    return np.asarray(sub.predict(images.astype(np.float32) / 255.0, batch_size=500, verbose=0))


# --------------------------------------------------------------------------- page helpers

@pytest.fixture(scope="module")
def dashboard(module_dashboard):
    """The shared page, once every panel has drawn its first image and chart."""
    page = module_dashboard
    for key in SECTIONS:
        expect(page.locator(f".cnnviz-section-{key}")).to_be_visible(timeout=UPDATE_MS)
    expect(page.locator(SOFTMAX_LABELS)).to_have_count(10, timeout=UPDATE_MS)
    return page


def img_info(locator) -> dict:
    return locator.evaluate(IMG_INFO_JS)


def caption(page) -> str:
    return page.locator(CAPTION).inner_text().strip()


def softmax_percents(page) -> list:
    """The percentages written beside the softmax bars, in class order."""
    return [float(t.rstrip("%")) for t in page.locator(SOFTMAX_LABELS).all_text_contents()]


def bar_widths(page, selector: str = SOFTMAX_BARS) -> list:
    widths = page.locator(selector).evaluate_all("els => els.map(e => e.getAttribute('width'))")
    return [float(w) for w in widths]


def snapshot(page) -> dict:
    """What changes when the image changes."""
    return {
        "thumbnail": page.locator(THUMBNAIL).get_attribute("src"),
        "caption": caption(page),
        "features": page.locator(FEATURE_MONTAGE).get_attribute("src"),
        "percents": page.locator(SOFTMAX_LABELS).all_text_contents(),
        "bars": bar_widths(page),
    }


def wait_for_image(page, probs: np.ndarray, before: dict):
    """Wait until the page has drawn a new image whose softmax percentages are ``probs``.

    The thumbnail and the montage are new PNGs whatever the image; the caption and the percentages
    may by chance read as before (two ships at 100.0 %), so they are awaited by their expected
    content. A timeout here is not reported: the assertions that follow say what differs.
    """
    expect(page.locator(THUMBNAIL)).not_to_have_attribute("src", before["thumbnail"], timeout=UPDATE_MS)
    expect(page.locator(FEATURE_MONTAGE)).not_to_have_attribute("src", before["features"], timeout=UPDATE_MS)
    try:
        page.wait_for_function(
            """([sel, expected]) => {
                const shown = Array.from(document.querySelectorAll(sel), t => parseFloat(t.textContent));
                return shown.length === expected.length
                    && shown.every((v, k) => Math.abs(v - expected[k]) <= 0.051);
            }""",
            arg=[SOFTMAX_LABELS, [float(v) for v in 100 * probs]], timeout=UPDATE_MS,
        )
    except PlaywrightTimeoutError:
        pass


def check_shows_image(page, reference, probs: np.ndarray, label: int | None):
    """The caption and the softmax chart give ``probs``, the model's answer, and the true class
    ``label`` (None for an uploaded picture)."""
    pred = int(np.argmax(probs))
    text = caption(page)
    pattern = r"Predicted: (\w+) \(([\d.]+) %\)"
    if label is not None:
        pattern = rf"True: {reference.names[label]} · " + pattern
    match = re.fullmatch(pattern, text)
    assert match, (text, pattern)
    assert match.group(1) == reference.names[pred]
    assert float(match.group(2)) == pytest.approx(100 * probs[pred], abs=0.051)
    shown = softmax_percents(page)
    assert len(shown) == len(reference.names)
    np.testing.assert_allclose(shown, 100 * probs, atol=0.051)
    # The longest bar is the predicted class (bars are drawn in class order).
    assert int(np.argmax(bar_widths(page))) == pred


def shows_test_image(page, reference, i: int, before: dict):
    """Wait for test image ``i`` and check that the page gives the model's answer for it."""
    probs = reference.probs(i)
    expect(page.locator(NUMBER_BOX)).to_have_value(str(i), timeout=UPDATE_MS)
    wait_for_image(page, probs, before)
    check_shows_image(page, reference, probs, int(reference.labels[i]))


def pick_index(reference, start: int, avoid_class: int) -> int:
    """The first test image from ``start`` on whose predicted class is not ``avoid_class``."""
    for i in range(start, start + 100):
        i %= len(reference.labels)
        if int(np.argmax(reference.probs(i))) != avoid_class:
            return i
    raise AssertionError("the model predicts one class for 100 images in a row")


def tool(page, title: str):
    """Open the accordion item ``title`` (building its panel) and return its content locator."""
    item = page.locator(".jupyter-widget-Collapse").filter(
        has=page.locator(".jupyter-widget-Collapse-header", has_text=title))
    expect(item).to_have_count(1)
    contents = item.locator(".jupyter-widget-Collapse-contents")
    if not contents.is_visible():
        item.locator(".jupyter-widget-Collapse-header").click()
    expect(contents).to_be_visible()
    expect(contents.locator(".cnnviz-widget").first).to_be_visible(timeout=UPDATE_MS)
    return contents


#: Tick labels that a drawn axis line (its path, end ticks included) runs through, in a chart: the
#: line is followed pixel by pixel on screen and each point checked against each label's box.
AXIS_LINES_ACROSS_LABELS = """root => {
    const crossed = new Set();
    for (const axis of root.querySelectorAll('g.axis')) {
        const line = axis.querySelector('path.domain');
        const style = line && getComputedStyle(line);
        if (!line || style.stroke === 'none' || style.display === 'none' || style.visibility === 'hidden') { continue; }
        const boxes = Array.from(axis.querySelectorAll('.tick text')).map(t => [t.textContent.trim(),
                                                                               t.getBoundingClientRect()]);
        const m = line.getScreenCTM();
        for (let at = 0; at <= line.getTotalLength(); at += 0.5) {
            const p = line.getPointAtLength(at);
            const x = m.a * p.x + m.c * p.y + m.e, y = m.b * p.x + m.d * p.y + m.f;
            for (const [text, b] of boxes) {
                if (b.width && x > b.left && x < b.right && y > b.top && y < b.bottom) { crossed.add(text); }
            }
        }
    }
    return Array.from(crossed);
}"""


def upload(page, panel, path: Path):
    """Choose ``path`` in the panel's upload button, as a student picks a file in the dialog.

    ipywidgets 8's FileUpload keeps its ``<input type=file>`` out of the document and clicks it
    from the button, so the file goes through the file chooser that click opens.
    """
    with page.expect_file_chooser(timeout=UPDATE_MS) as chooser:
        panel.locator("button.widget-upload").click()
    chooser.value.set_files(str(path))


def current_index(page) -> int:
    return int(page.locator(NUMBER_BOX).input_value())


def code_lines() -> list:
    notebook = json.loads(NOTEBOOK.read_text())
    lines = []
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            source = "".join(cell["source"])
            lines += [line.strip() for line in source.splitlines() if len(line.strip()) > 6]
    return lines


# --------------------------------------------------------------------------- the panels

def test_every_panel_is_drawn_without_code_or_errors(dashboard):
    page = dashboard
    for key in IMAGE_SECTIONS:
        images = page.locator(f".cnnviz-section-{key} img.widget-image")
        assert images.count() >= 1, key
        info = img_info(images.first)
        assert info["head"] == PNG_SIGNATURE, key
        assert min(info["natural"]) > 0 and min(info["shown"]) > 0, (key, info)
    for key in BAR_SECTIONS:
        widths = bar_widths(page, f".cnnviz-section-{key} svg rect.bar")
        assert len(widths) >= 10 and max(widths) > 0, (key, widths)
    assert page.locator(".cnnviz-section-stats table tr").count() >= 2
    # The heatmap section reads as a sum, image + heatmap = overlay: all three are drawn.
    assert len(page.locator(".cnnviz-section-heatmap img.widget-image").all()) == 3
    for img in page.locator(".cnnviz-section-heatmap img.widget-image").all():
        assert img_info(img)["head"] == PNG_SIGNATURE

    # Voilà strips the sources: no code cell keeps an input area, no editor, no line of the code.
    assert page.locator(".jp-CodeCell .jp-InputArea").count() == 0
    assert page.locator(".jp-InputArea-editor").count() == 0
    text = page.inner_text("body")
    assert not re.search(r"\bimport\s+[A-Za-z_]|\bfrom\s+\S+\s+import\b", text)
    lines = code_lines()
    assert lines, "dashboard.ipynb has no code to look for"
    assert [line for line in lines if line in text] == []
    # No traceback, no failed cell (Voilà's sentence when show_tracebacks is off), no stderr output.
    assert "Traceback" not in text
    assert "There was an error when executing cell" not in text
    assert page.locator("[data-mime-type='application/vnd.jupyter.stderr']").count() == 0
    assert "⚠" not in page.locator(STATUS).inner_text()


def test_page_fits_1366_pixels_and_thumbnails_are_crisp(dashboard):
    page = dashboard
    assert page.viewport_size["width"] == 1366
    widths = page.evaluate("""() => {
        const scroller = document.querySelector('#rendered_cells');
        return {doc: document.documentElement.scrollWidth, inner: window.innerWidth,
                scroller: scroller.scrollWidth, scrollerClient: scroller.clientWidth};
    }""")
    assert widths["doc"] <= widths["inner"], widths
    # Voilà scrolls inside #rendered_cells: it must not scroll sideways either.
    assert widths["scroller"] <= widths["scrollerClient"], widths
    # The main column hides what overflows it, so also check that no section (nor the tools) is cut
    # off at the right, by the window or by the scroller's vertical scroll bar.
    right = page.evaluate("() => { const s = document.querySelector('#rendered_cells'); "
                          "return s.getBoundingClientRect().left + s.clientWidth; }")
    boxes = [f".cnnviz-section-{key}" for key in SECTIONS] + [".cnnviz-main .widget-accordion"]
    for selector in boxes:
        box = page.locator(selector).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= right + 0.5, (selector, box, right)

    thumb = img_info(page.locator(THUMBNAIL))
    pixelated = thumb["rendering"] in ("pixelated", "crisp-edges")
    exact = thumb["natural"] == [round(v) for v in thumb["shown"]]
    assert pixelated or exact, thumb
    # The thumbnail is the 32-pixel image scaled by a whole number, so every pixel stays square.
    assert thumb["natural"][0] % 32 == 0


def test_slider_is_live(dashboard, reference):
    page = dashboard
    slider = page.locator(f".cnnviz-section-picker {SLIDER}")
    readout = slider.locator(".widget-readout")
    start = int(readout.inner_text())
    before = snapshot(page)
    slider.locator(".noUi-handle").focus()
    page.keyboard.press("ArrowRight")
    expect(readout).to_have_text(str(start + 1))
    shows_test_image(page, reference, start + 1, before)


def test_number_box_changes_image(dashboard, reference):
    page = dashboard
    before = snapshot(page)
    now = current_index(page)
    target = pick_index(reference, now + 1234, int(np.argmax(reference.probs(now))))
    box = page.locator(NUMBER_BOX)
    box.fill(str(target))
    box.press("Enter")
    shows_test_image(page, reference, target, before)
    # The new image has another predicted class, so the caption and the bars differ too.
    after = snapshot(page)
    assert after["caption"] != before["caption"]
    assert after["bars"] != before["bars"]
    assert img_info(page.locator(THUMBNAIL))["head"] == PNG_SIGNATURE
    expect(page.locator(f".cnnviz-section-picker {SLIDER} .widget-readout")).to_have_text(str(target))


def test_next_button_shows_next_image(dashboard, reference):
    page = dashboard
    now = current_index(page)
    before = snapshot(page)
    page.locator(".cnnviz-section-picker button", has_text="next ▶").click()
    shows_test_image(page, reference, now + 1, before)


def test_next_misclassified_classifies_in_the_background(dashboard, reference):
    page = dashboard
    now = current_index(page)
    predicted = reference.all_probs.argmax(axis=1)
    wrong = np.flatnonzero(predicted != reference.labels)
    expected = int(wrong[np.searchsorted(wrong, now, side="right") % len(wrong)])
    before = snapshot(page)
    picker = page.locator(".cnnviz-section-picker")
    picker.locator("button", has_text="next misclassified").click()
    # The 10,000 images are classified behind the picker's progress bar, which moves meanwhile
    # (a whole minute when the machine is busy).
    cancel = picker.locator("button", has_text="Cancel")
    expect(cancel).to_be_visible(timeout=UPDATE_MS)
    expect(picker).to_contain_text("classifying 10,000 images", timeout=UPDATE_MS)
    expect(page.locator(NUMBER_BOX)).to_have_value(str(expected), timeout=6 * UPDATE_MS)
    shows_test_image(page, reference, expected, before)
    status = picker.locator(".cnnviz-note", has_text="are misclassified")
    expect(status).to_contain_text(f"{len(wrong):,} of {len(reference.labels):,} images are misclassified",
                                   timeout=UPDATE_MS)
    # Once done, the progress bar is out of the way again and the button works.
    expect(cancel).to_be_hidden(timeout=UPDATE_MS)
    expect(picker.locator("button", has_text="next misclassified")).to_be_enabled()


def test_layer_selector_changes_feature_grid(dashboard):
    page = dashboard
    select = page.locator(".cnnviz-section-layer select")
    options = select.locator("option").all_text_contents()
    # The page opens on the first conv stage, where the first exercise starts.
    assert re.search(r"\bconv1_act\b", select.evaluate("el => el.selectedOptions[0].textContent"))
    note = page.locator(".cnnviz-section-features .cnnviz-note", has_text="feature maps of")
    expect(note).to_contain_text("conv1_act 32×32×32: 32 feature maps of 32×32")
    # conv1 reads RGB, so its filters are drawn in colour.
    expect(page.locator(".cnnviz-section-filters")).to_contain_text("conv1", timeout=UPDATE_MS)
    expect(page.locator(".cnnviz-section-filters .widget-toggle-button", has_text="RGB")).to_be_visible()
    montage = page.locator(FEATURE_MONTAGE)
    old = img_info(montage)
    select.select_option(label=next(o for o in options if re.search(r"\bconv4_act\b", o)))
    expect(montage).not_to_have_attribute("src", old["src"], timeout=UPDATE_MS)
    expect(note).to_contain_text("conv4_act 8×8×64: 64 feature maps of 8×8", timeout=UPDATE_MS)
    new = img_info(montage)
    assert new["head"] == PNG_SIGNATURE
    # 64 maps of 8×8 make another montage than 32 maps of 32×32.
    assert new["natural"] != old["natural"]
    # The learned filters follow the layer.
    expect(page.locator(".cnnviz-section-filters")).to_contain_text("conv4", timeout=UPDATE_MS)


def test_a_click_on_a_feature_map_frames_it_and_shows_its_filter(dashboard, cifar_model):
    page = dashboard
    section = page.locator(".cnnviz-section-features")
    select = page.locator(".cnnviz-section-layer select")
    select.select_option(label=next(o for o in select.locator("option").all_text_contents()
                                    if re.search(r"\bconv1_act\b", o)))
    expect(section.locator(".cnnviz-note", has_text="feature maps of")).to_contain_text(
        "conv1_act 32×32×32", timeout=UPDATE_MS)
    montage = page.locator(FEATURE_MONTAGE)
    expect(montage).to_have_js_property("naturalWidth", 263, timeout=UPDATE_MS)
    info = img_info(montage)
    assert info["natural"] == [263, 175]
    sx, sy = info["shown"][0] / 263, info["shown"][1] / 175
    # Map 11 is row 1, column 3 of tiles 32 wide and 43 high (11 of them its number), 1 pixel apart.
    old = info["src"]
    montage.click(position={"x": (3 * 33 + 16) * sx, "y": (44 + 25) * sy})
    expect(montage).not_to_have_attribute("src", old, timeout=UPDATE_MS)
    channel = section.locator(SLIDER, has_text="channel").locator(".widget-readout")
    expect(channel).to_have_text("11", timeout=UPDATE_MS)
    expect(section.locator(".cnnviz-note", has_text="its filter:")).to_contain_text("conv1 #11")
    # What is drawn: a magenta frame round map 11 and no other, read from the screen.
    shot = np.asarray(Image.open(io.BytesIO(montage.screenshot(path=ARTIFACTS / "feature_map_framed.png")))
                      .convert("RGB")).astype(int)
    scale = shot.shape[1] / 263
    magenta = np.array([0xd8, 0x1b, 0x60])

    def framed(i):
        # The tile's top edge, and the pixel below it: the element's fractional position may shift it.
        r, c = divmod(i, 8)
        y, x = int(r * 44 * scale), int((c * 33 + 16) * scale)
        edge = shot[y: y + int(3 * scale) + 1, x - 3: x + 4]
        return bool((np.abs(edge - magenta).max(axis=-1) <= 12).sum() >= 7)
    assert framed(11) and not any(framed(i) for i in range(32) if i != 11)
    # Beside the large map, filter 11 of conv1 in colour, each weight a block of its own colour.
    picture = section.locator("img.widget-image").nth(2)
    assert img_info(picture)["natural"] == [63, 63]
    drawn = np.asarray(Image.open(io.BytesIO(picture.screenshot())).convert("RGB")).astype(int)
    k = cifar_model.get_layer("conv1").kernel.numpy()[..., 11].astype(np.float64)
    expected = np.floor((k - k.min()) / (k.max() - k.min()) * 255 + 0.5)
    cell = drawn.shape[0] / 3
    for r in range(3):
        for c in range(3):
            got = drawn[int((r + 0.5) * cell), int((c + 0.5) * cell)]
            assert np.abs(got - expected[r, c]).max() <= 3, (r, c, got, expected[r, c])


def test_heatmap_switches_between_activation_and_grad_cam(dashboard):
    page = dashboard
    section = page.locator(".cnnviz-section-heatmap")
    overlay = section.locator("img.widget-image").last
    expect(section.locator(".cnnviz-note", has_text="Mean activation")).to_be_visible(timeout=UPDATE_MS)
    before = img_info(overlay)
    section.locator(".widget-toggle-button", has_text="Grad-CAM").click()
    expect(overlay).not_to_have_attribute("src", before["src"], timeout=UPDATE_MS)
    expect(section.locator(".cnnviz-note", has_text="Grad-CAM of")).to_be_visible(timeout=UPDATE_MS)
    assert img_info(overlay)["head"] == PNG_SIGNATURE
    section.locator(".widget-toggle-button", has_text="activation").click()
    expect(section.locator(".cnnviz-note", has_text="Mean activation")).to_be_visible(timeout=UPDATE_MS)


# --------------------------------------------------------------------------- the teaching tools

def test_misclassification_explorer_shows_the_confusion_matrix(dashboard, reference):
    page = dashboard
    panel = tool(page, "Exercise 4 · Find misclassifications")
    panel.locator("button", has_text="compute confusion matrix").click()
    summary = panel.locator(".widget-html-content", has_text="accuracy")
    expect(summary).to_be_visible(timeout=JOB_MS)
    probs = reference.all_probs
    predicted = probs.argmax(axis=1)
    k = len(reference.names)
    cm = np.zeros((k, k), np.int64)
    np.add.at(cm, (reference.labels, predicted), 1)
    accuracy = float(re.search(r"accuracy ([\d.]+) %", summary.inner_text()).group(1))
    assert accuracy == pytest.approx(100 * np.trace(cm) / cm.sum(), abs=0.051)
    # The heat map's cells carry the counts, row by row (true class), column by predicted class.
    labels = panel.locator("text.label.element")  # the counts, one Label text per cell, row by row
    expect(labels).to_have_count(k * k)
    shown = np.array([int(t) for t in labels.all_text_contents()]).reshape(k, k)
    np.testing.assert_array_equal(shown, cm)
    # Saved as CSV through the browser's download, with the same counts.
    save = panel.locator(".cnnviz-download", has=page.locator("button", has_text="save CSV"))
    save.locator("button").click()
    with page.expect_download(timeout=UPDATE_MS) as saved:
        save.locator("a[download]").click()
    assert saved.value.suggested_filename == "cnnviz-confusion-matrix.csv"
    with open(saved.value.path(), newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["true \\ predicted", *reference.names] and [r[0] for r in rows[1:]] == reference.names
    np.testing.assert_array_equal(np.array([[int(v) for v in r[1:]] for r in rows[1:]]), cm)

    # A click on an off-diagonal cell lists its images: at its centre, on its number, which lets
    # the click through (Playwright refuses to click an element that another one covers).
    t, p = np.unravel_index(np.argmax(cm - np.diag(np.diag(cm))), cm.shape)
    panel.locator("rect.heatmapcell").nth(int(t * k + p)).click()
    expect(panel.locator(".widget-html-content", has_text="images match")).to_contain_text(
        f"{cm[t, p]:,} images match", timeout=UPDATE_MS)
    montage = panel.locator("img.widget-image")
    expect(montage).to_be_visible(timeout=UPDATE_MS)
    assert img_info(montage)["head"] == PNG_SIGNATURE
    first = panel.locator(".widget-select select option").first
    expect(first).to_contain_text(f"{reference.names[t]} → {reference.names[p]}")


def test_confidence_analysis_finds_three_examples(dashboard, reference):
    page = dashboard
    panel = tool(page, "Exercise 5 · Confident or unsure?")
    panel.locator("button", has_text="find the three examples").click()
    captions = panel.locator("[class^='cnnviz-caption']")
    expect(captions).to_have_count(3, timeout=JOB_MS)
    images = panel.locator("img.widget-image")
    expect(images).to_have_count(3)
    for img in images.all():
        expect(img).to_be_visible()
        assert img_info(img)["head"] == PNG_SIGNATURE
    probs = reference.all_probs
    found = []
    for text in captions.all_inner_texts():
        i = int(re.match(r"#(\d+) ·", text).group(1))
        found.append(i)
        assert reference.names[int(reference.labels[i])] in text
        assert reference.names[int(probs[i].argmax())] in text
    confident_right, unsure_right, confident_wrong = found
    labels = reference.labels
    assert probs[confident_right].argmax() == labels[confident_right]
    assert probs[unsure_right].argmax() == labels[unsure_right]
    assert probs[confident_wrong].argmax() != labels[confident_wrong]
    assert probs[confident_right].max() > probs[unsure_right].max()
    assert panel.locator("svg rect.bar").count() >= 3 * 10
    # Each caption's percentage stays on one line ("24.9 %", never "24.9" then "%").
    for caption in captions.all():
        lines = caption.evaluate(r"""el => {
            const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
            for (let node = walker.nextNode(); node; node = walker.nextNode()) {
                const m = /\d+\.\d\s%/.exec(node.textContent);
                if (!m) { continue; }
                const range = document.createRange();
                range.setStart(node, m.index); range.setEnd(node, m.index + m[0].length);
                return new Set(Array.from(range.getClientRects()).map(r => Math.round(r.top))).size;
            }
            return -1;
        }""")
        assert lines == 1, caption.inner_text()
    # The neuron axes end on the last index, written whole inside the chart and clear of its neighbour.
    for fig in panel.locator(".bqplot.figure").all():
        ticks = fig.evaluate("""fig => {
            const svg = fig.querySelector('svg').getBoundingClientRect();
            // The horizontal axis: the one whose tick labels share one line.
            for (const axis of fig.querySelectorAll('g.axis')) {
                const labels = Array.from(axis.querySelectorAll('.tick text')).map(t => [t.textContent.trim(),
                    t.getBoundingClientRect()]);
                if (labels.length > 1 && new Set(labels.map(([, r]) => Math.round(r.top))).size === 1) {
                    return {right: svg.right, ticks: labels.map(([text, r]) => [text, r.left, r.right])};
                }
            }
            return null;
        }""")
        names = [t[0] for t in ticks["ticks"]]
        assert names[-1] == "127", names
        assert ticks["ticks"][-1][2] <= ticks["right"] - 2, ticks
        assert ticks["ticks"][-1][1] >= ticks["ticks"][-2][2] + 4, ticks
        assert fig.evaluate(AXIS_LINES_ACROSS_LABELS) == []
    panel.screenshot(path=str(ARTIFACTS / "confidence_examples.png"))


def test_filter_optimizer_generates_an_image(dashboard):
    page = dashboard
    panel = tool(page, "Advanced · What a filter wants to see")
    panel.locator("button", has_text="generate").click()
    caption = panel.locator(".widget-html-content", has_text="for the grey noise")
    expect(caption).to_be_visible(timeout=JOB_MS)
    image = panel.locator("img.widget-image").first
    expect(image).to_be_visible()
    assert img_info(image)["head"] == PNG_SIGNATURE
    grown, noise = (float(v) for v in re.search(
        r"mean activation: (-?[\d.e+-]+) for this image, (-?[\d.e+-]+) for the grey noise",
        caption.inner_text()).groups())
    assert grown > noise


def test_conv_arithmetic_matches_the_network(dashboard, reference, cifar_model):
    page = dashboard
    i = current_index(page)
    panel = tool(page, "Advanced · Convolution arithmetic")
    equation = panel.locator("ol")
    expect(equation).to_contain_text("✓ the same", timeout=UPDATE_MS)
    match = re.search(r"the network's (\w+)\[(\d+), (\d+), (\d+)\] is (-?[\d.e+-]+)", equation.inner_text())
    layer, row, col, ch = match.group(1), *(int(v) for v in match.groups()[1:4])
    real = layer_output(cifar_model, layer, reference.images[i:i + 1])[0, row, col, ch]
    assert float(match.group(5)) == pytest.approx(real, abs=1e-4)
    assert panel.locator("table.cnnviz-arith").count() >= 3
    for img in panel.locator("img.widget-image").all():
        assert img_info(img)["head"] == PNG_SIGNATURE


def test_how_a_cnn_works_uses_this_models_numbers(dashboard):
    panel = tool(dashboard, "How a CNN works · common questions")
    expect(panel).to_contain_text("524,288 weights")
    expect(panel).to_contain_text("32×32×32 → 16×16×32 → 16×16×64 → 8×8×64")
    expect(panel).to_contain_text("Why are some feature maps dark?")


def test_top_images_of_a_channel(dashboard, reference, cifar_model):
    page = dashboard
    panel = tool(page, "Advanced · Top images per channel")
    layer = panel.locator("select").first
    layer.select_option(label="conv1_act")
    panel.locator("button", has_text="find top images").click()
    montage = panel.locator("img.widget-image")
    expect(montage).to_be_visible(timeout=JOB_MS)
    assert img_info(montage)["head"] == PNG_SIGNATURE
    buttons = panel.locator("button", has_text="open #")
    expect(buttons).to_have_count(9, timeout=UPDATE_MS)
    shown = [int(t.split("#")[1]) for t in buttons.all_text_contents()]
    means = layer_output(cifar_model, "conv1_act", reference.images).mean(axis=(1, 2))[:, 0]
    ninth = np.sort(means)[-9]
    # Near-equal means may swap places between two batched runs, so compare values, not only indices.
    assert all(means[i] >= ninth - 1e-5 for i in shown), (shown, means[shown], ninth)
    assert all(a >= b - 1e-5 for a, b in zip(means[shown], means[shown][1:]))
    assert len(set(shown)) == 9


# Runs in the page: every line of one bqplot figure as [[x, y], ...] in data units, read back
# through the figure's own axis ticks (screen position of each labelled tick), and the tick labels.
LINES_JS = """fig => {
    const screen = (el, x, y) => {
        const m = el.getCTM();
        return [m.a * x + m.c * y + m.e, m.b * x + m.d * y + m.f];
    };
    const ticks = axis => Array.from(axis.querySelectorAll('.tick'), t => {
        const [x, y] = screen(t, 0, 0);
        return {text: t.textContent.trim(), x, y};
    });
    const axes = Array.from(fig.querySelectorAll('g.axis'));
    const xs = ticks(axes[0]), ys = ticks(axes[1]);
    const fit = (pts, key, value) => {
        const a = pts[0], b = pts[pts.length - 1];
        return p => value(a) + (p - a[key]) * (value(b) - value(a)) / (b[key] - a[key]);
    };
    const toX = fit(xs, 'x', t => parseFloat(t.text) / 100), toY = fit(ys, 'y', t => parseFloat(t.text));
    const lines = Array.from(fig.querySelectorAll('path.line'), p => {
        const nums = (p.getAttribute('d') || '').match(/-?[\\d.]+(e-?\\d+)?/g) || [];
        const pts = [];
        for (let k = 0; k + 1 < nums.length; k += 2) {
            const [x, y] = screen(p, +nums[k], +nums[k + 1]);
            pts.push([toX(x), toY(y)]);
        }
        return pts;
    });
    return {lines, xticks: xs.map(t => t.text), yticks: ys.map(t => t.text)};
}"""


def test_explanation_lab_follows_the_image_and_draws_its_curves(dashboard, reference, cifar_model):
    page = dashboard
    panel = tool(page, "Advanced · Which explanation can you trust?")
    maps = panel.locator("img.widget-image").first
    figures = panel.locator(".bqplot.figure")
    expect(figures).to_have_count(2, timeout=UPDATE_MS)
    for visit in range(2):
        i = current_index(page)
        expect(panel.locator(".widget-html", has_text=f"Image #{i},")).to_be_visible(timeout=UPDATE_MS)
        expect(figures.nth(0).locator("path.line")).to_have_count(7, timeout=UPDATE_MS)
        assert img_info(maps)["head"] == PNG_SIGNATURE
        # Every curve starts at the model's probability for this image (computed here) and ends at
        # its probability for a black image, or the other way round for insertion.
        probs = reference.probs(i)
        c = int(np.argmax(probs))
        black = float(np.asarray(cifar_model(np.zeros((1, 32, 32, 3), np.float32)))[0, c])
        for fig, (start, end) in zip(figures.all(), ((probs[c], black), (black, probs[c]))):
            # bqplot draws its paths after the message that changes them: wait until they start
            # where this image's curves start (or the update time is over), then check all of them.
            deadline = time.monotonic() + 30
            while True:
                drawn = fig.evaluate(LINES_JS)
                starts = [line[0][1] for line in drawn["lines"] if line]
                if (len(starts) == 7 and all(abs(y - start) <= 0.01 for y in starts)) or time.monotonic() > deadline:
                    break
                page.wait_for_timeout(100)
            assert drawn["yticks"][0] in ("0.0", "0") and drawn["yticks"][-1] in ("1.0", "1"), drawn["yticks"]
            assert drawn["xticks"][0] == "0%" and drawn["xticks"][-1] == "100%", drawn["xticks"]
            assert len(drawn["lines"]) == 7
            for line in drawn["lines"]:
                assert len(line) == 17
                assert line[0][0] == pytest.approx(0.0, abs=0.01) and line[-1][0] == pytest.approx(1.0, abs=0.01)
                assert line[0][1] == pytest.approx(start, abs=0.01) and line[-1][1] == pytest.approx(end, abs=0.01)
                assert all(-0.01 <= y <= 1.01 for _, y in line)
        # A pointer over a chart brings up no toolbar over its curves.
        figures.nth(0).hover()
        shown = figures.nth(0).locator(".toolbar_div").evaluate_all(
            "els => els.filter(e => e.getBoundingClientRect().height > 0 && "
            "getComputedStyle(e).visibility !== 'hidden').length")
        assert shown == 0
        maps.scroll_into_view_if_needed()
        panel.screenshot(path=str(ARTIFACTS / f"explanation_lab_image_{visit}.png"))
        if visit == 0:
            before = maps.get_attribute("src")
            page.locator(".cnnviz-section-picker button", has_text="next ▶").click()
            expect(maps).not_to_have_attribute("src", before, timeout=UPDATE_MS)
    # The sanity check runs in the background with the job bar, then shows every method's maps.
    panel.locator("button", has_text="sanity check").click()
    expect(panel).to_contain_text("done in", timeout=JOB_MS)
    expect(panel.locator(".cnnviz-note", has_text="Saliency")).to_be_visible()
    check = panel.locator("img.widget-image").nth(1)
    assert img_info(check)["head"] == PNG_SIGNATURE
    check.scroll_into_view_if_needed()
    check.screenshot(path=str(ARTIFACTS / "explanation_lab_sanity_check.png"))
    # Section 11 offers the same methods.
    section = page.locator(".cnnviz-section-heatmap")
    section.locator(".widget-toggle-button", has_text="other method").click()
    section.locator("select").last.select_option(label="Integrated Gradients")
    expect(section.locator(".cnnviz-note", has_text="Integrated Gradients of the input pixels")).to_be_visible(
        timeout=UPDATE_MS)
    section.screenshot(path=str(ARTIFACTS / "heatmap_integrated_gradients.png"))
    assert "⚠" not in page.locator(STATUS).inner_text()


def test_train_panel_starts_and_cancels(dashboard):
    """Training the full network takes minutes, so the test starts it and cancels it: the job runs
    in the kernel's background thread, the dashboard stays usable, and the old model stays."""
    page = dashboard
    before = caption(page)
    panel = tool(page, "Advanced · Train the network")
    expect(panel.locator(SLIDER, has_text="epochs")).to_be_visible()
    expect(panel.locator(".widget-dropdown", has_text="batch size")).to_be_visible()
    # No empty chart before training: a line says how to get one.
    hint = panel.locator(".cnnviz-note", has_text="Press “train a new model” to draw the loss and accuracy")
    expect(hint).to_be_visible()
    expect(panel.locator(".bqplot")).to_have_count(0)
    expect(panel.locator("button", has_text="save .keras")).to_be_visible()
    train, cancel = panel.locator("button", has_text="train"), panel.locator("button", has_text="Cancel")
    expect(cancel).to_be_disabled()
    train.click()
    expect(panel).to_contain_text("training on 50,000 images", timeout=JOB_MS)
    # Then loss and accuracy, each on a chart of its own, with an epoch axis of the 3 epochs set.
    expect(hint).to_be_hidden()
    expect(panel.locator(".bqplot")).to_have_count(2)
    for figure in panel.locator(".bqplot").all():
        expect(figure).to_be_visible()
        axis = figure.locator("g.axis", has=page.locator("text", has_text="epoch"))
        ticks = axis.locator("g.tick text").all_text_contents()
        assert [t.strip() for t in ticks] == ["1", "2", "3"], ticks
    expect(cancel).to_be_enabled()
    cancel.click()
    expect(panel).to_contain_text("cancelled", timeout=JOB_MS)
    expect(cancel).to_be_disabled()
    assert caption(page) == before
    assert "⚠" not in page.locator(STATUS).inner_text()


def test_model_upload_accepts_a_keras_file(dashboard, tmp_path):
    from cnnviz_widgets.loading.shipped_model import DEFAULT_MODEL_PATH

    page = dashboard
    before = snapshot(page)
    panel = tool(page, "Your own model")
    upload(page, panel, DEFAULT_MODEL_PATH)
    expect(panel).to_contain_text("with 10 classes (input 32×32×3)", timeout=JOB_MS)
    expect(page.locator(STATUS)).to_contain_text("Loaded model")
    # The same weights give the same answer for the image on screen.
    assert caption(page) == before["caption"]
    assert page.locator(SOFTMAX_LABELS).all_text_contents() == before["percents"]

    notes = tmp_path / "notes.keras"
    notes.write_text("not a model")
    upload(page, panel, notes)
    expect(page.locator(STATUS)).to_contain_text("⚠ ModelUpload", timeout=UPDATE_MS)
    expect(panel).to_contain_text("was not loaded", timeout=UPDATE_MS)
    assert caption(page) == before["caption"]


def test_uploading_a_text_file_keeps_the_image(dashboard, tmp_path):
    page = dashboard
    before = caption(page)
    panel = tool(page, "Your own images")
    notes = tmp_path / "notes.txt"
    notes.write_text("a cat, honestly")
    upload(page, panel, notes)
    expect(page.locator(STATUS)).to_contain_text("⚠ ImageUpload", timeout=UPDATE_MS)
    expect(page.locator(STATUS)).to_contain_text("notes.txt")
    expect(panel).to_contain_text("notes.txt", timeout=UPDATE_MS)
    assert caption(page) == before
    assert "Traceback" not in page.inner_text("body")


def test_uploading_a_png_shows_its_prediction(dashboard, reference, tmp_path):
    from PIL import Image

    page = dashboard
    before = snapshot(page)
    now = current_index(page)
    i = pick_index(reference, now + 500, int(np.argmax(reference.probs(now))))
    path = tmp_path / f"cifar_{i}.png"
    Image.fromarray(reference.images[i]).save(path)
    panel = tool(page, "Your own images")
    upload(page, panel, path)
    expect(panel).to_contain_text("Loaded 1 image at 32×32", timeout=UPDATE_MS)
    # The button counts the file it took, as a file chooser does (never "(0)" after an upload).
    expect(panel.locator("button.widget-upload")).to_have_text("Upload images (1)")
    probs = reference.probs(i)
    wait_for_image(page, probs, before)
    # Uploaded pictures have no true class, so the caption only states the prediction.
    check_shows_image(page, reference, probs, label=None)
    assert caption(page) != before["caption"]
    expect(page.locator(NUMBER_BOX)).to_have_value("10000")  # added after the 10,000 test images
    assert "⚠" not in page.locator(STATUS).inner_text()


def test_a_section_below_the_first_screen_is_built_when_the_student_scrolls_to_it(page, voila_server, cifar_test):
    """At first paint section 11 is only its title, its text and a button; scrolling to it builds
    it, and it shows the selected image's pictures."""
    from conftest import RENDER_TIMEOUT_MS

    page.goto(voila_server, wait_until="commit", timeout=RENDER_TIMEOUT_MS)
    page.wait_for_selector("#loading", state="detached", timeout=RENDER_TIMEOUT_MS)
    page.wait_for_selector(FEATURE_MONTAGE, state="visible", timeout=RENDER_TIMEOUT_MS)
    heatmap = page.locator(".cnnviz-section-heatmap")
    expect(heatmap.locator("h3")).to_have_text(re.compile("Where the network looks"))
    expect(heatmap.locator(".cnnviz-lazy button")).to_have_text("show section 11 · Where the network looks")
    assert heatmap.locator("img.widget-image").count() == 0
    page.screenshot(path=str(ARTIFACTS / "test_lazy_first_screen.png"))
    # Record what the button says from now until the section replaces it.
    heatmap.evaluate("""section => {
        window.lazyTexts = [];
        const record = () => section.querySelectorAll('.cnnviz-lazy button').forEach(
            b => window.lazyTexts.push([b.textContent.trim(), b.getAttribute('aria-busy')]));
        new MutationObserver(record).observe(section, {subtree: true, childList: true,
                                                       characterData: true, attributes: true});
    }""")
    heatmap.scroll_into_view_if_needed()
    pictures = heatmap.locator("img.widget-image")
    expect(pictures).to_have_count(3, timeout=UPDATE_MS)
    expect(heatmap.locator(".cnnviz-lazy")).to_have_count(0)
    # While the kernel built it, the button said the section was on its way, not "show …".
    texts = page.evaluate("window.lazyTexts")
    assert ["opening section 11 · Where the network looks…", "true"] in texts, texts
    # The first picture is the selected image, named by its true class from the data set itself.
    _, labels, names = cifar_test
    index = int(page.locator(NUMBER_BOX).input_value())
    expect(pictures.first).to_have_attribute("title", f"The picture: image {index:,} (a {names[int(labels[index])]})")
    heatmap.screenshot(path=str(ARTIFACTS / "test_lazy_heatmap_built.png"))
