"""Accessibility of the dashboard as Voilà serves it, checked in Chromium.

- axe-core (the copy that axe-playwright-python bundles) with its WCAG 2.0/2.1 A and AA rules, on
  the dashboard as it opens and with each advanced panel open in turn (whatever panels the
  accordion lists): no serious or critical violation;
- every picture has a text alternative, and it changes with the image and the layer;
- a keyboard-only walk-through: image, layer, channel and Grad-CAM class chosen with Tab and the
  arrow keys, with a visible focus ring on every control reached;
- the colour-vision-safe scheme, chosen with the keyboard, redraws every picture;
- at 200 % zoom on a 1366×768 screen (683×384 CSS pixels) nothing is cut off and the page
  scrolls vertically only.

All tests share one page (``module_dashboard``) and run in file order; the screenshots are in
tests/ui/artifacts/.
"""
from __future__ import annotations

import time

from axe_playwright_python.sync_playwright import Axe
from conftest import ARTIFACTS, full_page_screenshot, wait_until_settled
from playwright.sync_api import expect

#: axe-core's tags of the WCAG 2.0 and 2.1 success criteria at levels A and AA.
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING = ("serious", "critical")
#: Time for one round trip through the kernel (a forward pass and every panel's re-render).
UPDATE_MS = 30_000
#: Time for an advanced panel to build (some run the model on many images).
PANEL_MS = 120_000
DASHBOARD = ".cnnviz-dashboard"
HEADERS = f"{DASHBOARD} .jupyter-widget-Collapse-header"
PICKER_IMAGE = ".cnnviz-section-picker img.widget-image"
CAPTION = ".cnnviz-section-picker [class^='cnnviz-caption']"

# Runs in the page: the text alternative of every <img> of the dashboard (alt, else aria-label,
# else title: the order of the accessible-name computation), with where it is.
IMAGE_NAMES_JS = """() => Array.from(document.querySelectorAll('.cnnviz-dashboard img')).map(img => {
    const section = img.closest('[class*="cnnviz-section-"], .jupyter-widget-Collapse');
    return {where: section ? section.className : '', visible: img.offsetParent !== null,
            name: img.getAttribute('alt') || img.getAttribute('aria-label') || img.getAttribute('title') || ''};
})"""


def blocking_violations(page) -> list[dict]:
    """axe-core's serious and critical WCAG A/AA violations on the dashboard, one dict per rule."""
    result = Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG_TAGS},
                                      "resultTypes": ["violations"]})
    return [v for v in result.response["violations"] if v["impact"] in BLOCKING]


def describe(violations) -> str:
    lines = []
    for v in violations:
        lines.append(f"{v['id']} ({v['impact']}, {len(v['nodes'])} element(s)): {v['help']}")
        lines.extend(f"    {node['target']}: {node['failureSummary'].splitlines()[-1].strip()}"
                     for node in v["nodes"][:6])
    return "\n".join(lines)


def caption(page) -> str:
    return page.locator(CAPTION).inner_text()


def focused(page) -> dict:
    """What has the keyboard focus: its tag, role, accessible name and its focus ring."""
    return page.evaluate("""() => {
        const el = document.activeElement;
        const style = getComputedStyle(el);
        const label = el.closest('.widget-inline-hbox')?.querySelector('.widget-label');
        const tag = el.tagName.toLowerCase();
        const text = el.textContent.trim().slice(0, 60);
        return {tag, role: el.getAttribute('role') || '',
                name: el.getAttribute('aria-label') || (tag === 'button' && text)
                      || label?.textContent || el.getAttribute('title') || text,
                section: el.closest('[class*="cnnviz-section-"]')?.className || '',
                outline: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2,
                value: el.value ?? el.getAttribute('aria-valuenow')};
    }""")


def tab_to(page, predicate, limit: int = 120) -> dict:
    """Press Tab until the focused element satisfies ``predicate``; every element passed on the
    way must show a focus ring. Returns the element's description."""
    passed = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        now = focused(page)
        passed.append(now)
        if now["tag"] != "body":
            assert now["outline"], f"no visible focus ring on {now}"
        if predicate(now):
            return now
    raise AssertionError(f"Tab never reached the control; it passed {[p['name'] for p in passed]}")


# --------------------------------------------------------------------------- axe-core

def test_axe_finds_no_serious_violation_on_the_dashboard_as_it_opens(module_dashboard):
    # Voilà reveals the page when the kernel is done; the last widgets are drawn just after.
    module_dashboard.locator(HEADERS).first.wait_for(timeout=UPDATE_MS)
    violations = blocking_violations(module_dashboard)
    assert not violations, "axe-core on the opened dashboard:\n" + describe(violations)


