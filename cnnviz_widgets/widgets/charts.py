"""bqplot bar charts: the class probabilities (section 8) and the dense layer (section 7)."""
from __future__ import annotations

import html

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from .. import colours, compute
from ..compute import describe
from .base import CRISP_CSS, StateWidget, reports_errors
from .figures import figure
from .sharing import ChartDownload

GREEN, RED, GREY = colours.RIGHT, colours.WRONG, colours.QUIET
#: The rule that names a guess, by the probability of its top class: at least ``CONFIDENT`` is
#: confident, at least ``UNSURE`` unsure, below that confused. Every text that names a guess says so.
CONFIDENT, UNSURE = 0.8, 0.4


def confidence_word(p: float) -> str:
    """"confident", "unsure" or "confused" for a top-class probability ``p`` (``CONFIDENT``, ``UNSURE``)."""
    return "confident" if p >= CONFIDENT else "unsure" if p >= UNSURE else "confused"


def confidence_rule() -> str:
    """The rule of ``confidence_word`` in one line for the student."""
    return (f"confident from {100 * CONFIDENT:.0f} %, unsure from {100 * UNSURE:.0f} %, "
            f"confused below")


def nice_axis(low: float, high: float, count: int = 4) -> tuple:
    """Round limits and ticks for values in [low, high]: ``(lo, hi, ticks, tick_format)``.

    The step is 1, 2, 2.5 or 5 times a power of ten, so that about ``count`` intervals cover the
    values; the ticks are the multiples of the step within the limits (so zero is a tick when the
    range spans it), the upper limit is a tick and the lower one is rounded to a tenth of a step
    (a small negative tail does not cost a whole step), and the format shows as many decimals as
    the step needs, so no tick reads "-0.11" or "101 %".

    >>> nice_axis(-0.08, 3.7)[:3]
    (-0.1, 4.0, [0.0, 1.0, 2.0, 3.0, 4.0])
    """
    low, high = float(min(low, high)), float(max(low, high))
    if not np.isfinite(low) or not np.isfinite(high):
        low, high = 0.0, 1.0
    if high - low < 1e-9:
        high = low + 1.0
    raw = (high - low) / max(int(count), 1)
    power = 10.0 ** np.floor(np.log10(raw))
    step = next(m * power for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * power >= raw * (1 - 1e-9))
    fine = step / 10
    lo = float(round(np.floor(low / fine + 1e-9) * fine, 10))
    hi = float(round(np.ceil(high / step - 1e-9) * step, 10))
    first = np.ceil(lo / step - 1e-9) * step
    ticks = [float(round(v, 10)) + 0.0 for v in np.arange(first, hi + step / 2, step)]
    decimals = max(0, int(-np.floor(np.log10(step) + 1e-9)))
    if step * 10 ** decimals % 1 > 1e-6:  # 2.5, 0.25, … need one decimal more
        decimals += 1
    return lo + 0.0, hi + 0.0, ticks, f".{decimals}f"


def set_bar_axes(x_axis, y_axis, n: int, low: float, high: float) -> None:
    """Fit the axes of a chart of ``n`` bars (at x = 0 … n-1) to values in [low, high]: every bar
    inside, round ticks (``nice_axis``, ``index_ticks``), zero always in the range."""
    lo, hi, ticks, fmt = nice_axis(min(float(low), 0.0), max(float(high), 0.0))
    with x_axis.scale.hold_sync():
        x_axis.scale.min, x_axis.scale.max = -0.5, n - 0.5
    x_axis.tick_values = index_ticks(n)
    with y_axis.scale.hold_sync():
        y_axis.scale.min, y_axis.scale.max = lo, hi
    with y_axis.hold_sync():
        y_axis.tick_values, y_axis.tick_format = ticks, fmt


def index_ticks(n: int, count: int = 5) -> list:
    """Ticks of an axis of ``n`` indices 0 … n-1: round numbers, always ending at n-1.

    >>> index_ticks(128)
    [0, 50, 100, 127]
    """
    if n <= 1:
        return [0]
    step = max(1, int(nice_axis(0, n - 1, count - 1)[2][1]))
    ticks = list(range(0, n - 1, step))
    # The last index itself closes the axis; a round tick too close to it would collide.
    if len(ticks) > 1 and n - 1 - ticks[-1] <= step / 2:
        ticks.pop()
    return ticks + [n - 1]


