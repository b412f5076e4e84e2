"""Tests of the one colour language (``cnnviz_widgets.colours``): signs, right and wrong, and the
student's choice look the same in every panel, and the legend names the colours the panels draw.

Colours are judged by their channels (a red has more red than blue), contrasts by WCAG's formula
written out here, and the panels' numbers and verdicts against the model itself.
"""
from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnviz_widgets import colours
from cnnviz_widgets.widgets import charts, conv_arithmetic, settings, whatif

WIDGETS = Path(colours.__file__).resolve().parent / "widgets"
HEX = re.compile(r"#[0-9a-fA-F]{6}\b|#[0-9a-fA-F]{3}\b")


def rgb(hex_colour: str) -> tuple:
    h = hex_colour.lstrip("#")
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    return tuple(int(h[i:i + 2], 16) for i in (0, 2, 4))


def contrast_on_white(hex_colour: str) -> float:
    def channel(v):
        v /= 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4
    r, g, b = (channel(v) for v in rgb(hex_colour))
    return 1.05 / (0.2126 * r + 0.7152 * g + 0.0722 * b + 0.05)


def colour_literals(source: str) -> list:
    """Hex colours written in the code of a module (comments left out)."""
    code = "\n".join(line.split("  #", 1)[0] for line in source.splitlines() if not line.lstrip().startswith("#"))
    return HEX.findall(code)


# --------------------------------------------------------------------------- written once

def test_no_widget_module_writes_a_colour_of_its_own():
    found = {path.name: colour_literals(path.read_text()) for path in sorted(WIDGETS.glob("*.py"))}
    assert len(found) > 20
    assert {name: hexes for name, hexes in found.items() if hexes} == {}


def test_the_check_finds_a_colour_written_in_a_widget():
    assert colour_literals('RED = "#c62828"\ncss = "color: #999"  # a note, #abc\n') == ["#c62828", "#999"]


def test_the_three_meanings_have_distinct_colours_readable_as_text():
    for colour in (colours.RIGHT, colours.WRONG, colours.SELECTED, colours.sign_colour("RdBu_r", 1),
                   colours.sign_colour("RdBu_r", -1), colours.sign_colour("BuOr", 1)):
        assert contrast_on_white(colour) >= 4.5, colour
    r, g, b = rgb(colours.RIGHT)
    assert g > r and g > b
    r, g, b = rgb(colours.WRONG)
    assert r > g and r > b
    r, g, b = rgb(colours.SELECTED)
    # Magenta: red and blue well above green, a hue none of the colour maps uses.
    assert r > 150 and b > 60 and g < 60


# --------------------------------------------------------------------------- signs

def sign_cells(html_value: str) -> list:
    """(number, colour) of every coloured number in the arithmetic's tables."""
    return [(float(n), c) for c, n in re.findall(r"<td[^>]*style='color:(#[0-9a-f]{6})'[^>]*>([+-]\d+\.\d+)</td>",
                                                 html_value)]


@pytest.mark.parametrize("scheme", ["standard", "colour-vision safe"])
def test_arithmetic_draws_signs_as_the_filters_do(st, opened, scheme):
    st.colour_scheme = scheme
    st.layer = "conv3_act"
    arith = conv_arithmetic.ConvArithmetic(st)
    opened(arith)
    arith.row.value, arith.col.value = 0, 3
    cells = sign_cells(arith.tables.value)
    # One input channel's window, kernel and products (the window's top row is padding, drawn
    # grey) and the sums of conv3's 32 input channels.
    assert len(cells) == 3 * 9 - 3 + 32
    signs = {np.sign(round(v, 3)) for v, _ in cells}
    assert signs == {-1.0, 0.0, 1.0} or signs == {-1.0, 1.0}
    # The filters' colour map at its ends, read from the picture of a 1×1 kernel of weights +1 and -1.
    from cnnviz_widgets import render

    cmap = render.scheme_colormap(scheme, "signed")
    tiles = render.filter_tiles(np.array([1.0, -1.0]).reshape(1, 1, 2, 1), mode="mean", cmap=cmap)
    for value, colour in cells:
        r, g, b = rgb(colour)
        if round(value, 3) == 0:
            assert r == g == b, (value, colour)  # "+0.000" in plain ink, no sign colour
        elif value > 0:
            assert r > b, (value, colour)
        else:
            assert b > r, (value, colour)
    # A positive weight in the filter grid leans the same way as a positive number here.
    positive = rgb(next(c for v, c in cells if round(v, 3) > 0))
    weight = render.filter_tiles(np.ones((1, 1, 1, 1)), mode="mean", cmap=cmap)[0, 0, 0]
    assert np.sign(int(weight[0]) - int(weight[2])) == np.sign(positive[0] - positive[2])
    assert tiles.shape == (1, 1, 1, 3)
    if scheme == "colour-vision safe":
        assert positive[0] > positive[1] > positive[2]  # orange, as the legend says


