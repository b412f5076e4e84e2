"""What a student trips over in a first afternoon, checked in Chromium on what is drawn: the side bar
stays in view and fits its column, the confusion matrix is readable, training works on a copy.

All tests share one page (one kernel) and run in file order; each leaves a screenshot in
tests/ui/artifacts/.
"""
from __future__ import annotations

import pytest
from playwright.sync_api import expect
from test_dashboard_ui import AXIS_LINES_ACROSS_LABELS, CAPTION, JOB_MS, NUMBER_BOX, UPDATE_MS, tool

SIDEBAR = ".cnnviz-sidebar"

# Runs in the page: every box in the side bar that is wider than the room it has (a box that can
# scroll sideways shows a scroll bar; one that cannot sticks out of the column).
SIDEWAYS_JS = """sel => {
    const bar = document.querySelector(sel);
    const right = bar.getBoundingClientRect().right;
    const out = [];
    for (const el of [bar, ...bar.querySelectorAll('*')]) {
        const box = el.getBoundingClientRect();
        if (box.width === 0) continue;
        if (el.scrollWidth > el.clientWidth && el.clientWidth > 0
                && ['auto', 'scroll'].includes(getComputedStyle(el).overflowX))
            out.push(['scrolls', el.className.toString(), el.scrollWidth, el.clientWidth]);
        if (box.right > right + 0.5) out.push(['sticks out', el.className.toString(), box.right, right]);
    }
    return {out, scrollWidth: bar.scrollWidth, clientWidth: bar.clientWidth};
}"""


@pytest.fixture(scope="module")
def page(module_dashboard):
    page = module_dashboard
    expect(page.locator(CAPTION)).to_be_visible(timeout=UPDATE_MS)
    return page


@pytest.fixture(autouse=True)
def _screenshot_each_test(screenshot_module_dashboard):
    yield


def in_viewport(page, locator) -> bool:
    box = locator.bounding_box()
    view = page.viewport_size
    return (box is not None and box["y"] >= 0 and box["x"] >= 0
            and box["y"] + box["height"] <= view["height"] and box["x"] + box["width"] <= view["width"])


def test_side_bar_stays_in_view_at_section_11(page):
    page.locator(".cnnviz-section-heatmap").scroll_into_view_if_needed()
    heading = page.locator(".cnnviz-section-heatmap h3")
    expect(heading).to_be_in_viewport()
    # The page really scrolled (section 11 is thousands of pixels down), yet the picker is on screen.
    assert page.evaluate("() => document.querySelector('#rendered_cells').scrollTop") > 1000
    picker = page.locator(".cnnviz-section-picker")
    assert in_viewport(page, picker), picker.bounding_box()
    # Exercise 3: the class filter is usable from there, and the picture follows it.
    page.locator(".cnnviz-section-picker select").select_option(label="ship")
    expect(page.locator(CAPTION)).to_contain_text("True: ship", timeout=UPDATE_MS)
    assert in_viewport(page, picker) and in_viewport(page, heading)


def test_side_bar_fits_its_column_and_the_slider_is_wide(page):
    found = page.evaluate(SIDEWAYS_JS, SIDEBAR)
    assert found["out"] == [] and found["scrollWidth"] <= found["clientWidth"], found
    # The slider has the side bar's width to itself: 10,000 images on at least 220 pixels.
    track = page.locator(".cnnviz-section-picker .widget-slider .slider-container")
    assert track.bounding_box()["width"] >= 220
    # The number box and the buttons step exactly, and say how many images there are.
    expect(page.locator(".cnnviz-section-picker")).to_contain_text("of 10,000")
    box = page.locator(NUMBER_BOX)
    box.fill("9999")
    box.press("Enter")
    expect(page.locator(".cnnviz-section-picker .widget-readout")).to_have_text("9999", timeout=UPDATE_MS)


# Runs in the page: every count of the confusion matrix with its cell's colour and its own, and the
# boxes of the "true class" label and of the row names.
MATRIX_JS = """fig => {
    const rgb = s => s.match(/[\\d.]+/g).slice(0, 3).map(Number);
    const cells = Array.from(fig.querySelectorAll('rect.heatmapcell')).map(r => {
        const b = r.getBoundingClientRect();
        return {box: [b.left, b.top, b.right, b.bottom], fill: rgb(getComputedStyle(r).fill)};
    });
    const counts = Array.from(fig.querySelectorAll('text.label.element')).map(t => {
        const b = t.getBoundingClientRect();
        return {text: t.textContent, centre: [(b.left + b.right) / 2, (b.top + b.bottom) / 2],
                fill: rgb(getComputedStyle(t).fill)};
    });
    const box = el => { const b = el.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom]; };
    const axes = Array.from(fig.querySelectorAll('.axis'));
    const vertical = axes.find(a => a.textContent.includes('true class'));
    const label = Array.from(vertical.querySelectorAll('text')).find(t => t.textContent === 'true class');
    const ticks = Array.from(vertical.querySelectorAll('.tick text')).map(box);
    return {cells, counts, label: box(label), ticks};
}"""


