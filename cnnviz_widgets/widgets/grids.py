"""Image grids of what the network computes: feature maps (section 4), learned filters (section 5)
and the layer-by-layer strip (section 6); the comparison of several images (section 9) is in
``comparison``.

Every grid is one PNG in one ``ipywidgets.Image``, never one widget per map.
"""
from __future__ import annotations

import html

import ipywidgets as widgets
import numpy as np
from ipyevents import Event

from .. import colours, compute, render
from ..compute import describe, file_name, stage_starts
from .base import CRISP_CSS, StateWidget, crisp_image, describe_subject, png_size, reports_errors, set_png
from .base import note_html as _note
from .base import scheme_cmap as _cmap
from .base import set_visible as _show
from .controls import shape_text
from .sharing import Download

#: Gap in pixels between the panels of a strip or comparison (as ``render.strip_png`` draws them).
STRIP_GAP = 4


class FeatureGrid(StateWidget):
    """Every feature map of the selected layer for the selected image, as one montage (section 4),
    and one chosen map shown large.

    Each map is scaled to its own range and coloured with viridis (dark: the filter found nothing,
    yellow: a strong match). ``n_features`` limits how many maps the montage shows and ``cols``
    how many per row. A click on a map (or the ``channel`` slider) chooses it: it is framed in
    the montage and shown large beside it, with the filter that made it. A layer without maps (a
    Dense layer) shows a note instead.

    Re-renders once per change of the image or the layer; ``renders`` counts the montages drawn.

    >>> grid = FeatureGrid(state)         # doctest: +SKIP
    >>> state.layer = "conv1_act"         # doctest: +SKIP
    >>> grid.n_features.max               # doctest: +SKIP
    32
    """

    def __init__(self, state, cols: int = 8, tile_size: int = 32, channel_size: int = 192, **kwargs):
        super().__init__(state, **kwargs)
        self.tile_size = int(tile_size)
        self.channel_size = int(channel_size)
        self.renders = 0
        self._key = None
        self._outputs = None
        self._syncing = False
        self.note = widgets.HTML()
        self.image = crisp_image()
        self.channel_image = crisp_image()
        self.channel_note = widgets.HTML()
        self.filter_image = crisp_image()
        self.filter_note = widgets.HTML()
        self.image.layout.cursor = "pointer"
        # ipyevents reports a click's position in the picture's own pixels (dataX, dataY).
        self.click_event = Event(source=self.image, watched_events=["click"])
        self.click_event.on_dom_event(self._on_click)
        self.n_features = widgets.IntSlider(value=1, min=1, max=1, description="maps",
                                            continuous_update=False)
        self.cols = widgets.IntSlider(value=int(cols), min=1, max=16, description="columns",
                                      continuous_update=False)
        self.channel = widgets.IntSlider(value=0, min=0, max=0, description="channel",
                                         continuous_update=False)
        self.body = widgets.HBox([
            widgets.VBox([widgets.HBox([self.n_features, self.cols],
                                       layout=widgets.Layout(flex_flow="row wrap")), self.image,
                          Download.picture(self.image, lambda: file_name(
                              "cnnviz-features", state.layer, f"image{state.index}", suffix=".png"))]),
            widgets.VBox([self.channel, widgets.HBox([self.channel_image,
                                                      widgets.VBox([self.filter_image, self.filter_note])]),
                          self.channel_note]),
        ], layout=widgets.Layout(flex_flow="row wrap", align_items="flex-start"))
        self.children = [widgets.HTML(CRISP_CSS), self.note, self.body]
        self.n_features.observe(self._on_montage_control, names="value")
        self.cols.observe(self._on_montage_control, names="value")
        self.channel.observe(self._on_channel, names="value")
        self._observe(self._on_inspection, ["inspection"])
        self._observe(self._on_layer, ["layer", "colour_scheme"])
        self._render()

    def _on_layer(self, change):
        self._render()

    def _on_montage_control(self, change):
        if not self._syncing and self._outputs is not None:
            self._render_montage()

    def _on_channel(self, change):
        if not self._syncing and self._outputs is not None:
            self._render_montage()
            self._render_channel()

    def tile_shape(self) -> tuple:
        """(height, width) in pixels of one tile of the montage, its number band included."""
        h, w = self._outputs.shape[:2]
        f = render.tile_factor(h, w, self.tile_size)
        return h * f + render.NUMBER_BAND, w * f

    @reports_errors
    def _on_click(self, event):
        """A click on the montage chooses the map under it (a click in a gap chooses nothing)."""
        if self._outputs is None:
            return
        x, y = event.get("dataX"), event.get("dataY")
        if x is None or y is None:
            raise ValueError("the click carried no position; click on a map")
        i = render.montage_index(float(x), float(y), self.cols.value, *self.tile_shape(), self.n_features.value)
        if i is not None and i != self.channel.value:
            self.channel.value = i

    @reports_errors
    def _render(self):
        state = self.state
        key = (state.version, state.index, state.layer, state.colour_scheme)
        if key == self._key:
            return
        self._key = key
        name = state.layer
        info = state.layer_info(name)
        if not info.spatial:
            self._outputs = None
            where = "see the dense bars" if len(info.shape) == 1 else "choose a convolution layer"
            self.note.value = _note(f"<b>{html.escape(name)}</b> has no spatial maps: {where}.")
            _show(self.body, False)
            return
        # During a change of model the layer is announced before the new inspection; asking the
        # state for the inspection of the current image gives the new one (and caches it).
        insp = state.inspect(state.index)
        out = insp.outputs[name]
        stats = insp.stats(name)
        channels = out.shape[-1]
        self._outputs = out
        self._syncing = True
        try:
            # The slider's max and value travel together: the page never sees a value above its max.
            with self.n_features.hold_sync():
                showing_all = self.n_features.value == self.n_features.max
                self.n_features.max = channels
                if showing_all or self.n_features.value > channels:
                    self.n_features.value = channels
                self.channel.max = channels - 1
        finally:
            self._syncing = False
        self.note.value = _note(
            f"<b>{html.escape(name)}</b> {shape_text(out.shape)}: {channels} feature maps of "
            f"{out.shape[0]}×{out.shape[1]} · mean {stats['mean']:.3f} · max {stats['max']:.3f} · "
            f"sparsity {100 * stats['sparsity']:.1f} % (share of values ≤ {compute.SPARSITY_EPS}). "
            "Each map has its own scale: yellow is where its filter matched most strongly. The number "
            "above a map is its channel, the same as its filter's number below. Click a map (or move "
            "the channel slider) to see it large, with its filter."
        )
        _show(self.body, True)
        self._render_montage()
        self._render_channel()

    @reports_errors
    def _render_montage(self):
        maps = self._outputs[..., : self.n_features.value]
        state = self.state
        alt = describe.feature_maps_alt(state.layer, self._outputs, describe_subject(state),
                                        shown=self.n_features.value)
        set_png(self.image, render.montage_png(maps, cols=self.cols.value, tile_size=self.tile_size,
                                               numbered=True, cmap=_cmap(state, "maps"),
                                               selected=self.channel.value, frame=colours.rgb(colours.SELECTED)),
                alt=alt + f" Map {self.channel.value} is framed: it is shown large beside the maps.")
        self.renders += 1

    @reports_errors
    def _render_channel(self):
        ch = self.channel.value
        m = self._outputs[..., ch]
        set_png(self.channel_image, render.map_png(m, size=self.channel_size, cmap=_cmap(self.state, "maps")),
                alt=describe.channel_alt(self.state.layer, m, ch, describe_subject(self.state)))
        active = float(np.count_nonzero(m > compute.SPARSITY_EPS)) / m.size
        blank = " — blank: its pattern is nowhere in this image" if active == 0 else ""
        self.channel_note.value = _note(
            f"channel {ch}: max {float(m.max()):.3f}, active at {100 * active:.0f} % of positions{blank}"
        )
        self._render_filter(ch)

    def _render_filter(self, ch: int):
        """The filter that made map ``ch``: in colour for a layer that reads the RGB image, else the
        mean of its weights over the input channels in the signed colours."""
        conv = stage_conv(self.state.layers, self.state.layer)
        if conv is None:
            _show(self.filter_image, False)
            self.filter_note.value = _note("no filter: this layer is not part of a convolution stage")
            return
        kernel, _ = compute.conv_filters(self.state.model, conv)
        if ch >= kernel.shape[-1]:
            _show(self.filter_image, False)
            return
        mode = "rgb" if kernel.shape[2] == 3 else "mean"
        cmap = _cmap(self.state, "signed")
        single = kernel[..., ch:ch + 1]
        how = ("its weights on red, green and blue" if mode == "rgb" else
               f"mean over {kernel.shape[2]} inputs; {render.SIGN_WORDS[cmap]}")
        _show(self.filter_image, True)
        set_png(self.filter_image, render.filter_grid_png(single, mode, cols=1, tile_size=64, cmap=cmap),
                alt=f"{conv}: learned filter {ch}, the one that made map {ch}, "
                    f"{kernel.shape[0]}×{kernel.shape[1]}: " + how)
        self.filter_note.value = _note(f"its filter: {html.escape(conv)} #{ch}<br>({how})")