def test_axe_finds_no_serious_violation_with_each_advanced_panel_open(module_dashboard):
    page = module_dashboard
    headers = page.locator(HEADERS)
    headers.first.wait_for(timeout=UPDATE_MS)
    titles = [headers.nth(i).inner_text().strip() for i in range(headers.count())]
    assert len(titles) >= 9, titles
    found = {}
    for i, title in enumerate(titles):
        header = headers.nth(i)
        # Opened from the keyboard, as a student without a mouse would.
        header.focus()
        assert focused(page)["outline"], f"no focus ring on the title {title!r}"
        page.keyboard.press("Enter")
        item = page.locator(f"{DASHBOARD} .jupyter-widget-Collapse").nth(i)
        page.wait_for_function(
            "el => el.classList.contains('jupyter-widget-Collapse-open') && "
            "el.querySelector('.cnnviz-widget')", arg=item.element_handle(), timeout=PANEL_MS)
        assert header.get_attribute("aria-expanded") == "true"
        wait_until_settled(page)
        full_page_screenshot(page, ARTIFACTS / f"accessibility_panel_{i}.png")
        violations = blocking_violations(page)
        if violations:
            found[title] = describe(violations)
    assert not found, "\n".join(f"with {t!r} open:\n{text}" for t, text in found.items())


# --------------------------------------------------------------------------- pictures

def test_every_picture_has_a_text_alternative_that_follows_the_image(module_dashboard, cifar_test):
    page = module_dashboard
    _, labels, class_names = cifar_test
    images = page.evaluate(IMAGE_NAMES_JS)
    visible = [i for i in images if i["visible"]]
    assert len(visible) >= 8, images
    unnamed = [i["where"] for i in visible if len(i["name"].split()) < 3]
    assert not unnamed, f"pictures without a meaningful text alternative in {unnamed}"
    before = {i["where"] + str(n): i["name"] for n, i in enumerate(images) if i["visible"]}

    index = int(page.locator(".cnnviz-section-picker input[type=number]").input_value())
    shown = caption(page)
    page.locator(".cnnviz-section-picker button", has_text="next ▶").click()
    page.wait_for_function("([s, old]) => document.querySelector(s).innerText !== old",
                           arg=[CAPTION, shown], timeout=UPDATE_MS)
    per_image = [k for k in before if ("picker" in k or "features" in k or "heatmap" in k
                                       or "strip" in k) and "learned filter " not in before[k]]
    # Each picture's description arrives with its picture: wait (on the condition, up to the
    # update time) until all have changed, then check.
    deadline = time.monotonic() + UPDATE_MS / 1000
    while True:
        after = {i["where"] + str(n): i["name"] for n, i in enumerate(page.evaluate(IMAGE_NAMES_JS))
                 if i["visible"]}
        if all(before[k] != after.get(k) for k in per_image) or time.monotonic() > deadline:
            break
        page.wait_for_timeout(100)
    # The picture of image index + 1 is described with its true class, from CIFAR-10 itself.
    picker = page.locator(PICKER_IMAGE).get_attribute("title")
    assert class_names[labels[index + 1]] in picker, picker
    # Learned filters are the model's weights, the same for every image: the one beside the
    # chosen feature map is described as one ("conv1: learned filter 11, the one that made map 11, …").
    unchanged = [k for k in per_image if before[k] == after.get(k)]
    assert per_image and not unchanged, f"text alternatives that did not follow the image: {unchanged}"


# --------------------------------------------------------------------------- keyboard

def test_keyboard_only_walk_through_image_layer_channel_and_gradcam_class(module_dashboard):
    page = module_dashboard
    page.locator(DASHBOARD).evaluate("el => { document.activeElement?.blur(); el.scrollIntoView(); }")
    page.evaluate("() => window.scrollTo(0, 0)")
    page.mouse.click(1, 1)  # the focus starts at the top of the page; no control is clicked

    # The image: the slider of the picker, stepped with the arrow key.
    slider = tab_to(page, lambda f: f["role"] == "slider" and "picker" in f["section"])
    assert "image" in slider["name"].lower(), slider
    shown = caption(page)
    page.keyboard.press("ArrowRight")
    page.wait_for_function("([s, old]) => document.querySelector(s).innerText !== old",
                           arg=[CAPTION, shown], timeout=UPDATE_MS)
    assert int(focused(page)["value"].split(".")[0]) == int(float(slider["value"])) + 1

    # The layer: the layer dropdown, changed with the arrow keys (up: the dashboard opens on the
    # first convolution stage, after conv1 and conv1_bn). Its options read "conv · conv1_act — 32×32×32".
    select = tab_to(page, lambda f: f["tag"] == "select" and "layer" in f["section"])
    before = select["value"].split(" · ")[1].split(" — ")[0]
    feature_note = ".cnnviz-section-features .cnnviz-widget .cnnviz-note"
    assert page.locator(feature_note).first.inner_text().startswith(before + " ")
    page.keyboard.press("ArrowUp")
    page.wait_for_function("([s, old]) => !document.querySelector(s).innerText.startsWith(old + ' ')",
                           arg=[feature_note, before], timeout=UPDATE_MS)
    after = focused(page)["value"].split(" · ")[1].split(" — ")[0]
    assert after != before and page.locator(feature_note).first.inner_text().startswith(after + " ")

    # The channel: the feature grid's channel slider.
    channel = tab_to(page, lambda f: f["role"] == "slider" and "features" in f["section"]
                     and "channel" in f["name"].lower())
    page.keyboard.press("ArrowRight")
    page.wait_for_function(
        "() => document.activeElement.getAttribute('aria-valuenow') !== null", timeout=UPDATE_MS)
    assert float(focused(page)["value"]) == float(channel["value"]) + 1

    # The Grad-CAM class: switch the heatmap to Grad-CAM, then choose a class, all by keyboard.
    mode = tab_to(page, lambda f: "heatmap" in f["section"] and "grad" in f["name"].lower())
    page.keyboard.press("Enter" if mode["tag"] == "button" else "ArrowRight")
    cls = tab_to(page, lambda f: f["tag"] == "select" and "heatmap" in f["section"]
                 and "class" in f["name"].lower())
    page.keyboard.press("ArrowDown")
    page.wait_for_function(
        "old => { const img = document.querySelectorAll('.cnnviz-section-heatmap img')[1];"
        " return img && (img.getAttribute('title') || '').includes('Grad-CAM') }",
        arg=cls["value"], timeout=UPDATE_MS)
    assert focused(page)["value"] != cls["value"]


