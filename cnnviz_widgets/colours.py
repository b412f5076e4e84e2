"""The dashboard's one colour language: what a colour means, written once for every panel.

Three meanings, each with its own colours, named in the legend beside the colour scheme
(``legend_html``):

- **sign** (a weight, a product, a sum): the ends of the scheme's diverging colour map, the same
  map the filters are drawn with, so a red number means what a red weight means
  (``sign_colour``); a number that reads zero is plain ink.
- **right or wrong** (a prediction against the true class): green with ✓ and red with ✗
  (``RIGHT``, ``WRONG``), never one without its mark, so no one has to tell the two hues apart.
- **what you chose** (the selected map, cell, window or image): a magenta frame (``SELECTED``),
  a hue that none of the colour maps uses.

The other colours here carry no meaning of their own (ink, grey bars, the palettes that tell
classes and methods apart); they live here too so that a widget module holds no colour literal
(``tests/test_colours.py`` reads every widget module for one).
"""
from __future__ import annotations

import html

from . import render

#: A prediction that matches the true class (always with ✓).
RIGHT = "#2e7d32"
#: A prediction that does not (always with ✗); also an error message.
WRONG = "#c62828"
#: What the student chose: the selected feature map, confusion-matrix cell, kernel window, image.
SELECTED = "#d81b60"
#: The selected row of a table (a light tint of ``SELECTED``).
SELECTED_BACKGROUND = "#fce4ec"
#: Text, and bars that carry no verdict.
INK = "#222222"
QUIET = "#90a4ae"
#: Bars of a quantity with no sign or verdict (the dense layer, a probability of the original).
BARS = "#1565c0"
#: The training curves: loss and accuracy of the training set.
TRAIN, VALIDATION = "#1565c0", "#ef6c00"
#: The confusion matrix's sequential scale, from no image to the most common mistake.
COUNT_SCALE = ("#f7fbff", "#08306b")
#: Black and white, for text on a coloured cell (whichever contrasts more).
BLACK, WHITE = "#000000", "#ffffff"
#: Page furniture: notes, rules between cells, table headers, the padding of a convolution.
NOTE_INK, RULE, HEADER, FAINT = "#555555", "#dddddd", "#eceff1", "#757575"
#: Lighter curves of the same quantity (the test set's).
LIGHT_TRAIN, LIGHT_VALIDATION = "#64b5f6", "#ffb74d"
#: Paul Tol's colour-blind-safe "muted" palette: one colour per class on the dataset map.
CLASS_PALETTE = ("#CC6677", "#332288", "#DDCC77", "#117733", "#88CCEE",
                 "#882255", "#44AA99", "#999933", "#AA4499", "#BBBBBB")
#: Okabe and Ito's colour-blind-safe palette: one colour per explanation method's curve.
METHOD_PALETTE = ("#d55e00", "#e69f00", "#cc79a7", "#0072b2", "#56b4e9", "#009e73", "#000000")

#: Where on a diverging colour map (0 … 255) a sign's text colour is taken: dark enough to read
#: as text on white (``tests/test_colours.py`` checks 4.5 to 1), the same hue as the weights.
SIGN_LUT_INDEX = {+1: 235, -1: 20}


def rgb(hex_colour: str) -> tuple:
    """"#rrggbb" as (r, g, b) in 0 … 255."""
    return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))


def hex_colour(rgb) -> str:
    """(r, g, b) in 0 … 255 as "#rrggbb"."""
    return "#" + "".join(f"{int(v):02x}" for v in rgb)


def sign_colour(cmap: str, value: float, decimals: int = 3) -> str:
    """The colour of a number's sign on the diverging colour map ``cmap`` (e.g. ``render.FILTER_CMAP``):
    its positive end for a positive number, its negative end for a negative one, ``INK`` for one that
    rounds to zero at ``decimals`` decimals (it reads "+0.000", so it must not look signed).

    >>> sign_colour("RdBu_r", 0.5), sign_colour("RdBu_r", -0.5), sign_colour("RdBu_r", -1e-5)
    ('#a21328', '#1b5a9c', '#222222')
    """
    rounded = round(float(value), decimals)
    if rounded == 0:
        return INK
    return hex_colour(render.colormap_lut(cmap)[SIGN_LUT_INDEX[1 if rounded > 0 else -1]])


def verdict_colour(correct) -> str:
    """``RIGHT`` for a right answer, ``WRONG`` for a wrong one, ``INK`` when the true class is unknown."""
    return INK if correct is None else RIGHT if correct else WRONG


def _swatch(colour: str, label: str) -> str:
    return (f"<span style='display:inline-block;width:0.9em;height:0.9em;background:{colour};"
            f"vertical-align:-0.1em;margin-right:3px;border:1px solid {QUIET}'></span>{html.escape(label)}")


def legend_html(scheme: str) -> str:
    """The legend of the colour language in the colour scheme ``scheme``: HTML, one short line per meaning."""
    signed = render.scheme_colormap(scheme, "signed")
    heat = render.scheme_colormap(scheme, "heat")
    strong, weak = render.HEAT_WORDS[heat]
    lut = render.colormap_lut(render.scheme_colormap(scheme, "maps"))
    rows = [
        ("signs", _swatch(sign_colour(signed, 1), "+ positive") + " " + _swatch(sign_colour(signed, -1), "− negative")
         + " · white 0"),
        ("answers", f"<span style='color:{RIGHT};font-weight:600'>✓ right</span> · "
                    f"<span style='color:{WRONG};font-weight:600'>✗ wrong</span>"),
        ("maps", _swatch(hex_colour(lut[0]), "weak") + " " + _swatch(hex_colour(lut[255]), "strong")),
        ("heatmaps", f"{html.escape(strong)}: looked at most · {html.escape(weak)}: ignored"),
        ("your choice", f"<span style='border:2px solid {SELECTED};padding:0 3px'>framed</span>"),
    ]
    body = "".join(f"<div><b>{name}</b>: {text}</div>" for name, text in rows)
    return f"<div class='cnnviz-note cnnviz-legend'>{body}</div>"