def stage_conv(layers, name: str):
    """The convolution layer that starts the stage of layer ``name`` among ``layers`` (the state's
    layer table; itself for a conv), or None."""
    for info, start in zip(layers, stage_starts(layers)):
        if info.name == name:
            return start.name if start is not None and start.kind == "conv" else None
    return None


class FilterGrid(StateWidget):
    """The learned kernels of a convolution layer, one tile per filter (section 5).

    A layer that reads the RGB image shows each filter in colour (its weights on red, green and
    blue); deeper layers show the mean over their input channels, or one chosen input channel,
    in a diverging colormap (blue negative, white zero, red positive). For a layer that is not a
    convolution the grid shows the convolution that starts its stage (``conv1_act`` → ``conv1``).

    Filters depend on the model and the layer, not on the image: an image change costs nothing.

    >>> grid = FilterGrid(state)      # doctest: +SKIP
    >>> state.layer = "conv1_act"     # doctest: +SKIP
    >>> grid.conv_layer, grid.mode.value   # doctest: +SKIP
    ('conv1', 'rgb')
    """

    MODES = (("RGB", "rgb"), ("mean of input channels", "mean"), ("one input channel", "channel"))

    def __init__(self, state, cols: int = 8, tile_size: int = 32, **kwargs):
        super().__init__(state, **kwargs)
        self.cols = int(cols)
        self.tile_size = int(tile_size)
        self.renders = 0
        self.conv_layer = None
        self._kernel = None
        self._kernel_key = None
        self._key = None
        self._syncing = False
        self.note = widgets.HTML()
        self.mode = widgets.ToggleButtons(options=self.MODES, value="rgb", tooltips=[
                                              "each filter's weights on red, green and blue",
                                              "the mean of each filter over its input channels",
                                              "one input channel of each filter"],
                                          style={"button_width": "auto"})
        self.input_channel = widgets.IntSlider(value=0, min=0, max=0, description="input channel",
                                               style={"description_width": "initial"})
        self.image = crisp_image()
        self.body = widgets.VBox([self.mode, self.input_channel, self.image, Download.picture(
            self.image, lambda: file_name("cnnviz-filters", self.conv_layer, self.mode.value, suffix=".png"))])
        self.children = [widgets.HTML(CRISP_CSS), self.note, self.body]
        self.mode.observe(self._on_control, names="value")
        self.input_channel.observe(self._on_control, names="value")
        self._observe(self._on_layer, ["layer"])
        self._observe(self._on_version, ["version", "colour_scheme"])
        self._render()

    def _on_layer(self, change):
        self._render()

    def _on_version(self, change):
        self._render()

    def _on_control(self, change):
        if not self._syncing and self._kernel is not None:
            self._render_filters()

    def stage_conv(self, name: str):
        """The convolution layer that starts the stage of layer ``name`` (itself for a conv), or None."""
        return stage_conv(self.state.layers, name)

    @reports_errors
    def _render(self):
        state = self.state
        conv = self.stage_conv(state.layer)
        if conv is None:
            self.conv_layer = None
            self._kernel = None
            self._kernel_key = None
            self._key = None
            self.note.value = _note(f"<b>{html.escape(state.layer)}</b> is not part of a convolution "
                                    "stage, so it has no filters to show: choose a conv layer.")
            _show(self.body, False)
            return
        if (state.version, conv) != self._kernel_key:
            kernel, _ = compute.conv_filters(state.model, conv)
            self._configure(kernel)
            self._kernel = kernel
            self._kernel_key = (state.version, conv)
            self.conv_layer = conv
        _show(self.body, True)
        self._render_filters()

    def _configure(self, kernel):
        """Offer the views this kernel allows and reset to its natural one (RGB for an RGB input)."""
        inputs = kernel.shape[2]
        options = self.MODES if inputs == 3 else self.MODES[1:]
        self._syncing = True
        try:
            with self.mode.hold_sync(), self.input_channel.hold_sync():
                if self.mode.options != options:
                    self.mode.options = options
                self.mode.value = "rgb" if inputs == 3 else "mean"
                self.input_channel.max = inputs - 1
                self.input_channel.value = 0
        finally:
            self._syncing = False

    @reports_errors
    def _render_filters(self):
        mode = self.mode.value
        _show(self.input_channel, mode == "channel")
        view = self.input_channel.value if mode == "channel" else mode
        cmap = _cmap(self.state, "signed")
        signs = render.SIGN_WORDS[cmap]
        key = (self.state.version, self.conv_layer, view, cmap)
        kernel = self._kernel
        if key != self._key:
            self._key = key
            set_png(self.image, render.filter_grid_png(kernel, view, cols=self.cols, tile_size=self.tile_size,
                                                       numbered=True, cmap=cmap),
                    alt=describe.filters_alt(self.conv_layer, kernel, view, signs))
            self.renders += 1
        kh, kw, inputs, count = kernel.shape
        via = ("" if self.conv_layer == self.state.layer else
               f" (the convolution that starts the stage of {html.escape(self.state.layer)})")
        colours = ("colours are each filter's weights on red, green and blue, scaled to its own range"
                   if mode == "rgb" else
                   f"white is zero, {signs} (scaled per filter)")
        what = {"rgb": "", "mean": ", mean over the input channels",
                "channel": f", input channel {self.input_channel.value}"}[mode]
        self.note.value = _note(
            f"<b>{html.escape(self.conv_layer)}</b>{via}: {count} filters of {kh}×{kw}×{inputs}{what}; "
            f"{colours}."
        )