# --------------------------------------------------------------------------- colour

def test_the_colour_vision_safe_scheme_is_chosen_by_keyboard_and_every_panel_follows(module_dashboard):
    page = module_dashboard
    # The page opens on conv1_act, whose filters are drawn in their own colours (RGB) whatever the
    # scheme: on conv2_act every picture below is drawn with the scheme's colour maps.
    page.locator(".cnnviz-section-layer select").select_option(label="conv · conv2_act — 16×16×32")
    expect(page.locator(".cnnviz-section-filters")).to_contain_text("conv2", timeout=UPDATE_MS)
    expect(page.locator(".cnnviz-section-features")).to_contain_text("conv2_act 16×16×32", timeout=UPDATE_MS)
    # The last picture of each section: for the heatmap, the overlay (the first is the plain image).
    sources = ("() => ['features', 'filters', 'strip', 'compare', 'heatmap'].map(k => Array.from("
               "document.querySelectorAll('.cnnviz-section-' + k + ' img.widget-image')).pop().src)")
    before = page.evaluate(sources)
    select = page.locator(".cnnviz-section-colours select")
    select.focus()
    assert focused(page)["outline"]
    page.keyboard.press("ArrowDown")
    page.wait_for_function(f"old => ({sources})().every((src, i) => src !== old[i])", arg=before,
                           timeout=UPDATE_MS)
    assert select.input_value() == "colour-vision safe"
    assert "cividis feature maps" in page.locator(".cnnviz-section-colours").inner_text()
    assert "orange positive, blue negative" in page.locator(".cnnviz-section-filters").inner_text()
    full_page_screenshot(page, ARTIFACTS / "accessibility_colour_vision_safe.png")
    page.keyboard.press("ArrowUp")
    expect(select).to_have_value("standard")


# --------------------------------------------------------------------------- zoom

def test_at_200_percent_zoom_nothing_is_cut_off_and_the_page_scrolls_vertically_only(module_dashboard):
    page = module_dashboard
    size = page.viewport_size
    # 200 % zoom of a 1366×768 window: the page lays out in half as many CSS pixels.
    page.set_viewport_size({"width": size["width"] // 2, "height": size["height"] // 2})
    try:
        wait_until_settled(page)
        width = page.viewport_size["width"]
        report = page.evaluate("""w => {
            const scroller = document.querySelector('#rendered_cells');
            const outside = [];
            document.querySelectorAll('.cnnviz-dashboard :is(img, button, select, input, .widget-label, '
                                      + 'h1, h3, .bqplot, [role=slider], .jupyter-widget-Collapse-header)')
              .forEach(el => {
                const box = el.getBoundingClientRect();
                if (box.width && el.offsetParent !== null && (box.left < -1 || box.right > w + 1)) {
                  outside.push(el.tagName + '.' + el.className + ' ' + Math.round(box.left) + '..' + Math.round(box.right));
                }
              });
            return {docScroll: document.documentElement.scrollWidth, docWidth: document.documentElement.clientWidth,
                    scroll: scroller.scrollWidth, client: scroller.clientWidth, outside};
        }""", width)
        full_page_screenshot(page, ARTIFACTS / "accessibility_zoom_200.png")
        page.screenshot(path=str(ARTIFACTS / "accessibility_zoom_200_first_screen.png"))
        assert report["docScroll"] <= report["docWidth"], report
        assert report["scroll"] <= report["client"], report
        assert not report["outside"], report["outside"]
    finally:
        page.set_viewport_size(size)