def test_a_tiny_negative_is_not_drawn_as_a_sign():
    assert colours.sign_colour("RdBu_r", -0.0004) == colours.INK
    assert colours.sign_colour("RdBu_r", -0.0006) != colours.INK


# --------------------------------------------------------------------------- right and wrong

def first_wrong(model, images, labels, start=0) -> int:
    for i in range(start, len(images), 64):
        probs = np.asarray(model(images[i:i + 64].astype(np.float32) / 255.0, training=False))
        wrong = np.flatnonzero(probs.argmax(axis=1) != labels[i:i + 64])
        if len(wrong):
            return i + int(wrong[0])
    raise AssertionError("the model gets every image right")


def test_the_what_if_lab_paints_a_wrong_answer_red_with_a_cross(st, opened, cifar_model):
    wrong = first_wrong(cifar_model, st.images, st.labels)
    st.index = wrong
    lab = whatif.WhatIfLab(st, debounce=0)
    opened(lab)
    for caption in (lab.original_caption.value, lab.edited_caption.value):
        assert f"color:{colours.WRONG}" in caption and "✗" in caption and colours.RIGHT not in caption
    right = next(i for i in range(len(st.images)) if i != wrong and
                 np.argmax(cifar_model(st.images[i:i + 1].astype(np.float32) / 255.0)) == st.labels[i])
    st.index = right
    for caption in (lab.original_caption.value, lab.edited_caption.value):
        assert f"color:{colours.RIGHT}" in caption and "✓" in caption


def test_the_decision_chart_uses_the_same_right_and_wrong(st, opened, cifar_model):
    wrong = first_wrong(cifar_model, st.images, st.labels)
    st.index = wrong
    chart = charts.SoftmaxChart(st)
    opened(chart)
    probs = np.asarray(cifar_model(st.images[wrong:wrong + 1].astype(np.float32) / 255.0))[0]
    # The wrong guess is red, as in the what-if lab; the class it missed is the right answer, green.
    assert chart.bars.colors[int(probs.argmax())] == colours.WRONG
    assert chart.bars.colors[int(st.labels[wrong])] == colours.RIGHT


# --------------------------------------------------------------------------- the legend

@pytest.mark.parametrize("scheme", ["standard", "colour-vision safe"])
def test_the_legend_names_the_colours_the_panels_draw(st, opened, scheme):
    st.colour_scheme = scheme
    selector = settings.ColourSchemeSelector(st)
    opened(selector)
    legend = selector.legend.value
    for words in ("signs", "positive", "negative", "right", "wrong", "your choice"):
        assert words in legend
    swatches = re.findall(r"background:(#[0-9a-f]{6})[^<]*</span>([^<]*)", legend)
    positive = next(c for c, label in swatches if "positive" in label)
    negative = next(c for c, label in swatches if "negative" in label)
    arith = conv_arithmetic.ConvArithmetic(st)
    opened(arith)
    cells = sign_cells(arith.tables.value)
    assert {c for v, c in cells if round(v, 3) > 0} == {positive}
    assert {c for v, c in cells if round(v, 3) < 0} <= {negative}
    # The frame of the chosen position in the arithmetic's map is the legend's "your choice".
    frame = re.search(r"border:2px solid (#[0-9a-f]{6})", legend).group(1)
    picture = np.asarray(Image.open(io.BytesIO(bytes(arith.map_image.value))).convert("RGB"))
    colours_in_picture = {tuple(p) for p in picture.reshape(-1, 3)}
    assert rgb(frame) in colours_in_picture
