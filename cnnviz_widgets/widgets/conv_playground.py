"""A convolution's geometry to play with: input size, kernel, stride, padding, dilation, filters."""
from __future__ import annotations

import ipywidgets as widgets
import numpy as np

from .. import compute, render
from .base import CRISP_CSS, crisp_image, reports_errors, section, set_png
from .jobs import ToolWidget

#: How the playground starts when the model has no Conv2D layer.
DEFAULTS = {"input_size": 32, "in_channels": 3, "kernel": 3, "stride": 1, "padding": "same",
            "dilation": 1, "filters": 32, "use_bias": True}

#: Colours of the drawing (RGB): the input, the zero padding, the kernel taps, the window's frame,
#: the output and the output cell the window makes.
INPUT, PAD, TAP, FRAME, OUTPUT, CURRENT, LINE, PAPER = (
    (227, 236, 248), (205, 205, 205), (255, 183, 77), (198, 40, 40), (232, 245, 233), (67, 160, 71),
    (150, 150, 150), (255, 255, 255))


def geometry_png(size: int, kernel: int, stride: int, before: int, after: int, dilation: int,
                 out: int, row: int, col: int, width: int = 220) -> bytes:
    """The padded input grid (padding grey) with the kernel's taps of output cell (row, col) in
    orange inside a red frame, and the output grid beside it with that cell in green: one PNG.

    size, before, after : the input's cells and the zeros added before and after it, per axis
    out : the output's cells per axis
    """
    from PIL import Image, ImageDraw

    padded = before + size + after
    cell = int(np.clip(width // max(padded, 1), 3, 24))
    gap = 3 * cell
    height = max(padded, out) * cell + 1
    img = Image.new("RGB", (padded * cell + gap + out * cell + 1, height), PAPER)
    draw = ImageDraw.Draw(img)
    lines = cell >= 6

    def square(x, y, fill, left=0):
        draw.rectangle([left + x * cell, y * cell, left + (x + 1) * cell, (y + 1) * cell], fill=fill,
                       outline=LINE if lines else None)

    for y in range(padded):
        for x in range(padded):
            inside = before <= y < before + size and before <= x < before + size
            square(x, y, INPUT if inside else PAD)
    top, left = row * stride, col * stride
    for i in range(kernel):
        for j in range(kernel):
            square(left + j * dilation, top + i * dilation, TAP)
    span = (kernel - 1) * dilation + 1
    draw.rectangle([left * cell, top * cell, (left + span) * cell, (top + span) * cell], outline=FRAME,
                   width=2)
    offset = padded * cell + gap
    for y in range(out):
        for x in range(out):
            square(x, y, CURRENT if (y, x) == (row, col) else OUTPUT, left=offset)
    return render.png_bytes(np.asarray(img))


class ConvPlayground(ToolWidget):
    """A convolution to play with: sliders for the input size and channels, the kernel, stride,
    padding, dilation and filters; a drawing of the padded input, the window and the output grid;
    the output size and the number of weights. An impossible setting is explained in one sentence
    instead of drawn. It starts on the model's first Conv2D.

    >>> playground = ConvPlayground(state)        # doctest: +SKIP
    >>> playground.kernel.value = 5               # doctest: +SKIP
    >>> playground.summary.value                  # doctest: +SKIP
    'output 32 × 32 × 32 ...'
    """

    def __init__(self, state, **kwargs):
        super().__init__(state, **kwargs)

        def slider(description, low, high):
            return widgets.IntSlider(low, min=low, max=high, description=description,
                                     style={"description_width": "110px"},
                                     layout=widgets.Layout(width="330px"))

        self.size = slider("input size", 1, 64)
        self.in_channels = slider("input channels", 1, 256)
        self.kernel = slider("kernel", 1, 11)
        self.stride = slider("stride", 1, 5)
        self.padding = widgets.ToggleButtons(options=[("valid", "valid"), ("same", "same"),
                                                      ("zeros", "zeros")],
                                             description="padding", style={"button_width": "60px"})
        self.zeros = slider("zeros each side", 0, 5)
        self.dilation = slider("dilation", 1, 4)
        self.filters = slider("filters", 1, 256)
        self.position = slider("window position", 0, 0)
        self.picture = crisp_image()
        self.summary = widgets.HTML()
        self.controls = (self.size, self.in_channels, self.kernel, self.stride, self.padding, self.zeros,
                         self.dilation, self.filters)
        self.children = [
            widgets.HTML(CRISP_CSS),
            section("Play with a convolution",
                    "Change the input, the kernel and how it moves: the picture shows the input with its "
                    "zero padding (grey), where the kernel reads (orange, framed in red) and the output it "
                    "makes (the green cell). It starts on this model's first convolution.",
                    widgets.HBox([widgets.VBox([self.size, self.in_channels, self.kernel, self.stride]),
                                  widgets.VBox([self.padding, self.zeros, self.dilation, self.filters])])),
            self.position, self.picture, self.summary,
        ]
        for control in (*self.controls, self.position):
            control.observe(self._on_control, names="value")
        self._observe(self._on_version, ["version"])
        self._on_version(None)

    def model_settings(self) -> dict:
        """The settings of the model's first Conv2D (``compute.conv_settings``), else ``DEFAULTS``."""
        names = compute.conv2d_layers(self.state.model)
        return compute.conv_settings(self.state.model, names[0]) if names else dict(DEFAULTS)

    @reports_errors
    def _on_version(self, change):
        settings = self.model_settings()
        sliders = {"input_size": self.size, "in_channels": self.in_channels, "kernel": self.kernel,
                   "stride": self.stride, "dilation": self.dilation, "filters": self.filters}
        with self._quietly():
            for key, control in sliders.items():
                control.max = max(control.max, settings[key])
                control.value = settings[key]
            self.padding.value = settings["padding"]
            self.zeros.value = 0
            self.position.value = 0
        self._render()

    def _on_control(self, change):
        if self._quiet:
            return
        if change["owner"] is not self.position:
            with self._quietly():
                self.position.value = 0
        self._render()

    def padding_setting(self):
        """What ``compute.conv_output_size`` takes: "valid", "same" or the number of zeros."""
        return self.zeros.value if self.padding.value == "zeros" else self.padding.value

    @reports_errors
    def _render(self):
        n, k, s, d = self.size.value, self.kernel.value, self.stride.value, self.dilation.value
        c, f, padding = self.in_channels.value, self.filters.value, self.padding_setting()
        self.zeros.disabled = self.padding.value != "zeros"
        params = compute.conv_param_count(k, c, f)
        weights = (f"<b>{params:,}</b> weights: {k}·{k}·{c}·{f} in the kernels + {f} biases "
                   f"= {k * k * c * f:,} + {f}")
        try:
            out = compute.conv_output_size(n, k, s, padding, d)
        except ValueError as exc:
            self.picture.layout.display = "none"
            self.position.layout.display = "none"
            text = str(exc)
            self.summary.value = (f"<p role='alert'><b>Not possible:</b> {text[0].upper()}{text[1:]}.</p>"
                                  f"<p>Such a layer would have {weights}.</p>")
            return
        before, after = compute.conv_padding(n, k, s, padding, d)
        with self.position.hold_sync():
            self.position.max = out * out - 1
        row, col = divmod(self.position.value, out)
        self.picture.layout.display = self.position.layout.display = None
        set_png(self.picture, geometry_png(n, k, s, before, after, d, out, row, col),
                alt=f"A {n}×{n} input with {before} zero rows and columns before and {after} after, a "
                    f"{k}×{k} kernel at output row {row}, column {col}, and the {out}×{out} output")
        span = (k - 1) * d + 1
        padded = f"{n} + {before} + {after} zeros = {n + before + after}" if before or after else f"{n}"
        self.summary.value = (
            f"<p>Output <b>{out} × {out} × {f}</b> ({out}·{out} positions, one channel per filter) from "
            f"a {n} × {n} × {c} input. Along each axis: {padded} cells, the window spans {span}, "
            f"moves {s} at a time: ({n + before + after} − {span}) ÷ {s} + 1 = {out}"
            + (" (rounded down)" if (n + before + after - span) % s else "") + ".</p>"
            f"<p>{weights}.</p>"
            f"<p class='cnnviz-note'>The window is at output row {row}, column {col}: input rows "
            f"{row * s - before} to {row * s - before + span - 1} (negative or past {n - 1}: padding).</p>")
