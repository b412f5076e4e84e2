"""Settings of the whole dashboard that every panel follows: the colour scheme, and the legend of what
each colour means (``colours.legend_html``)."""
from __future__ import annotations

import ipywidgets as widgets

from .. import colours, render
from .base import StateWidget, reports_errors

#: What each scheme is for, as the control's tooltip says it.
SCHEME_HELP = {
    "standard": "viridis feature maps, turbo heatmaps, red–blue weights",
    "colour-vision safe": "cividis feature maps, viridis heatmaps, blue–orange weights: readable "
                          "with red–green colour blindness",
}


class ColourSchemeSelector(StateWidget):
    """Choose the colour maps of every panel: "standard" or "colour-vision safe"
    (``render.COLOUR_SCHEMES``), with the legend of the colour language in that scheme (signs,
    right and wrong, maps, heatmaps, your choice). Writes ``state.colour_scheme`` and follows it.

    >>> ColourSchemeSelector(state).dropdown.value = "colour-vision safe"   # doctest: +SKIP
    >>> state.colour_scheme                                                  # doctest: +SKIP
    'colour-vision safe'
    """

    def __init__(self, state, **kwargs):
        super().__init__(state, **kwargs)
        self.dropdown = widgets.Dropdown(
            options=list(render.COLOUR_SCHEMES), value=state.colour_scheme, description="colours",
            style={"description_width": "52px"}, layout=widgets.Layout(width="auto", max_width="300px"))
        self.note = widgets.HTML()
        self.legend = widgets.HTML()
        self.children = [self.dropdown, self.note, self.legend]
        self.dropdown.observe(self._on_dropdown, names="value")
        self._observe(self._on_colour_scheme, ["colour_scheme"])
        self._render()

    @reports_errors
    def _on_dropdown(self, change):
        if change["new"] != self.state.colour_scheme:
            self.state.colour_scheme = change["new"]

    def _on_colour_scheme(self, change):
        self._render()

    def _render(self):
        scheme = self.state.colour_scheme
        with self.dropdown.hold_sync():
            if self.dropdown.value != scheme:
                self.dropdown.value = scheme
            self.dropdown.tooltip = SCHEME_HELP[scheme]
            self.note.value = f"<div class='cnnviz-note'>{SCHEME_HELP[scheme]}</div>"
            self.legend.value = colours.legend_html(scheme)
