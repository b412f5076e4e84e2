"""Watching the network learn: the shipped model's training checkpoints on an epoch slider."""
from __future__ import annotations

import html
import threading

import ipywidgets as widgets
import numpy as np

from .. import compute
from ..loading.checkpoints import adopt_final_model, checkpoint_accuracies, checkpoint_epoch_of, checkpoint_model
from ..loading.cifar10 import CIFAR10_CLASSES
from .base import StateWidget, reports_errors


class _Shipped:
    """The shipped model's training checkpoints (loaded once per process, shared)."""

    name = "shipped"

    def __init__(self):
        self.accuracies = checkpoint_accuracies()

    def model(self, epoch):
        return checkpoint_model(epoch)

    def epoch_of(self, model):
        return checkpoint_epoch_of(model)

    def when(self, epoch, final) -> str:
        return ("before any training (random weights)" if epoch == 0 else
                "the final model" if epoch == final else f"after {epoch} of {final} epochs")


class _Run:
    """A training run made in the dashboard (``ModelState.training_run``); each epoch's model is
    built on first use and kept while the run is the timeline's."""

    name = "run"

    def __init__(self, run: dict):
        self.run = run
        self.accuracies = {int(e): acc for e, (_, acc) in sorted(run.items())}
        self._models = {}

    def model(self, epoch):
        if epoch not in self._models:
            self._models[epoch] = self.run[epoch][0]()
        return self._models[epoch]

    def epoch_of(self, model):
        return next((e for e, m in self._models.items() if m is model), None)

    def when(self, epoch, final) -> str:
        return f"your run, after {epoch} of its {final} epoch(s)"


