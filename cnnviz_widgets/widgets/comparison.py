"""The comparison of several images stage by stage (section 9): one PNG of every image's row."""
from __future__ import annotations

import html

import ipywidgets as widgets

from .. import compute, render
from ..compute import describe, file_name
from .base import CRISP_CSS, StateWidget, crisp_image, describe_subject, png_size, reports_errors, set_png
from .base import note_html as _note
from .base import scheme_cmap as _cmap
from .base import set_visible as _show
from .grids import STRIP_GAP
from .sharing import Download

#: The comparison grid stays readable up to this many rows.
MAX_COMPARE = 10


class ComparisonGrid(StateWidget):
    """Several images through the network, one row each: the input, then the channel mean of each
    conv stage (section 9). Early stages look alike for every image; the last ones differ by class.

    ``indices`` edits the compared images (comma-separated; a bad entry shows a message and keeps
    the previous set) and "use current image" puts the selected image in place of the first one.

    >>> grid = ComparisonGrid(state)      # doctest: +SKIP
    >>> grid.indices.value = "3, 12, 99"  # doctest: +SKIP
    >>> state.compare                     # doctest: +SKIP
    (3, 12, 99)
    """

    LABEL_WIDTH = 190

    def __init__(self, state, tile_size: int = 64, **kwargs):
        super().__init__(state, **kwargs)
        self.tile_size = int(tile_size)
        self.renders = 0
        self._key = None
        self.indices = widgets.Text(description="images", continuous_update=False,
                                    placeholder="e.g. 3, 12, 99",
                                    layout=widgets.Layout(width="320px"))
        self.use_current = widgets.Button(description="use current image", layout=widgets.Layout(width="auto"))
        self.message = widgets.HTML()
        self.headers = widgets.HTML()
        self.labels = widgets.HTML(layout=widgets.Layout(width=f"{self.LABEL_WIDTH}px", flex="0 0 auto"))
        self.image = crisp_image()
        self.rows = widgets.VBox([
            self.headers,
            widgets.HBox([self.labels, self.image], layout=widgets.Layout(align_items="flex-start")),
            Download.picture(self.image, lambda: file_name(
                "cnnviz-comparison", "images", *state.compare, suffix=".png")),
        ])
        self.children = [
            widgets.HTML(CRISP_CSS),
            widgets.HBox([self.indices, self.use_current]),
            self.message,
            self.rows,
        ]
        self.indices.observe(self._on_indices, names="value")
        self.use_current.on_click(self._on_use_current)
        self._observe(self._on_compare, ["compare"])
        self._observe(self._on_version, ["version", "colour_scheme"])
        self._sync_text()
        self._render()

    def _sync_text(self):
        text = ", ".join(str(i) for i in self.state.compare)
        if self.indices.value != text:
            self.indices.value = text

    def _on_compare(self, change):
        self._sync_text()
        self._render()

    def _on_version(self, change):
        self._render()

    def parse(self, text: str) -> tuple:
        """Image indices from "3, 12, 99"; ValueError with a message for the student otherwise."""
        n = len(self.state.images)
        pieces = [p.strip() for p in str(text).replace(";", ",").split(",") if p.strip()]
        if not pieces:
            raise ValueError("enter at least one image index, e.g. 3, 12, 99")
        out = []
        for p in pieces:
            try:
                i = int(p)
            except ValueError:
                raise ValueError(f"{p!r} is not an image index: enter whole numbers separated by "
                                 "commas, e.g. 3, 12, 99") from None
            if not 0 <= i < n:
                raise ValueError(f"image index {i} is out of range 0..{n - 1}")
            out.append(i)
        if len(out) > MAX_COMPARE:
            raise ValueError(f"compare at most {MAX_COMPARE} images at once ({len(out)} given)")
        return tuple(out)

    def _on_indices(self, change):
        try:
            chosen = self.parse(change["new"])
        except ValueError as exc:
            self.message.value = (f"<div class='cnnviz-caption-wrong'>⚠ {html.escape(str(exc))}; "
                                  "the images shown are unchanged.</div>")
            return
        self.message.value = ""
        if chosen != self.state.compare:
            self._set_compare(chosen)

    @reports_errors
    def _set_compare(self, chosen):
        self.state.compare = chosen

    def _on_use_current(self, button):
        index = self.state.index
        compare = self.state.compare
        if index in compare:
            self.message.value = _note(f"Image #{index} is already compared.")
            return
        self.message.value = ""
        self._set_compare((index,) + tuple(compare[1:]))

    @reports_errors
    def _render(self):
        state = self.state
        key = (state.version, state.compare, state.colour_scheme)
        if key == self._key:
            return
        self._key = key
        if not state.compare:
            self.message.value = _note("No images to compare: enter their indices above.")
            _show(self.rows, False)
            return
        _show(self.rows, True)
        stages = compute.conv_stages(state.model)
        rows, labels = [], []
        for i in state.compare:
            insp = state.inspect(i)
            rows.append([insp.image] + [insp.outputs[s].mean(axis=-1) for s in stages])
            labels.append(insp)
        data = render.panel_grid_png(rows, self.tile_size, cmap=_cmap(state, "maps"), gap=STRIP_GAP)
        subjects = [describe_subject(state, insp.index) for insp in labels]
        set_png(self.image, data, alt=describe.comparison_alt(subjects, ["input"] + list(stages)))
        self.renders += 1
        width, height = png_size(data)
        cell_w = (width - STRIP_GAP * len(stages)) // (len(stages) + 1)
        cell_h = (height - STRIP_GAP * (len(rows) - 1)) // len(rows)
        names = state.class_names
        lines = []
        for insp in labels:
            pred = f"{html.escape(names[insp.predicted])} ({100 * insp.confidence:.0f} %)"
            if insp.label is None:
                text, style = f"#{insp.index}: → {pred}", "cnnviz-caption"
            else:
                text = (f"#{insp.index}: {html.escape(names[insp.label])} → {pred} "
                        f"{describe.verdict_mark(insp.correct)[0]}")
                style = "cnnviz-caption-right" if insp.correct else "cnnviz-caption-wrong"
            lines.append(f"<div class='{style}' style='height:{cell_h}px;margin-bottom:{STRIP_GAP}px;"
                         f"display:flex;align-items:center;font-size:12px'>{text}</div>")
        self.labels.value = "".join(lines)
        heads = "".join(f"<div style='width:{cell_w}px;text-align:center;font-size:12px'>{html.escape(n)}</div>"
                        for n in ["Input"] + stages)
        self.headers.value = (f"<div style='display:flex;gap:{STRIP_GAP}px;margin-left:{self.LABEL_WIDTH}px'>"
                              f"{heads}</div><div class='cnnviz-note'>true class → predicted class. This section shows "
                              "every conv stage whichever layer you pick: comparing the stages is its "
                              "point.</div>")
