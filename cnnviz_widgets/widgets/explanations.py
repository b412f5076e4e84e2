"""The explanation lab: every attribution method side by side for the current image, how faithful
each map is (deletion and insertion curves) and whether it depends on what the network learned
(the cascading randomisation check)."""
from __future__ import annotations

import html

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from .. import colours as palette
from .. import compute, render
from ..render import labelled_montage
from .base import CRISP_CSS, crisp_image, describe_subject, reports_errors, section, set_png
from .figures import figure
from .jobs import ToolWidget
from .sharing import Download

#: One colour per method, in the order of ``compute.METHODS`` (Okabe-Ito, safe for colour blindness).
COLOURS = palette.METHOD_PALETTE
#: The class dropdown's value for "the predicted class" (state.class_index None).
PREDICTED = -1
#: Below this rank correlation with the original, a map counts as changed.
CHANGED_BELOW = 0.5

SANITY_TEXT = (
    "Each row is one method, each column re-initialises one more layer with random weights, from "
    "the classifier at the top down to the first convolution; r under each map is its rank "
    "correlation with the trained network's map (1 = the same ranking). A map you can trust changes "
    "as soon as the layers it claims to explain are random. A map that stays the same when the "
    "network is destroyed shows the picture (its edges and colours), not what the network learned."
)
CURVES_TEXT = (
    "<b>Deletion</b>: the pixels a map ranks highest are blacked out first; if the map is right the "
    "probability falls fast (small area is good). <b>Insertion</b>: the same pixels are revealed "
    "first on a black image; a right map makes the probability rise fast (large area is good)."
)


