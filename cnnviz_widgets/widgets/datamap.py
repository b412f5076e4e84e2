"""The dataset map: every image of the set as a point, placed by what the network's penultimate
layer makes of it (PCA then t-SNE, ``cnnviz_widgets.embedding``)."""
from __future__ import annotations

import html

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from .. import colours, render
from ..compute import embedding
from ..compute.export import csv_bytes
from .base import CRISP_CSS, crisp_image, describe_subject, reports_errors, section, set_png
from .figures import figure
from .jobs import ToolWidget
from .sharing import Download

#: Paul Tol's "muted" scheme (nine hues told apart with the common colour-vision deficiencies) and
#: its pale grey for a tenth class.
PALETTE = colours.CLASS_PALETTE
#: The colour of an image whose class is not known (a student's own picture).
UNKNOWN_COLOUR = colours.BLACK
#: The modes of the mouse on the map: (label, value).
MODES = (("click opens an image", "click"), ("drag selects a region", "brush"))


def class_colours(k: int) -> list:
    """One colour per class: the palette, repeated when there are more than ten classes."""
    return [PALETTE[i % len(PALETTE)] for i in range(k)]


class DatasetMap(ToolWidget):
    """Every image of the set as a point in 2-D: images the network sees alike lie close together.

    Press *draw the map*: one batched pass gives each image's penultimate features, PCA and t-SNE
    place them (a background job with progress and Cancel); the result is cached on disk under a
    key of the model's weights and the images (``embedding.MapCache``) and computed again when
    either changes. Points are coloured by true class (a colour-blind-safe palette, with a legend);
    misclassified images are drawn as crosses (+). Hovering a point shows its thumbnail and caption,
    clicking it selects the image in every panel (``state.index``); in "drag selects a region" mode
    a rectangle lists the images inside it.

    ``coords`` (N, 2), ``predicted`` (N,) and ``brushed`` (indices) hold what is shown.

    >>> m = DatasetMap(state, blocking=True)   # doctest: +SKIP
    >>> m.compute(); m.coords.shape            # doctest: +SKIP
    (10000, 2)
    """

    MAX_LISTED = 48

    def __init__(self, state, cache: embedding.MapCache | None = None, blocking: bool = False, **kwargs):
        super().__init__(state, blocking=blocking, **kwargs)
        self.cache = cache if cache is not None else embedding.MapCache()
        self.coords: np.ndarray | None = None
        self.predicted: np.ndarray | None = None
        self.result: embedding.DatasetMapResult | None = None
        self.brushed = np.zeros(0, np.int64)
        self._active = False
        self._indices: dict = {}
        self.compute_button = widgets.Button(description="draw the map", icon="map",
                                             layout=widgets.Layout(width="160px"))
        self.mode = widgets.ToggleButtons(options=MODES, value="click", style={"button_width": "170px"})
        self.x_scale = bq.LinearScale()
        self.y_scale = bq.LinearScale()
        self.colour_scale = bq.OrdinalColorScale(domain=[], colors=[])
        scales = {"x": self.x_scale, "y": self.y_scale, "color": self.colour_scale}
        self.thumbnail = crisp_image()
        self.hover_caption = widgets.HTML()
        # bqplot shows this widget beside the pointer over a point; the hover message fills it
        # (the message names the point's index, which the hovered_point trait does not reliably).
        self.hover_card = widgets.VBox([self.thumbnail, self.hover_caption],
                                       layout=widgets.Layout(padding="4px", width="140px"))
        common = dict(scales=scales, default_size=14, stroke_width=0, opacities=[0.8],
                      tooltip=self.hover_card, interactions={"click": "select", "hover": "tooltip"},
                      selected_style={"opacity": 1.0}, unselected_style={"opacity": 0.8})
        self.right = bq.Scatter(x=np.zeros(0), y=np.zeros(0), color=np.zeros(0), marker="circle",
                                **common)
        self.wrong = bq.Scatter(x=np.zeros(0), y=np.zeros(0), color=np.zeros(0), marker="cross",
                                **{**common, "default_size": 24})
        self.current = bq.Scatter(x=np.zeros(0), y=np.zeros(0), scales={"x": self.x_scale, "y": self.y_scale},
                                  marker="circle", default_size=260, fill=False, stroke=colours.SELECTED,
                                  stroke_width=3, colors=[colours.SELECTED])
        self.brush = bq.interacts.BrushSelector(x_scale=self.x_scale, y_scale=self.y_scale,
                                                marks=[self.right, self.wrong], color=colours.SELECTED)
        self.figure = figure(
            marks=[self.right, self.wrong, self.current],
            axes=[bq.Axis(scale=self.x_scale, num_ticks=0, label="t-SNE 1"),
                  bq.Axis(scale=self.y_scale, side="left", num_ticks=0, label="t-SNE 2")],
            fig_margin={"top": 10, "bottom": 30, "left": 30, "right": 10}, animation_duration=0,
            layout=widgets.Layout(width="640px", height="560px"),
        )
        self.legend = widgets.HTML()
        self.summary = widgets.HTML()
        self.list_caption = widgets.HTML()
        self.montage = crisp_image()
        self.choices = widgets.Select(options=[], rows=8, description="open", layout=widgets.Layout(width="300px"))
        self.children = [
            widgets.HTML(CRISP_CSS),
            section("A map of the whole image set",
                    "Each dot is one image, placed by what the network's last hidden layer makes of it: "
                    "images the network finds alike end up close together. Colours are the true classes, "
                    "crosses are images the network gets wrong. Hover a dot to see its image, click it to "
                    "open it everywhere, or switch the mouse to select a region.",
                    widgets.HBox([self.compute_button, self.job]), self.mode),
            self.summary,
            widgets.HBox([self.figure, self.legend]),
            Download(self.coordinates_csv, "cnnviz-dataset-map.csv", label="CSV"),
            self.list_caption, widgets.HBox([self.montage, self.choices]),
        ]
        self.compute_button.on_click(lambda _b: self.compute())
        self.mode.observe(self._on_mode, names="value")
        for mark in (self.right, self.wrong):
            mark.on_hover(self._on_hover)
            mark.on_element_click(self._on_point_click)
            mark.observe(self._on_brush, names="selected")
        self.choices.observe(self._on_choice, names="value")
        self._observe(self._on_version, ["version"])
        self._observe(self._on_index, ["index"])
        self._reset()

    # ----- computing --------------------------------------------------------------------------------
    def _on_version(self, change):
        active = self._active
        self._reset()
        if active:
            self.compute()

    def _reset(self):
        self.coords = self.predicted = self.result = None
        self._indices = {}
        self.brushed = np.zeros(0, np.int64)
        for mark in (self.right, self.wrong, self.current):
            with mark.hold_sync():
                mark.x, mark.y = np.zeros(0), np.zeros(0)
                if mark is not self.current:
                    mark.color = np.zeros(0)
        self.legend.value = ""
        self.summary.value = (f"<i>Press “draw the map” to place all {len(self.state.images):,} images "
                              "(about half a minute the first time, a moment after that).</i>")
        self._render_list()

    @reports_errors
    def compute(self, blocking: bool | None = None):
        """Read the map from the cache or compute it (in the background unless ``blocking``)."""
        self._active = True
        state = self.state
        version = state.version
        model, images, preprocess = state.model, state.images, state.preprocess
        notes = []

        def work(progress):
            return embedding.dataset_map(model, images, preprocess, cache=self.cache, progress=progress,
                                         on_note=notes.append)

        def done(result):
            if version != self.state.version:
                raise ValueError("the model or the images changed meanwhile; press “draw the map” again")
            for note in notes:
                self.state.status = f"⚠ DatasetMap: {note}"
            self._show(result)

        self.job.start(work, done, f"placing {len(images):,} images…", blocking=blocking)

    def _show(self, result: embedding.DatasetMapResult):
        self.result = result
        self.coords, self.predicted = result.coords, result.predicted
        labels = self.state.labels
        n = len(result.coords)
        known = labels if labels is not None else np.full(n, -1)
        wrong = (known >= 0) & (result.predicted != known)
        k = len(self.state.class_names)
        colour_of = np.where(known >= 0, known, k).astype(float)
        self._indices = {"right": np.flatnonzero(~wrong), "wrong": np.flatnonzero(wrong)}
        lo, hi = result.coords.min(axis=0), result.coords.max(axis=0)
        pad = 0.03 * (hi - lo + 1e-6)
        with self.colour_scale.hold_sync():
            self.colour_scale.domain = [float(i) for i in range(k + 1)]
            self.colour_scale.colors = class_colours(k) + [UNKNOWN_COLOUR]
        with self.x_scale.hold_sync(), self.y_scale.hold_sync():
            self.x_scale.min, self.x_scale.max = float(lo[0] - pad[0]), float(hi[0] + pad[0])
            self.y_scale.min, self.y_scale.max = float(lo[1] - pad[1]), float(hi[1] + pad[1])
        for name, mark in (("right", self.right), ("wrong", self.wrong)):
            idx = self._indices[name]
            with mark.hold_sync():
                mark.x = result.coords[idx, 0].astype(float)
                mark.y = result.coords[idx, 1].astype(float)
                mark.color = colour_of[idx]
                mark.selected = None
        self._render_current()
        self._render_legend(known, wrong)
        source = "read from the cache" if result.from_cache else "computed"
        self.summary.value = (f"{n:,} images, {source}. Images the network sees alike lie close "
                              f"together. <b>{int(wrong.sum()):,}</b> misclassified (crosses).<br>"
                              f"<span class='cnnviz-note'>How: the {result.layer} numbers of each image, "
                              f"squeezed to {embedding.PCA_COMPONENTS} (PCA), then laid out flat "
                              "(t-SNE).</span>")
        self.brushed = np.zeros(0, np.int64)
        self._render_list()

    def _render_legend(self, known, wrong):
        names = self.state.class_names
        rows = []
        for i, (name, colour) in enumerate(zip(names, class_colours(len(names)))):
            count = int((known == i).sum())
            errors = int((wrong & (known == i)).sum())
            rows.append(f"<div><span style='display:inline-block;width:12px;height:12px;background:{colour};"
                        f"margin-right:6px;vertical-align:middle'></span>{html.escape(name)} "
                        f"<span class='cnnviz-note'>({count:,}; {errors:,} wrong)</span></div>")
        unknown = int((known < 0).sum())
        if unknown:
            rows.append(f"<div><span style='display:inline-block;width:12px;height:12px;"
                        f"background:{UNKNOWN_COLOUR};margin-right:6px;vertical-align:middle'></span>"
                        f"class not known <span class='cnnviz-note'>({unknown:,})</span></div>")
        rows.append(f"<div style='margin-top:6px'>● right · ✚ wrong · <span style='color:{colours.SELECTED}'>◯</span> "
                    "the selected image</div>")
        self.legend.value = "<div style='font-size:0.9em;line-height:1.6'>" + "".join(rows) + "</div>"

    # ----- the mouse ---------------------------------------------------------------------------------
    def _index_of(self, mark, point) -> int | None:
        name = "right" if mark is self.right else "wrong"
        idx = self._indices.get(name)
        if idx is None or point is None or not 0 <= int(point) < len(idx):
            return None
        return int(idx[int(point)])

    @reports_errors
    def _on_hover(self, mark, content):
        i = self._index_of(mark, (content.get("data") or {}).get("index"))
        if i is None:
            return
        set_png(self.thumbnail, render.image_png(self.state.images[i], 96),
                alt=f"The dot under the pointer: {describe_subject(self.state, i)}, predicted "
                    f"{self.state.class_names[self.predicted[i]]}")
        self.hover_caption.value = self.caption(i)

    def coordinates_csv(self) -> bytes:
        """Every image's place on the map with its true and predicted class, as CSV."""
        if self.coords is None:
            raise ValueError("draw the map first")
        names, labels = self.state.class_names, self.state.labels
        return csv_bytes(["index", "x", "y", "true class", "predicted class"],
                         [[i, float(x), float(y),
                           names[labels[i]] if labels is not None and labels[i] >= 0 else "",
                           names[p]] for i, ((x, y), p) in enumerate(zip(self.coords, self.predicted))])

    def caption(self, i: int) -> str:
        """"#12 · true: cat · predicted: dog" for image i (HTML, the wrong prediction in red)."""
        names = self.state.class_names
        labels = self.state.labels
        true = int(labels[i]) if labels is not None else -1
        pred = int(self.predicted[i])
        text = f"#{i}" + (f" · true: {html.escape(names[true])}" if true >= 0 else "")
        correct = None if true < 0 else pred == true
        mark = "" if correct is None else " ✓" if correct else " ✗"
        return (f"{text}<br>predicted: <span style='color:{colours.verdict_colour(correct)}'>"
                f"{html.escape(names[pred])}{mark}</span>")

    @reports_errors
    def _on_point_click(self, mark, content):
        if self.mode.value != "click":
            return
        i = self._index_of(mark, (content.get("data") or {}).get("index"))
        if i is None:
            raise ValueError("that point is not an image of the current set; draw the map again")
        self.select(i)

    def select(self, i: int):
        """Select image ``i`` in every panel."""
        if self.state.index != int(i):
            self.state.index = int(i)

    def _on_mode(self, change):
        self.figure.interaction = self.brush if change["new"] == "brush" else None
        if change["new"] != "brush":
            for mark in (self.right, self.wrong):
                mark.selected = None

    @reports_errors
    def _on_brush(self, change):
        if self.mode.value != "brush":
            return
        picked = []
        for name, mark in (("right", self.right), ("wrong", self.wrong)):
            sel = mark.selected
            if sel is not None and len(sel) and name in self._indices:
                picked.append(self._indices[name][np.asarray(sel, dtype=np.int64)])
        self.brushed = np.sort(np.concatenate(picked)) if picked else np.zeros(0, np.int64)
        self._render_list()

    def brush_region(self, x0: float, x1: float, y0: float, y1: float) -> np.ndarray:
        """The images whose points lie in the rectangle [x0, x1] × [y0, y1]: what a brush lists."""
        if self.coords is None:
            raise ValueError("draw the map first")
        c = self.coords
        inside = (c[:, 0] >= min(x0, x1)) & (c[:, 0] <= max(x0, x1)) & (c[:, 1] >= min(y0, y1)) & (c[:, 1] <= max(y0, y1))
        self.brushed = np.flatnonzero(inside)
        self._render_list()
        return self.brushed

    def _on_index(self, change):
        self._render_current()

    def _render_current(self):
        if self.coords is None or not 0 <= self.state.index < len(self.coords):
            with self.current.hold_sync():
                self.current.x, self.current.y = np.zeros(0), np.zeros(0)
            return
        with self.current.hold_sync():
            self.current.x = self.coords[self.state.index:self.state.index + 1, 0].astype(float)
            self.current.y = self.coords[self.state.index:self.state.index + 1, 1].astype(float)

    @reports_errors
    def _render_list(self):
        shown = self.brushed[: self.MAX_LISTED]
        if len(shown) == 0:
            self.list_caption.value = ("<i>Switch the mouse to “drag selects a region” and drag over the map "
                                       "to list the images there.</i>" if self.coords is not None else "")
            self.montage.layout.display = "none"
            self.choices.options = []
            return
        names = self.state.class_names
        more = f"; the first {len(shown)} are shown" if len(self.brushed) > len(shown) else ""
        counts = np.bincount(self.predicted[self.brushed], minlength=len(names))
        common = ", ".join(f"{names[c]} {counts[c]}" for c in np.argsort(-counts)[:3] if counts[c])
        self.list_caption.value = (f"<b>{len(self.brushed):,}</b> images in the region{more} · predicted "
                                   f"mostly: {html.escape(common)}")
        labels = self.state.labels
        tints = [colours.WRONG if labels is not None and labels[i] >= 0 and labels[i] != self.predicted[i]
                 else colours.RIGHT for i in shown]
        set_png(self.montage, render.labelled_montage(self.state.images[shown], [f"#{i}" for i in shown], cols=8,
                                               size=40, colors=tints),
                alt=f"{len(shown)} images of the region, predicted mostly {common}: "
                    + ", ".join(f"#{i}" for i in shown))
        self.montage.layout.display = None
        self.choices.options = [(f"#{i}: {names[self.predicted[i]]}", int(i)) for i in shown]
        self.choices.value = None

    @reports_errors
    def _on_choice(self, change):
        if change["new"] is not None:
            self.select(int(change["new"]))
