"""The guide's exercise 5 as a panel: confident and unsure predictions side by side."""
from __future__ import annotations

import html

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from .. import colours, compute, render
from ..compute import describe
from .base import CRISP_CSS, crisp_image, describe_subject, reports_errors, section, set_png
from .charts import default_dense_layer, set_bar_axes
from .figures import figure
from .jobs import ToolWidget
from .sharing import Download

BLUE = colours.BARS


class ConfidenceAnalysis(ToolWidget):
    """The guide's exercise 5: a confident correct, an unsure correct and a confident wrong
    prediction side by side.

    Each column shows the image, the channel-mean map of the last conv stage and the Grad-CAM
    overlay (one PNG), the caption, the first dense stage's activations (bars on one shared scale)
    and an *open* button that selects the image.

    >>> panel = ConfidenceAnalysis(state)   # doctest: +SKIP
    >>> panel.find(); panel.examples        # doctest: +SKIP
    {'confident_right': 12, 'unsure_right': 4410, 'confident_wrong': 2405}
    """

    KINDS = (("confident_right", "High confidence, correct"),
             ("unsure_right", "Low confidence, correct"),
             ("confident_wrong", "High confidence, wrong"))

    def __init__(self, state, blocking: bool = False, **kwargs):
        super().__init__(state, blocking=blocking, **kwargs)
        self.examples: dict | None = None
        self.find_button = widgets.Button(description="find the three examples", icon="search",
                                          layout=widgets.Layout(width="220px"))
        # Scales always have a range: a bqplot axis on a scale without one cannot format its
        # ticks (the browser logs "invalid format: .undefinedg") and draws nothing after it.
        self.y_scale = bq.LinearScale(min=0.0, max=1.0)
        self.titles, self.images, self.captions, self.bars, self.stats, self.open_buttons = [], [], [], [], [], []
        self.figures, self.axes, self.chart_boxes = [], [], []
        columns = []
        for kind, title in self.KINDS:
            x_scale = bq.LinearScale(min=-0.5, max=0.5)
            bars = bq.Bars(x=[], y=[], scales={"x": x_scale, "y": self.y_scale}, colors=[BLUE], padding=0.1)
            axes = (bq.Axis(scale=x_scale, tick_format="d", tick_values=[0], label="neuron"),
                    bq.Axis(scale=self.y_scale, side="left", tick_values=[0.0, 1.0],
                            tick_format=".1f"))
            chart = figure(marks=[bars], axes=list(axes), index_axis=True,
                           # Wide enough on the right for the last index ("127") to be written whole.
                           fig_margin={"top": 5, "bottom": 35, "left": 40, "right": 30},
                           layout=widgets.Layout(width="300px", height="160px"))
            self.figures.append(chart)
            self.axes.append(axes)
            self.chart_boxes.append(widgets.Box(layout=widgets.Layout(min_height="0")))
            head = widgets.HTML(f"<b>{title}</b>")
            image = crisp_image()
            caption = widgets.HTML()
            stats = widgets.HTML()
            button = widgets.Button(description="open", icon="folder-open", disabled=True,
                                    layout=widgets.Layout(width="90px"))
            button.on_click(lambda _b, k=kind: self.open_example(k))
            self.titles.append(head)
            self.images.append(image)
            self.captions.append(caption)
            self.bars.append(bars)
            self.stats.append(stats)
            self.open_buttons.append(button)
            save = Download.picture(image, lambda k=kind: compute.file_name(
                "cnnviz", k, (self.examples or {}).get(k), suffix=".png"))
            columns.append(widgets.VBox([head, image, save, caption, self.chart_boxes[-1], stats, button],
                                        layout=widgets.Layout(width="310px")))
        self.figures_note = widgets.HTML()
        self.children = [
            widgets.HTML(CRISP_CSS),
            section("Confident or unsure?",
                    "Exercise 5. Each example shows the image, the last conv stage "
                    "(mean over its channels) and where Grad-CAM says the network looked; below, "
                    "the dense layer's neurons on one shared scale.",
                    widgets.HBox([self.find_button, self.job])),
            self.figures_note, widgets.HBox(columns),
        ]
        self.find_button.on_click(lambda _b: self.find())
        self._observe(self._on_version, ["version"])
        self._reset()

    def _on_version(self, change):
        self._reset()

    def _reset(self):
        self.examples = None
        for image, caption, bars, stats, button in zip(self.images, self.captions, self.bars,
                                                       self.stats, self.open_buttons):
            image.layout.display = "none"
            caption.value = stats.value = ""
            with bars.hold_sync():
                bars.x, bars.y = [], []
            button.disabled = True
        # No empty charts before "find": they would show bare axes and no bars. A chart is left
        # out of the page rather than hidden, since bqplot cannot lay out a hidden figure.
        for box in self.chart_boxes:
            box.children = ()
        self.figures_note.value = "<i>Press “find” to search every image of the set.</i>"

    @reports_errors
    def find(self):
        """Predict every image (shared, cached) and show the three examples."""
        if self.state.labels is None:
            raise ValueError("these images have no labels, so right and wrong are unknown")
        version = self.state.version

        def work(progress):
            probs = self.state.predictions(progress)
            return compute.confidence_examples(probs, self.state.labels)

        self.job.start(work, lambda ex: self._show(version, ex), "predicting every image…")

    def _show(self, version, examples):
        if version != self.state.version:
            raise ValueError("the model or images changed meanwhile; press find again")
        self.examples = examples
        model = self.state.model
        stages = compute.conv_stages(model)
        stage = stages[-1] if stages else compute.last_spatial_layer(model)
        dense = default_dense_layer(self.state.layers)
        names = self.state.class_names
        values = {}
        for col, (kind, _title) in enumerate(self.KINDS):
            i = examples[kind]
            if i is None:
                self.captions[col].value = "<i>no such image in this set</i>"
                continue
            insp = self.state.inspect(i)
            cam = self.state.grad_cam(class_index=insp.predicted, index=i)
            panels = [insp.image, compute.activation_map(insp.outputs[stage]),
                      render.overlay(insp.image, cam, alpha=0.5, size=96)]
            set_png(self.images[col], render.strip_png(panels, tile_size=96), alt=(
                f"{describe_subject(self.state, i)}: the picture, the mean of {stage}, and "
                + describe.heatmap_alt(cam, "Grad-CAM", "it", f"the predicted class {names[insp.predicted]}")))
            self.images[col].layout.display = None
            css = "cnnviz-caption-right" if insp.correct else "cnnviz-caption-wrong"
            probs = insp.probabilities
            entropy = float(-(probs * np.log(np.clip(probs, 1e-12, 1))).sum())
            # "24.9 %" stays whole in a narrow column (a no-break space before the sign).
            caption = html.escape(self.state.caption(insp)).replace(" %", "&nbsp;%")
            self.captions[col].value = (f"<span class='{css}'>#{i} · {caption} "
                                        f"{describe.verdict_mark(insp.correct)}</span><br>entropy {entropy:.2f}")
            d = np.asarray(insp.outputs[dense], dtype=float).reshape(-1)
            values[col] = d
            s = insp.stats(dense)
            self.stats[col].value = (f"{dense}: mean {s['mean']:.3f}, max {s['max']:.3f}, "
                                     f"sparsity {100 * s['sparsity']:.0f} %<br>{stage}: mean "
                                     f"{insp.stats(stage)['mean']:.3f}")
            self.open_buttons[col].disabled = False
        if values:
            everything = np.concatenate(list(values.values()))
            for col, d in values.items():
                x_axis, y_axis = self.axes[col]
                set_bar_axes(x_axis, y_axis, len(d), everything.min(), everything.max())
                with self.bars[col].hold_sync():
                    self.bars[col].x = np.arange(len(d))
                    self.bars[col].y = d
                self.chart_boxes[col].children = (self.figures[col],)
        self.figures_note.value = (f"Panels: image · {stage} (mean over channels) · Grad-CAM for the "
                                   f"predicted class. Classes: {', '.join(names)}.")

    def close(self):
        # A chart that is not on the page is no child of this widget.
        for chart in self.figures:
            chart.close()
        super().close()

    @reports_errors
    def open_example(self, kind: str):
        """Select the example of ``kind`` (a key of ``examples``) in the state."""
        if not self.examples or self.examples.get(kind) is None:
            raise ValueError("press “find” first")
        if self.state.index != self.examples[kind]:
            self.state.index = self.examples[kind]
