"""Panels of the dashboard: the layer statistics table (section 10) and the heatmap overlay
(section 11 and the guide's advanced Grad-CAM)."""
from __future__ import annotations

import html

import ipywidgets as widgets

from .. import colours, compute, render
from ..compute import describe, file_name, stats_csv
from .base import CRISP_CSS, StateWidget, crisp_image, describe_subject, reports_errors, set_png
from .base import scheme_cmap as _cmap
from .charts import default_dense_layer
from .sharing import Download

#: Background of the selected layer's row.
HIGHLIGHT = colours.SELECTED_BACKGROUND
TABLE_CSS = (
    "<style>.cnnviz-stats {border-collapse: collapse; font-size: 0.9em;} "
    ".cnnviz-stats th, .cnnviz-stats td {padding: 2px 8px; border-bottom: 1px solid " + colours.RULE + ";} "
    ".cnnviz-stats td.num {text-align: right; font-family: monospace;} "
    ".cnnviz-stats th {text-align: left; background: " + colours.HEADER + ";}</style>"
)
COLUMNS = ("Layer", "Shape", "Mean", "Std", "Min", "Max", "Sparsity (%)")
#: The heatmap's modes, as (label, value) of the ToggleButtons; "method" shows the one chosen in
#: the method dropdown (``compute.METHODS`` but Grad-CAM, which has its own button).
MODES = (("activation", "activation"), ("Grad-CAM", "grad-cam"), ("other method", "method"))
#: Methods that explain a layer (the selected one, as Grad-CAM does) rather than the input pixels.
LAYER_METHODS = ("grad_cam_plus_plus", "score_cam")
#: The class dropdown's value for "the predicted class" (state.class_index None): a Dropdown shows
#: no selection at all for a None value.
PREDICTED = -1


def method_options() -> list:
    """(label, name) of the method dropdown: ``compute.METHODS`` but Grad-CAM."""
    return [(label, name) for name, (label, _) in compute.METHODS.items() if name != "grad_cam"]


def heatmap_choices() -> tuple:
    """(label, value) of every heatmap ``HeatmapOverlay`` can show: activation, Grad-CAM and every
    other method of the method list."""
    return tuple(m for m in MODES if m[1] != "method") + tuple(method_options())


def sparsity_note(stages) -> str:
    """The note under the statistics table: what sparsity is, then how it goes from stage to stage
    ``[(name, sparsity fraction), ...]`` for this image, in words that the numbers make true."""
    text = (f"<b>Sparsity</b>: the share of values that are switched off ({compute.SPARSITY_EPS} or "
            "less: zero, or slightly negative after a LeakyReLU).")
    if len(stages) > 1:
        values = [100 * v for _, v in stages]
        # A no-break space keeps each "71 %" whole at the end of a line.
        steps = " → ".join(f"{v:.0f}&nbsp;%" for v in values)
        rising = all(b > a for a, b in zip(values, values[1:]))
        verdict = ("each stage is sparser than the one before" if rising else
                   "deeper is sparser overall, but not at every step" if values[-1] > values[0] else
                   "deeper is not sparser here")
        text += f" By conv stage, for this image: {steps}: {verdict}."
    return f"<div class='cnnviz-note'>{text}</div>"