class SoftmaxChart(StateWidget):
    """Bars of the class probabilities of the selected image, with percentages.

    Right and wrong as everywhere (``colours``): a right guess is green; a wrong guess is red,
    and the true class it missed green. With no true class known, the guess is plain blue.

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
                               colors=[colours.INK], enable_move=False)
        ax_x = bq.Axis(scale=self.x_scale, side="left", grid_lines="none")
        # Explicit ticks: bqplot's own, on a padded range, read "-1 %" and "101 %".
        ax_y = bq.Axis(scale=self.y_scale, tick_format=".0%", tick_values=[0.0, 0.25, 0.5, 0.75, 1.0],
                       label="probability")
        self.figure = figure(
            marks=[self.bars, self.labels], axes=[ax_x, ax_y],
            fig_margin={"top": 10, "bottom": 35, "left": 90, "right": 50},
            layout=widgets.Layout(width="100%", max_width="460px", height="300px"),
        )
        self.summary = widgets.HTML()
        self.save = ChartDownload(self.figure, lambda: compute.file_name(
            "cnnviz-probabilities", f"image{self.state.index}", suffix=".png"))
        self.children = [widgets.HTML(CRISP_CSS), self.figure, self.summary, self.save]
        self._observe(self._on_inspection, ["inspection"])
        self._render()

    @reports_errors
    def _render(self):
        insp = self.state.inspection
        names = list(self.state.class_names)
        probs = insp.probabilities.astype(float)
        colors = [GREY] * len(names)
        if insp.label is not None:
            colors[insp.label] = GREEN
        colors[insp.predicted] = colours.BARS if insp.correct is None else GREEN if insp.correct else RED
        with self.bars.hold_sync(), self.labels.hold_sync():
            self.bars.x = names
            self.bars.y = probs
            self.bars.colors = colors
            self.labels.x = probs
            self.labels.y = names
            self.labels.text = [f"{100 * p:.1f}%" for p in probs]
        entropy = float(-(probs * np.log(np.clip(probs, 1e-12, 1))).sum())
        kind = confidence_word(insp.confidence)
        verdict = describe.verdict_mark(insp.correct)
        truth = ("" if insp.correct is not False else
                 f"; the true class, {names[insp.label]}, has {100 * probs[insp.label]:.1f} %")
        self.summary.value = (
            f"<b>{names[insp.predicted]}</b> {100 * insp.confidence:.1f}&nbsp;%: {kind}"
            + (f" · <b>{verdict}</b>{truth}" if verdict else "")
            + f"<br><span class='cnnviz-note'>The rule: {confidence_rule()}. How spread out the "
            f"guess is (entropy): {entropy:.2f}, from 0 (all on one class) to {np.log(len(names)):.2f} "
            f"(even over all {len(names)}).</span>"
            + f"<br>{describe.top_classes_text(names, probs)}"
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
        self.x_scale = bq.LinearScale(min=-0.5, max=0.5)
        self.y_scale = bq.LinearScale(min=0.0, max=1.0)
        self.bars = bq.Bars(x=[], y=[], scales={"x": self.x_scale, "y": self.y_scale},
                            colors=[colours.BARS], padding=0.1,
                            tooltip=bq.Tooltip(fields=["x", "y"], labels=["neuron", "activation"],
                                               formats=["", ".3f"]))
        self.x_axis = bq.Axis(scale=self.x_scale, label="neuron index", tick_format="d", tick_values=[0])
        self.y_axis = bq.Axis(scale=self.y_scale, side="left", label="activation",
                              tick_values=[0.0, 1.0], tick_format=".1f")
        self.figure = figure(
            marks=[self.bars], axes=[self.x_axis, self.y_axis], index_axis=True,
            # A right margin wide enough for the last index ("127") to be written in full.
            fig_margin={"top": 15, "bottom": 40, "left": 55, "right": 30},
            layout=widgets.Layout(width="100%", max_width="620px", height="260px"),
        )
        self.title = widgets.HTML()
        self.summary = widgets.HTML()
        self.save = ChartDownload(self.figure, lambda: compute.file_name(
            "cnnviz-dense", self.dense_layer(), f"image{self.state.index}", suffix=".png"))
        self.children = [widgets.HTML(CRISP_CSS), self.title, self.figure, self.summary, self.save]
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

    def is_output(self, name: str) -> bool:
        """Whether ``name`` is the model's output layer, one number per class."""
        layers, names = self.state.layers, self.state.class_names
        return name == layers[-1].name and tuple(layers[-1].shape) == (len(names),)

    @reports_errors
    def _render(self):
        name = self.dense_layer()
        values = np.asarray(self.state.inspection.outputs[name], dtype=float).reshape(-1)
        stats = compute.layer_stats(values)
        output = self.is_output(name)
        set_bar_axes(self.x_axis, self.y_axis, len(values), values.min(), values.max())
        with self.x_axis.hold_sync():
            # The output layer's bars are the classes: named, as in section 8.
            if output:
                self.x_axis.tick_values = list(range(len(values)))
            self.x_axis.tick_labels = dict(enumerate(self.state.class_names)) if output else None
            self.x_axis.tick_rotate = -35 if output else 0
            self.x_axis.label = "" if output else "neuron index"
        self.figure.fig_margin = {**self.figure.fig_margin, "bottom": 70 if output else 40}
        with self.bars.hold_sync():
            self.bars.x = np.arange(len(values))
            self.bars.y = values
        self.title.value = f"<b>{html.escape(name)}</b>: " + self._what(name, len(values), output)
        self.summary.value = (
            f"mean {stats['mean']:.3f} · max {stats['max']:.3f} · "
            f"sparsity {100 * stats['sparsity']:.1f} % (share of values ≤ {compute.SPARSITY_EPS})"
            f"<br>{describe.bars_text(values)}"
        )

    def _what(self, name: str, n: int, output: bool) -> str:
        """What the bars are, and, when they are not the layer picked, why."""
        if output:
            return f"the output layer, one bar per class: the {n} probabilities of section 8"
        text = f"{n} neurons"
        if not self.fixed_layer and name != self.state.layer:
            text += (f" <span class='cnnviz-note'>(the layer you picked, {html.escape(self.state.layer)}, "
                     "has maps, not single numbers: these are the first dense stage)</span>")
        return text


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
