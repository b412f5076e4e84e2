"""The guide's exercise 1 as a panel: the confusion matrix and the images behind each cell."""
from __future__ import annotations

import bqplot as bq
import ipywidgets as widgets
import numpy as np
from ipyevents import Event

from .. import colours, compute, render
from .base import CRISP_CSS, crisp_image, reports_errors, section, set_png
from .figures import figure
from .jobs import ToolWidget
from .sharing import Download

GREEN, RED = colours.RIGHT, colours.WRONG


#: The confusion matrix's colours, from no image to the most common mistake (and beyond: the
#: diagonal saturates). Two stops, so the colour of a cell is a straight line between them.
MATRIX_COLOURS = colours.COUNT_SCALE
#: The counts are written over the cells: a click on a number must reach the cell below it.
COUNTS_CSS = "<style>.cnnviz-confusion text {pointer-events: none;}</style>"


def matrix_colour(t: float) -> tuple:
    """The (r, g, b) in 0..255 of the confusion matrix's colour at ``t`` in [0, 1] (clipped):
    the colour scale's linear interpolation between ``MATRIX_COLOURS``."""
    t = min(max(float(t), 0.0), 1.0)
    a, b = (np.array([int(c[i:i + 2], 16) for i in (1, 3, 5)], float) for c in MATRIX_COLOURS)
    return tuple(int(round(v)) for v in a + t * (b - a))


def relative_luminance(rgb) -> float:
    """WCAG 2 relative luminance of an sRGB colour (r, g, b) in 0..255."""
    c = np.asarray(rgb, float) / 255.0
    c = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return float(0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2])


def text_colour(background) -> str:
    """Black or white, whichever contrasts more with ``background`` (r, g, b): at least 4.58 to 1
    on any colour, above WCAG's 4.5 for normal text."""
    lum = relative_luminance(background)
    return colours.BLACK if (lum + 0.05) / 0.05 >= 1.05 / (lum + 0.05) else colours.WHITE


