"""Teaching tools beyond the guide's notebook: its exercises as panels, gradient ascent, the
arithmetic of one convolution output, the images a channel likes most, and live training.

Every panel is a ``StateWidget``. Work that can take more than a second runs in a background
thread behind a ``JobBar`` (progress bar + Cancel button); ``blocking=True`` runs it in the
calling thread instead (tests, scripts). Results are cached per state version.
"""
from __future__ import annotations

import asyncio
import base64
import contextlib
import html
import tempfile
import threading
import time
from pathlib import Path

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from . import compute, render, teaching
from .base import CRISP_CSS, StateWidget, crisp_image, reports_errors, section, set_png
from .export import confusion_csv, file_name
from .sharing import Download
from .charts import default_dense_layer, nice_axis, set_bar_axes

GREEN, RED, BLUE, ORANGE = "#2e7d32", "#c62828", "#1565c0", "#ef6c00"
LIGHT_BLUE, LIGHT_ORANGE = "#64b5f6", "#ffb74d"


class Cancelled(Exception):
    """Raised inside a job when the student pressed Cancel."""


# ----- shared parts ---------------------------------------------------------------------------------

class JobBar(widgets.HBox):
    """A progress bar, a Cancel button and a message line that run one job at a time.

    ``start(work, done, label)`` calls ``work(progress)`` in a background thread (or at once when
    ``blocking``), then ``done(result)``. ``progress(done, total)`` moves the bar and raises
    ``Cancelled`` once Cancel was pressed, which really stops the work at its next step.
    Errors go to ``on_error(exception)``.

    Only ``work`` runs in the background: ``done``, ``on_error`` and every change of the bar are
    applied on the thread that made the bar (the kernel's, through its event loop), so widget
    observers never run on a worker thread. Without a running event loop (plain Python) they are
    applied at once.

    >>> bar = JobBar(on_error=print)                       # doctest: +SKIP
    >>> bar.start(lambda progress: 42, print, "thinking")  # doctest: +SKIP
    """

    def __init__(self, on_error, blocking: bool = False, **kwargs):
        self.bar = widgets.FloatProgress(value=0.0, min=0.0, max=1.0, layout=widgets.Layout(width="220px"))
        self.cancel_button = widgets.Button(description="Cancel", icon="stop", disabled=True,
                                            layout=widgets.Layout(width="90px"))
        self.message = widgets.HTML()
        super().__init__([self.bar, self.cancel_button, self.message], **kwargs)
        self.blocking = blocking
        self.on_error = on_error
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._busy = False
        self._shown = -1
        self._owner = threading.get_ident()
        self._loop = _running_loop()
        self.cancel_button.on_click(self._on_cancel)

    @property
    def running(self) -> bool:
        return self._busy

    def cancelled(self) -> bool:
        """True once Cancel was pressed for the running job."""
        return self._stop.is_set()

    def call(self, fn, *args):
        """Run ``fn(*args)`` on the bar's own thread: at once when called there (or when no event
        loop runs there), else through that thread's event loop."""
        loop = self._loop
        if threading.get_ident() == self._owner or loop is None or loop.is_closed() or not loop.is_running():
            fn(*args)
        else:
            loop.call_soon_threadsafe(fn, *args)

    def update(self, done, total):
        """Move the bar to done/total (at most one message per percent)."""
        frac = float(done) / float(total) if total else 1.0
        percent = int(frac * 100)
        if percent != self._shown:
            self._shown = percent
            self.call(setattr, self.bar, "value", min(max(frac, 0.0), 1.0))

    def progress(self, done, total):
        """``update`` and raise ``Cancelled`` when the student pressed Cancel."""
        if self._stop.is_set():
            raise Cancelled()
        self.update(done, total)

    def start(self, work, done, label: str = "working…", blocking: bool | None = None, end=None) -> bool:
        """Run ``work(progress)`` then ``done(result)``; False when a job is already running.
        ``blocking`` overrides the bar's own setting for this job; ``end()``, when given, runs
        after the job whatever its outcome (done, failed or cancelled)."""
        if self._busy:
            return False
        self._busy = True
        self._stop.clear()
        self._shown = -1
        self.bar.value = 0.0
        self.bar.bar_style = ""
        self.message.value = html.escape(label)
        self.cancel_button.disabled = False
        started = time.perf_counter()

        def finish(outcome, value):
            try:
                if outcome == "done":
                    if self._stop.is_set():
                        raise Cancelled()
                    done(value)
                elif outcome == "failed":
                    raise value
                else:
                    raise Cancelled()
            except Cancelled:
                self.bar.bar_style = "warning"
                self.message.value = "cancelled"
            except Exception as exc:  # Every error must reach the student, not a hidden log.
                self.bar.bar_style = "danger"
                self.message.value = "failed"
                self.on_error(exc)
            else:
                self.bar.value = 1.0
                self.bar.bar_style = "success"
                self.message.value = f"done in {time.perf_counter() - started:.1f} s"
            finally:
                self.cancel_button.disabled = True
                self._busy = False
                if end is not None:
                    end()

        def run():
            try:
                outcome = ("done", work(self.progress))
            except Cancelled:
                outcome = ("cancelled", None)
            except Exception as exc:  # Reported by finish, on the bar's own thread.
                outcome = ("failed", exc)
            self.call(finish, *outcome)

        if self.blocking if blocking is None else blocking:
            run()
        else:
            self._thread = threading.Thread(target=run, name="cnnviz-job", daemon=True)
            self._thread.start()
        return True

    def cancel(self):
        """Ask the running job to stop at its next step."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the background job to end; True when it has."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return not self._busy

    def _on_cancel(self, _button):
        self.cancel()
        self.message.value = "cancelling…"

    def close(self):
        self.cancel()
        for child in self.children:
            child.close()
        super().close()


def _running_loop():
    """The asyncio event loop running in this thread (the kernel's), or None (plain Python)."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class ToolWidget(StateWidget):
    """A StateWidget with a ``JobBar`` and a quiet switch for updating several controls at once."""

    def __init__(self, state, blocking: bool = False, **kwargs):
        super().__init__(state, **kwargs)
        self.job = JobBar(self._report_error, blocking=blocking)
        self._quiet = False

    def _report_error(self, exc):
        self.state.status = f"⚠ {type(self).__name__}: {exc}"

    @contextlib.contextmanager
    def _quietly(self):
        """Change controls without each change re-rendering (one render afterwards)."""
        before, self._quiet = self._quiet, True
        try:
            yield
        finally:
            self._quiet = before

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the running background job (if any) to end."""
        return self.job.wait(timeout)

    def close(self):
        # The job bar is not shown by every tool, so it may not be among the children.
        self.job.close()
        super().close()


def labelled_montage(images, captions, cols: int = 3, size: int = 96, colors=None) -> bytes:
    """One PNG of images with a caption under each.

    images : uint8 (N, H, W, C) with C 1 or 3, each upscaled crisp to about ``size`` pixels;
    captions : N strings (a newline makes a second line); colors : N CSS-like hex colours or None.
    """
    from PIL import Image, ImageDraw, ImageFont

    images = np.asarray(images, dtype=np.uint8)
    if images.ndim != 4 or len(images) == 0:
        raise ValueError(f"expected images (N, H, W, C), got shape {images.shape}")
    if images.shape[3] == 1:
        images = np.repeat(images, 3, axis=3)
    font = ImageFont.load_default(size=11)
    lines = max(str(c).count("\n") + 1 for c in captions)
    factor = render.tile_factor(images.shape[1], images.shape[2], size)
    h, w = images.shape[1] * factor, images.shape[2] * factor
    text_h = 13 * lines + 3
    tiles = np.full((len(images), h + text_h, w, 3), 255, np.uint8)
    for i, img in enumerate(images):
        canvas = Image.new("RGB", (w, h + text_h), "white")
        canvas.paste(Image.fromarray(render.upscale(img, factor)), (0, 0))
        draw = ImageDraw.Draw(canvas)
        colour = colors[i] if colors is not None else "#222222"
        for k, line in enumerate(str(captions[i]).split("\n")):
            draw.text((2, h + 2 + 13 * k), line, fill=colour, font=font)
        tiles[i] = np.asarray(canvas)
    return render.png_bytes(render.tile(tiles, cols, gap=4))


#: The confusion matrix's colours, from no image to the most common mistake (and beyond: the
#: diagonal saturates). Two stops, so the colour of a cell is a straight line between them.
MATRIX_COLOURS = ("#f7fbff", "#08306b")


def matrix_colour(t: float) -> tuple:
    """The (r, g, b) in 0..255 of the confusion matrix's colour at ``t`` in [0, 1] (clipped):
    the colour scale's linear interpolation between ``MATRIX_COLOURS``."""
    t = min(max(float(t), 0.0), 1.0)
    a, b = (np.array([int(c[i:i + 2], 16) for i in (1, 3, 5)], float) for c in MATRIX_COLOURS)
    return tuple(int(round(v)) for v in a + t * (b - a))


def relative_luminance(rgb) -> float:
    """WCAG 2 relative luminance of an sRGB colour (r, g, b) in 0..255."""
    c = np.asarray(rgb, float) / 255.0
    c = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return float(0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2])