class StatsTable(StateWidget):
    """A table of every conv stage's statistics for the selected image: shape, mean, std, min,
    max and sparsity; the selected layer's row is highlighted.

    By default one row per conv stage (``compute.conv_stages``) plus the dense stage; ticking
    ``all_layers`` shows every layer. The numbers are ``state.inspection.stats(layer)``
    (``compute.layer_stats``), computed once per image and layer.

    >>> table = StatsTable(state)          # doctest: +SKIP
    >>> [name for name, _ in table.rows()]  # doctest: +SKIP
    ['conv1_act', 'conv2_act', 'conv3_act', 'conv4_act', 'dense1_act']
    """

    def __init__(self, state, **kwargs):
        super().__init__(state, **kwargs)
        self.all_layers = widgets.Checkbox(value=False, description="all layers", indent=False)
        self.title = widgets.HTML()
        self.table = widgets.HTML()
        self.note = widgets.HTML()
        self.children = [widgets.HTML(CRISP_CSS + TABLE_CSS), self.title, self.all_layers,
                         self.table, self.note, Download(lambda: stats_csv(self.rows()), lambda: file_name(
                             "cnnviz-layer-stats", f"image{state.index}", suffix=".csv"), label="CSV")]
        self.all_layers.observe(self._on_all_layers, names="value")
        self._observe(self._on_inspection, ["inspection"])
        self._observe(self._on_layer, ["layer"])
        self._render()

    def layer_names(self) -> list:
        """The layers the table shows, in execution order."""
        if self.all_layers.value:
            return [i.name for i in self.state.layers]
        names = compute.conv_stages(self.state.model)
        try:
            names.append(default_dense_layer(self.state.layers))
        except ValueError:
            pass  # A model without a 1-D layer has no dense stage to show.
        return names or [i.name for i in self.state.layers]

    def rows(self) -> list:
        """``[(layer name, stats dict), ...]`` of the rows shown (see ``compute.layer_stats``)."""
        insp = self.state.inspection
        return [(name, insp.stats(name)) for name in self.layer_names()]

    def _on_layer(self, change):
        self._render()

    def _on_all_layers(self, change):
        self._render()

    @reports_errors
    def _render(self):
        insp = self.state.inspection
        names = self.layer_names()
        # A new model announces its layers before its first inspection exists; the inspection
        # change that follows renders the table.
        if any(name not in insp.outputs for name in names):
            return
        head = "".join(f"<th>{c}</th>" for c in COLUMNS)
        body = []
        for name, s in self.rows():
            style = f" style='background:{HIGHLIGHT}; font-weight:600'" if name == self.state.layer else ""
            shape = "×".join(str(d) for d in s["shape"])
            cells = [f"<td>{html.escape(name)}</td>", f"<td>{shape}</td>"]
            cells += [f"<td class='num'>{s[k]:.3f}</td>" for k in ("mean", "std", "min", "max")]
            cells.append(f"<td class='num'>{100 * s['sparsity']:.1f}</td>")
            body.append(f"<tr{style}>{''.join(cells)}</tr>")
        self.table.value = f"<table class='cnnviz-stats'><tr>{head}</tr>{''.join(body)}</table>"
        self.title.value = f"<b>Layer statistics</b> of image #{insp.index}"
        self.note.value = sparsity_note([(name, insp.stats(name)["sparsity"])
                                         for name in compute.conv_stages(self.state.model)])


