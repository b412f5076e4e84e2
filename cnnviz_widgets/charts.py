"""bqplot bar charts: the class probabilities (section 8) and the dense layer (section 7)."""
from __future__ import annotations

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from . import compute
from .base import CRISP_CSS, StateWidget, reports_errors

GREEN, RED, GREY = "#2e7d32", "#c62828", "#90a4ae"


class SoftmaxChart(StateWidget):
    """Bars of the class probabilities of the selected image, with percentages.

    The predicted class is green; when the prediction is wrong the true class is red.

    >>> chart = SoftmaxChart(state)   # doctest: +SKIP
    >>> chart.bars.y                  # the probabilities  # doctest: +SKIP
    """

    def __init__(self, state, **kwargs):
        super().__init__(state, **kwargs)
        self.x_scale = bq.OrdinalScale()
        self.y_scale = bq.LinearScale(min=0.0, max=1.0)
        self.bars = bq.Bars(
            x=[], y=[], scales={"x": self.x_scale, "y": self.y_scale},
            orientation="horizontal", colors=[GREY], padding=0.15,
            tooltip=bq.Tooltip(fields=["x", "y"], formats=["", ".1%"]),
        )
        # A Label's x is always horizontal, so on horizontal bars it takes the probability scale.
        self.labels = bq.Label(x=[], y=[], text=[], scales={"x": self.y_scale, "y": self.x_scale},
                               x_offset=4, default_size=11, font_weight="normal", align="start",
                               colors=["#222"], enable_move=False)
        ax_x = bq.Axis(scale=self.x_scale, orientation="vertical", grid_lines="none")
        ax_y = bq.Axis(scale=self.y_scale, tick_format=".0%", num_ticks=5, label="probability")
        self.figure = bq.Figure(
            marks=[self.bars, self.labels], axes=[ax_x, ax_y],
            fig_margin={"top": 10, "bottom": 35, "left": 90, "right": 50},
            layout=widgets.Layout(width="100%", max_width="460px", height="300px"),
        )
        self.summary = widgets.HTML()
        self.children = [widgets.HTML(CRISP_CSS), self.figure, self.summary]
        self._observe(self._on_inspection, ["inspection"])
        self._render()

    @reports_errors
    def _render(self):
        insp = self.state.inspection
        names = list(self.state.class_names)
        probs = insp.probabilities.astype(float)
        colors = [GREY] * len(names)
        if insp.label is not None and insp.label != insp.predicted:
            colors[insp.label] = RED
        colors[insp.predicted] = GREEN
        with self.bars.hold_sync(), self.labels.hold_sync():
            self.bars.x = names
            self.bars.y = probs
            self.bars.colors = colors
            self.labels.x = probs
            self.labels.y = names
            self.labels.text = [f"{100 * p:.1f}%" for p in probs]
        entropy = float(-(probs * np.log(np.clip(probs, 1e-12, 1))).sum())
        kind = ("a confident" if insp.confidence >= 0.8 else
                "an uncertain" if insp.confidence >= 0.4 else "a confused")
        self.summary.value = (
            f"<b>{names[insp.predicted]}</b> {100 * insp.confidence:.1f} % — {kind} prediction "
            f"(entropy {entropy:.2f} of at most {np.log(len(names)):.2f})"
        )


class DenseBars(StateWidget):
    """Bars of one dense layer's activations for the selected image, with mean, max and sparsity.

    Shows ``layer`` when given, else the selected layer when it is one-dimensional, else the
    model's first hidden dense stage (for the guide's CNN ``dense1_act``, 128 bars).

    >>> DenseBars(state).bars.y.shape   # doctest: +SKIP
    (128,)
    """

    def __init__(self, state, layer: str | None = None, **kwargs):
        super().__init__(state, **kwargs)
        self.fixed_layer = layer
        self.x_scale = bq.LinearScale()
        self.y_scale = bq.LinearScale()
        self.bars = bq.Bars(x=[], y=[], scales={"x": self.x_scale, "y": self.y_scale},
                            colors=["#1565c0"], padding=0.1,
                            tooltip=bq.Tooltip(fields=["x", "y"], labels=["neuron", "activation"],
                                               formats=["", ".3f"]))
        ax_x = bq.Axis(scale=self.x_scale, label="neuron index", num_ticks=8, tick_format="d")
        ax_y = bq.Axis(scale=self.y_scale, orientation="vertical", label="activation", num_ticks=5)
        self.figure = bq.Figure(
            marks=[self.bars], axes=[ax_x, ax_y],
            fig_margin={"top": 10, "bottom": 40, "left": 55, "right": 10},
            layout=widgets.Layout(width="100%", max_width="620px", height="260px"),
        )
        self.title = widgets.HTML()
        self.summary = widgets.HTML()
        self.children = [self.title, self.figure, self.summary]
        self._observe(self._on_inspection, ["inspection"])
        self._observe(self._on_layer, ["layer"])
        self._render()

    def dense_layer(self) -> str:
        """The layer these bars show (see the class docstring)."""
        if self.fixed_layer:
            return self.fixed_layer
        info = {i.name: i for i in self.state.layers}
        current = info.get(self.state.layer)
        if current is not None and len(current.shape) == 1 and current.name in self.state.inspection.outputs:
            return current.name
        return default_dense_layer(self.state.layers)

    def _on_layer(self, change):
        if not self.fixed_layer:
            self._render()

    @reports_errors
    def _render(self):
        name = self.dense_layer()
        values = np.asarray(self.state.inspection.outputs[name], dtype=float).reshape(-1)
        stats = compute.layer_stats(values)
        with self.bars.hold_sync():
            self.bars.x = np.arange(len(values))
            self.bars.y = values
        self.title.value = f"<b>{name}</b>: {len(values)} neurons"
        self.summary.value = (
            f"mean {stats['mean']:.3f} · max {stats['max']:.3f} · "
            f"sparsity {100 * stats['sparsity']:.1f} % (share of neurons ≤ {compute.SPARSITY_EPS})"
        )


def default_dense_layer(layers) -> str:
    """The first hidden dense stage: the last 1-D layer after the first Dense, before the next
    Dense (its activation), skipping Dropout; else the last 1-D layer before the output."""
    flat = [i for i in layers if len(i.shape) == 1]
    if not flat:
        raise ValueError("the model has no one-dimensional (dense) layer to show")
    dense_positions = [k for k, i in enumerate(flat) if i.kind == "dense"]
    if len(dense_positions) >= 2:
        first, second = dense_positions[0], dense_positions[1]
        stage = [i for i in flat[first:second] if i.class_name not in ("Dropout",)]
        return stage[-1].name
    candidates = flat[:-1] or flat
    return candidates[-1].name
