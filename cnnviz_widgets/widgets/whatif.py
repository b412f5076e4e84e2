"""The what-if lab: change the selected image and watch the prediction, the class probabilities
and Grad-CAM of the edited copy next to the original's, live."""
from __future__ import annotations

import asyncio
import dataclasses
import html

import bqplot as bq
import ipywidgets as widgets
import numpy as np
from ipyevents import Event

from .. import compute, render
from ..state import UNKNOWN
from .base import CRISP_CSS, StateWidget, crisp_image, describe_subject, reports_errors, set_png
from .sharing import Download

ORIGINAL_COLOUR, EDITED_COLOUR = "#90a4ae", "#1565c0"
#: The attack menu: (label, value).
ATTACKS = (("none", "none"), ("away from the prediction", "away"), ("towards a class", "towards"))


class Debouncer:
    """Call ``fn()`` once, ``wait`` seconds after the last ``__call__``: a slider dragged across
    twenty values costs one model pass, not twenty. Without an event loop running in this thread
    (plain Python, tests) the call happens at once."""

    def __init__(self, fn, wait: float = 0.08):
        self.fn = fn
        self.wait = float(wait)
        self._handle = None

    def __call__(self):
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None or self.wait <= 0:
            self.fn()
            return
        if self._handle is not None:
            self._handle.cancel()
        self._handle = loop.call_later(self.wait, self._fire)

    def _fire(self):
        self._handle = None
        self.fn()

    def cancel(self):
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


