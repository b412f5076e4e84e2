"""The what-if lab's controls: the edit sliders, the occlusion patch's placement, the attack, and
what they mean as a ``compute.Edits`` and an ε.

``EditControls`` is mixed into ``whatif.WhatIfLab``, which provides ``state``, ``edits``,
``_syncing``, ``_debounced``, ``_render_edit`` and ``_say``.
"""
from __future__ import annotations

import dataclasses

import ipywidgets as widgets
import numpy as np

from .. import compute, render
from .base import reports_errors

#: The attack menu: (label, value).
ATTACKS = (("none", "none"), ("away from the prediction", "away"), ("towards a class", "towards"))


class EditControls:
    """The controls of the what-if lab and their handlers."""

    def _build_controls(self) -> widgets.VBox:
        """Make every control (attributes of the lab) and return the box that lays them out."""

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
        return widgets.VBox([
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

    def _wire_controls(self) -> None:
        """Observe every control (after the lab's children exist)."""
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
