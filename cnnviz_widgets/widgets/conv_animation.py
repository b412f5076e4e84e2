"""A convolution played step by step: the window moving across the input, the output map filling in."""
from __future__ import annotations

import html

import ipywidgets as widgets
import numpy as np

from .. import colours, compute, render
from .base import CRISP_CSS, crisp_image, reports_errors, scheme_cmap, section, set_png
from .conv_arithmetic import signed
from .jobs import ToolWidget

#: The speeds offered, as the milliseconds between two steps of the player.
SPEEDS = (("slow", 1500), ("medium", 700), ("fast", 250))
#: Grey of the zero padding and of the output positions not reached yet.
PAD_GREY, TODO_GREY = 190, 235
#: The red of the window's and the current output cell's frame.
FRAME = (229, 57, 53)
#: The size the pictures are drawn at, in screen pixels (about).
PICTURE_PX = 192


def _framed_png(rgb: np.ndarray, origin, extent, size: int = PICTURE_PX) -> bytes:
    """An RGB grid (h, w, 3) upscaled crisp to about ``size`` pixels, with a 2-pixel red frame
    around cells ``origin`` .. ``origin + extent`` (row, column)."""
    from PIL import Image, ImageDraw

    factor = render.tile_factor(rgb.shape[0], rgb.shape[1], size)
    img = Image.fromarray(np.ascontiguousarray(render.upscale(rgb, factor)))
    top, left = origin[0] * factor, origin[1] * factor
    bottom, right = (origin[0] + extent[0]) * factor - 1, (origin[1] + extent[1]) * factor - 1
    ImageDraw.Draw(img).rectangle([left, top, right, bottom], outline=FRAME, width=2)
    return render.png_bytes(np.asarray(img))


def _number_table(title: str, values, padded=None) -> str:
    rows = []
    for i in range(values.shape[0]):
        cells = "".join(f"<td class='{'pad' if padded is not None and padded[i, j] else ''}'>"
                        f"{signed(values[i, j])}</td>" for j in range(values.shape[1]))
        rows.append(f"<tr>{cells}</tr>")
    return f"<div><div>{title}</div><table class='cnnviz-anim'>{''.join(rows)}</table></div>"


