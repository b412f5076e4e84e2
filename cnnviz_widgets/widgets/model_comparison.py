"""Two training checkpoints of the shipped model side by side on the same image."""
from __future__ import annotations

import html

import ipywidgets as widgets
import numpy as np

from .. import compute, render
from ..compute import describe
from ..compute.comparison import compare_predictions, top_classes
from ..loading.checkpoints import checkpoint_accuracies, checkpoint_model
from .base import CRISP_CSS, crisp_image, describe_subject, reports_errors, scheme_cmap, section, set_png
from .jobs import ToolWidget

#: The guide trains for three epochs: its own model against the shipped one.
DEFAULT_LEFT = 3
#: How many images where the two disagree are shown.
SHOWN_DISAGREEMENTS = 8
#: How many (epoch, image) results are kept, so going back to an image costs no forward pass.
KEPT_RESULTS = 32


class ModelComparison(ToolWidget):
    """Two checkpoints of the shipped model's training side by side for the selected image.

    For each: its top classes with probabilities, the selected layer's feature maps and Grad-CAM
    for its own predicted class. Below, on demand, where the two disagree on the whole image set
    (the count and a few examples), computed in the background once per pair.

    >>> panel = ModelComparison(state)            # epoch 3 against the final model  # doctest: +SKIP
    >>> panel.results["left"]["predicted"]        # doctest: +SKIP
    3
    """

    SIDES = ("left", "right")

    def __init__(self, state, left: int = DEFAULT_LEFT, right: int | None = None, blocking: bool = False,
                 **kwargs):
        super().__init__(state, blocking=blocking, **kwargs)
        self.accuracies = checkpoint_accuracies()
        epochs = list(self.accuracies)
        options = [(f"epoch {e}" + (" (final)" if e == epochs[-1] else ""), e) for e in epochs]
        self.choosers = {
            "left": widgets.Dropdown(options=options, value=left if left in epochs else epochs[0],
                                     description="left", layout=widgets.Layout(width="240px")),
            "right": widgets.Dropdown(options=options, value=epochs[-1] if right is None else right,
                                      description="right", layout=widgets.Layout(width="240px")),
        }
        #: What each side shows: {"left": {"epoch", "probabilities", "predicted"}, "right": ...}.
        self.results: dict = {}
        #: {(left epoch, right epoch, state version): compare_predictions(...)}, one per pair.
        self.disagreements: dict = {}
        self._kept: dict = {}
        self.heads, self.pictures, self.tops, self.maps = {}, {}, {}, {}
        columns = []
        for side in self.SIDES:
            self.heads[side] = widgets.HTML()
            self.pictures[side] = crisp_image()
            self.tops[side] = widgets.HTML()
            self.maps[side] = crisp_image()
            columns.append(widgets.VBox([self.choosers[side], self.heads[side], self.pictures[side],
                                         self.tops[side], self.maps[side]],
                                        layout=widgets.Layout(width="330px")))
        self.maps_note = widgets.HTML()
        self.find_button = widgets.Button(description="where do they disagree?", icon="search",
                                          layout=widgets.Layout(width="220px"))
        self.disagree_text = widgets.HTML()
        self.disagree_image = crisp_image()
        self.children = [
            widgets.HTML(CRISP_CSS),
            section("Two models, one image",
                    "Left and right are the same network at two moments of its training. Each shows its "
                    "top guesses, the selected layer's maps and Grad-CAM for its own guess.",
                    widgets.HBox(columns)),
            self.maps_note,
            widgets.HBox([self.find_button, self.job]), self.disagree_text, self.disagree_image,
        ]
        for chooser in self.choosers.values():
            chooser.observe(self._on_choice, names="value")
        self.find_button.on_click(lambda _b: self.find())
        self._observe(self._on_inspection, ["inspection"])
        self._observe(self._on_layer, ["layer", "colour_scheme"])
        self._observe(self._on_version, ["version"])
        self._render()
        self._show_disagreements()

    @property
    def pair(self) -> tuple:
        return (self.choosers["left"].value, self.choosers["right"].value)

    def _on_choice(self, change):
        self._render()
        self._show_disagreements()

    def _on_layer(self, change):
        self._render()

    def _on_version(self, change):
        self._show_disagreements()

    def _image_x(self):
        insp = self.state.inspection
        if insp.image.shape != (32, 32, 3):
            raise ValueError(f"the checkpoints read 32×32 colour images; the images on screen are "
                             f"{'×'.join(map(str, insp.image.shape))} (go back to the CIFAR-10 images)")
        return insp.image, compute.scale_images(insp.image[None])[0]

    @reports_errors
    def _render(self):
        image, x = self._image_x()
        layer, names = self.state.layer, list(self.state.class_names)
        shown = []
        for side in self.SIDES:
            epoch = self.choosers[side].value
            outputs, probs, cam = self._answer(epoch, x)
            predicted = int(np.argmax(probs))
            self.results[side] = {"epoch": epoch, "probabilities": probs, "predicted": predicted}
            set_png(self.pictures[side], render.strip_png(
                [image, render.overlay(image, cam, alpha=0.5, size=96, cmap=scheme_cmap(self.state, "heat"))],
                tile_size=96), alt=(f"{describe_subject(self.state)} and, at epoch {epoch}, "
                                    + describe.heatmap_alt(cam, "Grad-CAM", "it", f"its guess {names[predicted]}")))
            self.heads[side].value = (f"<b>Epoch {epoch}</b> · test accuracy {100 * self.accuracies[epoch]:.1f} %")
            rows = "".join(f"<li>{html.escape(names[c])} {100 * p:.1f} %</li>" for c, p in top_classes(probs, 3))
            self.tops[side].value = f"<ol class='cnnviz-top-classes' style='margin: 2px 0'>{rows}</ol>"
            maps = outputs.get(layer)
            if maps is not None and np.ndim(maps) == 3:
                set_png(self.maps[side], render.montage_png(maps, cols=8, tile_size=36,
                                                            cmap=scheme_cmap(self.state, "maps")),
                        alt=f"the {maps.shape[-1]} feature maps of {layer} at epoch {epoch}")
                self.maps[side].layout.display = None
                shown.append(layer)
            else:
                self.maps[side].layout.display = "none"
        self.maps_note.value = (f"Maps: {html.escape(layer)}, each map scaled on its own." if shown else
                                f"<i>{html.escape(layer)} has no spatial maps to show; choose a conv layer.</i>")

    def _answer(self, epoch, x):
        """Every layer's output, the probabilities and Grad-CAM (predicted class, last conv stage)
        of checkpoint ``epoch`` for the selected image, kept for the ``KEPT_RESULTS`` latest."""
        model = checkpoint_model(epoch)
        if model is self.state.model and self.state.preprocess_name == "[0, 1]":
            # The checkpoint on screen: the state already ran it on this image (one pass per change).
            insp = self.state.inspection
            cam = self.state.grad_cam(compute.last_spatial_layer(model), insp.predicted)
            return insp.outputs, insp.probabilities, cam
        key = (epoch, self.state.index, self.state.version)
        if key not in self._kept:
            inspector = compute.Inspector.for_model(model)
            outputs, logits = inspector.run(x)
            probs = inspector.probabilities(logits)
            cam = compute.grad_cam(model, x, int(np.argmax(probs)), compute.last_spatial_layer(model))
            if len(self._kept) >= KEPT_RESULTS:
                self._kept.pop(next(iter(self._kept)))
            self._kept[key] = (outputs, probs, cam)
        return self._kept[key]

    @reports_errors
    def find(self):
        """Predict every image with both checkpoints (in the background, once per pair) and show
        how many they disagree on, with a few examples."""
        key = (*self.pair, self.state.version)
        if key in self.disagreements:
            self._show_disagreements()
            return
        images = self.state.images
        if images.shape[1:] != (32, 32, 3):
            raise ValueError("the checkpoints read 32×32 colour images; go back to the CIFAR-10 images")
        model_a, model_b = checkpoint_model(key[0]), checkpoint_model(key[1])

        def done(result):
            self.disagreements[key] = result
            self._show_disagreements()

        self.job.start(lambda progress: compare_predictions(model_a, model_b, images, progress=progress), done,
                       "predicting every image with both models…")

    def _show_disagreements(self):
        result = self.disagreements.get((*self.pair, self.state.version))
        if result is None:
            self.disagree_text.value = "<i>Press the button to compare the two on every image of the set.</i>"
            self.disagree_image.layout.display = "none"
            return
        a, b = self.pair
        n, where = len(result["predicted_a"]), result["disagree"]
        self.disagree_text.value = (f"Epoch {a} and epoch {b} disagree on <b>{len(where):,}</b> of {n:,} images "
                                    f"({100 * len(where) / max(n, 1):.1f} %)."
                                    + (" The first few:" if len(where) else ""))
        if not len(where):
            self.disagree_image.layout.display = "none"
            return
        names = self.state.class_names
        picks = where[:SHOWN_DISAGREEMENTS]
        captions = [f"#{i}\n{names[result['predicted_a'][i]]} | {names[result['predicted_b'][i]]}" for i in picks]
        set_png(self.disagree_image, render.labelled_montage(self.state.images[picks], captions, cols=8, size=80),
                alt=f"{len(picks)} images where epoch {a} and epoch {b} give different classes")
        self.disagree_image.layout.display = None