class ExplanationLab(ToolWidget):
    """Which explanation can you trust? Every method of ``compute.METHODS`` for the current image
    and class, its deletion and insertion curves, and the sanity check.

    Follows the selected image and class (``state.inspection``, ``state.class_index``); the class
    dropdown writes ``state.class_index``. ``results`` is the last ``compute.compare_methods``
    answer, ``check`` the last sanity check: ``{method: compute.RandomizationCheck}``.

    >>> lab = ExplanationLab(state)            # doctest: +SKIP
    >>> lab.results["grad_cam"].deletion.area    # doctest: +SKIP
    0.21
    >>> lab.run_check(); lab.wait()               # doctest: +SKIP
    """

    def __init__(self, state, blocking: bool = False, size: int = 96, **kwargs):
        super().__init__(state, blocking=blocking, **kwargs)
        self.size = int(size)
        self.results: dict | None = None
        self.check: dict | None = None
        self._shown = None
        self.target = widgets.Dropdown(description="class", layout=widgets.Layout(width="260px"))
        self.maps = crisp_image()
        self.title = widgets.HTML()
        names = list(compute.METHODS)
        self.x_scale = bq.LinearScale(min=0.0, max=1.0)
        self.y_scale = bq.LinearScale(min=0.0, max=1.0)
        self.deletion_lines = self._lines()
        self.insertion_lines = self._lines()
        self.deletion_figure = self._figure(self.deletion_lines, "deletion: share of pixels blacked out")
        self.insertion_figure = self._figure(self.insertion_lines, "insertion: share of pixels revealed")
        self.areas = widgets.HTML()
        self.check_button = widgets.Button(description="sanity check", icon="flask",
                                           layout=widgets.Layout(width="150px"))
        self.check_image = crisp_image()
        self.check_image.layout.display = "none"
        self.check_note = widgets.HTML()
        self.children = [
            widgets.HTML(CRISP_CSS),
            widgets.HBox([self.target, self.title], layout=widgets.Layout(align_items="center")),
            self.maps,
            Download.picture(self.maps, lambda: compute.file_name("cnnviz-explanations", f"image{self.state.index}",
                                                                  suffix=".png")),
            widgets.HTML(f"<div class='cnnviz-note'>{CURVES_TEXT}</div>"),
            widgets.HBox([self.deletion_figure, self.insertion_figure, self.areas],
                         layout=widgets.Layout(flex_flow="row wrap", align_items="center")),
            Download(self.areas_csv, lambda: compute.file_name("cnnviz-explanation-areas", f"image{self.state.index}",
                                                               suffix=".csv"), label="CSV"),
            section("Sanity check", SANITY_TEXT, widgets.HBox([self.check_button, self.job])),
            self.check_image, self.check_note,
        ]
        self._labels = [compute.METHODS[n][0] for n in names]
        self.target.observe(self._on_target, names="value")
        self.check_button.on_click(lambda _b: self.run_check())
        self._observe(self._on_inspection, ["inspection"])
        self._observe(self._on_class_index, ["class_index"])
        self._observe(self._on_version, ["version"])
        self._sync_target()
        self._render()

    def _lines(self) -> bq.Lines:
        return bq.Lines(x=[], y=[], scales={"x": self.x_scale, "y": self.y_scale},
                        colors=list(COLOURS), stroke_width=2)

    def _figure(self, lines, label) -> bq.Figure:
        axes = [bq.Axis(scale=self.x_scale, label=label, tick_format=".0%", num_ticks=5),
                bq.Axis(scale=self.y_scale, side="left", label="probability",
                        tick_format=".1f", num_ticks=6)]
        # No padding: bqplot pads the marks' range (2.5 % by default) but not the axis, which
        # would draw every probability a little off its tick.
        return figure(marks=[lines], axes=axes, fig_margin={"top": 10, "bottom": 45, "left": 55, "right": 20},
                      padding_y=0.0, layout=widgets.Layout(width="330px", height="240px"))

    # ----- observers ----------------------------------------------------------------------------
    def _on_class_index(self, change):
        self._sync_target()
        self._render()

    def _on_version(self, change):
        self.check = None
        self.check_image.layout.display = "none"
        self.check_note.value = ""
        self._sync_target()

    @reports_errors
    def _on_target(self, change):
        # The dropdown is a control: it writes the selection; the state's change re-renders.
        value = None if change["new"] == PREDICTED else change["new"]
        if not self._quiet and self.state.class_index != value:
            self.state.class_index = value

    def _sync_target(self):
        """Show the state's class names and selection without writing them back."""
        with self._quietly():
            options = [("predicted class", PREDICTED)] + [(n, i) for i, n in enumerate(self.state.class_names)]
            if list(self.target.options) != options:
                self.target.options = options
            value = PREDICTED if self.state.class_index is None else int(self.state.class_index)
            if self.target.value != value:
                self.target.value = value

    def class_index(self) -> int:
        """The class explained: the selection, else the prediction for the current image."""
        c = self.state.class_index
        return self.state.inspection.predicted if c is None else int(c)

    # ----- rendering ----------------------------------------------------------------------------
    @reports_errors
    def _render(self):
        insp = self.state.inspection
        c = self.class_index()
        span = self.state.input_range()
        # A new image with a class chosen changes the inspection and resets the class at once:
        # two notifications for one change, and the second must not compute everything again.
        if self._shown == (insp, c, span):
            return
        results = compute.compare_methods(self.state.model, insp.x, c, value_range=span, outputs=insp.outputs)
        self.results, self._shown = results, (insp, c, span)
        names = self.state.class_names
        self.title.value = (f"<b>Image #{insp.index}</b>, explaining <b>{html.escape(names[c])}</b> "
                            f"({100 * insp.probabilities[c]:.1f} %)")
        overlays = [render.overlay(insp.image, np.zeros(insp.image.shape[:2]), 0.0, self.size)]
        overlays += [render.overlay(insp.image, compute.normalize_map(r.heat), 0.5, self.size)
                     for r in results.values()]
        # A long name takes two lines: the tiles are only as wide as the pictures.
        captions = ["image"] + [f"{label.replace(' ', chr(10)) if len(label) > 14 else label}\n"
                                f"del {r.deletion.area:.2f} · ins {r.insertion.area:.2f}"
                                for label, r in zip(self._labels, results.values())]
        alt = compute.methods_alt(self._labels, [r.heat for r in results.values()],
                                  describe_subject(self.state), f"class {names[c]}")
        set_png(self.maps, labelled_montage(np.stack(overlays), captions, cols=len(overlays), size=self.size),
                alt=f"The picture, then {alt}")
        for lines, key in ((self.deletion_lines, "deletion"), (self.insertion_lines, "insertion")):
            curves = [getattr(r, key) for r in results.values()]
            with lines.hold_sync():
                lines.x = curves[0].fractions
                lines.y = np.stack([cv.probabilities for cv in curves])
                lines.labels = list(self._labels)
        rows = "".join(
            f"<tr><td><span style='color:{colour}'>■</span> {html.escape(label)}</td>"
            f"<td class='num'>{r.deletion.area:.3f}</td><td class='num'>{r.insertion.area:.3f}</td></tr>"
            for colour, label, r in zip(COLOURS, self._labels, results.values()))
        self.areas.value = (
            "<table class='cnnviz-stats'><tr><th>method</th><th>deletion area ↓</th>"
            f"<th>insertion area ↑</th></tr>{rows}</table>")

    def areas_csv(self) -> bytes:
        """The areas under every method's deletion and insertion curves, as CSV."""
        return compute.csv_bytes(["method", "deletion area", "insertion area"],
                                 [[label, r.deletion.area, r.insertion.area]
                                  for label, r in zip(self._labels, self.results.values())])

    # ----- the sanity check ---------------------------------------------------------------------
    @reports_errors
    def run_check(self):
        """Run the cascading randomisation check for every method in the background."""
        insp = self.state.inspection
        model, x, c = self.state.model, insp.x, self.class_index()
        version, index, span = self.state.version, insp.index, self.state.input_range()

        def work(progress):
            return compute.randomization_check(model, x, list(compute.METHODS), c, value_range=span,
                                               progress=progress)

        def done(check):
            if (version, index) != (self.state.version, self.state.index):
                raise ValueError("the image or the model changed meanwhile; run the check again")
            self._show_check(check, insp.image)

        self.job.start(work, done, "re-initialising the layers one by one…")

    def _show_check(self, check: dict, image):
        self.check = check
        first = next(iter(check.values()))
        tiles, captions, colours = [], [], []
        for label, result in zip(self._labels, check.values()):
            # The first column names the method, the others the stage just re-initialised and the
            # rank correlation (r) of the map with the trained network's.
            tiles.append(render.overlay(image, compute.normalize_map(result.original), 0.6, self.size))
            captions.append(f"{label if len(label) <= 13 else label.split()[0]}\ntrained")
            colours.append(palette.INK)
            for m, rho, layer in zip(result.maps, result.correlations, result.layers):
                tiles.append(render.overlay(image, compute.normalize_map(m), 0.6, self.size))
                captions.append(f"+ {layer[:11]}\nr = {rho:.2f}")
                colours.append(palette.RIGHT if rho < CHANGED_BELOW else palette.WRONG)
        set_png(self.check_image, labelled_montage(np.stack(tiles), captions, cols=len(first.layers) + 1,
                                                   size=self.size, colors=colours),
                alt=compute.sanity_alt(self._labels, first.layers, [r.correlations for r in check.values()],
                                       describe_subject(self.state)))
        self.check_image.layout.display = None
        top = first.layers[0]
        lines = []
        for label, result in zip(self._labels, check.values()):
            changed = np.flatnonzero(result.correlations < CHANGED_BELOW)
            where = (f"changes once {html.escape(result.layers[changed[0]])} is random"
                     if len(changed) else "<b>never changes much</b>: be careful with it")
            lines.append(f"<li><b>{html.escape(label)}</b>: r = {result.correlations[0]:.2f} with "
                         f"{html.escape(top)} random; {where}</li>")
        self.check_note.value = (
            f"<div class='cnnviz-note'>r says how alike a map is to the trained network's map: 1 puts "
            f"the pixels in the same order, 0 in an unrelated one (rank correlation). Green ✓: changed "
            f"(r &lt; {CHANGED_BELOW}), as a map you can trust should. Red ✗: still alike.<ul>{''.join(lines)}</ul></div>")
