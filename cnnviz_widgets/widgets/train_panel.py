"""Training the guide's network in the dashboard, with live loss and accuracy curves."""
from __future__ import annotations

import base64
import functools
import tempfile
import threading
from pathlib import Path

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from .. import colours, train
from .base import reports_errors, section
from .charts import nice_axis
from .figures import figure
from .jobs import Cancelled, ToolWidget
from .sharing import ChartDownload

BLUE, ORANGE, LIGHT_BLUE, LIGHT_ORANGE = (colours.TRAIN, colours.VALIDATION, colours.LIGHT_TRAIN,
                                          colours.LIGHT_VALIDATION)


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
        #: The number of epochs of the training under way or last done (the charts' x axis).
        self._epochs_set = 1
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
        self.x_scale = bq.LinearScale(min=0.5, max=float(self.epochs.value) + 0.5)
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
                                          colors=[colour], marker="circle", labels=[label])
        # Whole epochs only, as many as are set: without explicit ticks a two-epoch axis reads
        # "1 1 1 1 1 2 2 2".
        self.epoch_axis = bq.Axis(scale=self.x_scale, label="epoch", tick_format="d")
        self.loss_axis = bq.Axis(scale=self.loss_scale, side="left", label="loss",
                                 tick_values=[0.0, 0.5, 1.0, 1.5, 2.0, 2.5], tick_format=".1f")
        # Loss and accuracy on two charts: one axis each, no legend over the lines (the line
        # below them says which curve is which).
        self.figures = tuple(
            figure(marks=[self.lines[a], self.lines[b]], axes=axes,
                   fig_margin={"top": 10, "bottom": 40, "left": 55, "right": 15},
                   layout=widgets.Layout(width="100%", max_width="400px", height="240px"))
            for (a, b), axes in (
                (("loss", "val_loss"), [self.epoch_axis, self.loss_axis]),
                # Explicit ticks: bqplot's own, on a padded range, read "-1 %" and "101 %".
                (("accuracy", "val_accuracy"),
                 [bq.Axis(scale=self.x_scale, label="epoch", tick_format="d"),
                  bq.Axis(scale=self.acc_scale, side="left", label="accuracy",
                          tick_format=".0%", tick_values=[0.0, 0.25, 0.5, 0.75, 1.0])])))
        self.key = widgets.HTML(
            f"<div class='cnnviz-note'><b style='color:{BLUE}'>━ train loss</b> · "
            f"<b style='color:{LIGHT_BLUE}'>━ test loss</b> · <b style='color:{ORANGE}'>━ train accuracy</b> · "
            f"<b style='color:{LIGHT_ORANGE}'>━ test accuracy</b> (dark: the training images, light: the "
            "test images)</div>")
        self.chart_parts = [
            widgets.HBox(list(self.figures), layout=widgets.Layout(flex_flow="row wrap")), self.key,
            widgets.HBox([ChartDownload(self.figures[0], "cnnviz-training-loss.png"),
                          ChartDownload(self.figures[1], "cnnviz-training-accuracy.png")])]
        # The charts join the page when training starts: a bqplot figure drawn hidden has no size
        # and writes negative widths (errors in the browser's console).
        self.charts = widgets.VBox([])
        self.no_chart = widgets.HTML("<div class='cnnviz-note'>Press “train a new model” to draw the loss "
                                     "and accuracy here, one point per epoch.</div>")
        self.save_button = widgets.Button(description="save .keras", icon="download")
        self.download = widgets.HTML()
        self.children = [
            section("Train the network yourself",
                    "A few epochs on the CIFAR-10 training images; each epoch adds a point to the "
                    "charts (dark: train, light: test). Training makes a new model and leaves the one "
                    "on screen alone: compare their test accuracies, then press “use this model” "
                    "if you want to see yours in every panel.",
                    widgets.HBox([self.epochs, self.batch_size]),
                    widgets.HBox([self.augment, self.continue_current]),
                    widgets.HBox([self.train_button, self.job]), self.epoch_label,
                    self.comparison,
                    widgets.HBox([self.use_button, self.restore_button])),
            self.no_chart, self.charts, widgets.HBox([self.save_button, self.download]),
        ]
        self.train_button.on_click(lambda _b: self.train())
        self.use_button.on_click(lambda _b: self.use_model())
        self.restore_button.on_click(lambda _b: self.restore_shipped())
        self.save_button.on_click(lambda _b: self.save())
        self._observe(self._on_version, ["version"])
        self._on_version(None)

    def _on_version(self, change):
        usable = train.guide_architecture(self.state.model)
        self.continue_current.disabled = not usable
        if not usable:
            self.continue_current.value = False
        self.download.value = ""
        self._render_comparison()

    def _training_data(self):
        if self.train_data is None:
            from ..loading.cifar10 import CIFAR10_CLASSES, load_cifar10

            if tuple(self.state.class_names) != tuple(CIFAR10_CLASSES):
                raise ValueError("no training images: these are not the CIFAR-10 classes; create the "
                                 "panel with train_data=(images, labels)")
            images, labels, _ = load_cifar10("train")
            self.train_data = (images, labels)
        return self.train_data

    def _fresh_model(self):
        from ..loading.shipped_model import build_cifar_cnn

        if self.continue_current.value:
            return train.copy_guide_model(self.state.model)
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
        self._epochs_set = epochs
        self.no_chart.value = ""
        if not self.charts.children:
            self.charts.children = self.chart_parts
        self._render_chart()
        self.epoch_label.value = ""

        def work(progress):
            images, labels = self._training_data()
            model = self._fresh_model()
            steps = int(np.ceil(len(images) / batch_size))
            epoch = {"done": 0}
            # Each epoch's weights and test accuracy, so that the timeline can replay the run.
            snapshots = {}

            def on_batch(batch, per_epoch):
                self.job.update(epoch["done"] * per_epoch + batch, epochs * per_epoch)

            def on_epoch(index, logs):
                epoch["done"] = index + 1
                snapshots[index + 1] = (model.get_weights(), logs.get("val_accuracy"))
                self.job.call(self._add_epoch, index, dict(logs), epochs)

            self.job.call(setattr, self.epoch_label, "value",
                          f"training on {len(images):,} images, {steps} batches per epoch…")
            train.train_epochs(model, images, labels, epochs, batch_size, augment, test=test,
                                  on_epoch=on_epoch, should_stop=self.job.cancelled, on_batch=on_batch)
            if self.job.cancelled():
                raise Cancelled()
            # The current model's accuracy on the same test images, for the comparison (one
            # batched pass, cached by the state and shared with Exercise 1).
            current = None
            if test is not None and version == state.version:
                probs = state.predictions()[state.labels >= 0]
                current = float((probs.argmax(axis=1) == test[1]).mean())
            return train.copy_guide_model(model), current, snapshots

        def done(result):
            model, current, snapshots = result
            state.training_run = {e: (functools.partial(_model_with_weights, model, weights),
                                      None if acc is None else float(acc))
                                  for e, (weights, acc) in snapshots.items()}
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
        self.state.use_model(self.trained_model, preprocess="[0, 1]")
        self.state.status = "The model you trained is now shown in every panel."

    @reports_errors
    def restore_shipped(self):
        """Go back to the shipped CIFAR-10 model (the trained model stays available)."""
        self.state.restore_shipped_model()
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
        # The axis spans the epochs set, so the curves grow towards its end.
        last = max(n, self._epochs_set)
        with self.x_scale.hold_sync():
            self.x_scale.min, self.x_scale.max = 0.5, last + 0.5
        ticks = np.unique(np.linspace(1, last, min(last, 10)).round()).astype(int)
        for chart in self.figures:
            chart.axes[0].tick_values = ticks
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


def _model_with_weights(template, weights):
    """A new copy of the guide's CNN ``template`` holding ``weights`` (one epoch of a run)."""
    model = train.copy_guide_model(template)
    model.set_weights(weights)
    return model
