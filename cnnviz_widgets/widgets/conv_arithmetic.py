"""The arithmetic of one convolution output as a panel."""
from __future__ import annotations

import html

import ipywidgets as widgets
import numpy as np
from ipyevents import Event

from .. import colours, compute, render
from .base import CRISP_CSS, crisp_image, reports_errors, scheme_cmap, section, set_png
from .jobs import ToolWidget, stage_options
from .sharing import Download

#: Size in pixels of the two pictures (the input with its window, the map with its position).
MAP_SIZE = 160


def _fmt(v: float) -> str:
    v = float(v) + 0.0  # no "-0.0000"
    return f"{v:.4f}" if abs(v) >= 1e-3 or v == 0 else f"{v:.2e}"


def signed(v: float, decimals: int = 3) -> str:
    """A number with its sign, rounded for reading: "+0.125", "-1.500"; a value that rounds to zero
    reads "+0.000", never "-0.000"."""
    return f"{round(float(v), decimals) + 0.0:+.{decimals}f}"


class ConvArithmetic(ToolWidget):
    """One number of a feature map, worked out by hand: the input window the kernel sees, the
    kernel, their products, the sum, + bias, BatchNorm and the activation
    (``compute.conv_arithmetic`` on the selected image).

    >>> arith = ConvArithmetic(state)        # doctest: +SKIP
    >>> arith.result["value"]                # doctest: +SKIP
    0.2805
    """

    def __init__(self, state, **kwargs):
        super().__init__(state, **kwargs)
        self.result: dict | None = None
        self.stage = widgets.Dropdown(description="stage", layout=widgets.Layout(width="220px"))
        self.row = widgets.IntSlider(0, min=0, max=0, description="row", continuous_update=False)
        self.col = widgets.IntSlider(0, min=0, max=0, description="column", continuous_update=False)
        self.channel = widgets.IntSlider(0, min=0, max=0, description="channel", continuous_update=False)
        self.in_channel = widgets.IntSlider(0, min=0, max=0, description="input ch.", continuous_update=False)
        self.input_image = crisp_image()
        self.map_image = crisp_image()
        # A click on either picture picks the output position: on the map, the pixel clicked; on the
        # input, the position whose window is centred there (ipyevents gives the picture's pixels).
        self.click_events = []
        for picture, handler in ((self.map_image, self._on_map_click), (self.input_image, self._on_input_click)):
            picture.layout.cursor = "pointer"
            event = Event(source=picture, watched_events=["click"])
            event.on_dom_event(handler)
            self.click_events.append(event)
        self.map_caption = widgets.HTML()
        self.tables = widgets.HTML()
        self.equation = widgets.HTML()
        self.children = [
            widgets.HTML(CRISP_CSS + "<style>.cnnviz-arith td{padding:1px 5px;text-align:right;"
                         f"font-family:monospace;font-size:11px;border:1px solid {colours.RULE}}}"
                         f".cnnviz-arith .pad{{color:{colours.FAINT};font-style:italic}}</style>"),
            section("How one number of a feature map is made",
                    "Click a position on either picture (or use the row and column sliders), and "
                    "pick a channel. The kernel is laid over the input. The numbers are multiplied "
                    "and summed, and the bias is added. BatchNorm and the activation follow. The "
                    "result is exactly the value in the feature map. It starts at the stage of the "
                    "layer you picked; its own menu changes only this panel.",
                    widgets.HBox([self.stage, self.channel]), widgets.HBox([self.row, self.col])),
            widgets.HBox([self.input_image, self.map_image, self.map_caption]),
            widgets.HBox([Download.picture(self.input_image, "cnnviz-arithmetic-input.png"),
                          Download.picture(self.map_image, "cnnviz-arithmetic-map.png")]),
            self.in_channel, self.tables, self.equation,
        ]
        for control in (self.stage, self.row, self.col, self.channel, self.in_channel):
            control.observe(self._on_control, names="value")
        self._observe(self._on_inspection, ["inspection"])
        self._observe(self._on_version, ["version"])
        self._observe(self._on_colour_scheme, ["colour_scheme"])
        self._on_version(None)

    @reports_errors
    def _on_version(self, change):
        stages = stage_options(self.state)
        self._offer(self.stage, stages, lambda: self._stage_of_selection(stages))
        with self._quietly():
            self._sync_bounds()
        self._render()

    def _on_colour_scheme(self, change):
        self._render()

    def _stage_of_selection(self, stages) -> str:
        """The stage holding the state's selected layer, else the first stage."""
        try:
            end = compute.stage_of(self.state.model, self.state.layer)[-1]
        except ValueError:
            return stages[0]
        return end if end in stages else stages[0]

    def _sync_bounds(self):
        if not self.stage.value:
            return
        conv = compute.stage_of(self.state.model, self.stage.value)[0]
        h, w, c = self.state.layer_info(conv).shape
        in_c = compute.conv_filters(self.state.model, conv)[0].shape[2]
        self.row.max, self.col.max, self.channel.max = h - 1, w - 1, c - 1
        self.in_channel.max = in_c - 1
        self.in_channel.layout.display = None if in_c > 3 else "none"

    @staticmethod
    def _pixel(event, factor: int) -> tuple:
        """(row, column) of the picture's cell under a click, for a picture upscaled by ``factor``."""
        x, y = event.get("dataX"), event.get("dataY")
        if x is None or y is None:
            raise ValueError("the click carried no position; click inside the picture")
        return int(np.floor(float(y) / factor)), int(np.floor(float(x) / factor))

    def _pick(self, row: int, col: int):
        """Move to output position (row, col), clipped to the map, in one render."""
        row, col = min(max(row, 0), self.row.max), min(max(col, 0), self.col.max)
        if (row, col) == (self.row.value, self.col.value):
            return
        with self._quietly():
            self.row.value, self.col.value = row, col
        self._render()

    @reports_errors
    def _on_map_click(self, event):
        h, w = self.row.max + 1, self.col.max + 1
        self._pick(*self._pixel(event, render.tile_factor(h, w, MAP_SIZE)))

    @reports_errors
    def _on_input_click(self, event):
        r = self.result
        if r is None:
            return
        shape = np.shape(self.state.inspection.image if r["input_layer"] == "input"
                         else self.state.inspection.outputs[r["input_layer"]])
        row_in, col_in = self._pixel(event, render.tile_factor(shape[0], shape[1], MAP_SIZE))
        kh, kw = r["kernel"].shape[:2]
        (sh, sw), (dh, dw) = r["strides"], r["dilation"]
        # The window of output (i, j) starts at i·stride − pad; its centre is (k − 1)/2·dilation further.
        pad_top, pad_left = r["pad"]
        self._pick(int(round((row_in + pad_top - (kh - 1) // 2 * dh) / sh)),
                   int(round((col_in + pad_left - (kw - 1) // 2 * dw) / sw)))

    def _on_control(self, change):
        if self._control_changed(change, self.stage, self._sync_bounds):
            self._render()

    @reports_errors
    def _render(self):
        if not self.stage.value:
            self.equation.value = "<i>This model has no convolution stage.</i>"
            return
        insp = self.state.inspection
        r = compute.conv_arithmetic(self.state.model, insp.x, self.stage.value,
                                     self.channel.value, self.row.value, self.col.value,
                                     outputs=insp.outputs)
        self.result = r
        self._render_maps(insp, r)
        self._render_tables(r)
        self._render_equation(r)

    def _render_maps(self, insp, r):
        end = r["stage"][-1]
        fmap = insp.outputs[end][:, :, r["channel"]]
        set_png(self.map_image, _marked_map_png(fmap, (r["row"], r["col"]), (1, 1), cmap=scheme_cmap(self.state, "maps")),
                alt=f"{end}, channel {r['channel']}, with the output position ({r['row']}, {r['col']}) "
                    "framed in magenta")
        kh, kw = r["kernel"].shape[:2]
        dh, dw = r["dilation"]
        extent = ((kh - 1) * dh + 1, (kw - 1) * dw + 1)
        if r["input_layer"] == "input":
            set_png(self.input_image, _marked_image_png(insp.image, r["origin"], extent),
                    alt=f"The input image with the kernel's {extent[0]}×{extent[1]} window at row "
                        f"{r['origin'][0]}, column {r['origin'][1]} framed in magenta")
            source = "the input image"
        else:
            a = insp.outputs[r["input_layer"]]
            ch = self.in_channel.value if a.shape[2] > 3 else None
            m = a[:, :, ch] if ch is not None else a.mean(axis=-1)
            set_png(self.input_image, _marked_map_png(m, r["origin"], extent, cmap=scheme_cmap(self.state, "maps")),
                    alt=f"{r['input_layer']} with the kernel's {extent[0]}×{extent[1]} window at row "
                        f"{r['origin'][0]}, column {r['origin'][1]} framed in magenta")
            source = f"{r['input_layer']}" + (f", channel {ch}" if ch is not None else " (channel mean)")
        self.map_caption.value = (
            f"left: {source}, the window the kernel sees (framed); right: {end}, channel {r['channel']}, "
            f"the output position ({r['row']}, {r['col']}).<br>stride {r['strides'][0]}, padding "
            f"'{r['padding']}': the window starts at input row {r['origin'][0]}, column {r['origin'][1]}"
            + (" (grey zeros: padding)" if r["padded"].any() else ""))

    def _render_tables(self, r):
        in_c = r["window"].shape[2]
        # Signs in the colours of the filters' weights (the scheme's diverging map).
        cmap = scheme_cmap(self.state, "signed")
        shown = range(in_c) if in_c <= 3 else [self.in_channel.value]
        parts = []
        for ch in shown:
            parts.append(
                f"<div><b>input channel {ch}</b> — sum of products {_fmt(float(r['channel_sums'][ch]))}"
                "<div style='display:flex;gap:14px'>"
                + _table("window", r["window"][:, :, ch], cmap, r["padded"])
                + "<div style='align-self:center'>×</div>"
                + _table("kernel", r["kernel"][:, :, ch], cmap)
                + "<div style='align-self:center'>=</div>"
                + _table("products", r["products"][:, :, ch], cmap) + "</div></div>")
        if in_c > 3:
            sums = r["channel_sums"]
            cells = "".join(
                f"<td style='color:{colours.sign_colour(cmap, v)}' title='input channel {k}'>{signed(v)}</td>"
                + ("</tr><tr>" if (k + 1) % 16 == 0 and k + 1 < len(sums) else "")
                for k, v in enumerate(sums))
            parts.append(f"<div><b>sum of products per input channel</b> (all {in_c}; pick one above to "
                         f"see its 3×3 numbers)<table class='cnnviz-arith'><tr>{cells}</tr></table></div>")
        self.tables.value = "<div class='cnnviz-arith'>" + "".join(parts) + "</div>"

    def _render_equation(self, r):
        kh, kw, in_c = r["window"].shape
        lines = [
            f"Σ of {kh}×{kw}×{in_c} = {kh * kw * in_c} products = <b>{_fmt(r['sum'])}</b>",
            f"+ bias {_fmt(r['bias'])} → z = <b>{_fmt(r['z'])}</b> ({r['conv']})",
        ]
        for step in r["steps"]:
            params = ", ".join(f"{k} = {_fmt(v) if isinstance(v, float) else v}" for k, v in step["params"].items())
            lines.append(f"{html.escape(step['layer'])} ({step['class_name']}): "
                         f"{html.escape(step['formula'])}" + (f" with {params}" if params else "")
                         + f": {_fmt(step['input'])} → <b>{_fmt(step['output'])}</b>")
        end = r["stage"][-1]
        real = r["layer_outputs"][end]
        check = "✓ the same" if abs(real - r["value"]) <= 1e-4 * max(1.0, abs(real)) else "✗ differs"
        lines.append(f"= <b>{_fmt(r['value'])}</b>; the network's {end}[{r['row']}, {r['col']}, "
                     f"{r['channel']}] is {_fmt(real)}: {check}")
        self.equation.value = "<ol style='margin:4px 0'>" + "".join(f"<li>{line}</li>" for line in lines) + "</ol>"


def _table(title: str, values, cmap: str, padded=None) -> str:
    """A table of signed numbers, each in its sign's colour on ``cmap`` (padding in grey italics)."""
    rows = []
    for i in range(values.shape[0]):
        cells = []
        for j in range(values.shape[1]):
            pad = padded is not None and padded[i, j]
            style = "" if pad else f" style='color:{colours.sign_colour(cmap, values[i, j])}'"
            cells.append(f"<td class='{'pad' if pad else ''}'{style}>{signed(values[i, j])}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<div><div>{title}</div><table class='cnnviz-arith'>{''.join(rows)}</table></div>"


def _box(rgb: np.ndarray, origin, extent, factor: int) -> np.ndarray:
    """Draw a 2-pixel rectangle in ``colours.SELECTED`` around cells ``origin`` .. ``origin + extent`` (row, column) of an
    image upscaled by ``factor``; the part outside the image (in the zero padding) is clipped."""
    from PIL import Image, ImageDraw

    img = Image.fromarray(np.ascontiguousarray(rgb))
    top, left = origin[0] * factor, origin[1] * factor
    bottom, right = (origin[0] + extent[0]) * factor - 1, (origin[1] + extent[1]) * factor - 1
    ImageDraw.Draw(img).rectangle([left, top, right, bottom], outline=colours.SELECTED, width=2)
    return np.asarray(img)


def _marked_map_png(m, origin, extent, size: int = MAP_SIZE, cmap: str = render.MAP_CMAP) -> bytes:
    """A 2-D map (h, w), coloured, upscaled crisp, with a frame around the given cells."""
    m = render.normalize_each(np.asarray(m, dtype=np.float32)[None])[0]
    factor = render.tile_factor(*m.shape, size)
    return render.png_bytes(_box(render.upscale(render.apply_colormap(m, cmap), factor), origin, extent, factor))


def _marked_image_png(image, origin, extent, size: int = MAP_SIZE) -> bytes:
    """A uint8 image (H, W, C), upscaled crisp, with a frame around the given pixels."""
    img = np.asarray(image, dtype=np.uint8)
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    factor = render.tile_factor(img.shape[0], img.shape[1], size)
    return render.png_bytes(_box(render.upscale(img, factor), origin, extent, factor))