class WhatIfLab(StateWidget):
    """Edit the selected image and compare: the original and the edited copy side by side, with
    their predictions, their class probabilities (grouped bars) and their Grad-CAM.

    Edits (``cnnviz_widgets.edits``): a grey occlusion patch placed by clicking on either picture,
    brightness, contrast, noise, blur, shift, rotation, a horizontal flip, and one step of the fast
    gradient sign attack (``compute.fgsm``), away from the predicted class or towards a chosen one,
    of size ε grey levels. The difference between the two pictures is shown magnified. Sliders are
    live and debounced: one forward pass (and Grad-CAM's gradient pass) per settled change.
    *Keep this image* adds the edited copy to the image set, as an upload does, and selects it.

    ``edited`` is the last edited image (uint8 (H, W, C)), ``edited_probabilities`` its class
    probabilities (K,), ``edited_cam`` its Grad-CAM (H, W).

    >>> lab = WhatIfLab(state)                       # doctest: +SKIP
    >>> lab.place_patch(12, 20); lab.edited_probabilities.argmax()   # doctest: +SKIP
    3
    """

    def __init__(self, state, size: int = 160, debounce: float = 0.08, **kwargs):
        super().__init__(state, **kwargs)
        self.size = int(size)
        self.edits = compute.Edits()
        self.edited = None
        self.edited_x = None
        self.edited_probabilities = None
        self.edited_cam = None
        self._syncing = False
        self._debounced = Debouncer(self._render_edit, debounce)

        def slider(cls, value, lo, hi, step, description, fmt=None):
            extra = {"readout_format": fmt} if fmt else {}
            return cls(value=value, min=lo, max=hi, step=step, description=description, continuous_update=True,
                       style={"description_width": "80px"}, layout=widgets.Layout(width="300px"), **extra)

        self.brightness = slider(widgets.FloatSlider, 0.0, -0.5, 0.5, 0.05, "brightness", ".2f")
        self.contrast = slider(widgets.FloatSlider, 1.0, 0.0, 2.0, 0.1, "contrast", ".1f")
        self.noise = slider(widgets.FloatSlider, 0.0, 0.0, 0.3, 0.01, "noise σ", ".2f")
        self.blur = slider(widgets.FloatSlider, 0.0, 0.0, 2.0, 0.25, "blur σ", ".2f")
        self.shift_x = slider(widgets.IntSlider, 0, -8, 8, 1, "shift →")
        self.shift_y = slider(widgets.IntSlider, 0, -8, 8, 1, "shift ↓")
        self.rotation = slider(widgets.FloatSlider, 0.0, -45.0, 45.0, 5.0, "rotation °", ".0f")
        self.flip = widgets.Checkbox(False, description="mirror left ↔ right", indent=False)
        self.patch_size = slider(widgets.IntSlider, 8, 2, 16, 1, "patch size")
        self.patch_size.layout.width = "210px"
        self.clear_patch = widgets.Button(description="remove", icon="eraser", disabled=True,
                                          tooltip="Take the patch away", layout=widgets.Layout(width="100px"))
        # The keyboard's way to place the patch (a click needs a mouse): its centre's row and
        # column, typed or stepped with the arrow keys; they also show where a click put it.
        self.patch_row, self.patch_col = (
            widgets.BoundedIntText(value=0, min=0, max=0, description=name, tooltip=tip,
                                   style={"description_width": label}, layout=widgets.Layout(width=width))
            for name, tip, label, width in (
                ("patch row", "Row of the patch's centre, 0 at the top", "70px", "140px"),
                ("patch column", "Column of the patch's centre, 0 at the left", "100px", "175px")))
        self.place_button = widgets.Button(description="cover", icon="square", tooltip="Place the patch at this "
                                           "row and column", layout=widgets.Layout(width="90px"))
        self.attack = widgets.Dropdown(options=ATTACKS, value="none", description="attack",
                                       style={"description_width": "80px"}, layout=widgets.Layout(width="300px"))
        self.target = widgets.Dropdown(description="class", style={"description_width": "80px"},
                                       layout=widgets.Layout(width="300px"), disabled=True)
        # ε is typed, not slid: a number the student chooses, checked against the input range.
        self.epsilon = widgets.FloatText(value=8.0, description="ε (/255)", step=1.0,
                                         style={"description_width": "80px"}, layout=widgets.Layout(width="180px"))
        self.reset_button = widgets.Button(description="reset edits", icon="undo", layout=widgets.Layout(width="140px"))
        self.keep_button = widgets.Button(description="keep this image", icon="plus", button_style="success",
                                          tooltip="Add the edited image to the image set and select it",
                                          layout=widgets.Layout(width="160px"))
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
        self.figure = bq.Figure(
            marks=[self.bars],
            axes=[bq.Axis(scale=self.x_scale, tick_rotate=-30),
                  bq.Axis(scale=self.y_scale, orientation="vertical", tick_format=".0%",
                          tick_values=[0.0, 0.25, 0.5, 0.75, 1.0], label="probability")],
            legend_location="top-right", fig_margin={"top": 10, "bottom": 55, "left": 55, "right": 10},
            layout=widgets.Layout(width="100%", max_width="560px", height="260px"),
        )
        self.summary = widgets.HTML()

        def column(picture, caption):
            return widgets.VBox([picture, caption], layout=widgets.Layout(width=f"{self.size + 16}px"))

        controls = widgets.VBox([
            widgets.HTML("<b>How it looks</b>"), self.brightness, self.contrast, self.noise, self.blur,
            widgets.HTML("<b>Where things are</b>"), self.shift_x, self.shift_y, self.rotation, self.flip,
            widgets.HTML("<b>Cover a part</b> <span class='cnnviz-note'>(click on a picture, or type "
                         "where)</span>"),
            widgets.HBox([self.patch_size, self.clear_patch], layout=widgets.Layout(width="320px")),
            widgets.HBox([self.patch_row, self.patch_col], layout=widgets.Layout(width="320px")),
            self.place_button,
            widgets.HTML("<b>Fool the network</b> <span class='cnnviz-note'>(fast gradient sign)</span>"),
            self.attack, self.target, self.epsilon,
            widgets.HBox([self.reset_button, self.keep_button]),
        ], layout=widgets.Layout(width="320px"))
        pictures = widgets.VBox([
            widgets.HBox([column(self.original, self.original_caption),
                          column(self.edited_image, self.edited_caption),
                          column(self.difference, self.difference_caption)]),
            widgets.HBox([column(self.original_cam, widgets.HTML("Grad-CAM, original")),
                          column(self.edited_cam_image, widgets.HTML("Grad-CAM, edited"))]),
            self.cam_caption,
        ])
        save = Download.picture(self.edited_image, lambda: compute.file_name(
            "cnnviz-whatif", f"image{self.state.index}", suffix=".png"))
        self.children = [widgets.HTML(CRISP_CSS), widgets.HBox([controls, pictures]), save, self.summary,
                         self.figure, self.message]
        for control in (self.brightness, self.contrast, self.noise, self.blur, self.shift_x, self.shift_y,
                        self.rotation, self.patch_size):
            control.observe(self._on_slider, names="value")
        for control in (self.flip, self.attack, self.target, self.epsilon):
            control.observe(self._on_control, names="value")
        self.clear_patch.on_click(lambda _b: self.remove_patch())
        self.place_button.on_click(lambda _b: self._on_patch_box(None))
        for box in (self.patch_row, self.patch_col):
            box.observe(self._on_patch_box, names="value")
        self.reset_button.on_click(lambda _b: self.reset())
        self.keep_button.on_click(lambda _b: self.keep())
        self._observe(self._on_inspection, ["inspection"])
        self._observe(self._on_class_names, ["class_names"])
        self._observe(self._on_class_index, ["class_index"])
        self._on_class_names(None)
        self._render()

    # ----- settings -------------------------------------------------------------------------------
    def epsilon_value(self) -> float:
        """ε in the model's input units, from the box (grey levels out of 255 of the input range);
        a ValueError saying the allowed range when it is outside it."""
        lo, hi = self.state.input_range()
        levels = float(self.epsilon.value)
        if not np.isfinite(levels) or not 0 <= levels <= 255:
            raise ValueError(f"ε must be between 0 and 255 grey levels (the whole input range "
                             f"[{lo:g}, {hi:g}]); got {levels:g}")
        return compute.check_epsilon(levels / 255.0 * (hi - lo), (lo, hi))

    def _edits_from_controls(self) -> compute.Edits:
        return compute.Edits(flip=bool(self.flip.value), rotation=float(self.rotation.value),
                        shift_y=int(self.shift_y.value), shift_x=int(self.shift_x.value),
                        brightness=float(self.brightness.value), contrast=float(self.contrast.value),
                        blur=float(self.blur.value), noise=float(self.noise.value),
                        noise_seed=int(self.state.index), patch=self.edits.patch,
                        patch_size=int(self.patch_size.value))

    def _on_slider(self, change):
        if not self._syncing:
            self._debounced()

    def _on_control(self, change):
        if self._syncing:
            return
        self.target.disabled = self.attack.value != "towards"
        self._render_edit()

    def _on_class_names(self, change):
        self._syncing = True
        try:
            current = self.target.value
            self.target.options = [(n, i) for i, n in enumerate(self.state.class_names)]
            self.target.value = current if current is not None and current < len(self.state.class_names) else 0
        finally:
            self._syncing = False

    def _on_class_index(self, change):
        self._render()

    @reports_errors
    def _on_click(self, event):
        """A click on either picture: the patch goes where the click was, in image pixels."""
        h, w = self.state.inspector.input_shape[:2]
        factor = render.tile_factor(h, w, self.size)
        x, y = event.get("dataX"), event.get("dataY")
        if x is None or y is None:
            raise ValueError("the click carried no position; click inside the picture")
        self.place_patch(int(np.floor(float(y) / factor)), int(np.floor(float(x) / factor)))

    def _on_patch_box(self, change):
        if not self._syncing:
            self.place_patch(int(self.patch_row.value), int(self.patch_col.value))

    def place_patch(self, row: int, col: int):
        """Put the occlusion patch's centre on pixel (row, col) of the image. A position outside
        the image is refused with a message; the patch stays where it was."""
        h, w = self.state.inspector.input_shape[:2]
        if not (0 <= row < h and 0 <= col < w):
            self._say(f"⚠ WhatIfLab: ({row}, {col}) is outside the {h}×{w} image; click inside the "
                      "picture to place the patch", error=True)
            return
        self.edits = dataclasses.replace(self.edits, patch=(int(row), int(col)))
        self.clear_patch.disabled = False
        self._show_patch_position()
        self._render_edit()

    def _show_patch_position(self):
        """The row and column boxes: bounded by the image, showing the patch's centre if any."""
        h, w = self.state.inspector.input_shape[:2]
        row, col = self.edits.patch if self.edits.patch is not None else (h // 2, w // 2)
        syncing, self._syncing = self._syncing, True
        try:
            for box, top, value in ((self.patch_row, h - 1, row), (self.patch_col, w - 1, col)):
                if box.max != top:
                    box.max = top
                box.value = min(value, top)
        finally:
            self._syncing = syncing

    def remove_patch(self):
        self.edits = dataclasses.replace(self.edits, patch=None)
        self.clear_patch.disabled = True
        self._render_edit()

    def reset(self):
        """Every edit back to its default (no change), the attack off."""
        self._syncing = True
        try:
            for control, value in ((self.brightness, 0.0), (self.contrast, 1.0), (self.noise, 0.0),
                                   (self.blur, 0.0), (self.shift_x, 0), (self.shift_y, 0), (self.rotation, 0.0),
                                   (self.flip, False), (self.attack, "none")):
                control.value = value
            self.target.disabled = True
        finally:
            self._syncing = False
        self._debounced.cancel()
        self.edits = compute.Edits(patch_size=int(self.patch_size.value))
        self.clear_patch.disabled = True
        self._render_edit()

    # ----- rendering ------------------------------------------------------------------------------
    def cam_class(self) -> int:
        """The class both Grad-CAMs explain: the state's chosen class, else the original's prediction."""
        insp = self.state.inspection
        return self.state.class_index if self.state.class_index is not None else insp.predicted

    @reports_errors
    def _render(self):
        """The original: picture, caption and Grad-CAM, then the edited copy."""
        insp = self.state.inspection
        self._show_patch_position()
        subject = describe_subject(self.state)
        set_png(self.original, render.image_png(insp.image, self.size),
                alt=f"The original picture: {subject}, predicted {self._verdict(insp.probabilities)}")
        self.original_caption.value = f"<b>original</b> #{insp.index}<br>{self._verdict(insp.probabilities)}"
        cam = self.state.grad_cam(class_index=self.cam_class())
        set_png(self.original_cam, render.overlay_png(insp.image, cam, 0.5, self.size),
                alt=compute.heatmap_alt(cam, "Grad-CAM", subject,
                                        f"class {self.state.class_names[self.cam_class()]}"))
        self._render_edit()

    def _verdict(self, probs) -> str:
        names = self.state.class_names
        k = int(np.argmax(probs))
        return f"{html.escape(names[k])} {100 * float(probs[k]):.1f} %"

    def _render_edit(self):
        """Apply the edits to the selected image: one forward pass and one gradient pass (two
        more with the attack's), then every picture and the bars."""
        try:
            edits = self._edits_from_controls()
            epsilon = self.epsilon_value() if self.attack.value != "none" else 0.0
        except ValueError as exc:
            # Refused settings leave the last edited image on screen.
            self._say(f"⚠ WhatIfLab: {exc}", error=True)
            return
        try:
            self._compute_and_show(edits, epsilon)
        except Exception as exc:  # Every error must reach the student, not a hidden log.
            self._say(f"⚠ WhatIfLab: {exc}", error=True)

    def _compute_and_show(self, edits, epsilon):
        state = self.state
        insp = state.inspection
        model = state.model
        lo, hi = state.input_range()
        edited = compute.apply_edits(insp.image, edits)
        x = np.asarray(state.preprocess(edited[None]), dtype=np.float32)[0]
        attack = self.attack.value
        if attack != "none":
            target = int(self.target.value) if attack == "towards" else None
            x = compute.fgsm(model, x, epsilon=epsilon, target=target, value_range=(lo, hi))
            edited = compute.to_uint8(x, (lo, hi))
        cam_class = self.cam_class()
        if edits.neutral and attack == "none":
            # Nothing changed: the original's inspection and Grad-CAM (both cached by the state)
            # are the answer, so a new image costs no model pass here.
            x = insp.x
            probs, predicted = insp.probabilities, insp.predicted
            cam = state.grad_cam(class_index=cam_class)
        else:
            probs, predicted, cam = compute.predict_and_explain(model, x, cam_class)
        self.edits = edits
        self.edited, self.edited_x = edited, x
        self.edited_probabilities, self.edited_cam = probs, cam
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
        colour = "#c62828" if changed else "#2e7d32"
        self.edited_caption.value = (f"<b>edited</b><br><span style='color:{colour}'>"
                                     f"{self._verdict(probs)}</span>")
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
        colour = "#b71c1c" if error else "#2e7d32"
        self.message.value = f"<div style='color:{colour}'>{html.escape(text)}</div>"
        self.state.status = text

    # ----- keeping -------------------------------------------------------------------------------
    @reports_errors
    def keep(self) -> int:
        """Add the edited image after the current images, as an upload does, and select it. It
        keeps the original's true class (an edited cat is still a cat). Returns its index."""
        if self.edited is None:
            raise ValueError("nothing to keep yet")
        state = self.state
        label = state.inspection.label
        labels = state.labels
        if labels is not None:
            labels = np.concatenate([labels, [UNKNOWN if label is None else label]]).astype(labels.dtype)
        elif label is not None:
            labels = np.concatenate([np.full(len(state.images), UNKNOWN), [label]])
        source = state.index
        edited = self.edited
        state.set_images(np.concatenate([state.images, edited[None]]), labels=labels)
        new = len(state.images) - 1
        self.reset()
        state.index = new
        self._say(f"Kept the edited image of #{source} as image #{new}.")
        return new

    def close(self):
        self._debounced.cancel()
        for event in self.click_events:
            event.close()
        super().close()