def text_colour(background) -> str:
    """Black or white, whichever contrasts more with ``background`` (r, g, b): at least 4.58 to 1
    on any colour, above WCAG's 4.5 for normal text."""
    lum = relative_luminance(background)
    return "#000000" if (lum + 0.05) / 0.05 >= 1.05 / (lum + 0.05) else "#ffffff"


def _stage_options(state) -> list:
    return compute.conv_stages(state.model)


def _value_range(state) -> tuple:
    """(low, high) of the model's input: the preprocessing applied to black and white."""
    c = state.inspector.input_shape[2]
    ends = np.asarray(state.preprocess(np.array([0, 255], np.uint8).reshape(2, 1, 1, 1).repeat(c, axis=3)),
                      dtype=np.float32)
    lo, hi = float(ends.min()), float(ends.max())
    return (lo, hi) if hi > lo else (0.0, 1.0)


def _to_uint8(img) -> np.ndarray:
    """A float image (H, W, C) contrast-stretched to uint8 by its own min and max."""
    img = np.asarray(img, dtype=np.float32)
    lo, hi = float(img.min()), float(img.max())
    scaled = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
    return (scaled * 255 + 0.5).astype(np.uint8)


def _fmt(v: float) -> str:
    v = float(v) + 0.0  # no "-0.0000"
    return f"{v:.4f}" if abs(v) >= 1e-3 or v == 0 else f"{v:.2e}"


def signed(v: float, decimals: int = 3) -> str:
    """A number with its sign, rounded for reading: "+0.125", "-1.500"; a value that rounds to zero
    reads "+0.000", never "-0.000"."""
    return f"{round(float(v), decimals) + 0.0:+.{decimals}f}"


# ----- exercise 1 -----------------------------------------------------------------------------------

