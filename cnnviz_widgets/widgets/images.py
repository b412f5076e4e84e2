"""Pictures in a panel: PNG images shown at their pixel size, never blurred, with a text alternative."""
from __future__ import annotations

import io

import ipywidgets as widgets
import traitlets

from .. import colours

#: CSS class of a chart of one bar per index (``figures.figure(index_axis=True)``): its axes draw
#: no line of their own. An axis line ends in a short tick half a bar past the last index, which
#: struck through that index's label ("12|7"); the bars' base line and the grid lines show the axes.
INDEX_CHART_CLASS = "cnnviz-index-chart"
#: CSS that keeps upscaled small images crisp in the browser, the captions' and notes' colours and
#: the index charts' axes; added once per widget tree.
CRISP_CSS = (
    "<style>.cnnviz-crisp img, img.cnnviz-crisp {image-rendering: pixelated; "
    f"image-rendering: crisp-edges;}} .cnnviz-caption-wrong {{color: {colours.WRONG}; font-weight: 600;}} "
    f".cnnviz-caption-right {{color: {colours.RIGHT}; font-weight: 600;}} "
    f".cnnviz-note {{color: {colours.NOTE_INK}; font-size: 0.9em;}} "
    f".{INDEX_CHART_CLASS} .axis path.domain {{stroke: none;}}</style>"
)


def note_html(text: str) -> str:
    """HTML of a note under a picture (grey, smaller): ``text`` is HTML already."""
    return f"<div class='cnnviz-note'>{text}</div>"


def png_size(data: bytes) -> tuple:
    """(width, height) of PNG bytes, read from the header."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        return img.size


class DescribedImage(widgets.Image):
    """An ``ipywidgets.Image`` whose ``tooltip`` is its text alternative (the ``title`` of its ``<img>``).

    ipywidgets 8.1's Image has no ``alt``; its ``tooltip`` is written as the element's ``title``
    (which screen readers read as the image's name when there is no alt, and a mouse shows on
    hover) by the code every widget view shares, which first reads the model's ``description``,
    a trait an Image lacks: the view then fails to render at all. An empty synced
    ``description`` is all that code needs. An ``HTML`` widget holding ``<img alt=…>`` would
    instead resend the picture as base64 text with every change, a third more bytes.

    >>> DescribedImage(format="png", tooltip="conv1_act, 32 feature maps")   # doctest: +SKIP
    """

    description = traitlets.Unicode("", help="Always empty: see the class docstring.").tag(sync=True)


def crisp_image(**kwargs) -> widgets.Image:
    """An empty PNG image that is shown at its own pixel size, never blurred; its ``tooltip``
    is its text alternative (``DescribedImage``)."""
    img = DescribedImage(format="png", **kwargs)
    img.add_class("cnnviz-crisp")
    return img


def set_png(image: widgets.Image, data: bytes, scale: float = 1.0, alt: str | None = None) -> None:
    """Show PNG bytes at ``scale`` times their pixel size (an explicit width stops the stretching
    an Image does inside a Box), with ``alt`` as its text alternative when given."""
    width, _ = png_size(data)
    image.value = data
    if alt is not None:
        image.tooltip = alt
    image.layout.width = f"{int(round(width * scale))}px"
    image.layout.height = "auto"