class HeatmapOverlay(StateWidget):
    """Where the network looks: a heatmap blended over the selected image.

    Three modes (``mode``): "activation", the channel mean of the selected layer's output scaled
    to [0, 1] (``compute.activation_map``, the guide's section 11), and "grad-cam", Grad-CAM of
    the selected layer for the class chosen in ``target`` (``state.grad_cam``; "predicted class"
    follows the prediction), and "method", the attribution method chosen in ``method``
    (``compute.METHODS``: Grad-CAM++ and Score-CAM of the selected layer, saliency, SmoothGrad,
    Integrated Gradients and occlusion of the input pixels). A layer without a spatial output
    falls back to the last layer with one, and the note says so. ``alpha`` is the heatmap's opacity; changing it only re-blends.

    Shows three PNGs: the overlay (``image``, about ``size`` pixels) beside its two ingredients at
    about ``side_size`` pixels, the plain image (``original``) and the bare heatmap (``heatmap``).
    ``heat`` is the last heatmap shown, (H, W) in [0, 1], and ``layer_shown`` the layer it is of.

    >>> overlay = HeatmapOverlay(state)   # doctest: +SKIP
    >>> overlay.mode.value = "activation"   # doctest: +SKIP
    >>> overlay.heat.shape                  # conv4_act is 8×8  # doctest: +SKIP
    (8, 8)
    """

    def __init__(self, state, mode: str = "grad-cam", alpha: float = 0.5, size: int = 192,
                 side_size: int = 96, **kwargs):
        super().__init__(state, **kwargs)
        self.size = int(size)
        # The ingredients are drawn smaller than the result: a smooth 192-pixel heatmap costs
        # about as much to encode as the overlay itself, and the overlay is what students read.
        self.side_size = int(side_size)
        self.heat = None
        self.layer_shown = None
        self._alt = ""
        self._syncing = False
        self.mode = widgets.ToggleButtons(options=MODES, value=mode, description="heatmap",
                                          style={"button_width": "100px"})
        self.method = widgets.Dropdown(
            options=method_options(),
            description="method", layout=widgets.Layout(width="240px"))
        self.target = widgets.Dropdown(options=self._target_options(),
                                       value=_option(state.class_index), description="class")
        # Blending costs a few milliseconds and no model work, so the slider may update live.
        self.alpha = widgets.FloatSlider(value=alpha, min=0.0, max=1.0, step=0.05,
                                         description="opacity", readout_format=".2f")
        self.original = crisp_image()
        self.heatmap = crisp_image()
        self.image = crisp_image()
        self.note = widgets.HTML()
        # Read as a sum: image + heatmap = overlay.
        pictures = widgets.HBox([
            _captioned(self.original, "image"), _sign("+"), _captioned(self.heatmap, "heatmap"),
            _sign("="), _captioned(self.image, "overlay"),
        ], layout=widgets.Layout(flex_flow="row wrap", align_items="center"))
        self.children = [widgets.HTML(CRISP_CSS), widgets.HBox([self.mode, self.target, self.method],
                                                               layout=widgets.Layout(flex_flow="row wrap")),
                         self.alpha, pictures, self.note, Download.picture(self.image, lambda: file_name(
                             "cnnviz-heatmap", self.mode.value, self.layer_shown, f"image{state.index}",
                             suffix=".png"))]
        self.mode.observe(self._on_mode, names="value")
        self.method.observe(self._on_mode, names="value")
        self.target.observe(self._on_target, names="value")
        self.alpha.observe(self._on_alpha, names="value")
        self._observe(self._on_inspection, ["inspection"])
        self._observe(self._on_layer, ["layer"])
        self._observe(self._on_class_index, ["class_index"])
        self._observe(self._on_class_names, ["class_names"])
        self._observe(self._on_layer, ["colour_scheme"])
        self._render()

    def _target_options(self) -> list:
        return [("predicted class", PREDICTED)] + [(n, i) for i, n in enumerate(self.state.class_names)]

    def heat_layer(self) -> tuple:
        """``(layer, fell_back)``: the selected layer when its output is a stack of 2-D maps
        larger than 1×1, else the last layer with one (``compute.last_spatial_layer``, which
        raises a ValueError when the model has none)."""
        info = {i.name: i for i in self.state.layers}.get(self.state.layer)
        if info is not None and info.spatial and info.shape[0] > 1 and info.shape[1] > 1:
            return info.name, False
        return compute.last_spatial_layer(self.state.model), True

    # ----- observers ----------------------------------------------------------------------------
    def _on_layer(self, change):
        self._render_heat()

    # ----- the heatmap shown, as one value (for links that reopen a view) --------------------------
    def heatmap_choices(self) -> tuple:
        """(label, value) of every heatmap this panel can show (``heatmap_choices``)."""
        return heatmap_choices()

    @property
    def heatmap_shown(self) -> str:
        """The value (of ``heatmap_choices``) of the heatmap on screen."""
        return self.method.value if self.mode.value == "method" else self.mode.value

    def show_heatmap(self, value: str) -> None:
        """Show the heatmap ``value`` of ``heatmap_choices``."""
        if value in {v for _, v in self.method.options}:
            self.method.value = value
            self.mode.value = "method"
        else:
            self.mode.value = value

    def _on_mode(self, change):
        self._show_controls()
        self._render_heat()

    def _show_controls(self):
        self.target.disabled = self.mode.value == "activation"
        self.method.layout.display = None if self.mode.value == "method" else "none"

    def _on_class_index(self, change):
        self._sync_target()
        self._render_heat()

    def _on_class_names(self, change):
        self._sync_target()

    @reports_errors
    def _on_target(self, change):
        # The dropdown is a control: it writes the selection; the state's change re-renders.
        value = None if change["new"] == PREDICTED else change["new"]
        if not self._syncing and self.state.class_index != value:
            self.state.class_index = value

    def _on_alpha(self, change):
        self._render_overlay()

    @reports_errors
    def _sync_target(self):
        """Show the state's class names and class selection in the dropdown without writing
        them back (a new model announces its class names and its class selection separately)."""
        self._syncing = True
        try:
            options = self._target_options()
            if list(self.target.options) != options:
                self.target.options = options
            if self.target.value != _option(self.state.class_index):
                self.target.value = _option(self.state.class_index)
        finally:
            self._syncing = False

    # ----- rendering ----------------------------------------------------------------------------
    @reports_errors
    def _render(self):
        insp = self.state.inspection
        self._show_controls()
        with self.original.hold_sync():
            set_png(self.original, render.image_png(insp.image, self.side_size),
                    alt=f"The picture: {describe_subject(self.state)}")
        self._render_heat()

    @reports_errors
    def _render_heat(self):
        insp = self.state.inspection
        try:
            layer, fell_back = self.heat_layer()
        except ValueError:
            self._show_no_maps()
            return
        # A new model announces its layer before its first inspection exists; the inspection
        # change that follows renders the heatmap.
        if layer not in insp.outputs:
            return
        names = self.state.class_names
        shape = "×".join(str(d) for d in insp.outputs[layer].shape)
        c = self.state.class_index if self.state.class_index is not None else insp.predicted
        which = "the predicted class" if c == insp.predicted else "not the predicted class"
        cmap = _cmap(self.state, "heat")
        hot, cold = render.HEAT_WORDS[cmap]
        if self.mode.value == "grad-cam":
            heat = self.state.grad_cam(layer, c, insp.index)
            text = (f"<b>Grad-CAM</b> of <b>{html.escape(layer)}</b> ({shape}) for "
                    f"<b>{html.escape(names[c])}</b> ({which}): {hot} mark the regions whose "
                    f"features raise the score of {html.escape(names[c])} most; {cold} ones do not.")
            alt = describe.heatmap_alt(heat, "Grad-CAM", describe_subject(self.state), f"class {names[c]}")
        elif self.mode.value == "method":
            name = self.method.value
            if name in LAYER_METHODS:
                heat = (compute.score_cam(self.state.model, insp.x, c, layer, insp.outputs[layer])
                        if name == "score_cam" else compute.grad_cam_plus_plus(self.state.model, insp.x, c, layer))
                of = f"of <b>{html.escape(layer)}</b> ({shape})"
            else:
                heat = compute.normalize_map(compute.explain(self.state.model, insp.x, name, c,
                                                             self.state.input_range()))
                of = "of the input pixels"
                fell_back = False
            label = compute.METHODS[name][0]
            text = (f"<b>{label}</b> {of} for <b>{html.escape(names[c])}</b> "
                    f"({which}): {hot} mark what speaks most for {html.escape(names[c])}. "
                    "The explanation lab (advanced topics) compares every method and tests them.")
            alt = describe.heatmap_alt(heat, label, describe_subject(self.state), f"class {names[c]}")
        else:
            heat = compute.activation_map(insp.outputs[layer])
            text = (f"<b>Mean activation</b> of the {insp.outputs[layer].shape[-1]} channels of "
                    f"<b>{html.escape(layer)}</b> ({shape}), scaled to [0, 1]: {hot} mark "
                    "where the layer responds strongly, whatever the class.")
            alt = describe.heatmap_alt(heat, "Mean activation", describe_subject(self.state), layer)
        if fell_back:
            selected = insp.outputs.get(self.state.layer)
            own = "" if selected is None else f" (its output is {'×'.join(str(d) for d in selected.shape)})"
            text += (f" <i>{html.escape(self.state.layer)} has no 2-D maps to show{own}, so this "
                     f"shows {html.escape(layer)}, the last layer with some.</i>")
        self.heat = heat
        self.layer_shown = layer
        self._alt = alt
        with self.heatmap.hold_sync():
            set_png(self.heatmap, render.overlay_png(insp.image, heat, 1.0, self.side_size, cmap=cmap),
                    alt=f"Heatmap alone. {alt}")
        self.note.value = f"<div class='cnnviz-note'>{text}</div>"
        self._render_overlay()

    def _show_no_maps(self):
        self.heat = None
        self.layer_shown = None
        self.heatmap.value = b""
        self.image.value = b""
        self.note.value = ("<div class='cnnviz-note'>This model has no layer with 2-D maps, so "
                           "there is no heatmap to show.</div>")

    @reports_errors
    def _render_overlay(self):
        if self.heat is None:
            return
        insp = self.state.inspection
        with self.image.hold_sync():
            set_png(self.image, render.overlay_png(insp.image, self.heat, float(self.alpha.value), self.size,
                                                   cmap=_cmap(self.state, "heat")),
                    alt=f"Heatmap over the picture, {100 * float(self.alpha.value):.0f} % opaque. {self._alt}")


def _captioned(picture, caption: str) -> widgets.VBox:
    return widgets.VBox([picture, widgets.HTML(f"<div class='cnnviz-note'>{caption}</div>")])


def _sign(text: str) -> widgets.HTML:
    return widgets.HTML(f"<div style='font-size:1.6em; padding:0 4px'>{text}</div>")


def _option(class_index):
    """The class dropdown's value of a ``state.class_index``."""
    return PREDICTED if class_index is None else int(class_index)