class MisclassificationExplorer(ToolWidget):
    """The guide's exercise 1: the confusion matrix of the whole image set, and the images behind
    each of its cells.

    Press *compute*: one batched pass over the state's images (``state.predictions``, shared and
    cached). Click a cell (true class row, predicted class column) or use the filters to list
    those images, most confident first; choosing one in the list opens it (``state.index``).

    >>> explorer = MisclassificationExplorer(state)   # doctest: +SKIP
    >>> explorer.compute(); explorer.matrix.shape      # doctest: +SKIP
    (10, 10)
    """

    MAX_SHOWN = 48

    def __init__(self, state, blocking: bool = False, **kwargs):
        super().__init__(state, blocking=blocking, **kwargs)
        self.matrix: np.ndarray | None = None
        self.probabilities: np.ndarray | None = None
        self.shown: np.ndarray = np.zeros(0, np.int64)
        self.compute_button = widgets.Button(description="compute confusion matrix", icon="table",
                                             layout=widgets.Layout(width="220px"))
        self.only_wrong = widgets.Checkbox(value=True, description="misclassified only", indent=False)
        self.true_class = widgets.Dropdown(description="true", layout=widgets.Layout(width="200px"))
        self.predicted_class = widgets.Dropdown(description="predicted", layout=widgets.Layout(width="220px"))
        self.row_scale = bq.OrdinalScale(reverse=True)
        self.col_scale = bq.OrdinalScale()
        self.color_scale = bq.ColorScale(colors=list(MATRIX_COLOURS), min=0, max=1)
        k = len(state.class_names)
        # The heat map draws no numbers of its own: bqplot writes them all in black, unreadable on
        # the dark cells. A Label mark writes each count in the colour that contrasts most with
        # its cell (``text_colour``).
        self.heatmap = bq.GridHeatMap(
            color=np.zeros((k, k)), scales={"row": self.row_scale, "column": self.col_scale,
                                            "color": self.color_scale},
            display_format=None, interactions={"click": "select"},
            selected_style={"stroke": RED, "stroke-width": "3"}, stroke="white",
        )
        self.counts = bq.Label(x=[], y=[], text=[], scales={"x": self.col_scale, "y": self.row_scale},
                               default_size=11, font_weight="normal", align="middle", colors=["#000000"],
                               apply_clip=False)
        self.counts.enable_move = False
        self.figure = bq.Figure(
            marks=[self.heatmap, self.counts],
            axes=[bq.Axis(scale=self.col_scale, label="predicted class", tick_rotate=-35),
                  # Far enough left of the row names ("automobile") not to run into them.
                  bq.Axis(scale=self.row_scale, orientation="vertical", label="true class",
                          label_offset="80px")],
            fig_margin={"top": 10, "bottom": 80, "left": 100, "right": 10},
            layout=widgets.Layout(width="530px", height="470px"),
        )
        self.summary = widgets.HTML()
        self.list_caption = widgets.HTML()
        self.montage = crisp_image()
        self.choices = widgets.Select(options=[], rows=8, description="open",
                                      layout=widgets.Layout(width="360px"))
        self.children = [
            widgets.HTML(CRISP_CSS),
            section("Where does the model go wrong?",
                    "Exercise 1 of the guide. Rows are true classes, columns predicted classes; the "
                    "colour saturates on the diagonal so the mistakes stand out. Click a cell to see "
                    "its images, then pick one to open it.",
                    widgets.HBox([self.compute_button, self.job])),
            self.figure, self.summary,
            Download(lambda: confusion_csv(self.matrix, self.state.class_names),
                     "cnnviz-confusion-matrix.csv", label="CSV"),
            widgets.HBox([self.only_wrong, self.true_class, self.predicted_class]),
            self.list_caption, widgets.HBox([self.montage, self.choices]),
            Download.picture(self.montage, "cnnviz-misclassified.png"),
        ]
        self.compute_button.on_click(lambda _b: self.compute())
        self.heatmap.observe(self._on_cell, names="selected")
        # In the browser a click reaches `selected` as a list that bqplot 0.13 cannot serialise
        # back, so its observers never run; the element_click message names the cell reliably.
        self.heatmap.on_element_click(self._on_cell_click)
        for control in (self.only_wrong, self.true_class, self.predicted_class):
            control.observe(self._on_filter, names="value")
        self.choices.observe(self._on_choice, names="value")
        self._observe(self._on_version, ["version"])
        self._reset()

    def _on_version(self, change):
        self._reset()

    @reports_errors
    def _reset(self):
        """Forget the matrix of an older model or image set."""
        names = list(self.state.class_names)
        self.matrix = self.probabilities = None
        with self._quietly():
            options = [("any", -1)] + [(n, i) for i, n in enumerate(names)]
            self.true_class.options = options
            self.predicted_class.options = options
            self.true_class.value = self.predicted_class.value = -1
        with self.heatmap.hold_sync():
            self.heatmap.color = np.zeros((len(names), len(names)))
            self.heatmap.row = np.array(names)
            self.heatmap.column = np.array(names)
            self.heatmap.selected = None
        with self.counts.hold_sync():
            self.counts.x, self.counts.y, self.counts.text = [], [], []
        labels = self.state.labels
        self.compute_button.disabled = labels is None
        if labels is None:
            self.summary.value = ("<i>These images have no true classes, so there is nothing to compare "
                                  "the predictions with: go back to the test images (button in the image "
                                  "picker), or add your pictures to them.</i>")
        else:
            unknown = int((labels < 0).sum())
            self.summary.value = ("<i>Press “compute” to run the model on every image"
                                  + (f" ({unknown:,} of unknown class will be left out)" if unknown else "")
                                  + ".</i>")
        self._render_list()

    @reports_errors
    def compute(self):
        """Start the batched pass (in the background unless ``blocking``)."""
        if self.state.labels is None:
            raise ValueError("these images have no labels, so there is nothing to compare the predictions with")
        version = self.state.version
        self.job.start(self.state.predictions, lambda probs: self._show(version, probs),
                       f"predicting {len(self.state.images):,} images…")

    def _show(self, version, probs):
        if version != self.state.version:
            raise ValueError("the model or images changed while predicting; press compute again")
        labels = self.state.labels
        known = labels >= 0  # pictures of unknown class have no row in the matrix
        k = probs.shape[1]
        cm = np.zeros((k, k), dtype=np.int64)
        np.add.at(cm, (labels[known], probs.argmax(axis=1)[known]), 1)
        self.probabilities, self.matrix = probs, cm
        off = cm.copy()
        np.fill_diagonal(off, 0)
        top = float(max(off.max(), 1))
        with self.heatmap.hold_sync():
            self.color_scale.max = top
            self.heatmap.color = cm.astype(float)
        cells = np.array(self.state.class_names)[np.indices(cm.shape)]
        with self.counts.hold_sync():
            self.counts.x = cells[1].ravel()
            self.counts.y = cells[0].ravel()
            self.counts.text = [str(v) for v in cm.ravel()]
            self.counts.colors = [text_colour(matrix_colour(v / top)) for v in cm.ravel()]
        names = self.state.class_names
        pairs = np.dstack(np.unravel_index(np.argsort(-off, axis=None)[:5], off.shape))[0]
        worst = ", ".join(f"{names[t]} → {names[p]} ({off[t, p]})" for t, p in pairs if off[t, p] > 0)
        unknown = int((~known).sum())
        self.summary.value = (f"accuracy <b>{100 * np.trace(cm) / cm.sum():.1f} %</b> on {cm.sum():,} images"
                              + (f" ({unknown:,} of unknown class left out)" if unknown else "")
                              + (f" · most common mistakes: {worst}" if worst else ""))
        self._render_list()

    def _on_cell_click(self, _mark, content):
        cell = content.get("data") or {}
        if "rowNum" in cell and "columnNum" in cell:
            self._on_cell({"new": [[int(cell["rowNum"]), int(cell["columnNum"])]]})

    def _on_cell(self, change):
        cells = change["new"]
        if cells is None or len(cells) == 0:
            return
        t, p = (int(v) for v in np.asarray(cells)[-1])
        with self._quietly():
            self.true_class.value = t
            self.predicted_class.value = p
            self.only_wrong.value = t != p
        self._render_list()

    def _on_filter(self, change):
        if not self._quiet:
            self._render_list()

    def matching(self) -> np.ndarray:
        """Indices of the images passing the filters, most confident prediction first."""
        if self.probabilities is None:
            return np.zeros(0, np.int64)
        predicted = self.probabilities.argmax(axis=1)
        labels = self.state.labels
        keep = labels >= 0
        if self.only_wrong.value:
            keep &= predicted != labels
        if self.true_class.value >= 0:
            keep &= labels == self.true_class.value
        if self.predicted_class.value >= 0:
            keep &= predicted == self.predicted_class.value
        idx = np.flatnonzero(keep)
        confidence = self.probabilities[idx].max(axis=1)
        return idx[np.argsort(-confidence, kind="stable")]

    @reports_errors
    def _render_list(self):
        idx = self.matching()
        self.shown = idx[: self.MAX_SHOWN]
        names = self.state.class_names
        with self._quietly():
            if self.probabilities is None or len(idx) == 0:
                self.choices.options = []
            else:
                predicted = self.probabilities.argmax(axis=1)
                self.choices.options = [
                    (f"#{i}: {names[self.state.labels[i]]} → {names[predicted[i]]} "
                     f"({100 * self.probabilities[i].max():.0f} %)", int(i)) for i in self.shown]
            self.choices.value = None
        if self.probabilities is None:
            self.list_caption.value = ""
            self.montage.layout.display = "none"
            return
        more = f"; the first {len(self.shown)} are shown" if len(idx) > len(self.shown) else ""
        self.list_caption.value = f"<b>{len(idx):,}</b> images match{more}, most confident first."
        if len(self.shown) == 0:
            self.montage.layout.display = "none"
            return
        predicted = self.probabilities.argmax(axis=1)
        colours = [GREEN if predicted[i] == self.state.labels[i] else RED for i in self.shown]
        png = labelled_montage(self.state.images[self.shown], [f"#{i}" for i in self.shown], cols=8,
                               size=48, colors=colours)
        self.montage.layout.display = None
        set_png(self.montage, png)

    @reports_errors
    def _on_choice(self, change):
        if self._quiet or change["new"] is None:
            return
        if self.state.index != change["new"]:
            self.state.index = int(change["new"])