def luminance(rgb) -> float:
    """WCAG 2.1 relative luminance of an sRGB colour in 0..255."""
    channels = []
    for value in rgb:
        c = value / 255.0
        channels.append(c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4)
    r, g, b = channels
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a, b) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def overlaps(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_confusion_matrix_counts_are_readable(page):
    panel = tool(page, "Exercise 4 · Find misclassifications")
    panel.locator("button", has_text="compute confusion matrix").click()
    expect(panel.locator(".widget-html-content", has_text="accuracy")).to_be_visible(timeout=JOB_MS)
    figure = panel.locator(".bqplot").first
    expect(figure.locator("text.label.element")).to_have_count(100, timeout=UPDATE_MS)
    figure.scroll_into_view_if_needed()
    found = figure.evaluate(MATRIX_JS)
    assert len(found["cells"]) == 100
    total = 0
    dark_cells = 0
    for count in found["counts"]:
        x, y = count["centre"]
        # The cell under the text, found by position.
        cell = [c for c in found["cells"] if c["box"][0] <= x <= c["box"][2] and c["box"][1] <= y <= c["box"][3]]
        assert len(cell) == 1, count
        ratio = contrast(count["fill"], cell[0]["fill"])
        assert ratio >= 4.5, (count, cell[0], ratio)
        dark_cells += luminance(cell[0]["fill"]) < 0.18
        total += int(count["text"])
    assert total == 10_000
    assert dark_cells >= 10  # the diagonal at least is dark, so the choice of colour was tested
    # The axis label stands clear of every row name.
    assert not any(overlaps(found["label"], tick) for tick in found["ticks"]), found


def test_training_is_on_a_copy_with_the_way_back_in_sight(page):
    before = page.locator(CAPTION).inner_text()
    panel = tool(page, "Advanced · Train the network")
    train = panel.locator("button", has_text="train a new model")
    cancel = panel.locator("button", has_text="Cancel")
    expect(panel.locator("button", has_text="restore the shipped model")).to_be_enabled()
    expect(panel.locator("button", has_text="use this model")).to_be_disabled()
    train.click()
    expect(panel).to_contain_text("training on 50,000 images", timeout=JOB_MS)
    expect(train).to_be_disabled()  # one training at a time
    cancel.click()
    expect(panel).to_contain_text("cancelled", timeout=JOB_MS)
    expect(train).to_be_enabled()
    expect(panel.locator("button", has_text="use this model")).to_be_disabled()
    assert page.locator(CAPTION).inner_text() == before


def test_an_upload_joins_the_test_images_and_the_way_back_is_in_the_picker(page, cifar_test, tmp_path):
    from PIL import Image
    from test_dashboard_ui import upload

    images, labels, names = cifar_test
    path = tmp_path / "mine.png"
    Image.fromarray(images[42]).save(path)
    panel = tool(page, "Your own images")
    upload(page, panel, path)
    expect(panel).to_contain_text("Loaded 1 image at 32×32 (added to the current images)", timeout=UPDATE_MS)
    picker = page.locator(".cnnviz-section-picker")
    expect(page.locator(NUMBER_BOX)).to_have_value("10000")
    expect(picker).to_contain_text("of 10,001")
    back = picker.locator("button", has_text="back to the 10,000 CIFAR-10 test images")
    expect(back).to_be_visible()
    assert in_viewport(page, back)  # the page is scrolled down to the upload panel
    back.click()
    expect(picker).to_contain_text("of 10,000 (0 … 9,999)", timeout=UPDATE_MS)
    expect(back).to_be_hidden()
    expect(page.locator(CAPTION)).to_contain_text(f"True: {names[labels[0]]}")


def test_dense_chart_ticks_are_round_and_written_in_full(page):
    section = page.locator(".cnnviz-section-dense")
    section.scroll_into_view_if_needed()
    svg = section.locator("svg.svg-background").first  # bqplot draws the axes on this one
    found = svg.evaluate("""svg => {
        const outer = svg.getBoundingClientRect();
        return Array.from(svg.querySelectorAll('.tick text')).map(t => {
            const b = t.getBoundingClientRect();
            return {text: t.textContent, inside: b.left >= outer.left - 0.5 && b.right <= outer.right + 0.5
                                                   && b.top >= outer.top - 0.5 && b.bottom <= outer.bottom + 0.5};
        });
    }""")
    texts = [t["text"] for t in found]
    assert "127" in texts and "0" in texts, texts
    assert all(t["inside"] for t in found), found  # no label cut at the chart's edge
    assert svg.evaluate(AXIS_LINES_ACROSS_LABELS) == []  # and none struck through ("12|7")
    values = [float(t.replace("−", "-")) for t in texts]
    assert not any(t.startswith(("-0", "−0")) for t in texts), texts
    assert all(v == round(v, 2) for v in values), texts
