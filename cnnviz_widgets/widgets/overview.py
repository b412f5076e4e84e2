"""The whole network at a glance: every layer as a column, from the picture to the class scores."""
from __future__ import annotations

import html
import re

import ipywidgets as widgets
import traitlets
from ipyevents import Event

from .. import colours, compute, render
from .base import CRISP_CSS, crisp_image, describe_subject, reports_errors, scheme_cmap, section, set_png
from .controls import shape_text
from .jobs import ToolWidget

#: Width in pixels of one column (its picture, label and choice).
COLUMN_WIDTH = 108
#: Pixels a map of a column is drawn at, about (an integer upscale of the layer's maps).
TILE = 48
#: The outline of the column of the selected layer.
SELECTED_BORDER = f"3px solid {colours.SELECTED}"
UNSELECTED_BORDER = "3px solid transparent"


class NetworkOverview(ToolWidget):
    """Every layer of the model as a column, left to right in the order the image flows through
    them: the picture, then each layer's first ``maps`` feature maps as a vertical strip, or its
    first values as bars for a one-dimensional layer, each labelled with its name, output shape and
    parameter count.

    Clicking a map (or choosing it in the column's list, with the keyboard) selects that layer in
    every panel (``state.layer``) and sets ``selection`` to ``(layer, channel)``, which the
    dashboard passes on to the feature grid's channel. A new image redraws the columns from the
    state's inspection: no forward pass of its own. ``renders`` counts the redraws.

    >>> overview = NetworkOverview(state)                 # doctest: +SKIP
    >>> overview.select("conv2_act", 3); state.layer      # doctest: +SKIP
    'conv2_act'
    """

    selection = traitlets.Tuple((), help="(layer, channel) last picked in the overview; () before any pick.")

    def __init__(self, state, maps: int = compute.MAPS_PER_COLUMN, **kwargs):
        super().__init__(state, **kwargs)
        self.maps = int(maps)
        self.renders = 0
        self.columns: tuple = ()
        self._params_key = None
        self._params: dict = {}
        self._structure = None
        self._key = None
        self.images: dict = {}
        self.labels: dict = {}
        self.choices: dict = {}
        self.boxes: dict = {}
        self.clicks: list = []
        self.row = widgets.HBox(layout=widgets.Layout(overflow="auto", width="100%", align_items="flex-start"))
        self.children = [
            widgets.HTML(CRISP_CSS),
            section("The whole network at a glance",
                    "The picture flows left to right through every layer. Each column shows a layer's first "
                    "feature maps (yellow: a strong match) or, after flattening, its first values as bars "
                    "(blue positive, orange negative), with its name, output shape and number of learned "
                    "parameters. Click a map, or choose it in the list under its column, to open that layer "
                    "everywhere on the page."),
            self.row,
        ]
        self._observe(self._on_inspection, ["inspection"])
        self._observe(self._on_layer, ["layer"])
        self._observe(self._on_version, ["version", "colour_scheme"])
        self._render()

    # ----- building the columns -----------------------------------------------------------------
    def _on_version(self, change):
        self._render()

    def _build(self, columns):
        """One box per column: its label, its picture (clickable) and its list of maps."""
        for event in self.clicks:
            event.close()
        for box in self.boxes.values():
            box.close()
        self.images, self.labels, self.choices, self.boxes, self.clicks = {}, {}, {}, {}, []
        for col in columns:
            label = widgets.HTML(self._label(col))
            image = crisp_image()
            parts = [label, image]
            if col.kind != "image":
                if col.kind == "maps":
                    options = [("—", None)] + [(str(c), c) for c in range(col.shown)]
                else:
                    options = [("—", None), ("this layer", 0)]
                # "map" names the list for a screen reader; the column's label above says whose it is.
                choice = widgets.Dropdown(options=options, value=None, description="map",
                                          style={"description_width": "30px"},
                                          layout=widgets.Layout(width=f"{COLUMN_WIDTH - 8}px"))
                choice.add_class(f"cnnviz-overview-choice-{_css_name(col.name)}")
                choice.observe(self._on_choice, names="value")
                self.choices[col.name] = choice
                parts.append(choice)
                event = Event(source=image, watched_events=["click"])
                event.on_dom_event(lambda e, name=col.name: self._on_click(name, e))
                self.clicks.append(event)
            box = widgets.VBox(parts, layout=widgets.Layout(width=f"{COLUMN_WIDTH}px", min_width=f"{COLUMN_WIDTH}px",
                                                            padding="2px", border=UNSELECTED_BORDER,
                                                            align_items="center"))
            box.add_class(f"cnnviz-overview-{_css_name(col.name)}")
            self.images[col.name], self.labels[col.name], self.boxes[col.name] = image, label, box
        self.row.children = list(self.boxes.values())

    @staticmethod
    def _label(col) -> str:
        params = f"{col.params:,} params" if col.params else "no params"
        more = ""
        if col.kind in ("maps", "bars") and col.total > col.shown:
            what = "maps" if col.kind == "maps" else "values"
            more = f"<br>{col.shown} of {col.total:,} {what}"
        return (f"<div style='font-size:0.78em;line-height:1.25;text-align:center;overflow-wrap:anywhere'>"
                f"<b>{html.escape(col.name)}</b><br>{_breakable(col.class_name)}<br>"
                f"{shape_text(col.shape)}<br>{params}{more}</div>")

    # ----- drawing ----------------------------------------------------------------------------
    @reports_errors
    def _render(self):
        state = self.state
        # A new model changes the version and the inspection at once: one redraw, not two.
        key = (state.version, state.index, state.colour_scheme)
        if key == self._key:
            return
        self._key = key
        if self._params_key != state.version:
            self._params = compute.layer_params(state.model)
            self._params_key = state.version
        insp = state.inspect(state.index)
        columns = compute.overview_columns(state.layers, insp.outputs, insp.image, self._params, maps=self.maps)
        structure = tuple((c.name, c.kind, c.shown, c.shape) for c in columns)
        if structure != self._structure:
            self._build(columns)
            self._structure = structure
        cmap = scheme_cmap(state, "maps")
        subject = describe_subject(state)
        for col in columns:
            image = self.images[col.name]
            # The picture and its text alternative in one message.
            with image.hold_sync():
                set_png(image, self.column_png(col, cmap), alt=self._alt(col, subject))
        self.columns = columns
        self._render_selected()
        self.renders += 1

    @staticmethod
    def column_png(col, cmap: str = render.MAP_CMAP) -> bytes:
        """The picture of one column: the image, a vertical strip of maps, or bars."""
        if col.kind == "image":
            return render.image_png(col.values, TILE)
        if col.kind == "maps":
            return render.montage_png(col.values, cols=1, tile_size=TILE, cmap=cmap)
        return render.bars_png(col.values, width=COLUMN_WIDTH - 24)

    @staticmethod
    def _alt(col, subject: str) -> str:
        if col.kind == "image":
            return f"The input picture, {subject}"
        if col.kind == "maps":
            return (f"Layer {col.name}: its first {col.shown} feature maps of {col.total} for {subject}, "
                    "top to bottom")
        return f"Layer {col.name}: its first {col.shown} values of {col.total:,} as bars, for {subject}"

    def _on_layer(self, change):
        self._render_selected()

    def _render_selected(self):
        for name, box in self.boxes.items():
            border = SELECTED_BORDER if name == self.state.layer else UNSELECTED_BORDER
            if box.layout.border != border:
                box.layout.border = border
        with self._quietly():
            for name, choice in self.choices.items():
                if name != self.state.layer and choice.value is not None:
                    choice.value = None

    # ----- picking ----------------------------------------------------------------------------
    def tile_at(self, name: str, y: float) -> int | None:
        """The channel of the map at pixel row ``y`` of column ``name``'s picture (a strip of maps
        ``render.tile_factor`` times their size, one-pixel gaps); 0 for a column of bars; None
        for a gap, or outside the picture."""
        col = next((c for c in self.columns if c.name == name), None)
        if col is None or col.kind == "image" or y < 0:
            return None
        if col.kind == "bars":
            return 0
        h, w = col.values.shape[:2]
        tile_h = h * render.tile_factor(h, w, TILE)
        k, dy = divmod(int(y), tile_h + render.GAP)
        return k if k < col.shown and dy < tile_h else None

    @reports_errors
    def _on_click(self, name: str, event):
        channel = self.tile_at(name, event.get("dataY", -1))
        if channel is not None:
            self.select(name, channel)

    @reports_errors
    def _on_choice(self, change):
        if self._quiet or change["new"] is None:
            return
        name = next(n for n, c in self.choices.items() if c is change["owner"])
        self.select(name, int(change["new"]))

    def select(self, layer: str, channel: int = 0):
        """Select ``layer`` in every panel and pick its ``channel``; a ValueError names the valid
        layers or channels."""
        info = self.state.layer_info(layer)
        channels = info.shape[-1] if info.spatial else 1
        if not 0 <= int(channel) < channels:
            raise ValueError(f"channel {channel} is out of range 0..{channels - 1} for layer {layer!r}")
        if self.state.layer != layer:
            self.state.layer = layer
        choice = self.choices.get(layer)
        if choice is not None and int(channel) in [v for _, v in choice.options]:
            with self._quietly():
                choice.value = int(channel)
        pick = (layer, int(channel))
        if self.selection == pick:
            # The same pick again is still news: the feature grid's channel may have moved since.
            self.selection = ()
        self.selection = pick

    def close(self):
        for event in self.clicks:
            event.close()
        self.clicks = []
        super().close()


def _breakable(name: str) -> str:
    """A Keras class name that may wrap where its words meet: "Batch<wbr>Normalization"."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", "<wbr>", html.escape(name))


def _css_name(name: str) -> str:
    """A layer name made safe for a CSS class (nested layers are named ``outer/inner``)."""
    return "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in name)