class ConvolutionAnimation(ToolWidget):
    """A convolution layer played step by step on the selected image: the kernel's window moves
    across the layer's input (play, pause, step, a position slider, a speed); each step shows the
    window, the kernel, their products, the sum, + bias, then the BatchNorm and activation the model
    applies after the convolution, and the output map fills in up to the current position. Every
    number is the model's own (``compute.conv_arithmetic``).

    >>> anim = ConvolutionAnimation(state)     # doctest: +SKIP
    >>> anim.position.value = 5                # doctest: +SKIP
    >>> anim.result["value"]                   # doctest: +SKIP
    0.2805
    """

    def __init__(self, state, **kwargs):
        super().__init__(state, **kwargs)
        self.result: dict | None = None
        narrow = widgets.Layout(width="220px")
        self.layer = widgets.Dropdown(description="layer", layout=narrow)
        self.channel = widgets.IntSlider(0, min=0, max=0, description="output ch.", continuous_update=False)
        self.view = widgets.Dropdown(description="input ch.", layout=narrow)
        self.play = widgets.Play(0, min=0, max=0, step=1, interval=SPEEDS[1][1], description="play",
                                 show_repeat=False)
        self.position = widgets.IntSlider(0, min=0, max=0, description="position",
                                          layout=widgets.Layout(width="360px"))
        # The player drives the slider in the browser; the kernel hears the slider alone, so a step
        # costs one render whoever made it.
        self.link = widgets.jslink((self.play, "value"), (self.position, "value"))
        self.back = widgets.Button(description="◀ step back", tooltip="the window one position back",
                                   layout=widgets.Layout(width="110px"))
        self.forward = widgets.Button(description="step ▶", tooltip="the window one position on",
                                      layout=widgets.Layout(width="110px"))
        self.speed = widgets.ToggleButtons(options=SPEEDS, value=SPEEDS[1][1], description="speed",
                                           style={"button_width": "80px"})
        self.input_image = crisp_image()
        self.output_image = crisp_image()
        self.caption = widgets.HTML()
        self.tables = widgets.HTML()
        self.equation = widgets.HTML()
        self.children = [
            # Padding's zeros in italics (a grey light enough to stand apart would fail the contrast check).
            widgets.HTML(CRISP_CSS + "<style>.cnnviz-anim td{padding:1px 5px;text-align:right;"
                         f"font-family:monospace;font-size:11px;border:1px solid {colours.QUIET}}}"
                         f".cnnviz-anim .pad{{color:{colours.INK};font-style:italic}}</style>"),
            section("A convolution, step by step",
                    "Press play or step: the kernel's window moves across the layer's input, one output "
                    "position at a time. At each step the window's numbers are multiplied by the kernel's "
                    "and summed, the bias is added, and BatchNorm and the activation follow; the result "
                    "is written into the output map, which fills in as the window moves.",
                    widgets.HBox([self.layer, self.channel, self.view]),
                    widgets.HBox([self.play, self.back, self.forward, self.position]), self.speed),
            widgets.HBox([self.input_image, self.output_image, self.caption]),
            self.tables, self.equation,
        ]
        for control in (self.layer, self.channel, self.view, self.position):
            control.observe(self._on_control, names="value")
        self.speed.observe(self._on_speed, names="value")
        self.back.on_click(lambda _: self.step(-1))
        self.forward.on_click(lambda _: self.step(1))
        self._observe(self._on_inspection, ["inspection", "colour_scheme"])
        self._observe(self._on_version, ["version"])
        self._on_version(None)

    # ----- controls -----------------------------------------------------------------------------

    def step(self, by: int = 1) -> None:
        """Move the window ``by`` positions, staying within the first and the last."""
        self.position.value = int(np.clip(self.position.value + by, 0, self.position.max))

    def _on_speed(self, change):
        self.play.interval = change["new"]

    @reports_errors
    def _on_version(self, change):
        names = compute.conv2d_layers(self.state.model)
        self._offer(self.layer, names, lambda: self._layer_of_selection(names))
        with self._quietly():
            self._sync_bounds()
        self._render()

    def _layer_of_selection(self, names) -> str:
        """The Conv2D of the stage holding the state's selected layer, else the first Conv2D."""
        try:
            conv = compute.stage_of(self.state.model, self.state.layer)[0]
        except ValueError:
            return names[0]
        return conv if conv in names else names[0]

    def _sync_bounds(self):
        if not self.layer.value:
            return
        h, w, c = self.state.layer_info(self.layer.value).shape
        in_c = compute.conv_filters(self.state.model, self.layer.value)[0].shape[2]
        self.channel.max = c - 1
        with self.view.hold_sync():
            self.view.options = [("all, summed", -1)] + [(f"channel {k}", k) for k in range(in_c)]
            self.view.value = -1
        with self.position.hold_sync():
            self.position.max = h * w - 1
            self.position.value = 0
        self.play.max = h * w - 1

    def _on_control(self, change):
        if self._control_changed(change, self.layer, self._sync_bounds):
            self._render()

    # ----- rendering ----------------------------------------------------------------------------

    @reports_errors
    def _render(self):
        if not self.layer.value:
            self.equation.value = "<i>This model has no Conv2D layer to animate.</i>"
            return
        insp = self.state.inspection
        w = self.state.layer_info(self.layer.value).shape[1]
        row, col = divmod(int(self.position.value), w)
        r = compute.conv_arithmetic(self.state.model, insp.x, self.layer.value, self.channel.value,
                                    row, col, outputs=insp.outputs)
        self.result = r
        self._render_pictures(insp, r)
        self._render_tables(r)
        self._render_equation(r)

    def _conv_input(self, insp, r) -> np.ndarray:
        """The layer's input (H, W, C), the preprocessed image for the first layer."""
        return insp.x if r["input_layer"] == "input" else insp.outputs[r["input_layer"]]

    def _render_pictures(self, insp, r):
        cmap = scheme_cmap(self.state, "maps")
        in_h, in_w, in_c = r["input_shape"]
        (kh, kw), (sh, sw), (dh, dw) = r["kernel"].shape[:2], r["strides"], r["dilation"]
        top, bottom = compute.conv_padding(in_h, kh, sh, r["padding"], dh)
        left, right = compute.conv_padding(in_w, kw, sw, r["padding"], dw)
        ch = self.view.value
        if r["input_layer"] == "input" and ch < 0 and in_c in (1, 3):
            rgb = np.asarray(insp.image, dtype=np.uint8)
            rgb = np.repeat(rgb, 3, axis=2) if rgb.shape[2] == 1 else rgb
            source = "the input image"
        else:
            a = self._conv_input(insp, r)
            m = a[:, :, ch] if ch >= 0 else a.mean(axis=-1)
            rgb = render.apply_colormap(render.normalize_each(np.asarray(m, np.float32)[None])[0], cmap)
            source = (r["input_layer"] if r["input_layer"] != "input" else "the input image") + \
                (f", channel {ch}" if ch >= 0 else " (mean of its channels)")
        padded = np.full((in_h + top + bottom, in_w + left + right, 3), PAD_GREY, dtype=np.uint8)
        padded[top:top + in_h, left:left + in_w] = rgb
        extent = ((kh - 1) * dh + 1, (kw - 1) * dw + 1)
        r0, c0 = r["origin"]
        set_png(self.input_image, _framed_png(padded, (r0 + top, c0 + left), extent),
                alt=f"{source} with its zero padding in grey and the kernel's {extent[0]}×{extent[1]} "
                    f"window at input row {r0}, column {c0} framed in red")

        end = r["stage"][-1]
        fmap = np.asarray(self.state.inspection.outputs[end][:, :, r["channel"]], np.float32)
        h, w = fmap.shape
        out = render.apply_colormap(render.normalize_each(fmap[None])[0], cmap)
        done = np.arange(h * w).reshape(h, w) <= r["row"] * w + r["col"]
        out[~done] = TODO_GREY
        set_png(self.output_image, _framed_png(out, (r["row"], r["col"]), (1, 1)),
                alt=f"{end}, channel {r['channel']}, filled in up to output row {r['row']}, column "
                    f"{r['col']} (framed in red); the positions not reached yet are grey")
        self.caption.value = (
            f"<b>Position {self.position.value}</b> of 0–{h * w - 1}: output row {r['row']}, column "
            f"{r['col']}.<br>left: {html.escape(source)}; the window starts at input row {r0}, column "
            f"{c0} (stride {sh}, padding '{r['padding']}'"
            + (", grey: zeros" if r["padded"].any() else "") + ")."
            f"<br>right: {html.escape(end)}, channel {r['channel']}, filled in so far.")

    def _render_tables(self, r):
        ch = self.view.value
        in_c = r["window"].shape[2]
        if ch >= 0:
            body = (f"<b>input channel {ch}</b> — its products sum to "
                    f"{signed(float(r['channel_sums'][ch]), 4)}"
                    "<div style='display:flex;gap:14px'>"
                    + _number_table("window", r["window"][:, :, ch], r["padded"])
                    + "<div style='align-self:center'>×</div>"
                    + _number_table("kernel", r["kernel"][:, :, ch])
                    + "<div style='align-self:center'>=</div>"
                    + _number_table("products", r["products"][:, :, ch]) + "</div>")
        else:
            body = (f"<b>the products summed over all {in_c} input channels</b>, one number per place of "
                    "the window (pick an input channel above to see its window, kernel and products)"
                    + _number_table("", r["products"].sum(axis=2), r["padded"]))
        self.tables.value = f"<div class='cnnviz-anim'>{body}</div>"

    def _render_equation(self, r):
        kh, kw, in_c = r["window"].shape
        lines = [
            f"sum of the {kh}×{kw}×{in_c} = {kh * kw * in_c} products = "
            f"<b class='cnnviz-anim-sum'>{r['sum']:.4f}</b>",
            f"+ bias {r['bias']:.4f} → <b class='cnnviz-anim-z'>{r['z']:.4f}</b> ({html.escape(r['conv'])})",
        ]
        for step in r["steps"]:
            lines.append(f"{html.escape(step['layer'])} ({step['class_name']}): {html.escape(step['formula'])}: "
                         f"{step['input']:.4f} → <b>{step['output']:.4f}</b>")
        end = r["stage"][-1]
        real = r["layer_outputs"][end]
        check = "✓ the same" if abs(real - r["value"]) <= 1e-4 * max(1.0, abs(real)) else "✗ differs"
        lines.append(f"= <b class='cnnviz-anim-value'>{r['value']:.4f}</b> written into {html.escape(end)} at "
                     f"({r['row']}, {r['col']}); the network's own value there is {real:.4f}: {check}")
        self.equation.value = "<ol style='margin:4px 0'>" + "".join(f"<li>{line}</li>" for line in lines) + "</ol>"