class LayerStrip(StateWidget):
    """The selected image and what each convolution stage makes of it, side by side (section 6).

    After the input, each panel is the mean of all the channels of one conv stage, scaled to its
    own range: spatial detail shrinks (32 → 16 → 8) while the channels grow (3 → 32 → 64).

    >>> strip = LayerStrip(state)   # doctest: +SKIP
    >>> strip.stages                # doctest: +SKIP
    ['conv1_act', 'conv2_act', 'conv3_act', 'conv4_act']
    """

    def __init__(self, state, tile_size: int = 96, **kwargs):
        super().__init__(state, **kwargs)
        self.tile_size = int(tile_size)
        self.stages: list = []
        self.renders = 0
        self._key = None
        self.image = crisp_image()
        self.captions = widgets.HTML()
        self.note = widgets.HTML(_note(
            "Each panel after the input is the mean of all the channels of one convolution stage."))
        self.children = [widgets.HTML(CRISP_CSS), self.image, self.captions, self.note, Download.picture(
            self.image, lambda: file_name("cnnviz-layer-by-layer", f"image{state.index}", suffix=".png"))]
        self._observe(self._on_inspection, ["inspection", "colour_scheme"])
        self._render()

    @reports_errors
    def _render(self):
        state = self.state
        insp = state.inspection
        key = (state.version, insp.index, state.colour_scheme)
        if key == self._key:
            return
        self._key = key
        stages = compute.conv_stages(state.model)
        panels = [insp.image] + [insp.outputs[s].mean(axis=-1) for s in stages]
        data = render.strip_png(panels, tile_size=self.tile_size, cmap=_cmap(state, "maps"))
        alt = describe.stages_alt([("input", insp.image.shape)] + [(s, insp.outputs[s].shape) for s in stages],
                                  describe_subject(state))
        set_png(self.image, data, alt=alt)
        self.renders += 1
        self.stages = stages
        names = ["Input"] + stages
        shapes = [insp.image.shape] + [insp.outputs[s].shape for s in stages]
        width, _ = png_size(data)
        panel = (width - STRIP_GAP * (len(panels) - 1)) // len(panels)
        cells = "".join(
            f"<div style='width:{panel}px;text-align:center;font-size:12px'>"
            f"{html.escape(n)} {shape_text(s)}</div>" for n, s in zip(names, shapes)
        )
        self.captions.value = f"<div style='display:flex;gap:{STRIP_GAP}px'>{cells}</div>"
