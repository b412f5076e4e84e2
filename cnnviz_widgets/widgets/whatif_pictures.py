"""The what-if lab's pictures: the original and the edited copy, their difference, their Grad-CAMs,
the grouped probability bars, and the captions and summary that say what changed.

``EditPictures`` is mixed into ``whatif.WhatIfLab``, which provides ``state``, ``size``,
``cam_class`` and ``_render_edit``, and its controls (``whatif_controls.EditControls``): ``epsilon``,
``target``, ``_on_click`` and ``_show_patch_position``.
"""
from __future__ import annotations

import html

import bqplot as bq
import ipywidgets as widgets
import numpy as np
from ipyevents import Event

from .. import colours, compute, render
from .base import crisp_image, describe_subject, reports_errors, set_png
from .figures import figure

ORIGINAL_COLOUR, EDITED_COLOUR = colours.QUIET, colours.BARS


class EditPictures:
    """The pictures and the chart of the what-if lab, and how they are drawn."""

    def _build_pictures(self) -> widgets.VBox:
        """Make the pictures, captions, chart, summary and message (attributes of the lab) and
        return the box that lays out the pictures."""
        self.original = crisp_image()
        self.edited_image = crisp_image()
        self.difference = crisp_image()
        self.original_cam = crisp_image()
        self.edited_cam_image = crisp_image()
        self.original_caption = widgets.HTML()
        self.edited_caption = widgets.HTML()
        self.difference_caption = widgets.HTML()
        self.cam_caption = widgets.HTML()
        self.message = widgets.HTML()
        for picture in (self.original, self.edited_image):
            picture.layout.cursor = "crosshair"
        # ipyevents reports a click's position in the picture's own pixels (dataX, dataY).
        self.click_events = [Event(source=p, watched_events=["click"]) for p in (self.original, self.edited_image)]
        for event in self.click_events:
            event.on_dom_event(self._on_click)
        self.x_scale = bq.OrdinalScale()
        self.y_scale = bq.LinearScale(min=0.0, max=1.0)
        self.bars = bq.Bars(x=[], y=np.zeros((2, 0)), scales={"x": self.x_scale, "y": self.y_scale},
                            type="grouped", colors=[ORIGINAL_COLOUR, EDITED_COLOUR], padding=0.2,
                            labels=["original", "edited"], display_legend=True,
                            tooltip=bq.Tooltip(fields=["x", "y"], formats=["", ".1%"]))
        self.figure = figure(
            marks=[self.bars],
            axes=[bq.Axis(scale=self.x_scale, tick_rotate=-30),
                  bq.Axis(scale=self.y_scale, side="left", tick_format=".0%",
                          tick_values=[0.0, 0.25, 0.5, 0.75, 1.0], label="probability")],
            legend_location="top-right", fig_margin={"top": 10, "bottom": 55, "left": 55, "right": 10},
            layout=widgets.Layout(width="100%", max_width="560px", height="260px"),
        )
        self.summary = widgets.HTML()

        def column(picture, caption):
            return widgets.VBox([picture, caption], layout=widgets.Layout(width=f"{self.size + 16}px"))

        return widgets.VBox([
            widgets.HBox([column(self.original, self.original_caption),
                          column(self.edited_image, self.edited_caption),
                          column(self.difference, self.difference_caption)]),
            widgets.HBox([column(self.original_cam, widgets.HTML("Grad-CAM, original")),
                          column(self.edited_cam_image, widgets.HTML("Grad-CAM, edited"))]),
            self.cam_caption,
        ])

    @reports_errors
    def _render(self):
        """The original: picture, caption and Grad-CAM, then the edited copy."""
        insp = self.state.inspection
        self._show_patch_position()
        subject = describe_subject(self.state)
        set_png(self.original, render.image_png(insp.image, self.size),
                alt=f"The original picture: {subject}, predicted {self._verdict(insp.probabilities)}")
        mark = {None: "", True: " ✓", False: " ✗"}[insp.correct]
        self.original_caption.value = (f"<b>original</b> #{insp.index}<br><span style='color:"
                                       f"{colours.verdict_colour(insp.correct)}'>"
                                       f"{self._verdict(insp.probabilities)}{mark}</span>")
        cam = self.state.grad_cam(class_index=self.cam_class())
        set_png(self.original_cam, render.overlay_png(insp.image, cam, 0.5, self.size),
                alt=compute.heatmap_alt(cam, "Grad-CAM", subject,
                                        f"class {self.state.class_names[self.cam_class()]}"))
        self._render_edit()

    def _verdict(self, probs) -> str:
        names = self.state.class_names
        k = int(np.argmax(probs))
        return f"{html.escape(names[k])} {100 * float(probs[k]):.1f} %"

    def _show_edit(self, edits, attack: str, result) -> None:
        """Draw the edited copy ``result`` (a ``whatif_compute.EditedImage``) next to the original:
        pictures, captions, bars and the summary of what changed."""
        state = self.state
        insp = state.inspection
        edited, x, probs, predicted, cam = (result.image, result.x, result.probabilities, result.predicted,
                                            result.cam)
        cam_class = self.cam_class()
        names = list(state.class_names)
        subject = f"the edited picture of {describe_subject(state)}"
        set_png(self.edited_image, render.image_png(edited, self.size),
                alt=f"{subject[0].upper()}{subject[1:]}: predicted {self._verdict(probs)}")
        set_png(self.edited_cam_image, render.overlay_png(edited, cam, 0.5, self.size),
                alt=compute.heatmap_alt(cam, "Grad-CAM", subject, f"class {names[cam_class]}"))
        diff, times = compute.magnified_difference(insp.x, x)
        set_png(self.difference, render.image_png(compute.to_uint8(diff), self.size),
                alt=compute.difference_alt(times))
        changed = predicted != insp.predicted
        # Green and red say right or wrong against the true class, as everywhere else; whether
        # the answer changed is said in words.
        correct = None if insp.label is None or insp.label < 0 else bool(predicted == insp.label)
        mark = {None: "", True: " ✓", False: " ✗"}[correct]
        self.edited_caption.value = (f"<b>edited</b>{' · changed' if changed else ''}<br>"
                                     f"<span style='color:{colours.verdict_colour(correct)}'>"
                                     f"{self._verdict(probs)}{mark}</span>")
        self.difference_caption.value = ("difference: no change" if times == 0 else
                                         f"difference ×{times:.0f}<br><span class='cnnviz-note'>grey = "
                                         "unchanged</span>")
        self.cam_caption.value = f"<span class='cnnviz-note'>Grad-CAM for the class " \
                                 f"<b>{html.escape(names[cam_class])}</b>.</span>"
        with self.bars.hold_sync():
            self.bars.x = names
            self.bars.y = np.vstack([insp.probabilities, probs]).astype(float)
        what = edits.describe()
        if attack != "none":
            what = (what + ", " if what != "no edit" else "") + \
                   (f"attack ε = {float(self.epsilon.value):g}/255" + (f" towards {names[int(self.target.value)]}"
                                                                       if attack == "towards" else ""))
        verb = "now reads" if changed else "still reads"
        self.summary.value = (f"<b>{html.escape(what)}</b>: the network {verb} "
                              f"<b>{html.escape(names[predicted])}</b> ({100 * probs[predicted]:.1f} %; "
                              f"the original: {html.escape(names[insp.predicted])} "
                              f"{100 * insp.confidence:.1f} %).")
        self.message.value = ""

    def _say(self, text: str, error: bool = False):
        colour = colours.WRONG if error else colours.INK
        self.message.value = f"<div style='color:{colour}'>{html.escape(text)}</div>"
        self.state.status = text