class TrainingTimeline(StateWidget):
    """An epoch slider over the shipped model's training checkpoints (``shipped_checkpoints``), or
    over the epochs of a training run made in the dashboard (``ModelState.training_run``).

    Moving it makes that checkpoint the state's model, so every panel follows (filters, maps,
    Grad-CAM, the prediction); beside it, the checkpoint's test accuracy. The *last epoch* button
    goes to the end of the training on show. Loaded checkpoints are kept, so switching back and
    forth loads each one only once; with ``preload`` (the default) a background thread loads the
    shipped ones and traces their graphs as soon as the timeline opens, so even the first move of
    the slider finds its checkpoint ready. Once a run made with the training panel ends, *your run*
    shows its epochs the same way.

    >>> timeline = TrainingTimeline(state)   # doctest: +SKIP
    >>> timeline.show_epoch(0)               # the untrained network  # doctest: +SKIP
    >>> timeline.epoch                       # doctest: +SKIP
    0
    """

    def __init__(self, state, preload: bool = True, **kwargs):
        super().__init__(state, **kwargs)
        self.shipped = _Shipped()
        #: Where the epochs come from: the shipped training, or a run made in the dashboard.
        self.source = self.shipped
        # The state usually holds the shipped model already: it becomes the final checkpoint
        # rather than a second copy of the same weights.
        adopt_final_model(state.model)
        epochs = list(self.accuracies)
        self.choice = widgets.ToggleButtons(options=[("shipped training", "shipped")], value="shipped",
                                            description="training", style={"button_width": "130px"})
        self.slider = widgets.SelectionSlider(
            options=[(str(e), e) for e in epochs], value=self._epoch_on_screen() or self.final_epoch,
            description="epoch", continuous_update=False, layout=widgets.Layout(width="420px"))
        self.accuracy = widgets.HTML()
        self.final_button = widgets.Button(description="last epoch", icon="fast-forward",
                                           tooltip="the model at the end of this training",
                                           layout=widgets.Layout(width="130px"))
        self.table = widgets.HTML(self._table())
        self.children = [self.choice, widgets.HBox([self.slider, self.final_button]), self.accuracy, self.table]
        self.slider.observe(self._on_slider, names="value")
        self.choice.observe(self._on_choice, names="value")
        self.final_button.on_click(lambda _b: self.show_epoch(self.final_epoch))
        self._observe(self._on_version, ["version"])
        self._observe(self._on_training_run, ["training_run"])
        self._on_training_run(None)
        self._render()
        #: The thread loading every checkpoint in the background (``preload``), or None.
        self.preloading = None
        if preload:
            # Grad-CAM traces one graph per layer: the selected layer's (the heatmap panel's) and the
            # last conv stage's (the default) are the ones a switch needs at once.
            layers = (state.layer, compute.last_spatial_layer(state.model))
            self.preloading = threading.Thread(target=_warm, args=(epochs, layers, state.model), name="cnnviz-checkpoints",
                                               daemon=True)
            self.preloading.start()

    @property
    def accuracies(self) -> dict:
        """{epoch: test accuracy or None} of the training on show, in increasing epoch order."""
        return self.source.accuracies

    @property
    def final_epoch(self) -> int:
        return list(self.accuracies)[-1]

    @property
    def epoch(self) -> int | None:
        """The epoch of the checkpoint on screen, or None when the state's model is another one."""
        return self._epoch_on_screen()

    def _epoch_on_screen(self):
        return self.source.epoch_of(self.state.model)

    def _on_training_run(self, change):
        run = self.state.training_run
        options = [("shipped training", "shipped")] + ([("your run", "run")] if run else [])
        if isinstance(self.source, _Run) and self.source.run is not run:
            # A new run replaces the one on show.
            self.source = _Run(run) if run else self.shipped
            self._show_source()
        self.choice.unobserve(self._on_choice, names="value")
        try:
            with self.choice.hold_sync():
                self.choice.options = options
                self.choice.value = self.source.name
        finally:
            self.choice.observe(self._on_choice, names="value")

    def _on_choice(self, change):
        run = self.state.training_run
        self.source = _Run(run) if change["new"] == "run" and run else self.shipped
        self._show_source()

    def _show_source(self):
        # The slider takes the new epochs without switching the model: the student picks one.
        self.slider.unobserve(self._on_slider, names="value")
        try:
            with self.slider.hold_sync():
                self.slider.options = [(str(e), e) for e in self.accuracies]
                self.slider.value = self._epoch_on_screen() or self.final_epoch
        finally:
            self.slider.observe(self._on_slider, names="value")
        self.table.value = self._table()
        self._render()

    @reports_errors
    def show_epoch(self, epoch: int):
        """Make the checkpoint after ``epoch`` epochs the state's model (ValueError lists the epochs)."""
        epoch = int(epoch)
        if epoch not in self.accuracies:
            raise ValueError(f"no checkpoint after epoch {epoch}; the epochs are: "
                             f"{', '.join(map(str, self.accuracies))}")
        if self.slider.value != epoch:
            self.slider.value = epoch  # its observer switches the model
        else:
            self._switch(epoch)

    def _on_slider(self, change):
        self._switch(change["new"], change["old"])

    @reports_errors
    def _switch(self, epoch, previous=None):
        if self._epoch_on_screen() == epoch:
            return
        names = list(CIFAR10_CLASSES) if self.source is self.shipped else list(self.state.class_names)
        try:
            self.state.use_model(self.source.model(epoch), class_names=names, preprocess="[0, 1]")
            # Said where the student looks first, since every panel changes, also when this panel
            # is closed: the page then shows a network other than the trained one.
            self.state.status = self._notice(epoch)
        except Exception:
            # The state kept its model: the slider goes back to say so.
            if previous is not None and self.slider.value != previous:
                self.slider.unobserve(self._on_slider, names="value")
                try:
                    self.slider.value = previous
                finally:
                    self.slider.observe(self._on_slider, names="value")
            raise

    def _notice(self, epoch) -> str:
        if epoch == self.final_epoch:
            return ("Every panel shows the fully trained network again." if self.source is self.shipped else
                    "Every panel shows the model at the end of your run.")
        what = "the untrained network (random weights)" if epoch == 0 else f"the network after {epoch} epoch(s)"
        return (f"Every panel now shows {what}, not the fully trained one: “last epoch” in the "
                f"panel “Watch it learn · the network epoch by epoch” brings the trained one back.")

    def _on_version(self, change):
        epoch = self._epoch_on_screen()
        if epoch is not None and self.slider.value != epoch:
            # Another control put a checkpoint on screen: the slider follows it (its observer then
            # finds the model already there and does nothing).
            self.slider.value = epoch
        self._render()

    def _render(self):
        epoch = self._epoch_on_screen()
        if epoch is None:
            self.accuracy.value = ("<i>The model on screen is not one of these checkpoints (it was uploaded or "
                                   "trained here). Move the slider or press “last epoch” to show one.</i>")
            return
        accuracy = self.accuracies[epoch]
        measured = ("not measured (no labelled test images)" if accuracy is None else
                    f"<b class='cnnviz-epoch-accuracy'>{100 * accuracy:.1f} %</b>")
        self.accuracy.value = (f"<b>Epoch {epoch}</b> · {html.escape(self.source.when(epoch, self.final_epoch))} · "
                               f"test accuracy {measured}")

    def _table(self) -> str:
        cells = " · ".join(f"{e}: {'–' if a is None else f'{100 * a:.0f} %'}" for e, a in self.accuracies.items())
        return f"<small>Test accuracy by epoch: {cells}</small>"


def _warm(epochs, layers, on_screen):
    """Load each checkpoint and run its forward pass and Grad-CAM once on a blank image (what the
    first switch to it would otherwise pay); touches no widget and no state, and skips the model
    already on screen (it is warm). A failure here is reported when the student picks that epoch,
    by the switch itself."""
    for epoch in epochs:
        try:
            model = checkpoint_model(epoch)
            if model is on_screen:
                continue
            inspector = compute.Inspector.for_model(model)
            x = np.zeros(inspector.input_shape, np.float32)
            outputs, _ = inspector.run(x)
            for layer in dict.fromkeys(layers):
                if layer in outputs and np.ndim(outputs[layer]) == 3:
                    compute.grad_cam(model, x, 0, layer)
        except Exception:  # Reported by the switch, in the student's view.
            continue
