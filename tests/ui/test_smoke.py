"""Smoke test: Voilà serves dashboard.ipynb as an app, with live widgets and no code."""
from __future__ import annotations

import json
from pathlib import Path

from playwright.sync_api import expect

NOTEBOOK = Path(__file__).resolve().parents[2] / "dashboard.ipynb"

# ipywidgets 8 gives every widget view the class jupyter-widgets; a horizontal slider is also
# widget-slider widget-hslider, and its value is shown in widget-readout (Voilà's ui-tests wait on these).
SLIDER = ".jupyter-widgets.widget-slider.widget-hslider"


def _code_lines() -> list[str]:
    notebook = json.loads(NOTEBOOK.read_text())
    lines = []
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            source = "".join(cell["source"])
            lines += [line.strip() for line in source.splitlines() if len(line.strip()) > 6]
    return lines


def test_dashboard_renders_widgets_without_code(dashboard_page, save_screenshot):
    page = dashboard_page
    # With show_tracebacks off, Voilà replaces a failing cell's output with this sentence.
    assert "There was an error when executing cell" not in page.inner_text("body")
    slider = page.locator(SLIDER).first
    slider.wait_for(state="visible")
    readout = slider.locator(".widget-readout")
    start = int(readout.inner_text())

    # The slider is a live widget, not a static picture: the keyboard moves it.
    slider.locator(".noUi-handle").focus()
    page.keyboard.press("ArrowRight")
    expect(readout).to_have_text(str(start + 1))

    # Voilà strips the sources: no code cell keeps an input area (a markdown cell's text does live in
    # one), no editor is shown, and no line of the notebook's code is on the page.
    assert page.locator(".jp-CodeCell .jp-InputArea").count() == 0
    assert page.locator(".jp-InputArea-editor").count() == 0
    text = page.inner_text("body")
    lines = _code_lines()
    assert lines, "dashboard.ipynb has no code to look for"
    assert [line for line in lines if line in text] == []

    path = save_screenshot()
    png = path.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(png[16:20], "big") == page.viewport_size["width"] == 1366