# ----- exercise 5 -----------------------------------------------------------------------------------

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
                    bq.Axis(scale=self.y_scale, orientation="vertical", tick_values=[0.0, 1.0],
                            tick_format=".1f"))
            figure = bq.Figure(marks=[bars], axes=list(axes),
                               fig_margin={"top": 5, "bottom": 35, "left": 40, "right": 20},
                               layout=widgets.Layout(width="300px", height="160px"))
            self.figures.append(figure)
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
            save = Download.picture(image, lambda k=kind: file_name("cnnviz", k, self.examples[k], suffix=".png"))
            columns.append(widgets.VBox([head, image, save, caption, self.chart_boxes[-1], stats, button],
                                        layout=widgets.Layout(width="310px")))
        self.figures_note = widgets.HTML()
        self.children = [
            widgets.HTML(CRISP_CSS),
            section("Confident or unsure?",
                    "Exercise 5 of the guide. Each example shows the image, the last conv stage "
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
            return teaching.confidence_examples(probs, self.state.labels)

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
            set_png(self.images[col], render.strip_png(panels, tile_size=96))
            self.images[col].layout.display = None
            css = "cnnviz-caption-right" if insp.correct else "cnnviz-caption-wrong"
            probs = insp.probabilities
            entropy = float(-(probs * np.log(np.clip(probs, 1e-12, 1))).sum())
            self.captions[col].value = (f"<span class='{css}'>#{i} · {html.escape(self.state.caption(insp))}"
                                        f"</span><br>entropy {entropy:.2f}")
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
        for figure in self.figures:
            figure.close()
        super().close()

    @reports_errors
    def open_example(self, kind: str):
        """Select the example of ``kind`` (a key of ``examples``) in the state."""
        if not self.examples or self.examples.get(kind) is None:
            raise ValueError("press “find” first")
        if self.state.index != self.examples[kind]:
            self.state.index = self.examples[kind]


# ----- gradient ascent ------------------------------------------------------------------------------

class FilterOptimizer(ToolWidget):
    """What input does a channel like most? Gradient ascent from grey noise
    (``teaching.maximize_activation``), for one channel or the first N channels as one montage.

    Results are cached per (state version, layer, channel, steps).

    >>> opt = FilterOptimizer(state, blocking=True)               # doctest: +SKIP
    >>> opt.layer.value, opt.channel.value = "conv3_act", 5; opt.generate()   # doctest: +SKIP
    """

    def __init__(self, state, blocking: bool = False, **kwargs):
        super().__init__(state, blocking=blocking, **kwargs)
        self._cache: dict = {}
        self.layer = widgets.Dropdown(description="layer", layout=widgets.Layout(width="220px"))
        self.channel = widgets.IntSlider(0, min=0, max=0, description="channel", continuous_update=False)
        self.steps = widgets.IntSlider(64, min=8, max=256, step=8, description="steps", continuous_update=False)
        self.generate_button = widgets.Button(description="generate", icon="magic")
        self.grid_count = widgets.BoundedIntText(16, min=1, max=64, description="first N",
                                                 layout=widgets.Layout(width="150px"))
        self.grid_button = widgets.Button(description="grid of channels", icon="th")
        self.image = crisp_image()
        self.caption = widgets.HTML()
        self.grid_image = crisp_image()
        self.grid_caption = widgets.HTML()
        self.children = [
            widgets.HTML(CRISP_CSS),
            section("What does a channel look for?",
                    "Start from grey noise and change the pixels, step by step, so that one channel's "
                    "mean activation grows (gradient ascent, with jitter and blur against noise). "
                    "Images are contrast-stretched for display.",
                    widgets.HBox([self.layer, self.channel, self.steps]),
                    widgets.HBox([self.generate_button, self.grid_count, self.grid_button]), self.job),
            widgets.HBox([self.image, self.caption]),
            Download.picture(self.image, lambda: file_name(
                "cnnviz-ascent", self.layer.value, f"channel{self.channel.value}", suffix=".png")),
            self.grid_caption, self.grid_image,
            Download.picture(self.grid_image, lambda: file_name(
                "cnnviz-ascent", self.layer.value, f"first{self.grid_count.value}", suffix=".png")),
        ]
        self.generate_button.on_click(lambda _b: self.generate())
        self.grid_button.on_click(lambda _b: self.generate_grid())
        for control in (self.layer, self.channel, self.steps):
            control.observe(self._on_control, names="value")
        self._observe(self._on_version, ["version"])
        self._on_version(None)

    @reports_errors
    def _on_version(self, change):
        stages = _stage_options(self.state)
        with self._quietly():
            current = self.layer.value
            self.layer.options = stages
            if stages:
                self.layer.value = current if current in stages else stages[-1]
            self._sync_channel()
        self.grid_image.layout.display = "none"
        self.grid_caption.value = ""
        self._render()

    def _sync_channel(self):
        if self.layer.value:
            count = self.state.layer_info(self.layer.value).shape[-1]
            self.channel.max = count - 1
            self.grid_count.max = count

    def _on_control(self, change):
        if self._quiet:
            return
        if change["owner"] is self.layer:
            with self._quietly():
                self._sync_channel()
        self._render()

    def _key(self, channel=None):
        channel = self.channel.value if channel is None else channel
        return (self.state.version, self.layer.value, int(channel), int(self.steps.value))

    def result(self, channel=None):
        """The cached float32 image (H, W, C) of a channel at the current settings, or None."""
        return self._cache.get(self._key(channel))

    def _compute(self, layer, channel, steps, progress):
        key = (self.state.version, layer, int(channel), int(steps))
        if key not in self._cache:
            self._cache[key] = teaching.maximize_activation(
                self.state.model, layer, int(channel), steps=int(steps), progress=progress,
                value_range=_value_range(self.state))
        return self._cache[key]

    @reports_errors
    def generate(self):
        """Run gradient ascent for the selected channel (cached)."""
        layer, channel, steps = self.layer.value, self.channel.value, self.steps.value
        version = self.state.version

        def done(_img):
            if version == self.state.version:
                self._render()

        self.job.start(lambda progress: self._compute(layer, channel, steps, progress), done,
                       f"gradient ascent on {layer}, channel {channel}…")

    @reports_errors
    def generate_grid(self):
        """Run gradient ascent for the first N channels; one montage PNG."""
        layer, steps, n = self.layer.value, int(self.steps.value), int(self.grid_count.value)
        version = self.state.version

        def work(progress):
            images = []
            for k in range(n):
                images.append(self._compute(layer, k, steps,
                                            lambda s, t, k=k: progress(k * steps + s, n * steps)))
            return images

        def done(images):
            if version != self.state.version:
                return
            tiles = np.stack([_to_uint8(img) for img in images])
            set_png(self.grid_image, labelled_montage(tiles, [f"ch {k}" for k in range(n)], cols=8, size=64))
            self.grid_image.layout.display = None
            self.grid_caption.value = f"<b>{layer}</b>: channels 0–{n - 1}, {steps} steps each"

        self.job.start(work, done, f"gradient ascent on {n} channels of {layer}…")

    @reports_errors
    def _render(self):
        img = self.result()
        layer, channel = self.layer.value, self.channel.value
        if img is None:
            self.image.layout.display = "none"
            self.caption.value = f"<i>Press “generate” for channel {channel} of {layer}.</i>"
            return
        set_png(self.image, render.image_png(_to_uint8(img), size=192))
        self.image.layout.display = None
        noise = teaching.start_noise(self.state.inspector.input_shape, _value_range(self.state))
        means = teaching.channel_means(self.state.model, np.stack([img, noise]), layer)[:, channel]
        self.caption.value = (f"<b>{layer}</b>, channel {channel}, {self.steps.value} steps<br>"
                              f"mean activation: <b>{means[0]:.3f}</b> for this image, "
                              f"{means[1]:.3f} for the grey noise it started from")


# ----- convolution arithmetic -----------------------------------------------------------------------

class ConvArithmetic(ToolWidget):
    """One number of a feature map, worked out by hand: the input window the kernel sees, the
    kernel, their products, the sum, + bias, BatchNorm and the activation
    (``teaching.conv_arithmetic`` on the selected image).

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
        self.map_caption = widgets.HTML()
        self.tables = widgets.HTML()
        self.equation = widgets.HTML()
        self.children = [
            widgets.HTML(CRISP_CSS + "<style>.cnnviz-arith td{padding:1px 5px;text-align:right;"
                         "font-family:monospace;font-size:11px;border:1px solid #ddd}"
                         ".cnnviz-arith .pad{color:#999;font-style:italic}</style>"),
            section("How one number of a feature map is made",
                    "Pick a position and a channel: the kernel is laid over the input, the numbers "
                    "are multiplied and summed, the bias is added, then BatchNorm and the activation "
                    "follow, and the result is exactly the value in the feature map.",
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
        self._on_version(None)

    @reports_errors
    def _on_version(self, change):
        stages = _stage_options(self.state)
        with self._quietly():
            current = self.stage.value
            self.stage.options = stages
            if current in stages:
                self.stage.value = current
            elif stages:
                self.stage.value = self._stage_of_selection(stages)
            self._sync_bounds()
        self._render()

    def _stage_of_selection(self, stages) -> str:
        """The stage holding the state's selected layer, else the first stage."""
        try:
            end = teaching.stage_of(self.state.model, self.state.layer)[-1]
        except ValueError:
            return stages[0]
        return end if end in stages else stages[0]

    def _sync_bounds(self):
        if not self.stage.value:
            return
        conv = teaching.stage_of(self.state.model, self.stage.value)[0]
        h, w, c = self.state.layer_info(conv).shape
        in_c = compute.conv_filters(self.state.model, conv)[0].shape[2]
        self.row.max, self.col.max, self.channel.max = h - 1, w - 1, c - 1
        self.in_channel.max = in_c - 1
        self.in_channel.layout.display = None if in_c > 3 else "none"

    def _on_control(self, change):
        if self._quiet:
            return
        if change["owner"] is self.stage:
            with self._quietly():
                self._sync_bounds()
        self._render()

    @reports_errors
    def _render(self):
        if not self.stage.value:
            self.equation.value = "<i>This model has no convolution stage.</i>"
            return
        insp = self.state.inspection
        r = teaching.conv_arithmetic(self.state.model, insp.x, self.stage.value,
                                     self.channel.value, self.row.value, self.col.value,
                                     outputs=insp.outputs)
        self.result = r
        self._render_maps(insp, r)
        self._render_tables(r)
        self._render_equation(r)

    def _render_maps(self, insp, r):
        end = r["stage"][-1]
        fmap = insp.outputs[end][:, :, r["channel"]]
        set_png(self.map_image, _marked_map_png(fmap, (r["row"], r["col"]), (1, 1)))
        kh, kw = r["kernel"].shape[:2]
        dh, dw = r["dilation"]
        extent = ((kh - 1) * dh + 1, (kw - 1) * dw + 1)
        if r["input_layer"] == "input":
            set_png(self.input_image, _marked_image_png(insp.image, r["origin"], extent))
            source = "the input image"
        else:
            a = insp.outputs[r["input_layer"]]
            ch = self.in_channel.value if a.shape[2] > 3 else None
            m = a[:, :, ch] if ch is not None else a.mean(axis=-1)
            set_png(self.input_image, _marked_map_png(m, r["origin"], extent))
            source = f"{r['input_layer']}" + (f", channel {ch}" if ch is not None else " (channel mean)")
        self.map_caption.value = (
            f"left: {source}, the window the kernel sees (red); right: {end}, channel {r['channel']}, "
            f"the output position ({r['row']}, {r['col']}).<br>stride {r['strides'][0]}, padding "
            f"'{r['padding']}': the window starts at input row {r['origin'][0]}, column {r['origin'][1]}"
            + (" (grey zeros: padding)" if r["padded"].any() else ""))

    def _render_tables(self, r):
        in_c = r["window"].shape[2]
        shown = range(in_c) if in_c <= 3 else [self.in_channel.value]
        parts = []
        for ch in shown:
            parts.append(
                f"<div><b>input channel {ch}</b> — sum of products {_fmt(float(r['channel_sums'][ch]))}"
                "<div style='display:flex;gap:14px'>"
                + _table("window", r["window"][:, :, ch], r["padded"])
                + "<div style='align-self:center'>×</div>"
                + _table("kernel", r["kernel"][:, :, ch])
                + "<div style='align-self:center'>=</div>"
                + _table("products", r["products"][:, :, ch]) + "</div></div>")
        if in_c > 3:
            sums = r["channel_sums"]
            cells = "".join(
                f"<td style='color:{BLUE if v >= 0 else RED}' title='input channel {k}'>{signed(v)}</td>"
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


def _table(title: str, values, padded=None) -> str:
    rows = []
    for i in range(values.shape[0]):
        cells = []
        for j in range(values.shape[1]):
            pad = padded is not None and padded[i, j]
            cells.append(f"<td class='{'pad' if pad else ''}'>{signed(values[i, j])}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<div><div>{title}</div><table class='cnnviz-arith'>{''.join(rows)}</table></div>"


def _box(rgb: np.ndarray, origin, extent, factor: int) -> np.ndarray:
    """Draw a 2-pixel red rectangle around cells ``origin`` .. ``origin + extent`` (row, column) of an
    image upscaled by ``factor``; the part outside the image (in the zero padding) is clipped."""
    from PIL import Image, ImageDraw

    img = Image.fromarray(np.ascontiguousarray(rgb))
    top, left = origin[0] * factor, origin[1] * factor
    bottom, right = (origin[0] + extent[0]) * factor - 1, (origin[1] + extent[1]) * factor - 1
    ImageDraw.Draw(img).rectangle([left, top, right, bottom], outline=(229, 57, 53), width=2)
    return np.asarray(img)


def _marked_map_png(m, origin, extent, size: int = 160) -> bytes:
    """A 2-D map (h, w), coloured, upscaled crisp, with a red box around the given cells."""
    m = render.normalize_each(np.asarray(m, dtype=np.float32)[None])[0]
    factor = render.tile_factor(*m.shape, size)
    return render.png_bytes(_box(render.upscale(render.apply_colormap(m), factor), origin, extent, factor))


def _marked_image_png(image, origin, extent, size: int = 160) -> bytes:
    """A uint8 image (H, W, C), upscaled crisp, with a red box around the given pixels."""
    img = np.asarray(image, dtype=np.uint8)
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    factor = render.tile_factor(img.shape[0], img.shape[1], size)
    return render.png_bytes(_box(render.upscale(img, factor), origin, extent, factor))


# ----- top images -----------------------------------------------------------------------------------

class TopImages(ToolWidget):
    """The nine images of the state's set that activate a channel most (by mean activation), as
    one 3×3 montage with their indices and classes; a button under each opens it.

    One batched pass per layer (``teaching.layer_channel_means``, cached), after which every
    channel of that layer is a look-up.

    >>> top = TopImages(state, blocking=True)   # doctest: +SKIP
    >>> top.find(); top.indices                 # doctest: +SKIP
    array([5961, 6234, ...])
    """

    def __init__(self, state, k: int = 9, blocking: bool = False, **kwargs):
        super().__init__(state, blocking=blocking, **kwargs)
        self.k = int(k)
        self.indices: np.ndarray | None = None
        self._means: dict = {}
        self._active = False
        self.layer = widgets.Dropdown(description="layer", layout=widgets.Layout(width="220px"))
        self.channel = widgets.IntSlider(0, min=0, max=0, description="channel", continuous_update=False)
        self.find_button = widgets.Button(description="find top images", icon="search")
        self.montage = crisp_image()
        self.caption = widgets.HTML()
        self.open_buttons = [widgets.Button(description="", disabled=True, layout=widgets.Layout(width="110px"))
                             for _ in range(self.k)]
        for slot, button in enumerate(self.open_buttons):
            button.on_click(lambda _b, s=slot: self.open_image(s))
        self.buttons = widgets.GridBox(self.open_buttons, layout=widgets.Layout(
            grid_template_columns="repeat(3, 115px)", grid_gap="2px"))
        self.children = [
            widgets.HTML(CRISP_CSS),
            section("Which images excite this channel most?",
                    "Every image of the set goes through the network once; the images with the "
                    "highest mean activation of the channel are shown, highest first.",
                    widgets.HBox([self.layer, self.channel, self.find_button]), self.job),
            widgets.HBox([self.montage, widgets.VBox([self.caption, self.buttons])]),
            Download.picture(self.montage, lambda: file_name(
                "cnnviz-top-images", self.layer.value, f"channel{self.channel.value}", suffix=".png")),
        ]
        self.find_button.on_click(lambda _b: self.find())
        for control in (self.layer, self.channel):
            control.observe(self._on_control, names="value")
        self._observe(self._on_version, ["version"])
        self._on_version(None)

    def layer_options(self) -> list:
        """Conv stages, then the first dense stage when there is one."""
        options = list(_stage_options(self.state))
        try:
            dense = default_dense_layer(self.state.layers)
        except ValueError:
            dense = None
        if dense and dense not in options:
            options.append(dense)
        return options

    @reports_errors
    def _on_version(self, change):
        self._means = {}
        with self._quietly():
            current = self.layer.value
            options = self.layer_options()
            self.layer.options = options
            stages = _stage_options(self.state)
            if options:
                self.layer.value = current if current in options else (stages[-1] if stages else options[0])
            self._sync_channel()
        self._render()

    def _sync_channel(self):
        if self.layer.value:
            self.channel.max = self.state.layer_info(self.layer.value).shape[-1] - 1

    def _on_control(self, change):
        if self._quiet:
            return
        if change["owner"] is self.layer:
            with self._quietly():
                self._sync_channel()
        key = (self.state.version, self.layer.value)
        if key not in self._means and self._active:
            self.find()
        else:
            self._render()

    @reports_errors
    def find(self):
        """Compute the layer's per-image channel means (in the background, cached) and show."""
        self._active = True
        layer, version = self.layer.value, self.state.version
        if (version, layer) in self._means:
            self._render()
            return

        def work(progress):
            return teaching.layer_channel_means(self.state.model, self.state.images, layer,
                                                self.state.preprocess, progress=progress)

        def done(means):
            if version == self.state.version:
                self._means[(version, layer)] = means
                self._render()

        self.job.start(work, done, f"running {len(self.state.images):,} images up to {layer}…")

    @reports_errors
    def _render(self):
        means = self._means.get((self.state.version, self.layer.value))
        if means is None:
            self.indices = None
            self.montage.layout.display = "none"
            self.caption.value = "<i>Press “find top images”.</i>"
            for button in self.open_buttons:
                button.description, button.disabled = "", True
            return
        ch = self.channel.value
        order = np.argsort(-means[:, ch], kind="stable")[: self.k]
        self.indices = order.astype(np.int64)
        names = self.state.class_names
        labels = self.state.labels
        captions = [f"#{i} {names[labels[i]] if labels is not None and labels[i] >= 0 else ''}\n"
                    f"{means[i, ch]:.3f}" for i in order]
        set_png(self.montage, labelled_montage(self.state.images[order], captions, cols=3, size=96))
        self.montage.layout.display = None
        self.caption.value = (f"<b>{self.layer.value}</b>, channel {ch}: mean activation "
                              f"{means[order[0], ch]:.3f} … {means[order[-1], ch]:.3f} "
                              f"(set average {means[:, ch].mean():.3f})")
        for slot, button in enumerate(self.open_buttons):
            if slot < len(order):
                button.description, button.disabled = f"open #{order[slot]}", False
            else:
                button.description, button.disabled = "", True

    @reports_errors
    def open_image(self, slot: int):
        """Select the image in montage position ``slot`` (0 = the highest) in the state."""
        if self.indices is None or slot >= len(self.indices):
            raise ValueError("press “find top images” first")
        if self.state.index != int(self.indices[slot]):
            self.state.index = int(self.indices[slot])


# ----- live training --------------------------------------------------------------------------------

class TrainPanel(ToolWidget):
    """Train the guide's CNN for a few epochs and watch loss and accuracy, live.

    Training works on a copy: it starts from a fresh ``build_cifar_cnn()`` or, when the current
    model is the guide's architecture and the checkbox is ticked, from a copy of it, and never
    touches the model every panel shows. After each epoch the chart gains a point (train and test
    loss and accuracy; the test set is the state's labelled images). When training ends the new
    model's test accuracy is shown next to the current model's, and *use this model* makes it the
    state's model; *restore the shipped model* goes back to the trained CIFAR-10 model at any time.
    The train button is disabled while training; Cancel stops it at the next batch. *save .keras*
    offers the state's model as a download.

    Parameters
    ----------
    train_data : (uint8 images (N, H, W, C), labels (N,)) or None for the CIFAR-10 training set
        (only when the state shows the CIFAR-10 classes)
    dropout : dropout rate of a fresh model

    >>> panel = TrainPanel(state, train_data=(x[:256], y[:256]), blocking=True)   # doctest: +SKIP
    >>> panel.epochs.value = 1; panel.train(); panel.use_model()                  # doctest: +SKIP
    """

    METRICS = ("loss", "val_loss", "accuracy", "val_accuracy")

    def __init__(self, state, train_data=None, blocking: bool = False, dropout: float = 0.25, **kwargs):
        super().__init__(state, blocking=blocking, **kwargs)
        self.train_data = train_data
        self.dropout = dropout
        self.history = {m: [] for m in self.METRICS}
        self.trained_model = None
        #: Test accuracies (fractions) of the trained and of the current model, or None.
        self.accuracies: dict = {"trained": None, "current": None}
        self._trained_for = None
        self._lock = threading.Lock()
        self.epochs = widgets.IntSlider(3, min=1, max=60, description="epochs", continuous_update=False)
        self.batch_size = widgets.Dropdown(options=[32, 64, 128, 256], value=128, description="batch size",
                                           layout=widgets.Layout(width="200px"))
        self.augment = widgets.Checkbox(True, description="augmentation (random crop + flip)", indent=False)
        self.continue_current = widgets.Checkbox(False, description="continue from the current model",
                                                 indent=False)
        self.train_button = widgets.Button(description="train a new model", icon="play", button_style="primary",
                                           layout=widgets.Layout(width="auto"))
        self.use_button = widgets.Button(description="use this model", icon="check", disabled=True,
                                         button_style="success", layout=widgets.Layout(width="auto"),
                                         tooltip="Show the model you trained in every panel")
        self.restore_button = widgets.Button(description="restore the shipped model", icon="undo",
                                             layout=widgets.Layout(width="auto"),
                                             tooltip="Go back to the trained CIFAR-10 model that comes with cnnviz")
        self.comparison = widgets.HTML()
        self.epoch_label = widgets.HTML()
        self.x_scale = bq.LinearScale(min=1.0, max=2.0)
        self.loss_scale = bq.LinearScale(min=0.0, max=2.5)
        self.acc_scale = bq.LinearScale(min=0.0, max=1.0)
        # One Lines mark per curve: bqplot squeezes a (2, 1) array of two one-point curves into
        # one curve of two points, so multi-row marks go wrong after the first epoch.
        self.lines = {}
        for metric, label, colour, scale in (
                ("loss", "train loss", BLUE, self.loss_scale),
                ("val_loss", "test loss", LIGHT_BLUE, self.loss_scale),
                ("accuracy", "train accuracy", ORANGE, self.acc_scale),
                ("val_accuracy", "test accuracy", LIGHT_ORANGE, self.acc_scale)):
            self.lines[metric] = bq.Lines(x=np.zeros(0), y=np.zeros(0), scales={"x": self.x_scale, "y": scale},
                                          colors=[colour], marker="circle", labels=[label],
                                          display_legend=True)
        # Whole epochs only: without explicit ticks a two-epoch axis reads "1 1 1 1 1 2 2 2".
        self.epoch_axis = bq.Axis(scale=self.x_scale, label="epoch", tick_format="d", tick_values=[1, 2])
        self.loss_axis = bq.Axis(scale=self.loss_scale, orientation="vertical", label="loss", side="left",
                                 tick_values=[0.0, 0.5, 1.0, 1.5, 2.0, 2.5], tick_format=".1f")
        self.figure = bq.Figure(
            marks=list(self.lines.values()),
            axes=[self.epoch_axis, self.loss_axis,
                  # Explicit ticks: bqplot's own, on a padded range, read "-1 %" and "101 %".
                  bq.Axis(scale=self.acc_scale, orientation="vertical", label="accuracy", side="right",
                          tick_format=".0%", tick_values=[0.0, 0.25, 0.5, 0.75, 1.0])],
            legend_location="top-right", fig_margin={"top": 10, "bottom": 40, "left": 55, "right": 55},
            layout=widgets.Layout(width="100%", max_width="640px", height="300px"),
        )
        self.save_button = widgets.Button(description="save .keras", icon="download")
        self.download = widgets.HTML()
        self.children = [
            section("Train the network yourself",
                    "A few epochs on the CIFAR-10 training images; each epoch adds a point to the "
                    "chart (dark: train, light: test). Training makes a new model and leaves the one "
                    "on screen alone: compare their test accuracies, then press “use this model” "
                    "if you want to see yours in every panel.",
                    widgets.HBox([self.epochs, self.batch_size]),
                    widgets.HBox([self.augment, self.continue_current]),
                    widgets.HBox([self.train_button, self.job]), self.epoch_label,
                    self.comparison,
                    widgets.HBox([self.use_button, self.restore_button])),
            self.figure, widgets.HBox([self.save_button, self.download]),
        ]
        self.train_button.on_click(lambda _b: self.train())
        self.use_button.on_click(lambda _b: self.use_model())
        self.restore_button.on_click(lambda _b: self.restore_shipped())
        self.save_button.on_click(lambda _b: self.save())
        self._observe(self._on_version, ["version"])
        self._on_version(None)

    def _on_version(self, change):
        usable = teaching.guide_architecture(self.state.model)
        self.continue_current.disabled = not usable
        if not usable:
            self.continue_current.value = False
        self.download.value = ""
        self._render_comparison()

    def _training_data(self):
        if self.train_data is None:
            from .data import CIFAR10_CLASSES, load_cifar10

            if tuple(self.state.class_names) != tuple(CIFAR10_CLASSES):
                raise ValueError("no training images: these are not the CIFAR-10 classes; create the "
                                 "panel with train_data=(images, labels)")
            images, labels, _ = load_cifar10("train")
            self.train_data = (images, labels)
        return self.train_data

    def _fresh_model(self):
        from .model import build_cifar_cnn

        if self.continue_current.value:
            return teaching.copy_guide_model(self.state.model)
        return build_cifar_cnn(input_shape=self.state.inspector.input_shape,
                               num_classes=self.state.inspector.num_classes, dropout=self.dropout)

    @reports_errors
    def train(self, blocking: bool | None = None):
        """Train a new model with the chosen settings (the state's model stays); ``blocking``
        overrides the panel's own setting."""
        epochs, batch_size = int(self.epochs.value), int(self.batch_size.value)
        augment = bool(self.augment.value)
        state = self.state
        test = None
        if state.labels is not None and state.preprocess_name == "[0, 1]":
            known = state.labels >= 0
            test = (state.images[known], state.labels[known])
        version = state.version
        with self._lock:
            self.history = {m: [] for m in self.METRICS}
        self._render_chart()
        self.epoch_label.value = ""

        def work(progress):
            images, labels = self._training_data()
            model = self._fresh_model()
            steps = int(np.ceil(len(images) / batch_size))
            epoch = {"done": 0}

            def on_batch(batch, per_epoch):
                self.job.update(epoch["done"] * per_epoch + batch, epochs * per_epoch)

            def on_epoch(index, logs):
                epoch["done"] = index + 1
                self.job.call(self._add_epoch, index, dict(logs), epochs)

            self.job.call(setattr, self.epoch_label, "value",
                          f"training on {len(images):,} images, {steps} batches per epoch…")
            teaching.train_epochs(model, images, labels, epochs, batch_size, augment, test=test,
                                  on_epoch=on_epoch, should_stop=self.job.cancelled, on_batch=on_batch)
            if self.job.cancelled():
                raise Cancelled()
            # The current model's accuracy on the same test images, for the comparison (one
            # batched pass, cached by the state and shared with Exercise 1).
            current = None
            if test is not None and version == state.version:
                probs = state.predictions()[state.labels >= 0]
                current = float((probs.argmax(axis=1) == test[1]).mean())
            return teaching.copy_guide_model(model), current

        def done(result):
            model, current = result
            self.trained_model = model
            self._trained_for = version
            trained = self.history["val_accuracy"][-1] if self.history["val_accuracy"] else None
            self.accuracies = {"trained": trained, "current": current}
            self._render_comparison()

        self.train_button.disabled = True
        self.use_button.disabled = True
        self.job.start(work, done, f"training {epochs} epoch(s)…", blocking=blocking,
                       end=self._on_training_end)

    def _on_training_end(self):
        self.train_button.disabled = False
        self._render_comparison()

    def run_sync(self):
        """Train in the calling thread (tests and scripts)."""
        self.train(blocking=True)

    @reports_errors
    def use_model(self):
        """Make the trained model the state's model (every panel then shows it)."""
        if self.trained_model is None:
            raise ValueError("train a model first")
        self.state.set_model(self.trained_model, preprocess="[0, 1]")
        self.state.status = "The model you trained is now shown in every panel."

    @reports_errors
    def restore_shipped(self):
        """Go back to the shipped CIFAR-10 model (the trained model stays available)."""
        from .data import CIFAR10_CLASSES
        from .model import load_default_model

        self.state.set_model(load_default_model(), class_names=list(CIFAR10_CLASSES), preprocess="[0, 1]")
        self.state.status = "The shipped CIFAR-10 model is back in every panel."

    def _render_comparison(self):
        """The trained model's test accuracy next to the current model's, and whether it is in use."""
        model = self.trained_model
        in_use = model is not None and self.state.model is model
        self.use_button.disabled = model is None or in_use or self.job.running
        if model is None:
            self.comparison.value = ""
            return
        acc = self.accuracies

        def percent(v):
            return "not measured (no labelled test images)" if v is None else f"<b>{100 * v:.1f} %</b>"

        if in_use:
            text = f"Your trained model (test accuracy {percent(acc['trained'])}) is shown in every panel."
        else:
            text = f"Test accuracy: your new model {percent(acc['trained'])}"
            if self._trained_for == self.state.version and acc["current"] is not None:
                text += f" · the model on screen {percent(acc['current'])}"
            text += ". It is not in use until you press “use this model”."
        self.comparison.value = f"<div>{text}</div>"

    def _add_epoch(self, index, logs, epochs):
        with self._lock:
            for m in self.METRICS:
                if m in logs:
                    self.history[m].append(float(logs[m]))
        text = f"epoch {index + 1}/{epochs}: loss {logs.get('loss', float('nan')):.3f}, accuracy " \
               f"{100 * logs.get('accuracy', float('nan')):.1f} %"
        if "val_accuracy" in logs:
            text += f" · test loss {logs['val_loss']:.3f}, test accuracy {100 * logs['val_accuracy']:.1f} %"
        self.epoch_label.value = text
        self._render_chart()

    def _render_chart(self):
        with self._lock:
            h = {m: list(v) for m, v in self.history.items()}
        n = len(h["loss"])
        x = np.arange(1, n + 1, dtype=float)
        with self.x_scale.hold_sync():
            self.x_scale.min, self.x_scale.max = 1.0, float(max(n, 2))
        last = max(n, 2)
        self.epoch_axis.tick_values = np.unique(np.linspace(1, last, min(last, 10)).round()).astype(int)
        losses = [v for m in ("loss", "val_loss") for v in h[m]]
        _, top, ticks, fmt = nice_axis(0.0, max(losses + [2.5]))
        self.loss_scale.max = top
        with self.loss_axis.hold_sync():
            self.loss_axis.tick_values, self.loss_axis.tick_format = ticks, fmt
        for metric, mark in self.lines.items():
            # A test curve exists only when the state's images are labelled.
            y = np.asarray(h[metric], dtype=float) if len(h[metric]) == n else np.zeros(0)
            with mark.hold_sync():
                mark.x, mark.y = x[: len(y)], y

    @reports_errors
    def save(self) -> bytes:
        """Offer the state's model as a ``.keras`` file: a download link in ``download``."""
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "cnnviz_model.keras"
            self.state.model.save(path)
            data = path.read_bytes()
        b64 = base64.b64encode(data).decode("ascii")
        self.download.value = (f"<a download='cnnviz_model.keras' href='data:application/octet-stream;"
                               f"base64,{b64}'>⬇ cnnviz_model.keras</a> ({len(data) / 1e6:.1f} MB)")
        return data