class MisclassificationExplorer(ToolWidget):
    """The guide's exercise 1: the confusion matrix of the whole image set, and the images behind
    each of its cells.

    Press *compute*: one batched pass over the state's images (``state.predictions``, shared and
    cached). Click a cell (true class row, predicted class column) or use the filters to list
    those images, most confident first; choosing one in the list opens it (``state.index``).

    >>> explorer = MisclassificationExplorer(state)   # doctest: +SKIP
    >>> explorer.compute(); explorer.matrix.shape      # doctest: +SKIP
    (10, 10)
    """

    MAX_SHOWN = 48
    #: Columns and pixel size of the pictures listed under the matrix.
    COLS, TILE = 8, 48

    def __init__(self, state, blocking: bool = False, **kwargs):
        super().__init__(state, blocking=blocking, **kwargs)
        self.matrix: np.ndarray | None = None
        self.probabilities: np.ndarray | None = None
        self.shown: np.ndarray = np.zeros(0, np.int64)
        self.compute_button = widgets.Button(description="compute confusion matrix", icon="table",
                                             layout=widgets.Layout(width="220px"))
        self.only_wrong = widgets.Checkbox(value=True, description="misclassified only", indent=False)
        self.true_class = widgets.Dropdown(description="true", layout=widgets.Layout(width="200px"))
        self.predicted_class = widgets.Dropdown(description="predicted", layout=widgets.Layout(width="220px"))
        self.row_scale = bq.OrdinalScale(reverse=True)
        self.col_scale = bq.OrdinalScale()
        self.color_scale = bq.ColorScale(colors=list(MATRIX_COLOURS), min=0, max=1)
        k = len(state.class_names)
        # The heat map draws no numbers of its own: bqplot writes them all in black, unreadable on
        # the dark cells. A Label mark writes each count in the colour that contrasts most with
        # its cell (``text_colour``).
        self.heatmap = bq.GridHeatMap(
            color=np.zeros((k, k)), scales={"row": self.row_scale, "column": self.col_scale,
                                            "color": self.color_scale},
            display_format=None, interactions={"click": "select"},
            selected_style={"stroke": colours.SELECTED, "stroke-width": "3"}, stroke="white",
        )
        self.counts = bq.Label(x=[], y=[], text=[], scales={"x": self.col_scale, "y": self.row_scale},
                               default_size=11, font_weight="normal", align="middle", colors=[colours.BLACK],
                               apply_clip=False)
        self.counts.enable_move = False
        self.figure = figure(
            marks=[self.heatmap, self.counts],
            axes=[bq.Axis(scale=self.col_scale, label="predicted class", tick_rotate=-35),
                  # Far enough left of the row names ("automobile") not to run into them.
                  bq.Axis(scale=self.row_scale, side="left", label="true class",
                          label_offset="80px")],
            fig_margin={"top": 10, "bottom": 80, "left": 100, "right": 10},
            layout=widgets.Layout(width="530px", height="470px"),
        )
        # No empty 10 × 10 grid before "compute": the chart joins the page with its counts. It is
        # left out of the page rather than hidden, since bqplot cannot lay out a hidden figure.
        self.chart_box = widgets.Box(layout=widgets.Layout(min_height="0"))
        self.figure.add_class("cnnviz-confusion")
        self.summary = widgets.HTML()
        self.list_caption = widgets.HTML()
        self.montage = crisp_image()
        self.montage.layout.cursor = "pointer"
        # ipyevents reports a click's position in the picture's own pixels (dataX, dataY).
        self.montage_clicks = Event(source=self.montage, watched_events=["click"])
        self.montage_clicks.on_dom_event(self._on_montage_click)
        self.choices = widgets.Select(options=[], rows=8, description="open",
                                      layout=widgets.Layout(width="360px"))
        self.children = [
            widgets.HTML(CRISP_CSS + COUNTS_CSS),
            section("Where does the model go wrong?",
                    "Exercise 4. Rows are true classes, columns predicted classes; the "
                    "colour saturates on the diagonal so the mistakes stand out. Click a cell to see "
                    "its images, then pick one to open it.",
                    widgets.HBox([self.compute_button, self.job])),
            self.chart_box, self.summary,
            Download(lambda: compute.confusion_csv(self.matrix, self.state.class_names),
                     "cnnviz-confusion-matrix.csv", label="CSV"),
            widgets.HBox([self.only_wrong, self.true_class, self.predicted_class]),
            self.list_caption, widgets.HBox([self.montage, self.choices]),
            Download.picture(self.montage, "cnnviz-misclassified.png"),
        ]
        self.compute_button.on_click(lambda _b: self.compute())
        self.heatmap.observe(self._on_cell, names="selected")
        # In the browser a click reaches `selected` as a list that bqplot 0.13 cannot serialise
        # back, so its observers never run; the element_click message names the cell reliably.
        self.heatmap.on_element_click(self._on_cell_click)
        for control in (self.only_wrong, self.true_class, self.predicted_class):
            control.observe(self._on_filter, names="value")
        self.choices.observe(self._on_choice, names="value")
        self._observe(self._on_version, ["version"])
        self._reset()

    def _on_version(self, change):
        self._reset()

    @reports_errors
    def _reset(self):
        """Forget the matrix of an older model or image set."""
        names = list(self.state.class_names)
        self.matrix = self.probabilities = None
        with self._quietly():
            options = [("any", -1)] + [(n, i) for i, n in enumerate(names)]
            self.true_class.options = options
            self.predicted_class.options = options
            self.true_class.value = self.predicted_class.value = -1
        with self.heatmap.hold_sync():
            self.heatmap.color = np.zeros((len(names), len(names)))
            self.heatmap.row = np.array(names)
            self.heatmap.column = np.array(names)
            self.heatmap.selected = None
        with self.counts.hold_sync():
            self.counts.x, self.counts.y, self.counts.text = [], [], []
        self.chart_box.children = ()
        labels = self.state.labels
        self.compute_button.disabled = labels is None
        if labels is None:
            self.summary.value = ("<i>These images have no true classes, so there is nothing to compare "
                                  "the predictions with: go back to the test images (button in the image "
                                  "picker), or add your pictures to them.</i>")
        else:
            unknown = int((labels < 0).sum())
            self.summary.value = ("<i>Press “compute confusion matrix” to run the network on every image "
                                  "and count, for each true class, what it guessed"
                                  + (f" ({unknown:,} of unknown class will be left out)" if unknown else "")
                                  + ".</i>")
        self._render_list()

    @reports_errors
    def compute(self):
        """Start the batched pass (in the background unless ``blocking``)."""
        if self.state.labels is None:
            raise ValueError("these images have no labels, so there is nothing to compare the predictions with")
        version = self.state.version
        self.job.start(self.state.predictions, lambda probs: self._show(version, probs),
                       f"predicting {len(self.state.images):,} images…")

    def _show(self, version, probs):
        if version != self.state.version:
            raise ValueError("the model or images changed while predicting; press compute again")
        # Pictures of unknown class have no row in the matrix.
        cm = compute.count_confusions(probs, self.state.labels)
        self.probabilities, self.matrix = probs, cm
        off = cm.copy()
        np.fill_diagonal(off, 0)
        top = float(max(off.max(), 1))
        with self.heatmap.hold_sync():
            self.color_scale.max = top
            self.heatmap.color = cm.astype(float)
        cells = np.array(self.state.class_names)[np.indices(cm.shape)]
        with self.counts.hold_sync():
            self.counts.x = cells[1].ravel()
            self.counts.y = cells[0].ravel()
            self.counts.text = [str(v) for v in cm.ravel()]
            self.counts.colors = [text_colour(matrix_colour(v / top)) for v in cm.ravel()]
        self.chart_box.children = (self.figure,)
        names = self.state.class_names
        pairs = np.dstack(np.unravel_index(np.argsort(-off, axis=None)[:5], off.shape))[0]
        worst = ", ".join(f"{names[t]} → {names[p]} ({off[t, p]})" for t, p in pairs if off[t, p] > 0)
        unknown = int((self.state.labels < 0).sum())
        self.summary.value = (f"accuracy <b>{100 * np.trace(cm) / cm.sum():.1f} %</b> on {cm.sum():,} images"
                              + (f" ({unknown:,} of unknown class left out)" if unknown else "")
                              + (f" · most common mistakes: {worst}" if worst else ""))
        self._render_list()

    def _on_cell_click(self, _mark, content):
        cell = content.get("data") or {}
        if "rowNum" in cell and "columnNum" in cell:
            self._on_cell({"new": [[int(cell["rowNum"]), int(cell["columnNum"])]]})

    def _on_cell(self, change):
        cells = change["new"]
        if cells is None or len(cells) == 0:
            return
        t, p = (int(v) for v in np.asarray(cells)[-1])
        with self._quietly():
            self.true_class.value = t
            self.predicted_class.value = p
            self.only_wrong.value = t != p
        self._render_list()

    def _on_filter(self, change):
        if not self._quiet:
            self._render_list()

    def matching(self) -> np.ndarray:
        """Indices of the images passing the filters, most confident prediction first."""
        if self.probabilities is None:
            return np.zeros(0, np.int64)
        predicted = self.probabilities.argmax(axis=1)
        labels = self.state.labels
        keep = labels >= 0
        if self.only_wrong.value:
            keep &= predicted != labels
        if self.true_class.value >= 0:
            keep &= labels == self.true_class.value
        if self.predicted_class.value >= 0:
            keep &= predicted == self.predicted_class.value
        idx = np.flatnonzero(keep)
        confidence = self.probabilities[idx].max(axis=1)
        return idx[np.argsort(-confidence, kind="stable")]

    @reports_errors
    def _render_list(self):
        idx = self.matching()
        self.shown = idx[: self.MAX_SHOWN]
        names = self.state.class_names
        with self._quietly():
            if self.probabilities is None or len(idx) == 0:
                self.choices.options = []
            else:
                predicted = self.probabilities.argmax(axis=1)
                self.choices.options = [
                    (f"#{i}: {names[self.state.labels[i]]} → {names[predicted[i]]} "
                     f"({100 * self.probabilities[i].max():.0f} %)", int(i)) for i in self.shown]
            self.choices.value = None
        if self.probabilities is None:
            self.list_caption.value = ""
            self.montage.layout.display = "none"
            return
        more = f"; the first {len(self.shown)} are shown" if len(idx) > len(self.shown) else ""
        self.list_caption.value = (f"<b>{len(idx):,}</b> images match{more}, most confident first. "
                                   "Click a picture (or choose it in the list) to open it.")
        if len(self.shown) == 0:
            self.montage.layout.display = "none"
            return
        predicted = self.probabilities.argmax(axis=1)
        colours = [GREEN if predicted[i] == self.state.labels[i] else RED for i in self.shown]
        png = render.labelled_montage(self.state.images[self.shown], [f"#{i}" for i in self.shown],
                                      cols=self.COLS, size=self.TILE, colors=colours)
        self.montage.layout.display = None
        right = sum(predicted[i] == self.state.labels[i] for i in self.shown)
        set_png(self.montage, png, alt=(
            f"{len(self.shown)} images, most confident first: " + ", ".join(
                f"#{i} {names[self.state.labels[i]]} as {names[predicted[i]]}" for i in self.shown[:12])
            + (" …" if len(self.shown) > 12 else "")
            + f"; {right} right (green frame), {len(self.shown) - right} wrong (red frame)"))

    def tile_at(self, x: float, y: float) -> int | None:
        """The position in ``shown`` of the picture at pixel (x, y) of the montage, or None for a
        gap between pictures (``render.labelled_montage``: tiles of the upscaled image over a
        one-line caption, 4-pixel gaps)."""
        h, w = self.state.images.shape[1:3]
        factor = render.tile_factor(h, w, self.TILE)
        tile_w, tile_h, gap = w * factor, h * factor + 16, 4
        col, dx = divmod(int(x), tile_w + gap)
        row, dy = divmod(int(y), tile_h + gap)
        k = row * self.COLS + col
        if x < 0 or y < 0 or col >= self.COLS or dx >= tile_w or dy >= tile_h or k >= len(self.shown):
            return None
        return k

    @reports_errors
    def _on_montage_click(self, event):
        k = self.tile_at(event.get("dataX", -1), event.get("dataY", -1))
        if k is not None and self.state.index != int(self.shown[k]):
            self.state.index = int(self.shown[k])

    @reports_errors
    def _on_choice(self, change):
        if self._quiet or change["new"] is None:
            return
        if self.state.index != change["new"]:
            self.state.index = int(change["new"])
