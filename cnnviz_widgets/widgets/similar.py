"""Images the network sees alike: the nearest neighbours of the selected image, and the nearest
image the network calls something else."""
from __future__ import annotations

import html

import ipywidgets as widgets
from ipyevents import Event

from .. import colours, compute, render
from .base import CRISP_CSS, crisp_image, describe_subject, reports_errors, section, set_png
from .jobs import ToolWidget

#: Pixels a similar image is drawn at, about: wide enough for a caption such as "pred. automobile".
TILE = 96
#: Pixels the selected image and its counterfactual are drawn at.
PAIR = 128
#: Height of a caption under a picture of ``render.labelled_montage`` (three lines).
CAPTION = 3 * 13 + 3
#: Gap between the pictures of ``render.labelled_montage``.
GAP = 4


class SimilarImages(ToolWidget):
    """The ``k`` images whose penultimate features are nearest to the selected image's, with their
    true and predicted classes, and beside the selected image the nearest one the network predicts
    differently (its counterfactual), with both predictions.

    The features of every image come from one batched pass per model (a background job with
    progress), kept in the state's cache and on disk beside the dataset maps (``cache``, a
    ``compute.MapCache``); after that a new image is one query, no model call.
    Clicking a picture, or choosing it in the list, selects that image everywhere (``state.index``).
    ``nearest`` (indices, nearest first) and ``counterfactual`` (an index or None) hold what is shown.

    >>> panel = SimilarImages(state, blocking=True)   # doctest: +SKIP
    >>> panel.compute(); len(panel.nearest)            # doctest: +SKIP
    8
    """

    def __init__(self, state, k: int = compute.similarity.NEAREST, cache: compute.MapCache | None = None,
                 blocking: bool = False, **kwargs):
        super().__init__(state, blocking=blocking, **kwargs)
        self.k = int(k)
        self.cache = cache if cache is not None else compute.MapCache()
        self.features = None
        self.predicted = None
        self.nearest = None
        self.counterfactual = None
        self.queries = 0
        self._version = None
        self.compute_button = widgets.Button(description="find similar images", icon="search",
                                             layout=widgets.Layout(width="190px"))
        self.summary = widgets.HTML()
        self.montage = crisp_image()
        self.pair = crisp_image()
        self.pair_caption = widgets.HTML()
        self.choices = widgets.Select(options=[], rows=self.k + 1, description="open",
                                      layout=widgets.Layout(width="300px"))
        self.montage_clicks = Event(source=self.montage, watched_events=["click"])
        self.montage_clicks.on_dom_event(self._on_montage_click)
        self.pair_clicks = Event(source=self.pair, watched_events=["click"])
        self.pair_clicks.on_dom_event(self._on_pair_click)
        self.children = [
            widgets.HTML(CRISP_CSS),
            section("Which images does the network find alike?",
                    "The network's last hidden layer turns each image into a list of numbers. Images whose "
                    "numbers are close look alike to the network, whatever they look like to you. The nearest "
                    "image with a different prediction shows how little must change for another answer. "
                    "Click a picture, or choose it in the list, to open it.",
                    widgets.HBox([self.compute_button, self.job])),
            self.summary,
            widgets.HBox([widgets.VBox([widgets.HTML("<b>The nearest images</b>"), self.montage]),
                          widgets.VBox([widgets.HTML("<b>This image and its nearest counterfactual</b>"),
                                        self.pair, self.pair_caption])],
                         layout=widgets.Layout(flex_flow="row wrap", align_items="flex-start")),
            self.choices,
        ]
        self.compute_button.on_click(lambda _b: self.compute())
        self.choices.observe(self._on_choice, names="value")
        self._observe(self._on_version, ["version"])
        self._observe(self._on_inspection, ["inspection"])
        self._reset()

    # ----- the features -------------------------------------------------------------------------
    def _on_version(self, change):
        active = self.features is not None
        self._reset()
        if active:
            self.compute()

    def _reset(self):
        self.features = self.predicted = self.nearest = self.counterfactual = None
        self._version = None
        for image in (self.montage, self.pair):
            image.layout.display = "none"
        self.pair_caption.value = ""
        with self._quietly():
            self.choices.options = []
        self.summary.value = (f"<i>Press “find similar images” to read the features of all "
                              f"{len(self.state.images):,} images (a few seconds, once per model).</i>")

    @reports_errors
    def compute(self, blocking: bool | None = None):
        """Compute (or read from the state's cache) every image's features, then show the
        neighbours of the selected image; in the background unless ``blocking``."""
        state = self.state
        version = state.version
        notes = []

        def work(progress):
            return state.similarity_features(progress, disk=self.cache, on_note=notes.append)

        def done(result):
            if version != self.state.version:
                raise ValueError("the model or the images changed meanwhile; press “find similar images” again")
            for note in notes:
                self.state.status = f"⚠ SimilarImages: {note}"
            self.features, self.predicted = result
            self._version = version
            self._render()

        self.job.start(work, done, f"reading the features of {len(state.images):,} images…",
                       blocking=blocking)

    # ----- the query ----------------------------------------------------------------------------
    @reports_errors
    def _render(self):
        if self.features is None or self._version != self.state.version:
            return
        state = self.state
        i = state.index
        self.nearest = compute.nearest_examples(self.features, i, self.k)
        self.counterfactual = compute.nearest_counterfactual(self.features, self.predicted, i)
        self.queries += 1
        names = state.class_names
        shown = [int(j) for j in self.nearest]
        set_png(self.montage, render.labelled_montage(state.images[shown], [self._caption(j) for j in shown],
                                                      cols=4, size=TILE, colors=[self._colour(j) for j in shown]),
                alt="The nearest images to " + describe_subject(state) + ": "
                    + ", ".join(f"#{j} predicted {names[self.predicted[j]]}" for j in shown))
        self.montage.layout.display = None
        pair = [i] if self.counterfactual is None else [i, self.counterfactual]
        alt = f"{describe_subject(state)}, predicted {names[self.predicted[i]]}"
        if self.counterfactual is not None:
            alt += (f", beside its nearest counterfactual {describe_subject(state, self.counterfactual)}, "
                    f"predicted {names[self.predicted[self.counterfactual]]}")
        set_png(self.pair, render.labelled_montage(state.images[pair], [self._caption(j) for j in pair], cols=2,
                                                   size=PAIR, colors=[self._colour(j) for j in pair]), alt=alt)
        self.pair.layout.display = None
        here = f"this image (#{i}) is predicted <b>{html.escape(names[self.predicted[i]])}</b>"
        if self.counterfactual is None:
            self.pair_caption.value = f"{here}; every image gets the same prediction, so there is no counterfactual."
        else:
            c = self.counterfactual
            self.pair_caption.value = (f"{here}; the nearest image predicted otherwise is #{c}, predicted "
                                       f"<b>{html.escape(names[self.predicted[c]])}</b>.")
        self.summary.value = (f"The {len(shown)} images nearest to #{i} in the "
                              f"{html.escape(compute.penultimate_layer(state.model))} features, nearest first.")
        with self._quietly():
            options = [(f"#{j}: predicted {names[self.predicted[j]]} (similar)", j) for j in shown]
            if self.counterfactual is not None:
                options.append((f"#{self.counterfactual}: predicted {names[self.predicted[self.counterfactual]]} "
                                "(counterfactual)", self.counterfactual))
            self.choices.options = options
            self.choices.value = None

    def _caption(self, j: int) -> str:
        names, labels = self.state.class_names, self.state.labels
        true = f"true {names[labels[j]]}" if labels is not None and labels[j] >= 0 else "true ?"
        return f"#{j}\n{true}\npred. {names[self.predicted[j]]}"

    def _colour(self, j: int) -> str:
        labels = self.state.labels
        known = labels is not None and labels[j] >= 0
        return colours.verdict_colour(labels[j] == self.predicted[j] if known else None)

    # ----- picking ------------------------------------------------------------------------------
    def tile_at(self, x: float, y: float, size: int, cols: int, count: int) -> int | None:
        """The position of the picture at pixel (x, y) of a ``render.labelled_montage`` of
        ``count`` images at ``size`` in ``cols`` columns, or None for a gap or a caption."""
        h, w = self.state.images.shape[1:3]
        f = render.tile_factor(h, w, size)
        tile_w, tile_h = w * f, h * f + CAPTION
        col, dx = divmod(int(x), tile_w + GAP)
        row, dy = divmod(int(y), tile_h + GAP)
        k = row * cols + col
        if x < 0 or y < 0 or col >= cols or dx >= tile_w or dy >= tile_h or k >= count:
            return None
        return k

    @reports_errors
    def _on_montage_click(self, event):
        if self.nearest is None:
            return
        k = self.tile_at(event.get("dataX", -1), event.get("dataY", -1), TILE, 4, len(self.nearest))
        if k is not None:
            self.select(int(self.nearest[k]))

    @reports_errors
    def _on_pair_click(self, event):
        if self.nearest is None or self.counterfactual is None:
            return
        k = self.tile_at(event.get("dataX", -1), event.get("dataY", -1), PAIR, 2, 2)
        if k == 1:
            self.select(self.counterfactual)

    @reports_errors
    def _on_choice(self, change):
        if not self._quiet and change["new"] is not None:
            self.select(int(change["new"]))

    def select(self, i: int):
        """Select image ``i`` in every panel."""
        if self.state.index != int(i):
            self.state.index = int(i)

    def close(self):
        self.montage_clicks.close()
        self.pair_clicks.close()
        super().close()
